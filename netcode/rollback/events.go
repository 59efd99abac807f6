package rollback

import (
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Event is something a session reports to the game: one of the
// Event* types of this package. The set is closed.
//
// Sessions deliver events on the channel Events returns. Its buffer holds
// Config.EventBuffer events; when it is full, new events are dropped
// and counted in Stats.EventsDropped, so a game that never drains it
// never blocks.
type Event interface{ sessionEvent() }

// EventPeerInterrupted reports that nothing arrived from a peer for
// Config.InterruptTimeout.
type EventPeerInterrupted struct {
	Peer    netcode.PeerID
	Handles []int
}

// EventPeerResumed reports that a peer reported as interrupted is heard
// again.
type EventPeerResumed struct {
	Peer    netcode.PeerID
	Handles []int
}

// EventPeerDisconnected reports that a peer's players are dropped from Frame
// on, by the same frame on every remaining peer. Their inputs from then on
// have the status InputDisconnected.
type EventPeerDisconnected struct {
	Peer    netcode.PeerID
	Handles []int
	Frame   int
}

// EventDroppedByPeers reports that this peer is out of the match: the
// others drop its players (By, when known, is the first peer that announced
// it), or it lost contact with a quorum of them (Reason says which peers).
// The session has stopped: AdvanceFrame returns ErrDroppedByPeers. The
// game may close it and rejoin with a new Session.
type EventDroppedByPeers struct {
	By     netcode.PeerID
	Reason string
}

// EventStarted reports that the start barrier passed: every peer reaches
// every other, and frame 0 runs now. Waited is the time since the first
// AdvanceFrame.
type EventStarted struct {
	Waited time.Duration
}

// EventEnding reports that a peer ended the match at Frame
// (Session.Finish) and this session adopted that end: it simulates no
// frame from Frame on, and reports its final state once every input before
// it is confirmed (Session.Outcome).
type EventEnding struct {
	Frame int
	Peer  netcode.PeerID
}

// EventStartFailed reports that the match does not start: Missing lists
// the peers this one did not hear from (or whose confirmation never came)
// within Config.StartTimeout, or the peer that gave up first. Every peer
// fails the same way; AdvanceFrame returns ErrStartFailed.
type EventStartFailed struct {
	Missing []netcode.PeerID
	Reason  string
}

// EventDesync reports that a peer's checksum of a confirmed frame differs
// from the local one. Local and Remote are the 32-bit checksums peers
// exchange (Checksum folded: low 32 bits XOR high 32 bits); a
// SyncTest reports the full 64-bit ones.
type EventDesync struct {
	Frame  int
	Local  uint64
	Remote uint64
	Peer   netcode.PeerID
}

// EventWaitRecommended reports that this peer runs Frames frames ahead of
// the others. Session.TickScale already slows it down; a game that prefers
// to stand still may skip that many ticks.
type EventWaitRecommended struct {
	Frames int
}

// EventSpectatorJoined reports that a spectator asked for the feed; Frame is
// the frame it starts from (0, or the frame of the state sent to it).
type EventSpectatorJoined struct {
	Peer  netcode.PeerID
	Frame int
}

// EventRejected reports a message the session rejected (malformed, another
// version, from an unknown peer). The session carries on.
type EventRejected struct {
	Err error
}

func (EventPeerInterrupted) sessionEvent()  {}
func (EventPeerResumed) sessionEvent()      {}
func (EventPeerDisconnected) sessionEvent() {}
func (EventDesync) sessionEvent()           {}
func (EventDroppedByPeers) sessionEvent()   {}
func (EventStarted) sessionEvent()          {}
func (EventEnding) sessionEvent()           {}
func (EventStartFailed) sessionEvent()      {}
func (EventWaitRecommended) sessionEvent()  {}
func (EventSpectatorJoined) sessionEvent()  {}
func (EventRejected) sessionEvent()         {}

// eventQueue is a non-blocking event channel with a drop counter.
type eventQueue struct {
	ch      chan Event
	dropped uint64
}

func newEventQueue(n int) eventQueue {
	if n <= 0 {
		n = 64
	}
	return eventQueue{ch: make(chan Event, n)}
}

func (q *eventQueue) emit(e Event) {
	select {
	case q.ch <- e:
	default:
		q.dropped++
	}
}
