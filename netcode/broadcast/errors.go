package broadcast

import (
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

// Errors of this package; compare with errors.Is.
var (
	// ErrConfig reports an unusable configuration.
	ErrConfig = errors.New("broadcast: bad config")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("broadcast: closed")
	// ErrMagic: a message does not start with the broadcast magic byte.
	ErrMagic = errors.New("broadcast: not a broadcast message")
	// ErrVersion: a message of another wire version.
	ErrVersion = errors.New("broadcast: unsupported wire version")
	// ErrTruncated: a message ends before its last field.
	ErrTruncated = errors.New("broadcast: truncated message")
	// ErrTooLarge: a count or size beyond the wire limits.
	ErrTooLarge = errors.New("broadcast: value beyond the wire limits")
	// ErrUnknownType: a message type this version does not define.
	ErrUnknownType = errors.New("broadcast: unknown message type")
	// ErrUnexpected: a well-formed message that makes no sense from its
	// sender now (frames from a peer that is not the parent, a join at a
	// spectator that is not attached...).
	ErrUnexpected = errors.New("broadcast: unexpected message")
	// ErrBadRecord: a frame record that does not decode as the match's
	// inputs.
	ErrBadRecord = errors.New("broadcast: bad frame record")
	// ErrBehind: a source's session no longer holds a confirmed frame
	// that was never published (the game did not call Tick every frame).
	ErrBehind = errors.New("broadcast: source fell behind its session")
)

// WireError is a rejected message: its sender, the byte offset where
// decoding stopped and the reason (one of the sentinels above).
type WireError struct {
	Peer   netcode.PeerID
	Offset int
	Err    error
}

func (e *WireError) Error() string {
	return fmt.Sprintf("broadcast: message from %q rejected at byte %d: %v", e.Peer, e.Offset, e.Err)
}

func (e *WireError) Unwrap() error { return e.Err }
