package nearby

import (
	"crypto/ed25519"
	"net/netip"
	"time"
)

// Event is one of PlayerJoined, PlayerLeft, PlayerChanged,
// MessageReceived, InviteReceived and InviteAnswered: a closed set.
type Event interface{ isEvent() }

// PlayerJoined: a player became visible.
type PlayerJoined struct{ Player Player }

// PlayerLeft: a player stopped being visible (it opted out or closed,
// which sends a goodbye, or its record's TTL ran out: its process died or
// its network went away). Player is as last seen.
type PlayerLeft struct{ Player Player }

// PlayerChanged: a visible player's name, status, game or address
// changed. Old is the player before.
type PlayerChanged struct{ Player, Old Player }

// Sender is who a message or invitation really came from.
type Sender struct {
	// ID is the sender's player id. On a LAN it is KeyID(Key), checked
	// against the packet's signature, so it cannot be forged; online the
	// server vouches for it (the auth subject when auth is on).
	ID string
	// Name is the display name of the sender's presence record when it
	// is visible, else "". It is a claim.
	Name string
	// Key is the ed25519 key the packet was signed with (LAN).
	Key ed25519.PublicKey
	// Addr is the address the packet arrived from (LAN).
	Addr netip.AddrPort
}

// MessageReceived: a direct message, delivered once and in order per
// sender.
type MessageReceived struct {
	From Sender
	Text string
	At   time.Time
}

// InviteReceived: an invitation to a lobby. Answer it with
// Nearby.Answer; JoinLAN answers and joins.
type InviteReceived struct {
	From       Sender
	Invitation Invitation
	At         time.Time
}

// InviteAnswered: the invitee accepted or declined invitation ID.
type InviteAnswered struct {
	From     Sender
	ID       uint64
	Accepted bool
}

func (PlayerJoined) isEvent()    {}
func (PlayerLeft) isEvent()      {}
func (PlayerChanged) isEvent()   {}
func (MessageReceived) isEvent() {}
func (InviteReceived) isEvent()  {}
func (InviteAnswered) isEvent()  {}

// HistoryEntry is one direct message in a conversation's history.
type HistoryEntry struct {
	At time.Time
	// Outgoing is true for messages this player sent (acknowledged ones
	// only).
	Outgoing bool
	Text     string
}
