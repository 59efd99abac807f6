package content

import (
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

// Errors of the content swarm. Compare with errors.Is; the typed errors
// below unwrap to one of these.
var (
	// ErrClosed is returned by every method of a closed Swarm.
	ErrClosed = errors.New("content: closed")
	// ErrTooLarge is returned for content larger than Config.MaxContentSize
	// (at most MaxSize, 64 MiB), for a piece size out of range, or when the
	// swarm already holds Config.MaxStoredBytes or Config.MaxContents.
	ErrTooLarge = errors.New("content: too large")
	// ErrBadRef is returned by ParseRef and Fetch for a reference that is
	// not well formed.
	ErrBadRef = errors.New("content: bad reference")
	// ErrConflict is returned by Seed or Fetch for content the swarm
	// already tracks under another reference (another piece size).
	ErrConflict = errors.New("content: conflicting reference")
	// ErrUnknown is returned for content the swarm does not track.
	ErrUnknown = errors.New("content: unknown content")
	// ErrMismatch is returned by Seed with a reference the data does not
	// match, and reported (EventFailed) when fetched content does not hash
	// to its id: the reference itself was wrong.
	ErrMismatch = errors.New("content: data does not match reference")
	// ErrMalformed is the cause of a content message that cannot be
	// decoded. The message is dropped and counted (Stats.BadMessages).
	ErrMalformed = errors.New("content: malformed message")
	// ErrCorruptPiece is the cause of EventPeerAvoided when a peer sent a
	// piece (or a piece-hash list) whose hash is wrong.
	ErrCorruptPiece = errors.New("content: corrupt piece")
)

// PeerError names the peer an error concerns.
type PeerError struct {
	Peer netcode.PeerID
	Err  error
}

func (e *PeerError) Error() string { return fmt.Sprintf("content: peer %s: %v", e.Peer, e.Err) }
func (e *PeerError) Unwrap() error { return e.Err }
