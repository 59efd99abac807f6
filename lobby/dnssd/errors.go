package dnssd

import (
	"errors"
	"fmt"
)

// Sentinel errors. Check them with errors.Is.
var (
	// ErrClosed is returned by every method of a closed Node or Registration.
	ErrClosed = errors.New("dnssd: closed")
	// ErrInvalidService is returned by Advertise for a Service that cannot be
	// advertised (empty instance, bad type, port 0, oversized TXT...). The
	// returned error is a *ServiceError that says which field is wrong.
	ErrInvalidService = errors.New("dnssd: invalid service")
	// ErrInvalidName reports a DNS name that cannot be encoded: an empty
	// label, a label over 63 bytes or a name over 255 bytes.
	ErrInvalidName = errors.New("dnssd: invalid name")
	// ErrTooLarge reports a message that would exceed the 9000-byte mDNS
	// packet limit, or a TXT string over 255 bytes.
	ErrTooLarge = errors.New("dnssd: message too large")
	// ErrMalformed is wrapped by the errors the decoder returns for a packet
	// that is not a valid DNS message. Such packets are counted and dropped;
	// they never reach the caller except through Stats.
	ErrMalformed = errors.New("dnssd: malformed message")
	// ErrNoInterfaces is returned by New when no usable multicast interface
	// was found (or none of the named ones exists).
	ErrNoInterfaces = errors.New("dnssd: no multicast interface")
	// ErrConflict is returned by Advertise when the instance name and ten
	// renamed variants were all in use on the link.
	ErrConflict = errors.New("dnssd: instance name conflict")
	// ErrDuplicate is returned by Advertise when this Node already
	// advertises an instance of the same name and type.
	ErrDuplicate = errors.New("dnssd: instance already advertised")
)

// ServiceError reports which field of a Service is invalid. It wraps
// ErrInvalidService, and the underlying cause when there is one.
type ServiceError struct {
	// Field names the offending Service field ("Instance", "Type", ...).
	Field string
	// Reason says what is wrong with it.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (e *ServiceError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("dnssd: invalid service: %s: %s: %v", e.Field, e.Reason, e.Err)
	}
	return fmt.Sprintf("dnssd: invalid service: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidService and the cause.
func (e *ServiceError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidService, e.Err}
	}
	return []error{ErrInvalidService}
}

// InterfaceError reports an interface New could not use.
type InterfaceError struct {
	// Interface is the interface's name.
	Interface string
	// Err is what went wrong.
	Err error
}

func (e *InterfaceError) Error() string {
	return fmt.Sprintf("dnssd: interface %s: %v", e.Interface, e.Err)
}

// Unwrap returns the cause.
func (e *InterfaceError) Unwrap() error { return e.Err }
