package store

import "errors"

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrSchemaTooNew is returned by Open for a database migrated by a
	// newer server than this one.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this server")
	// ErrInvalidBan is returned by Ban for an unknown kind or an empty key.
	ErrInvalidBan = errors.New("store: invalid ban")
)
