package service

import "errors"

// ErrClosed is returned by Pass after Close. Requests that arrive after
// Close are answered on the wire with CodeClosed.
var ErrClosed = errors.New("service: closed")
