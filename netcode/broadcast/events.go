package broadcast

import (
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Event is something that happened to a node of the tree. The set is
// closed: EventAttached, EventDetached, EventChildJoined, EventChildLeft,
// EventEnded, EventRejected.
type Event interface{ broadcastEvent() }

// EventAttached: the node has a parent and receives the stream. Gap is the
// time since the previous parent was last heard (its last growing beat),
// zero for the first parent: how long the stream stopped for this node.
// Frame is the next frame the node needed when it asked.
type EventAttached struct {
	Parent netcode.PeerID
	Frame  int
	Depth  int
	Gap    time.Duration
}

// DetachReason says why a node lost its parent.
type DetachReason uint8

// Detach reasons.
const (
	// DetachSilent: the parent's beat did not grow for ParentTimeout (or
	// it held for longer than HoldTimeout).
	DetachSilent DetachReason = iota + 1
	// DetachLeft: the parent said goodbye (or that this node is not its
	// child).
	DetachLeft
	// DetachCycle: the parent's path named this node.
	DetachCycle
	// DetachGone: the game reported the parent gone (Node.PeerGone).
	DetachGone
)

// String returns the reason's name.
func (r DetachReason) String() string {
	switch r {
	case DetachSilent:
		return "silent"
	case DetachLeft:
		return "left"
	case DetachCycle:
		return "cycle"
	case DetachGone:
		return "gone"
	}
	return "unknown"
}

// EventDetached: the node lost its parent and looks for another, keeping
// its frame.
type EventDetached struct {
	Parent netcode.PeerID
	Reason DetachReason
}

// EventChildJoined: a spectator became this node's child.
type EventChildJoined struct{ Peer netcode.PeerID }

// EventChildLeft: a child said goodbye or stopped acknowledging.
type EventChildLeft struct{ Peer netcode.PeerID }

// EventEnded: a spectator simulated the match to its end frame. Checksum
// is rollback.Checksum of its state there; Match reports whether it equals
// the players' final checksum carried by the stream.
type EventEnded struct {
	Frame    int
	Checksum uint64
	Match    bool
}

// EventRejected: a message was rejected (a *WireError) or the source hit
// a problem (ErrBehind). The node carries on.
type EventRejected struct{ Err error }

func (EventAttached) broadcastEvent()    {}
func (EventDetached) broadcastEvent()    {}
func (EventChildJoined) broadcastEvent() {}
func (EventChildLeft) broadcastEvent()   {}
func (EventEnded) broadcastEvent()       {}
func (EventRejected) broadcastEvent()    {}

// eventQueue delivers events without blocking: a full channel drops the
// event and counts it.
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
