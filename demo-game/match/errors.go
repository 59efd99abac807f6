package match

import "errors"

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
)
