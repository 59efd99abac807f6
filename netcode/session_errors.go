package netcode

import (
	"errors"
	"fmt"
)

// Errors of the rollback session, its wire format and its spectators.
var (
	// ErrSessionClosed is returned by a session's methods after Close.
	ErrSessionClosed = errors.New("netcode: session closed")
	// ErrSessionConfig is wrapped by the error NewSession returns for an
	// invalid SessionConfig.
	ErrSessionConfig = errors.New("netcode: invalid session config")
	// ErrPredictionThreshold is returned by AdvanceFrame when the session
	// may not run further ahead of the confirmed inputs (the prediction
	// window is full, or in lockstep a remote input is missing). The game
	// skips this tick's update and tries again next tick.
	ErrPredictionThreshold = errors.New("netcode: prediction threshold reached")
	// ErrNotLocalPlayer is returned by AddLocalInput for a handle that is not
	// a local player of this session.
	ErrNotLocalPlayer = errors.New("netcode: not a local player")
	// ErrInputSize is returned for an input whose length differs from the
	// session's input size.
	ErrInputSize = errors.New("netcode: wrong input size")
	// ErrSessionMalformed is wrapped by SessionWireError for a message that does
	// not decode.
	ErrSessionMalformed = errors.New("netcode: malformed session message")
	// ErrSessionVersion is wrapped by SessionWireError for a message of another
	// wire version.
	ErrSessionVersion = errors.New("netcode: unsupported session wire version")
	// ErrSessionUnexpected is wrapped by SessionWireError for a message from an
	// unknown peer or of a type the receiver does not expect.
	ErrSessionUnexpected = errors.New("netcode: unexpected session message")
	// ErrStateTooLarge is returned when a saved state exceeds the limit for
	// a state transfer.
	ErrStateTooLarge = errors.New("netcode: saved state too large to transfer")
	// ErrSyncTest is wrapped by SyncTestError.
	ErrSyncTest = errors.New("netcode: sync test mismatch")
	// ErrSpectatorWaiting is returned by Spectator.AdvanceFrame while the
	// confirmed inputs of the next frame have not arrived.
	ErrSpectatorWaiting = errors.New("netcode: spectator waiting for inputs")
)

// SessionWireError reports a session message that was rejected. The session counts
// it (SessionStats.Rejected), reports it as an EventRejected and carries on.
type SessionWireError struct {
	Peer   PeerID // the sender, when known
	Offset int    // byte offset of the problem
	Err    error  // ErrSessionMalformed, ErrSessionVersion or ErrSessionUnexpected
}

func (e *SessionWireError) Error() string {
	if e.Peer != "" {
		return fmt.Sprintf("%v (from %q at byte %d)", e.Err, e.Peer, e.Offset)
	}
	return fmt.Sprintf("%v (at byte %d)", e.Err, e.Offset)
}

// Unwrap returns the sentinel.
func (e *SessionWireError) Unwrap() error { return e.Err }

// SessionGameError wraps an error the game returned from LoadState.
type SessionGameError struct {
	Frame int
	Err   error
}

func (e *SessionGameError) Error() string {
	return fmt.Sprintf("netcode: game failed to load the state of frame %d: %v", e.Frame, e.Err)
}

// Unwrap returns the game's error.
func (e *SessionGameError) Unwrap() error { return e.Err }
