package nearby

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
)

// IDLen is the length of a player id: 16 lowercase base32 characters.
const IDLen = 16

// Identity is a player's ed25519 key pair. Its ID is derived from the
// public key, so a player id cannot be claimed without the private key.
type Identity struct {
	priv ed25519.PrivateKey
}

// NewIdentity returns a fresh random identity.
func NewIdentity() (*Identity, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("nearby: generating a key: %w", err)
	}
	return &Identity{priv: priv}, nil
}

// IdentityFromSeed returns the identity of a 32-byte ed25519 seed (for a
// game that stores its player's key).
func IdentityFromSeed(seed []byte) (*Identity, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed of %d bytes, want %d", ErrInvalid, len(seed), ed25519.SeedSize)
	}
	return &Identity{priv: ed25519.NewKeyFromSeed(seed)}, nil
}

// Seed returns the identity's 32-byte seed, to store it.
func (id *Identity) Seed() []byte { return id.priv.Seed() }

// Public returns the public key.
func (id *Identity) Public() ed25519.PublicKey { return id.priv.Public().(ed25519.PublicKey) }

// ID returns the player id of the identity (KeyID of its public key).
func (id *Identity) ID() string { return KeyID(id.Public()) }

func (id *Identity) sign(b []byte) []byte { return ed25519.Sign(id.priv, b) }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// KeyID returns the player id of an ed25519 public key: the first 10 bytes
// of its SHA-256 in lowercase base32 (RFC 4648, no padding), 16 characters.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return strings.ToLower(idEncoding.EncodeToString(h[:10]))
}

// validID reports whether s has the shape of a LAN player id.
func validID(s string) bool {
	if len(s) != IDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}
