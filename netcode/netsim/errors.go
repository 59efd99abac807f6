package netsim

import (
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

var (
	// ErrClosed is returned by Send on an endpoint or conditioner after Close.
	ErrClosed = errors.New("netsim: closed")
	// ErrUnknownPeer is returned by Send when the destination has no endpoint
	// on the network.
	ErrUnknownPeer = errors.New("netsim: unknown peer")
	// ErrTooLarge is returned by Send for a message over MaxMessageSize.
	ErrTooLarge = errors.New("netsim: message too large")
)

// SendError reports a failed Send with the peer and channel involved.
type SendError struct {
	To      netcode.PeerID
	Channel netcode.Channel
	Err     error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("netsim: send to %q on %s: %v", e.To, e.Channel, e.Err)
}

// Unwrap returns the underlying sentinel.
func (e *SendError) Unwrap() error { return e.Err }
