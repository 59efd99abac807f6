package netcode

import (
	"context"
	"time"
)

// PeerID names a peer. It is the id the rendezvous point (the signaling
// server or a LAN host) assigned to that peer.
type PeerID string

// Channel selects how a message travels to a peer.
type Channel uint8

// The channels every connection to a peer carries. The values are part of the
// wire contract between peers: only append to this list.
const (
	// Reliable delivers every message once, in order. Messages larger than
	// one SCTP message are chunked and reassembled.
	Reliable Channel = iota
	// Unreliable delivers each message at most once, in any order; a lost
	// one is retransmitted at most a bounded number of times (the mesh:
	// mesh.Config.DatagramRetransmits, once by default), then given up.
	// A message must fit one datagram: MaxDatagramMessage bytes.
	Unreliable
	// Sequenced is unreliable and delivers only messages newer than the last
	// one delivered: a stale message is dropped.
	Sequenced
)

// MaxDatagramMessage is the largest message the Unreliable and Sequenced
// channels carry. The mesh refuses a larger one; it is what fits, with the
// mesh's header, in one SCTP DATA chunk of pion's initial path MTU, so that
// a message is never split over several packets (losing one would lose it
// anyway). A rollback session keeps its datagrams well under it.
const MaxDatagramMessage = 1152

// Liveness defaults shared by the mesh and the rollback session. Both judge
// a peer by the time since anything last arrived from it, and both use the
// same interrupt threshold, so that a game sees a peer interrupted by the
// mesh and by the session at about the same moment. The session's
// disconnect comes first (DefaultDisconnectAfter − DefaultInterruptAfter,
// 2 s): its peers agree on the frame at which they drop the silent player
// while the mesh still holds the connection open, and the mesh tears the
// connection down half a second later (DefaultDisconnectAfter, 2.5 s). In
// between the mesh restarts ICE after three interrupt periods (1.5 s) of
// silence, so a path that recovers within the session's window keeps the
// player in the match; a shorter silence (a peer process paused for a
// second) ends on the old path, which a restart would have dropped.
const (
	// DefaultInterruptAfter is how long a peer may be silent before the
	// mesh (mesh.EventInterrupted) and the session
	// (rollback.EventPeerInterrupted) report it interrupted.
	DefaultInterruptAfter = 500 * time.Millisecond
	// DefaultDisconnectAfter is how long a peer may be silent before the
	// mesh disconnects it (mesh.EventDisconnected, ReasonTimedOut).
	DefaultDisconnectAfter = 2500 * time.Millisecond
	// DefaultDropAfter is how long a player's peer may be silent before a
	// rollback session applies its disconnect policy (drops the player by
	// default): one interrupt period before the mesh's disconnect.
	DefaultDropAfter = DefaultDisconnectAfter - DefaultInterruptAfter
)

// String returns the channel's name.
func (c Channel) String() string {
	switch c {
	case Reliable:
		return "reliable"
	case Unreliable:
		return "unreliable"
	case Sequenced:
		return "sequenced"
	default:
		return "unknown"
	}
}

// Transport is what a game session needs from the network: messages to and
// from peers. The WebRTC mesh and the network simulator both implement it.
//
// A Transport is driven from the game loop: Send never blocks and Poll
// returns at once with whatever has arrived.
type Transport interface {
	// Send queues data for peer on channel ch. It never blocks; the caller
	// may reuse data as soon as Send returns.
	Send(to PeerID, ch Channel, data []byte) error
	// Poll calls fn once for every message received since the previous
	// call, in arrival order. data is only valid during the call to fn.
	Poll(fn func(from PeerID, ch Channel, data []byte))
}

// Signaler is how the mesh reaches a rendezvous point to exchange offers,
// answers and candidates with the other members of its room. It uses only
// basic types so that signaling.Client, the LAN host's client and the
// in-memory signaler of the tests all satisfy it without importing netcode.
type Signaler interface {
	// LocalID returns this peer's id in its room, or "" when not in a room.
	LocalID() string
	// SendSignal sends payload, a JSON value opaque to the rendezvous point,
	// to the peer named to in the same room. The rendezvous point stamps the
	// sender; a peer cannot speak as another.
	SendSignal(ctx context.Context, to string, payload []byte) error
	// SubscribeSignals registers callbacks for signals from peers and for
	// peers joining or leaving the room. Peers already in the room are
	// reported through onPeer(id, true) before SubscribeSignals returns or
	// shortly after. Callbacks run on the signaler's goroutine, one at a
	// time, and must not block. The returned function cancels the
	// subscription.
	SubscribeSignals(onSignal func(from string, payload []byte), onPeer func(peer string, joined bool)) (cancel func())
}
