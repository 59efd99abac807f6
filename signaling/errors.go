package signaling

import (
	"errors"
	"strconv"
	"time"
)

// Sentinel errors. Errors from the server arrive as *Error; the sentinels
// below describe local conditions. Check them with errors.Is.
var (
	// ErrClosed is returned by every method of a Server or Client after Close.
	ErrClosed = errors.New("signaling: closed")
	// ErrDisconnected is returned by Client calls that were waiting for a
	// reply when the connection dropped (the server may or may not have
	// acted on them), and by calls made while disconnected when reconnection
	// is disabled. With reconnection on, calls made while disconnected wait
	// for the reconnect or their context.
	ErrDisconnected = errors.New("signaling: disconnected")
	// ErrUnknownPeer is returned by Server.Send and Server.CreateRoom for a
	// peer id that has no session.
	ErrUnknownPeer = errors.New("signaling: unknown peer")
	// ErrQueueFull is returned by Server.Send when the peer's send queue is full.
	ErrQueueFull = errors.New("signaling: send queue full")
	// ErrRoomExists is returned by Server.CreateRoom for a name in use.
	ErrRoomExists = errors.New("signaling: room exists")
	// ErrInvalidRoom is returned for a room name that breaks the naming rules.
	ErrInvalidRoom = errors.New("signaling: invalid room name")
	// ErrTooManyRooms is returned by Server.CreateRoom at the rooms limit.
	ErrTooManyRooms = errors.New("signaling: too many rooms")
	// ErrUnknownRoom is returned by Server.AddToRoom for a room that does
	// not exist (never made, or every member left).
	ErrUnknownRoom = errors.New("signaling: unknown room")
	// ErrRoomFull is returned by Server.AddToRoom when the peers would not
	// fit the room's capacity.
	ErrRoomFull = errors.New("signaling: room is full")
	// ErrUnavailable is returned (wrapped) by Server.CreateRoom and
	// AddToRoom on a cluster node when the cluster's store cannot be read
	// or written now (no quorum: a network cut, an election after a node
	// died): nothing was changed, retry later. A service answers its
	// request with CodeUnavailable.
	ErrUnavailable = errors.New("signaling: cluster store unavailable")
	// ErrBadToken is returned by HMACAuth for a token that is malformed,
	// badly signed or expired.
	ErrBadToken = errors.New("signaling: invalid auth token")
	// ErrNotJSON is returned by Client.SendSignal and Client.Request for a
	// payload that is not a JSON value in valid UTF-8 (the server closes a
	// connection that sends invalid UTF-8).
	ErrNotJSON = errors.New("signaling: payload is not JSON")
)

// Error is an error reported by the server on the wire: a stable Code (one
// of the Code constants) and a human-readable Message. A Client returns it
// from the call whose request failed; use errors.As to inspect it.
type Error struct {
	Code    string
	Message string
	// RetryAfter is the wait the server suggested before a retry
	// (ErrorData.RetryMs; with CodeUnavailable), or 0.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "signaling: " + e.Code
	}
	return "signaling: " + e.Code + ": " + e.Message
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, &signaling.Error{Code: signaling.CodeRoomFull}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ServiceError is a coded error that a protocol served over signaling (the
// lobby service, the matchmaker) answered a request with. Its text names
// the protocol; it unwraps to the protocol's sentinel for its code, so that
// errors.Is(err, lobby.ErrFull) works, and to the *Error it arrived as.
type ServiceError struct {
	// Service prefixes the text: "lobby", "mmclient".
	Service string
	Code    string
	Message string
	// Sentinel is the protocol's error for Code, or nil for a code it
	// does not know.
	Sentinel error
	// Wire is the error as the server sent it.
	Wire *Error
}

// Error implements error.
func (e *ServiceError) Error() string {
	if e.Message == "" {
		return e.Service + ": " + e.Code
	}
	return e.Service + ": " + e.Code + ": " + e.Message
}

// Unwrap returns the sentinel of the code, when there is one, and the wire
// error.
func (e *ServiceError) Unwrap() []error {
	var out []error
	if e.Sentinel != nil {
		out = append(out, e.Sentinel)
	}
	if e.Wire != nil {
		out = append(out, e.Wire)
	}
	return out
}

// AsServiceError turns err, when it holds an *Error, into a *ServiceError
// of service whose Sentinel is sentinels[code]; it returns other errors as
// they are.
func AsServiceError(service string, err error, sentinels map[string]error) error {
	var se *Error
	if !errors.As(err, &se) {
		return err
	}
	return &ServiceError{Service: service, Code: se.Code, Message: se.Message, Sentinel: sentinels[se.Code], Wire: se}
}

// HTTPError is returned by Dial when the server refused the WebSocket
// upgrade. Err is the coded *Error from the response body when there was one.
type HTTPError struct {
	StatusCode int
	Err        *Error
}

// Error implements error.
func (e *HTTPError) Error() string {
	if e.Err != nil {
		return "signaling: upgrade refused: " + e.Err.Error()
	}
	return "signaling: upgrade refused with HTTP status " + strconv.Itoa(e.StatusCode)
}

// Unwrap returns the coded error, if any.
func (e *HTTPError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

func itoa(n int) string { return strconv.Itoa(n) }
