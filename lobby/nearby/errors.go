package nearby

import "errors"

// Errors returned by this package. Check them with errors.Is.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("nearby: closed")
	// ErrInvalid is returned for arguments out of range (an empty or too
	// long name, an unknown status, an oversized message).
	ErrInvalid = errors.New("nearby: invalid argument")
	// ErrUnknownPlayer is returned when sending to a player that was never
	// seen (no presence record and no packet from it).
	ErrUnknownPlayer = errors.New("nearby: unknown player")
	// ErrBlocked is returned when sending to a blocked player.
	ErrBlocked = errors.New("nearby: player is blocked")
	// ErrUndelivered is returned when the receiver did not acknowledge a
	// message within Config.DeliveryTimeout.
	ErrUndelivered = errors.New("nearby: not acknowledged in time")
	// ErrBusy is returned when too many messages to one player wait for
	// their acknowledgement (MaxPending).
	ErrBusy = errors.New("nearby: too many unacknowledged messages")
	// ErrMalformed is wrapped by the errors of ParsePacket, ParseRecord and
	// the payload decoders.
	ErrMalformed = errors.New("nearby: malformed input")
	// ErrBadSignature is returned by ParsePacket when the signature does
	// not verify with the key the packet carries.
	ErrBadSignature = errors.New("nearby: bad signature")
	// ErrUnsupported is returned by operations the mode does not offer.
	ErrUnsupported = errors.New("nearby: not supported in this mode")
)
