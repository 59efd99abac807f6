package nearby

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// WireVersion is the version of the datagram format (docs/nearby.md).
// History: 1, the first.
const WireVersion = 1

// Packet kinds. Only append to this list.
const (
	KindData byte = 1 // a reliable payload
	KindAck  byte = 2 // an acknowledgement
)

// Payload types of a data packet. Only append to this list.
const (
	PayloadText        byte = 1 // a direct message: UTF-8 text
	PayloadInvite      byte = 2 // an invitation: JSON Invitation
	PayloadInviteReply byte = 3 // an answer to an invitation: JSON inviteReply
)

// Size limits, checked before anything is allocated.
const (
	// MaxPayload is the largest payload of one data packet.
	MaxPayload = 1024
	// MaxText is the longest direct message in bytes.
	MaxText = 1000
	// MaxPacket is the largest packet accepted.
	MaxPacket = 1400
	// MaxPeerIDLen is the longest receiver id (online ids are server or
	// auth-subject ids; LAN ids are IDLen long).
	MaxPeerIDLen = 64
)

var magic = [4]byte{'R', 'P', 'N', 'B'}

// Packet is one datagram of the nearby protocol, as sent on the LAN (UDP)
// or relayed by the server.
type Packet struct {
	Kind byte
	// Key is the sender's public key; the signature verifies with it.
	Key ed25519.PublicKey
	// To is the receiver's player id: a packet is only taken by that
	// receiver, so it cannot be replayed to another.
	To string
	// Epoch identifies the sender's stream (data) or the acknowledged
	// stream (ack): when the sender started the stream, in Unix
	// milliseconds, and more than every epoch it used before. A newer
	// epoch replaces an older one; packets of older epochs are dropped.
	Epoch uint64
	// Seq is the sequence number of a data packet (from 1), or for an ack
	// the cumulative acknowledgement: every seq up to it was received.
	Seq uint64
	// Base (data) is the lowest seq the sender still waits an
	// acknowledgement for: a receiver without state for the stream starts
	// there.
	Base uint64
	// Type and Payload (data) are the payload.
	Type    byte
	Payload []byte
	// SACK (ack) has bit i set when seq Seq+2+i was received as well.
	SACK uint64
}

const (
	hdrFixed = 4 + 1 + 1 + ed25519.PublicKeySize + 1 // magic, version, kind, key, to length
	sigLen   = ed25519.SignatureSize
)

// AppendSigned appends p, signed by id, to b. p.Key is ignored: the
// identity's public key is written.
func (p *Packet) AppendSigned(b []byte, id *Identity) ([]byte, error) {
	if len(p.To) == 0 || len(p.To) > MaxPeerIDLen {
		return b, fmt.Errorf("%w: receiver id of %d bytes", ErrInvalid, len(p.To))
	}
	if len(p.Payload) > MaxPayload {
		return b, fmt.Errorf("%w: payload of %d bytes", ErrInvalid, len(p.Payload))
	}
	start := len(b)
	b = append(b, magic[:]...)
	b = append(b, WireVersion, p.Kind)
	b = append(b, id.Public()...)
	b = append(b, byte(len(p.To)))
	b = append(b, p.To...)
	b = binary.BigEndian.AppendUint64(b, p.Epoch)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	switch p.Kind {
	case KindData:
		b = binary.BigEndian.AppendUint64(b, p.Base)
		b = append(b, p.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(p.Payload)))
		b = append(b, p.Payload...)
	case KindAck:
		b = binary.BigEndian.AppendUint64(b, p.SACK)
	default:
		return b[:start], fmt.Errorf("%w: packet kind %d", ErrInvalid, p.Kind)
	}
	return append(b, id.sign(b[start:])...), nil
}

