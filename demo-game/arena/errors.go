package arena

import (
	"errors"
	"fmt"
)

// Errors returned by UnmarshalBinary, wrapped in a *DecodeError.
var (
	// ErrTruncated means the encoding is shorter than EncodedSize.
	ErrTruncated = errors.New("arena: state encoding truncated")
	// ErrTrailingData means the encoding is longer than EncodedSize.
	ErrTrailingData = errors.New("arena: trailing data after state encoding")
	// ErrBadMagic means the bytes are not a state encoding at all.
	ErrBadMagic = errors.New("arena: not a state encoding")
	// ErrVersion means the encoding comes from an incompatible version of
	// the rules.
	ErrVersion = errors.New("arena: unsupported state encoding version")
	// ErrInvalidState means a field holds a value no game can reach (a
	// player count out of range, a bullet owned by a missing player, ...).
	ErrInvalidState = errors.New("arena: invalid state")
)

// DecodeError says where a state encoding is wrong. It unwraps to one of the
// Err sentinels of this package.
type DecodeError struct {
	Field  string // the field being decoded, e.g. "players[2].hp"
	Offset int    // byte offset of the field in the encoding
	Err    error  // the sentinel
}

// Error says what is wrong and where.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: %s at byte %d", e.Err, e.Field, e.Offset)
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

// Errors of a map file (ParseMap) and of Layout.Validate, wrapped in a
// *MapError.
var (
	// ErrMapTooLarge means the file is larger than MaxMapFile.
	ErrMapTooLarge = errors.New("arena: map file too large")
	// ErrMapSyntax means the file is not a map: not JSON, an unknown or
	// mistyped field, a list of the wrong length, data after the object.
	ErrMapSyntax = errors.New("arena: map file malformed")
	// ErrMapVersion means the file's "arena" version is not MapVersion.
	ErrMapVersion = errors.New("arena: unsupported map version")
	// ErrMapInvalid means the map cannot be played: a size out of range,
	// a wall outside the arena, a spawn in a wall, too many walls...
	ErrMapInvalid = errors.New("arena: invalid map")
)

// MapError says what is wrong with a map and where. It unwraps to one of
// the ErrMap sentinels.
type MapError struct {
	Field  string // the field, e.g. "walls[3]"; "" for the whole file
	Err    error  // the sentinel
	Detail string // what is wrong, for people
}

// Error says what is wrong and where.
func (e *MapError) Error() string {
	s := e.Err.Error()
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the sentinel.
func (e *MapError) Unwrap() error { return e.Err }
