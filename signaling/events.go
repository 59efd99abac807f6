package signaling

import "encoding/json"

// Event is something that happened to a Client, delivered on its Events
// channel or a Subscription's. The set of event types is closed:
// PeerJoined, PeerLeft, PeerInterrupted, PeerResumed, Signal, Joined, Left,
// Message, Disconnected, Reconnected and (on subscriptions only) Overflow.
// Use a type switch.
type Event interface{ isEvent() }

// PeerJoined reports that Peer entered the client's room.
type PeerJoined struct {
	Room, Peer string
	// Replaces is the peer id whose seat Peer took back with a rejoin
	// ticket (Client.Rejoin), or "".
	Replaces string
}

// PeerLeft reports that Peer left the client's room for good.
type PeerLeft struct{ Room, Peer string }

// PeerInterrupted reports that Peer lost its connection; it keeps its seat
// and may come back (PeerResumed) within the server's resume grace.
type PeerInterrupted struct{ Room, Peer string }

// PeerResumed reports that an interrupted Peer is back.
type PeerResumed struct{ Room, Peer string }

// Signal is data relayed from peer From in Room. Data is the sender's JSON
// value, unchanged.
type Signal struct {
	Room, From string
	Data       json.RawMessage
}

// Joined reports that the client is now in Room with Peers (in join order),
// after its own Join or because the server moved it (Server.CreateRoom).
type Joined struct {
	Room  string
	Peers []string
}

// Left reports that the client is no longer in Room: after its own Leave,
// or because a reconnect could not resume the session.
type Left struct{ Room string }

// Message is a message of an extension type (for example "mm.matched" or
// "lobby.delta") that the server pushed without a request. It goes to the
// subscriptions that claim its type, or else to the Events channel.
type Message struct {
	Type, From, Room string
	Data             json.RawMessage
}

// Disconnected reports that the connection dropped; Err says why. The
// client reconnects unless reconnection is disabled or it was closed.
type Disconnected struct{ Err error }

// Reconnected reports a new connection. Resumed tells whether the session
// (ID, room seat) was taken back; if not, ID is a fresh id and the client is
// in no room. URL is the server of the new connection: with several
// (ClientConfig.URLs), the one the client failed over to.
type Reconnected struct {
	ID      string
	Resumed bool
	URL     string
}

// Overflow reports, on a Subscription's channel, that the subscription's
// queue was full and events were dropped (Subscription.Dropped counts them)
// at this place in the stream, up to the Overflow itself. The owner must
// recover what it keeps from the server.
type Overflow struct{}

func (PeerJoined) isEvent()      {}
func (PeerLeft) isEvent()        {}
func (PeerInterrupted) isEvent() {}
func (PeerResumed) isEvent()     {}
func (Signal) isEvent()          {}
func (Joined) isEvent()          {}
func (Left) isEvent()            {}
func (Message) isEvent()         {}
func (Disconnected) isEvent()    {}
func (Reconnected) isEvent()     {}
func (Overflow) isEvent()        {}
