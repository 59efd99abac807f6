package memsignal

import "errors"

// Errors returned by a Signaler.
var (
	// ErrClosed is returned after Leave.
	ErrClosed = errors.New("memsignal: signaler closed")
	// ErrNoPeer is returned by SendSignal when the addressee is not in the room.
	ErrNoPeer = errors.New("memsignal: no such peer in room")
	// ErrDuplicateID is returned by Join when the id is already in the room.
	ErrDuplicateID = errors.New("memsignal: id already in room")
)
