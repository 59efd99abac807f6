package match

import (
	"errors"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

var (
	// ErrClosed is returned by a Session's methods after Close.
	ErrClosed = errors.New("match: session closed")
	// ErrNoSimulator is returned by SetConditions when the session has no
	// network simulator to inject lag and loss into.
	ErrNoSimulator = errors.New("match: no network simulator in this session")
	// ErrBadConfig is returned for a configuration no match can use, such
	// as a player count out of range.
	ErrBadConfig = errors.New("match: bad configuration")
	// ErrNoMatchmaker is returned by Online.ReportResult for a match the
	// server's matchmaker did not make.
	ErrNoMatchmaker = errors.New("match: not a matchmaker's match")
	// ErrBadResult is returned when a result line (Result, WatchResult)
	// does not decode.
	ErrBadResult = errors.New("match: bad result")
)

// Lost reports whether err, from Session.Tick, ends the match for this
// player only: the other peers dropped it (rollback.ErrDroppedByPeers) or
// the match never started (rollback.ErrStartFailed). The game says so and
// goes on without the match.
func Lost(err error) bool {
	return errors.Is(err, rollback.ErrDroppedByPeers) || errors.Is(err, rollback.ErrStartFailed)
}
