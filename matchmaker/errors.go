package matchmaker

import (
	"errors"
	"fmt"
)

// Sentinel errors. Check them with errors.Is: the matchmaker wraps them in
// typed errors that carry details.
var (
	// ErrUnknownQueue: a ticket or backfill names a queue that was not added.
	ErrUnknownQueue = errors.New("matchmaker: unknown queue")
	// ErrQueueExists: AddQueue was called twice with one name.
	ErrQueueExists = errors.New("matchmaker: queue already exists")
	// ErrInvalidQueue: a queue configuration is inconsistent.
	ErrInvalidQueue = errors.New("matchmaker: invalid queue configuration")
	// ErrInvalidTicket: a ticket is malformed (no players, a party larger
	// than a team, non-finite numbers, too many attributes).
	ErrInvalidTicket = errors.New("matchmaker: invalid ticket")
	// ErrDuplicateTicket: a ticket id is already waiting.
	ErrDuplicateTicket = errors.New("matchmaker: duplicate ticket id")
	// ErrAlreadyQueued: a player of the ticket already waits in another
	// ticket. A player is in at most one ticket at a time.
	ErrAlreadyQueued = errors.New("matchmaker: player already queued")
	// ErrNotFound: no waiting ticket or backfill request has that id (it was
	// matched, cancelled, expired, or never existed).
	ErrNotFound = errors.New("matchmaker: ticket not found")
	// ErrPoolFull: the queue holds Config.MaxTickets tickets already.
	ErrPoolFull = errors.New("matchmaker: pool is full")
	// ErrInvalidBackfill: a backfill request asks for no slots or for slots
	// that the queue's shape cannot hold.
	ErrInvalidBackfill = errors.New("matchmaker: invalid backfill request")
	// ErrInvalidGame: a game given to a Rater is malformed (fewer than two
	// teams, an empty team, ranks of the wrong length).
	ErrInvalidGame = errors.New("matchmaker: invalid game")
	// ErrInvalidRating: a rating is not finite or has a non-positive sigma.
	ErrInvalidRating = errors.New("matchmaker: invalid rating")
)

// TicketError reports why a ticket was refused.
type TicketError struct {
	Ticket string // the ticket id, if it had one
	Reason string
	Err    error // one of the sentinels
}

func (e *TicketError) Error() string {
	if e.Ticket != "" {
		return fmt.Sprintf("%v: ticket %q: %s", e.Err, e.Ticket, e.Reason)
	}
	return fmt.Sprintf("%v: %s", e.Err, e.Reason)
}

// Unwrap returns the sentinel.
func (e *TicketError) Unwrap() error { return e.Err }

// QueueError reports why a queue configuration was refused.
type QueueError struct {
	Queue  string
	Reason string
	Err    error
}

func (e *QueueError) Error() string {
	return fmt.Sprintf("%v: queue %q: %s", e.Err, e.Queue, e.Reason)
}

// Unwrap returns the sentinel.
func (e *QueueError) Unwrap() error { return e.Err }

// RatingError reports why a game could not be rated.
type RatingError struct {
	Team   int // index of the offending team, when there is one
	Reason string
	Err    error
}

func (e *RatingError) Error() string { return fmt.Sprintf("%v: %s", e.Err, e.Reason) }

// Unwrap returns the sentinel.
func (e *RatingError) Unwrap() error { return e.Err }
