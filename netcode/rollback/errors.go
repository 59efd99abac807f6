package rollback

import (
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

// Errors of the rollback session, its wire format and its spectators.
var (
	// ErrClosed is returned by a session's methods after Close.
	ErrClosed = errors.New("rollback: closed")
	// ErrConfig is wrapped by the error New returns for an
	// invalid Config.
	ErrConfig = errors.New("rollback: invalid config")
	// ErrPredictionThreshold is returned by AdvanceFrame when the session
	// may not run further ahead of the confirmed inputs (the prediction
	// window is full, or in lockstep a remote input is missing). The game
	// skips this tick's update and tries again next tick.
	ErrPredictionThreshold = errors.New("rollback: prediction threshold reached")
	// ErrNotLocalPlayer is returned by AddLocalInput for a handle that is not
	// a local player of this session.
	ErrNotLocalPlayer = errors.New("rollback: not a local player")
	// ErrInputSize is returned for an input whose length differs from the
	// session's input size.
	ErrInputSize = errors.New("rollback: wrong input size")
	// ErrMalformed is wrapped by WireError for a message that does
	// not decode.
	ErrMalformed = errors.New("rollback: malformed session message")
	// ErrVersion is wrapped by WireError for a message of another
	// wire version.
	ErrVersion = errors.New("rollback: unsupported session wire version")
	// ErrUnexpected is wrapped by WireError for a message from an
	// unknown peer or of a type the receiver does not expect.
	ErrUnexpected = errors.New("rollback: unexpected session message")
	// ErrStateTooLarge is returned when a saved state exceeds the limit for
	// a state transfer.
	ErrStateTooLarge = errors.New("rollback: saved state too large to transfer")
	// ErrSyncTest is wrapped by SyncTestError.
	ErrSyncTest = errors.New("rollback: sync test mismatch")
	// ErrSpectatorWaiting is returned by Spectator.AdvanceFrame while the
	// confirmed inputs of the next frame have not arrived.
	ErrSpectatorWaiting = errors.New("rollback: spectator waiting for inputs")
	// ErrRejoining is returned by AdvanceFrame of a Rejoin session until the
	// state of the match has arrived.
	ErrRejoining = errors.New("rollback: waiting for the match state to rejoin")
	// ErrStartFailed is wrapped by the error AdvanceFrame returns when the
	// start barrier failed (EventStartFailed): the match does not start on
	// any peer.
	ErrStartFailed = errors.New("rollback: the match could not start")
	// ErrDroppedByPeers is wrapped by the error AdvanceFrame returns once
	// this peer is out of the match (EventDroppedByPeers).
	ErrDroppedByPeers = errors.New("rollback: dropped by the other peers")
)

// WireError reports a session message that was rejected. The session counts
// it (Stats.Rejected), reports it as an EventRejected and carries on.
type WireError struct {
	Peer   netcode.PeerID // the sender, when known
	Offset int            // byte offset of the problem
	Err    error          // ErrMalformed, ErrVersion or ErrUnexpected
}

func (e *WireError) Error() string {
	if e.Peer != "" {
		return fmt.Sprintf("%v (from %q at byte %d)", e.Err, e.Peer, e.Offset)
	}
	return fmt.Sprintf("%v (at byte %d)", e.Err, e.Offset)
}

// Unwrap returns the sentinel.
func (e *WireError) Unwrap() error { return e.Err }

// GameError wraps an error the game returned from LoadState.
type GameError struct {
	Frame int
	Err   error
}

func (e *GameError) Error() string {
	return fmt.Sprintf("rollback: game failed to load the state of frame %d: %v", e.Frame, e.Err)
}

// Unwrap returns the game's error.
func (e *GameError) Unwrap() error { return e.Err }

// SyncTestError lists the frames whose state differed after a rollback and
// resimulation with the same inputs: the game's SaveState, LoadState or
// AdvanceFrame is not deterministic.
type SyncTestError struct {
	Frames []int
}

func (e *SyncTestError) Error() string {
	return fmt.Sprintf("rollback: sync test: state differs after resimulation at frames %v", e.Frames)
}

// Unwrap returns ErrSyncTest.
func (e *SyncTestError) Unwrap() error { return ErrSyncTest }