// ParsePacket decodes and verifies a packet. Bytes between the kind's
// fields and the signature are ignored (room for later fields; the
// signature covers them). Errors wrap ErrMalformed or ErrBadSignature.
// The returned packet's Key and Payload alias b.
func ParsePacket(b []byte) (*Packet, error) {
	bad := func(why string) error { return fmt.Errorf("%w: packet: %s", ErrMalformed, why) }
	if len(b) > MaxPacket {
		return nil, bad("too long")
	}
	if len(b) < hdrFixed+1+16+sigLen {
		return nil, bad("too short")
	}
	if [4]byte(b[:4]) != magic {
		return nil, bad("bad magic")
	}
	if b[4] != WireVersion {
		return nil, bad(fmt.Sprintf("version %d", b[4]))
	}
	body, sig := b[:len(b)-sigLen], b[len(b)-sigLen:]
	p := &Packet{Kind: b[5], Key: ed25519.PublicKey(b[6 : 6+ed25519.PublicKeySize])}
	off := hdrFixed
	n := int(b[off-1])
	if n == 0 || n > MaxPeerIDLen {
		return nil, bad("receiver id length")
	}
	if off+n+16 > len(body) {
		return nil, bad("truncated header")
	}
	p.To = string(body[off : off+n])
	off += n
	p.Epoch = binary.BigEndian.Uint64(body[off:])
	p.Seq = binary.BigEndian.Uint64(body[off+8:])
	off += 16
	switch p.Kind {
	case KindData:
		if off+11 > len(body) {
			return nil, bad("truncated data header")
		}
		p.Base = binary.BigEndian.Uint64(body[off:])
		p.Type = body[off+8]
		ln := int(binary.BigEndian.Uint16(body[off+9:]))
		off += 11
		if ln > MaxPayload || off+ln > len(body) {
			return nil, bad("payload length")
		}
		p.Payload = body[off : off+ln]
		if p.Seq == 0 || p.Base == 0 || p.Base > p.Seq {
			return nil, bad("sequence numbers")
		}
	case KindAck:
		if off+8 > len(body) {
			return nil, bad("truncated ack")
		}
		p.SACK = binary.BigEndian.Uint64(body[off:])
	default:
		return nil, bad(fmt.Sprintf("kind %d", p.Kind))
	}
	if !ed25519.Verify(p.Key, body, sig) {
		return nil, ErrBadSignature
	}
	return p, nil
}

// Invitation invites a player to a lobby. It carries what the lobby
// package needs to join: the lobby id and, on a LAN, the port of the
// inviting host's lobby server (its address is the one the invitation
// arrived from) or a full URL.
type Invitation struct {
	// ID is chosen by the inviter and echoed in the answer.
	ID uint64 `json:"id"`
	// Lobby is the lobby id to pass to lobby.Client.Join.
	Lobby string `json:"lobby"`
	// Name and Game describe the lobby for the invitee.
	Name string `json:"name,omitempty"`
	Game string `json:"game,omitempty"`
	// Port is the LAN host's signaling port (lobby.Host.Addr); 0 online.
	Port uint16 `json:"port,omitempty"`
	// URL is the signaling endpoint when it is not the sender's address
	// with Port; empty means derive it (LAN) or the same server (online).
	URL string `json:"url,omitempty"`
	// Password is the lobby's password, when it has one.
	Password string `json:"pw,omitempty"`
	// Code is the lobby's join code (online lobbies, private ones too:
	// lobby.Client.JoinByCode). Empty means join by Lobby.
	Code string `json:"code,omitempty"`
}

type inviteReply struct {
	ID     uint64 `json:"id"`
	Accept bool   `json:"accept"`
}

func (inv *Invitation) check() error {
	switch {
	case inv.Lobby == "" || len(inv.Lobby) > 64:
		return fmt.Errorf("%w: lobby id of %d bytes", ErrInvalid, len(inv.Lobby))
	case len(inv.Name) > 64 || len(inv.Game) > 64 || len(inv.URL) > 256 || len(inv.Password) > 64 || len(inv.Code) > 16:
		return fmt.Errorf("%w: invitation field too long", ErrInvalid)
	case !utf8.ValidString(inv.Name) || !utf8.ValidString(inv.Game) || !utf8.ValidString(inv.Lobby):
		return fmt.Errorf("%w: invitation text not UTF-8", ErrInvalid)
	}
	return nil
}

// ParseInvitation decodes an invitation payload.
func ParseInvitation(b []byte) (Invitation, error) {
	var inv Invitation
	if len(b) > MaxPayload {
		return inv, fmt.Errorf("%w: invitation too long", ErrMalformed)
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		return inv, fmt.Errorf("%w: invitation: %v", ErrMalformed, err)
	}
	if err := inv.check(); err != nil {
		return inv, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return inv, nil
}

func parseInviteReply(b []byte) (inviteReply, error) {
	var r inviteReply
	if len(b) > MaxPayload {
		return r, fmt.Errorf("%w: reply too long", ErrMalformed)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: invitation reply: %v", ErrMalformed, err)
	}
	return r, nil
}

func checkText(s string) error {
	if s == "" || len(s) > MaxText || !utf8.ValidString(s) {
		return fmt.Errorf("%w: message must be 1 to %d bytes of UTF-8", ErrInvalid, MaxText)
	}
	return nil
}
