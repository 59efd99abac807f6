package nearby

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

// ServiceType is the DNS-SD service type nearby players are advertised
// under: `avahi-browse -r _rp-nearby._udp` lists them.
const ServiceType = "_rp-nearby._udp"

// Limits on what a presence record carries.
const (
	MaxNameLen = 32 // display name, bytes
	MaxGameLen = 32 // game name, bytes
)

// Status is what a player is doing. Only append to this list.
type Status uint8

// The statuses.
const (
	Idle    Status = iota + 1 // in the menus
	InLobby                   // in a lobby, waiting for a match
	InMatch                   // playing
)

// String returns the wire name: "idle", "lobby" or "match".
func (s Status) String() string {
	switch s {
	case Idle:
		return "idle"
	case InLobby:
		return "lobby"
	case InMatch:
		return "match"
	}
	return "unknown"
}

// ParseStatus reads a wire name.
func ParseStatus(s string) (Status, bool) {
	switch s {
	case "idle":
		return Idle, true
	case "lobby":
		return InLobby, true
	case "match":
		return InMatch, true
	}
	return 0, false
}

// Profile is what a visible player shows.
type Profile struct {
	// Name is the display name: 1 to MaxNameLen bytes of UTF-8, no
	// control characters. A claim, not an identity: two players may show
	// the same name; their ids differ.
	Name string
	// Status is what the player does. Zero means Idle.
	Status Status
	// Game names the game, at most MaxGameLen bytes. Empty is allowed.
	Game string
}

// prepare gives c an identity when it has none and checks its profile
// (with defaults), which must be valid when the player is to be visible or
// was named.
func (c *Config) prepare() error {
	if c.Identity == nil {
		id, err := NewIdentity()
		if err != nil {
			return err
		}
		c.Identity = id
	}
	if err := c.Profile.withDefaults().check(); err != nil && (c.Visible || c.Profile.Name != "") {
		return err
	}
	return nil
}

func (p Profile) withDefaults() Profile {
	if p.Status == 0 {
		p.Status = Idle
	}
	return p
}

func (p Profile) check() error {
	if p.Name == "" || len(p.Name) > MaxNameLen || !utf8.ValidString(p.Name) || strings.IndexFunc(p.Name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: name must be 1 to %d bytes of printable UTF-8", ErrInvalid, MaxNameLen)
	}
	if len(p.Game) > MaxGameLen || !utf8.ValidString(p.Game) || strings.IndexFunc(p.Game, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: game must be at most %d bytes of printable UTF-8", ErrInvalid, MaxGameLen)
	}
	if _, ok := ParseStatus(p.Status.String()); !ok {
		return fmt.Errorf("%w: status %d", ErrInvalid, p.Status)
	}
	return nil
}

// Player is a nearby player as others see it.
type Player struct {
	// ID is the player id: on a LAN KeyID(Key); online the auth subject
	// (or the server's peer id when auth is off).
	ID string
	Profile
	// Key is the player's ed25519 public key (LAN; nil online, where the
	// server vouches for the id).
	Key ed25519.PublicKey
	// Addr is the address its messages go to (LAN; invalid online).
	Addr netip.AddrPort
}

// The TXT keys of a presence record (RFC 6763 §6).
const (
	TXTVersion = "v"
	TXTID      = "id"
	TXTKey     = "pk"
	TXTName    = "name"
	TXTStatus  = "st"
	TXTGame    = "game"
	TXTSig     = "sig"
)

// recordSigContext prefixes what a presence record's signature covers.
const recordSigContext = "rallypoint nearby record v1\x00"

// recordSigned returns the bytes a record's signature covers: the context
// and every TXT string but the signature, each followed by a zero byte.
func recordSigned(txt []string) []byte {
	b := []byte(recordSigContext)
	for _, s := range txt {
		if k, _, _ := strings.Cut(s, "="); strings.EqualFold(k, TXTSig) {
			continue
		}
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

// recordTXT returns the TXT strings of a presence record.
func recordTXT(id *Identity, p Profile) []string {
	txt := []string{TXTVersion + "=" + strconv.Itoa(WireVersion), TXTID + "=" + id.ID(),
		TXTKey + "=" + base64.RawURLEncoding.EncodeToString(id.Public()),
		TXTName + "=" + p.Name, TXTStatus + "=" + p.Status.String()}
	if p.Game != "" {
		txt = append(txt, TXTGame+"="+p.Game)
	}
	sig := id.sign(recordSigned(txt))
	return append(txt, TXTSig+"="+base64.RawURLEncoding.EncodeToString(sig))
}

// instanceName is the DNS-SD instance name of a presence record: the
// display name and the first 6 characters of the id, unique on the link
// without probing.
func instanceName(id string, name string) string {
	suffix := " (" + id[:6] + ")"
	for len(name)+len(suffix) > dnssd.MaxInstanceLen {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return name + suffix
}

// ParseRecord reads a player from the TXT strings and addresses of a
// presence record (untrusted input). It fails, wrapping ErrMalformed, for
// records of another version, missing or oversized fields, an id that is
// not the key's (KeyID), or a signature that the key does not verify.
func ParseRecord(txt []string, addrs []netip.AddrPort) (Player, error) {
	bad := func(why string) (Player, error) {
		return Player{}, fmt.Errorf("%w: presence record: %s", ErrMalformed, why)
	}
	get := func(k string) string { v, _ := dnssd.TXTValue(txt, k); return v }
	if get(TXTVersion) != strconv.Itoa(WireVersion) {
		return bad("version")
	}
	key, err := base64.RawURLEncoding.DecodeString(get(TXTKey))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return bad("key")
	}
	p := Player{ID: get(TXTID), Key: ed25519.PublicKey(key),
		Profile: Profile{Name: get(TXTName), Game: get(TXTGame)}}
	if p.ID != KeyID(p.Key) {
		return bad("id is not the key's")
	}
	sig, err := base64.RawURLEncoding.DecodeString(get(TXTSig))
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(p.Key, recordSigned(txt), sig) {
		return bad("signature")
	}
	var ok bool
	if p.Status, ok = ParseStatus(get(TXTStatus)); !ok {
		return bad("status")
	}
	if err := p.Profile.check(); err != nil {
		return bad(err.Error())
	}
	for _, a := range addrs {
		if a.IsValid() && a.Port() != 0 {
			p.Addr = a
			break
		}
	}
	return p, nil
}
