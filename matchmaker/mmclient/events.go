package mmclient

import (
	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/netcode"
)

// Rating is a player's skill estimate (Weng-Lin): Mu is the mean, Sigma the
// uncertainty. Leaderboards sort by Ordinal (Mu - 3*Sigma).
type Rating = matchmaker.Rating

// Event is something the matchmaker told the client, delivered on
// Client.Events. The set is closed: Matched, Enqueued, Requeued, Expired,
// Canceled, Rated, Backfilled and Overflowed. Use a type switch.
type Event interface{ isEvent() }

// Matched reports a match. When it arrives the client's signaling
// connection is already in the match's room, with every peer of the match.
type Matched struct {
	// Roster is the match as the mesh and the rollback session take it:
	// Session, Self (the client's id), the players in seat order with
	// their teams, and the signaling server's ICE servers. Every player
	// of the match holds the same roster apart from Self.
	Roster netcode.Roster
	// Session names the match (results are reported against it); Room is
	// the signaling room the players are in (the same name today).
	Session, Room string
	// Queue is the queue the ticket waited in.
	Queue string
	// Host is the peer the matchmaker designates to host, if the game
	// needs one.
	Host string
	// Team is the client's team; Teams lists every team's peers.
	Team  int
	Teams [][]string
	// Region is the region the match was made for, if the queue has a
	// latency rule.
	Region string
	// Quality is the match's quality from 0 to 1: the predicted chance of
	// a draw.
	Quality float64
}

// Enqueued reports that the client's party leader enqueued the party,
// this client included.
type Enqueued struct{ Ticket Queued }

// Requeued reports that a match fell through (a player left before its
// room was made) and the client waits again under a new ticket.
type Requeued struct{ Ticket Queued }

// Expired reports that the ticket's time to live ran out.
type Expired struct{ Ticket, Queue string }

// Canceled reports that the ticket was cancelled without the client asking:
// By is the party member that cancelled or left, or "" when the client's
// own signaling session was lost (a reconnect that did not resume it).
type Canceled struct{ Ticket, Queue, By string }

// Rated reports that a session's result was applied: every player's new
// rating, and the client's own.
type Rated struct {
	Session string
	Ratings map[string]Rating
	Rating  Rating
}

// Backfilled reports that new players joined the client's running session
// (they received Matched for it); Teams is the session's new line-up.
// Backfill is the id of the request filled (Backfill.ID).
type Backfilled struct {
	Session  string
	Backfill string
	Added    []string
	Teams    [][]string
}

// Overflowed reports that pushed matchmaker messages were dropped because
// the client's goroutine fell behind (see Config.PushQueue). The client has
// asked mm.status since: if a ticket waits, it is the client's ticket; if
// none does while one waited, WaitMatched returns ErrLost. A Rated or
// Backfilled may have been among the dropped.
type Overflowed struct{ Dropped uint64 }

func (Matched) isEvent()    {}
func (Enqueued) isEvent()   {}
func (Requeued) isEvent()   {}
func (Expired) isEvent()    {}
func (Canceled) isEvent()   {}
func (Rated) isEvent()      {}
func (Backfilled) isEvent() {}
func (Overflowed) isEvent() {}
