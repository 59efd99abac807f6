package content

import (
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

// Event is a change in the swarm: EventProgress, EventComplete,
// EventPeerAvoided or EventFailed. The set is closed.
//
// Events arrive on the channel Swarm.Events returns. Its buffer holds
// Config.EventBuffer events (256 by default); when it is full the oldest
// event is discarded and counted (Stats.DroppedEvents), so the swarm never
// waits for its reader and a game loop can drain it with a non-blocking
// select. Progress events are snapshots, so a dropped one loses nothing
// that the next one does not say. Close closes the channel.
type Event interface {
	String() string
	contentEvent()
}

// EventProgress reports that a fetched content has one more verified piece.
type EventProgress struct {
	ID     ID
	Have   int   // verified pieces
	Pieces int   // all pieces
	Bytes  int64 // verified bytes
	Size   int64 // content size
}

// EventComplete reports that fetched content is whole and hashes to its
// id; Swarm.Content returns it, and the swarm serves it to others.
type EventComplete struct {
	ID   ID
	Size int64
}

// EventPeerAvoided reports that the swarm stopped asking a peer for
// anything: it sent a corrupt piece or piece-hash list (Err wraps
// ErrCorruptPiece).
type EventPeerAvoided struct {
	ID   ID
	Peer netcode.PeerID
	Err  error
}

// EventFailed reports that fetched content, whole, does not hash to its
// id: its reference was wrong. The swarm forgets the content.
type EventFailed struct {
	ID  ID
	Err error
}

func (EventProgress) contentEvent()    {}
func (EventComplete) contentEvent()    {}
func (EventPeerAvoided) contentEvent() {}
func (EventFailed) contentEvent()      {}

func (e EventProgress) String() string {
	return fmt.Sprintf("%s %d/%d pieces (%d/%d bytes)", e.ID.Short(), e.Have, e.Pieces, e.Bytes, e.Size)
}
func (e EventComplete) String() string {
	return fmt.Sprintf("%s complete (%d bytes)", e.ID.Short(), e.Size)
}
func (e EventPeerAvoided) String() string {
	return fmt.Sprintf("%s: avoiding %s: %v", e.ID.Short(), e.Peer, e.Err)
}
func (e EventFailed) String() string { return fmt.Sprintf("%s failed: %v", e.ID.Short(), e.Err) }
