package mesh

import (
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Event is one change in a remote peer's lifecycle: one of EventConnecting,
// EventConnected, EventInterrupted, EventResumed and EventDisconnected; or
// EventSignalRejected, a signal the mesh could not act on, which may come
// at any time and changes no state. The set is closed. A peer's lifecycle
// events follow the sequence
//
//	Connecting, Connected, (Interrupted, Resumed)*, Disconnected
//
// where Disconnected may also come straight after Connecting or
// Interrupted, and a peer the mesh connects to again (a reconnection, see
// Config.ReconnectAfter) starts a new sequence with Connecting.
//
// The mesh delivers events on the channel Mesh.Events returns. Its buffer
// holds Config.EventBuffer events (256 by default); when it is full the
// oldest event is discarded and counted (Mesh.DroppedEvents), so the mesh
// never waits for the reader and a game loop can drain the channel with a
// non-blocking select once per frame. Close closes the channel.
type Event interface {
	// PeerID returns the remote peer the event concerns.
	PeerID() netcode.PeerID
	// Time returns when the mesh observed the change.
	Time() time.Time
	// String formats the event for logs: "bob connected".
	String() string
	meshEvent()
}

// EventConnecting reports that the mesh learned of a peer (it joined the
// room, or the mesh connects to it again) and negotiates a connection.
type EventConnecting struct {
	Peer netcode.PeerID
	At   time.Time
}

// EventConnected reports that every channel to the peer is open: Send to it
// works from now on.
type EventConnected struct {
	Peer netcode.PeerID
	At   time.Time
}

// EventInterrupted reports that nothing arrived from a connected peer for
// Config.InterruptAfter. Its channels stay open and Send still works.
type EventInterrupted struct {
	Peer netcode.PeerID
	At   time.Time
}

// EventResumed reports that an interrupted peer is heard again.
type EventResumed struct {
	Peer netcode.PeerID
	At   time.Time
}

// EventDisconnected reports that the peer is gone, and why.
type EventDisconnected struct {
	Peer   netcode.PeerID
	At     time.Time
	Reason DisconnectReason
	Err    error // the underlying error, when there is one
}

// EventSignalRejected reports a signal from the peer that the mesh did not
// act on: malformed, of an unknown type, of another version (Err matches
// ErrSignalVersion: the peer runs an incompatible version, and the pair
// will not connect), or refused by WebRTC. Err always matches
// ErrBadSignal. At most one is reported per peer per second;
// Mesh.BadSignals counts them all.
type EventSignalRejected struct {
	Peer netcode.PeerID
	At   time.Time
	Err  error
}

func (e EventSignalRejected) PeerID() netcode.PeerID { return e.Peer }
func (e EventSignalRejected) Time() time.Time        { return e.At }
func (e EventSignalRejected) String() string {
	return fmt.Sprintf("%s: signal rejected: %v", e.Peer, e.Err)
}
func (EventSignalRejected) meshEvent() {}

func (e EventConnecting) PeerID() netcode.PeerID   { return e.Peer }
func (e EventConnected) PeerID() netcode.PeerID    { return e.Peer }
func (e EventInterrupted) PeerID() netcode.PeerID  { return e.Peer }
func (e EventResumed) PeerID() netcode.PeerID      { return e.Peer }
func (e EventDisconnected) PeerID() netcode.PeerID { return e.Peer }

func (e EventConnecting) Time() time.Time   { return e.At }
func (e EventConnected) Time() time.Time    { return e.At }
func (e EventInterrupted) Time() time.Time  { return e.At }
func (e EventResumed) Time() time.Time      { return e.At }
func (e EventDisconnected) Time() time.Time { return e.At }

func (e EventConnecting) String() string  { return fmt.Sprintf("%s connecting", e.Peer) }
func (e EventConnected) String() string   { return fmt.Sprintf("%s connected", e.Peer) }
func (e EventInterrupted) String() string { return fmt.Sprintf("%s interrupted", e.Peer) }
func (e EventResumed) String() string     { return fmt.Sprintf("%s resumed", e.Peer) }
func (e EventDisconnected) String() string {
	return fmt.Sprintf("%s disconnected (%s)", e.Peer, e.Reason)
}

func (EventConnecting) meshEvent()   {}
func (EventConnected) meshEvent()    {}
func (EventInterrupted) meshEvent()  {}
func (EventResumed) meshEvent()      {}
func (EventDisconnected) meshEvent() {}

// stamp returns ev with its time set to at.
func stamp(ev Event, at time.Time) Event {
	switch e := ev.(type) {
	case EventConnecting:
		e.At = at
		return e
	case EventConnected:
		e.At = at
		return e
	case EventInterrupted:
		e.At = at
		return e
	case EventResumed:
		e.At = at
		return e
	case EventDisconnected:
		e.At = at
		return e
	case EventSignalRejected:
		e.At = at
		return e
	}
	return ev
}
