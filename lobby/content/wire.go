package content

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// The content wire format. docs/content.md describes it byte by byte.
//
// Every content message travels on the Reliable channel and starts with
//
//	0     Magic (0xC7): a content message
//	1     WireVersion
//	2     type (msg* below)
//	3-34  the content id (32 bytes)
//
// then the type's fields. Integers are unsigned LEB128 varints (uvarint).
// A message of another version is dropped; bytes after a message's last
// field are ignored, so later versions may append fields.
//
// Version history:
//
//	1: first version.
const (
	Magic       = 0xC7
	WireVersion = 1
)

// headerLen is the length of the common header.
const headerLen = 3 + sha256.Size

// Message types. Part of the protocol: only append to this list.
const (
	msgBitfield = 1 // flags, piece count, bitmap: which pieces the sender has
	msgHave     = 2 // index: the sender verified one more piece
	msgWantList = 3 // the sender asks for the piece-hash list
	msgList     = 4 // piece count, hashes: the piece-hash list
	msgRequest  = 5 // index: the sender asks for one piece
	msgPiece    = 6 // index, data: one piece
	msgReject   = 7 // index, code: a request that will not be served
)

// Flags of msgBitfield.
const (
	flagReply   = 0x01 // the receiver should answer with its own bitfield
	flagHasList = 0x02 // the sender can serve the piece-hash list
	flagSource  = 0x04 // the sender seeded the content: ask it last
)

// Codes of msgReject. Only append to this list.
const (
	rejectMissing = 1 // the sender does not have the piece (or the list)
	rejectBusy    = 2 // the sender cannot queue it now; ask again later
)

// message is one decoded content message. Fields beyond the header are
// set according to Type.
type message struct {
	Type  byte
	ID    ID
	Flags byte
	Index int                 // have, request, piece, reject
	Count int                 // bitfield, list: number of pieces
	Bits  []byte              // bitfield: ceil(Count/8) bytes, bit i in Bits[i/8] & (1<<(i%8))
	List  [][sha256.Size]byte // list
	Data  []byte              // piece (aliases the input)
	Code  byte                // reject
}

// IsMessage reports whether data is a content message (its first byte is
// Magic). A game that shares the Reliable channel with a swarm never sends
// a message that starts with Magic.
func IsMessage(data []byte) bool { return len(data) > 0 && data[0] == Magic }

func appendHeader(b []byte, typ byte, id ID) []byte {
	b = append(b, Magic, WireVersion, typ)
	return append(b, id[:]...)
}

// appendMessage appends the encoding of m to b.
func appendMessage(b []byte, m *message) []byte {
	b = appendHeader(b, m.Type, m.ID)
	switch m.Type {
	case msgBitfield:
		b = append(b, m.Flags)
		b = binary.AppendUvarint(b, uint64(m.Count))
		b = append(b, m.Bits...)
	case msgHave, msgRequest:
		b = binary.AppendUvarint(b, uint64(m.Index))
	case msgList:
		b = binary.AppendUvarint(b, uint64(len(m.List)))
		for i := range m.List {
			b = append(b, m.List[i][:]...)
		}
	case msgPiece:
		b = binary.AppendUvarint(b, uint64(m.Index))
		b = append(b, m.Data...)
	case msgReject:
		b = binary.AppendUvarint(b, uint64(m.Index))
		b = append(b, m.Code)
	}
	return b
}

// parseMessage decodes a content message. Sizes are checked against the
// format's limits before anything is allocated; Data aliases b. An unknown
// type returns ErrMalformed wrapped with the type, so that it is counted.
func parseMessage(b []byte, m *message) error {
	*m = message{}
	if len(b) < headerLen || b[0] != Magic {
		return fmt.Errorf("%w: short or not a content message", ErrMalformed)
	}
	if b[1] != WireVersion {
		return fmt.Errorf("%w: version %d", ErrMalformed, b[1])
	}
	m.Type = b[2]
	copy(m.ID[:], b[3:headerLen])
	p := b[headerLen:]
	uv := func(max int) (int, bool) {
		v, n := binary.Uvarint(p)
		if n <= 0 || v > uint64(max) {
			return 0, false
		}
		p = p[n:]
		return int(v), true
	}
	var ok bool
	switch m.Type {
	case msgBitfield:
		if len(p) < 1 {
			return fmt.Errorf("%w: bitfield", ErrMalformed)
		}
		m.Flags, p = p[0], p[1:]
		if m.Count, ok = uv(MaxPieces); !ok {
			return fmt.Errorf("%w: bitfield count", ErrMalformed)
		}
		n := (m.Count + 7) / 8
		if len(p) < n {
			return fmt.Errorf("%w: bitfield bits", ErrMalformed)
		}
		m.Bits = p[:n:n]
	case msgHave, msgRequest:
		if m.Index, ok = uv(MaxPieces - 1); !ok {
			return fmt.Errorf("%w: index", ErrMalformed)
		}
	case msgWantList:
	case msgList:
		if m.Count, ok = uv(MaxPieces); !ok || len(p) < m.Count*sha256.Size {
			return fmt.Errorf("%w: list", ErrMalformed)
		}
		m.List = make([][sha256.Size]byte, m.Count)
		for i := range m.List {
			copy(m.List[i][:], p[i*sha256.Size:])
		}
	case msgPiece:
		if m.Index, ok = uv(MaxPieces - 1); !ok || len(p) > MaxPieceSize {
			return fmt.Errorf("%w: piece", ErrMalformed)
		}
		m.Data = p
	case msgReject:
		if m.Index, ok = uv(MaxPieces - 1); !ok || len(p) < 1 {
			return fmt.Errorf("%w: reject", ErrMalformed)
		}
		m.Code = p[0]
	default:
		return fmt.Errorf("%w: type %d", ErrMalformed, m.Type)
	}
	return nil
}
