package netcode

import "errors"

// Errors of the contract package. Compare with errors.Is.
var (
	// ErrBadRoster is returned (wrapped, with the reason) by
	// Roster.Validate.
	ErrBadRoster = errors.New("netcode: invalid roster")
)
