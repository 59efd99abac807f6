package mesh

import (
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Errors of the peer mesh. Compare with errors.Is; the typed errors below
// unwrap to one of these.
var (
	// ErrClosed is returned by every method of a closed Mesh.
	ErrClosed = errors.New("mesh: closed")
	// ErrUnknownPeer is returned for a peer the mesh has never heard of or
	// has already forgotten.
	ErrUnknownPeer = errors.New("mesh: unknown peer")
	// ErrPeerNotConnected is returned by Send when the peer is known but its
	// channels are not open (still connecting, interrupted by a restart, or
	// disconnected). Nothing was queued.
	ErrPeerNotConnected = errors.New("mesh: peer not connected")
	// ErrMessageTooLarge is returned by Send for a message larger than its
	// channel allows: one datagram on the unreliable channels, the
	// configured cap on the reliable one. See MessageSizeError.
	ErrMessageTooLarge = errors.New("mesh: message too large")
	// ErrQueueFull is returned by Send on the reliable channel when the
	// bytes already queued for that peer exceed the configured limit.
	// Nothing was queued: the caller decides whether to retry later.
	ErrQueueFull = errors.New("mesh: send queue full")
	// ErrUnknownChannel is returned for a Channel value the mesh does not
	// carry.
	ErrUnknownChannel = errors.New("mesh: unknown channel")
	// ErrNoLocalID is returned when the signaler has no id for this peer
	// (it is not in a room), so the mesh cannot choose offering sides.
	ErrNoLocalID = errors.New("mesh: signaler has no local id")
	// ErrBadSignal is the cause of a malformed or unexpected signal from a
	// peer. The signal is dropped; the connection is unaffected.
	ErrBadSignal = errors.New("mesh: bad signal")
	// ErrSignalVersion is the cause (with ErrBadSignal) of a signal whose
	// version field is not this mesh's (2): a peer running an
	// incompatible version. See EventSignalRejected.
	ErrSignalVersion = errors.New("mesh: unsupported signal version")
	// ErrProtocol is the cause of a disconnect after a peer sent a frame
	// that violates the data-channel framing (for example a chunked message
	// longer than the configured cap).
	ErrProtocol = errors.New("mesh: peer protocol violation")

	// ErrTURNAuth is the Failure of a ConnectError when the TURN servers
	// refused the credentials (401 Unauthorized or 441 Wrong Credentials)
	// and the pair could not connect without them.
	ErrTURNAuth = errors.New("mesh: TURN server refused the credentials")
	// ErrTURNUnreachable is the Failure of a ConnectError when no TURN
	// server answered (over UDP, or to a TCP or TLS connection) and the
	// pair could not connect without one.
	ErrTURNUnreachable = errors.New("mesh: TURN server unreachable")
	// ErrNoCandidatePair is the Failure of a ConnectError when candidates
	// were exchanged (relay ones too, when TURN was tried) but no pair of
	// them worked.
	ErrNoCandidatePair = errors.New("mesh: no candidate pair worked")
)

// ConnectError is the Err of an EventDisconnected with ReasonICEFailed: a
// peer that could not be connected within Config.ConnectTimeout, and why.
// errors.Is matches it against its Failure.
type ConnectError struct {
	// Failure is ErrTURNAuth, ErrTURNUnreachable or ErrNoCandidatePair.
	Failure error
	// Local and Remote list the candidate types ("host", "srflx", "prflx",
	// "relay") this side gathered and the peer signaled, over every
	// attempt.
	Local, Remote []string
	// RelayTried reports that an attempt with TURN servers ran.
	RelayTried bool
	// Detail is what pion reported about the TURN server, when it did.
	Detail string
	// After is how long the mesh tried.
	After time.Duration
}

// Error implements error.
func (e *ConnectError) Error() string {
	s := fmt.Sprintf("%v after %v; candidates tried: local %v, remote %v", e.Failure, e.After.Round(time.Millisecond), e.Local, e.Remote)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

// Unwrap returns the Failure.
func (e *ConnectError) Unwrap() error { return e.Failure }

// MessageSizeError reports a message that does not fit its channel.
type MessageSizeError struct {
	Channel netcode.Channel // the channel the message was sent on
	Size    int             // the message's length in bytes
	Limit   int             // the largest length the channel accepts
}

// Error implements error.
func (e *MessageSizeError) Error() string {
	return fmt.Sprintf("mesh: message too large: %d bytes on %s channel (limit %d)", e.Size, e.Channel, e.Limit)
}

// Unwrap returns ErrMessageTooLarge.
func (e *MessageSizeError) Unwrap() error { return ErrMessageTooLarge }

// PeerError ties an error to the peer it concerns.
type PeerError struct {
	Peer netcode.PeerID // the remote peer
	Op   string         // what the mesh was doing: "send", "kick", "signal", ...
	Err  error          // the cause
}

// Error implements error.
func (e *PeerError) Error() string {
	return fmt.Sprintf("mesh: %s %s: %v", e.Op, e.Peer, e.Err)
}

// Unwrap returns the cause.
func (e *PeerError) Unwrap() error { return e.Err }
