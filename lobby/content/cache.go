package content

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Cache keeps content on disk by id: one file per content, named by the
// id in hex, in Dir. A game keeps what it received (EventComplete, then
// Swarm.Content) so that the next lobby that offers it needs no fetch:
// Load, then Swarm.Seed. Files are written to a temporary name and
// renamed, so a crash leaves no partial file under an id; Load checks the
// size and the hash, so a damaged file is never served.
type Cache struct {
	Dir string
}

func (c Cache) path(id ID) string { return filepath.Join(c.Dir, id.String()) }

// Load returns the content ref names if the cache has it whole. It returns
// an error wrapping ErrUnknown when the file is absent, and one wrapping
// ErrMismatch (after removing the file) when its size or hash is wrong.
func (c Cache) Load(ref Ref) ([]byte, error) {
	p := c.path(ref.ID)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s not cached", ErrUnknown, ref.ID.Short())
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() != ref.Size {
		_ = os.Remove(p)
		return nil, fmt.Errorf("%w: cached %s has %d bytes, want %d", ErrMismatch, ref.ID.Short(), fi.Size(), ref.Size)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	if sha256.Sum256(data) != ref.ID {
		_ = os.Remove(p)
		return nil, fmt.Errorf("%w: cached %s is damaged", ErrMismatch, ref.ID.Short())
	}
	return data, nil
}

// Store writes data under id after checking that it hashes to id and fits
// MaxSize.
func (c Cache) Store(id ID, data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	if sha256.Sum256(data) != id {
		return fmt.Errorf("%w: data does not hash to %s", ErrMismatch, id.Short())
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(c.Dir, ".partial-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.path(id))
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}
