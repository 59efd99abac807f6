package broadcast

import (
	"encoding/binary"

	"github.com/rallypoint/rallypoint/netcode"
)

// Wire constants. docs/netcode-wire.md ("Spectator broadcast") describes
// the format; TestWireGolden pins it.
const (
	// Magic is the first byte of every broadcast message, so that a
	// broadcast shares a transport with a rollback session (whose messages
	// start with their version, 1 to 3): see Split.
	Magic = 0xBC
	// WireVersion is the second byte. History: 1, first version; frames
	// later gained a trailing second holder, which the first decoders
	// ignore (bytes after the last field) and which is optional here.
	WireVersion = 1
)

// Message types: only append to this list.
const (
	msgJoin     = 1 // child → node: uvarint have, the parent it lost
	msgAccept   = 2 // node → child: the path (ancestors, root first, ending with the sender)
	msgRedirect = 3 // node → joiner: reason byte, candidate ids
	msgFrames   = 4 // parent → child: flags, beat, start, count, records, the tree's free slot (and a second one, optional)
	msgState    = 5 // parent → child: frame, state bytes
	msgAck      = 6 // child → parent: have, free slots, subtree size, the shallowest free slot and its depth
	msgEnd      = 7 // parent → child: end frame, 8-byte checksum
	msgLeave    = 8 // either way: the link ends (reason byte)
)

// Redirect reasons.
const (
	redirectFull     = 1 // no free slot here: try these (children with room first)
	redirectCycle    = 2 // the joiner is an ancestor of this node
	redirectDetached = 3 // this node has no parent now
	redirectDepth    = 4 // this node is at the tree's depth limit
)

// flagHold in a frames message: the sender lost its own parent and is
// re-attaching; its children keep it for Config.HoldTimeout although its
// beat does not grow.
const flagHold = 0x01

// Limits, checked before allocating.
const (
	maxFrame      = 1 << 30
	maxIDLen      = 128
	maxPath       = 32        // ids in a path (the tree's depth limit)
	maxCandidates = 8         // ids in a redirect
	maxBatch      = 128       // frames in one frames message
	maxRecord     = 4096      // bytes of one frame record
	maxState      = 256 << 10 // bytes of a state
	maxCount      = 1 << 20   // free slots and subtree sizes reported
)

// msg is one decoded message. Slices alias the decoded bytes.
type msg struct {
	typ      byte
	have     int            // join, ack
	lost     netcode.PeerID // join: the parent the joiner lost ("" none)
	free     int            // ack
	size     int            // ack
	holder   netcode.PeerID // ack: a node of the sender's subtree with a free slot; frames: the tree's ("" none)
	alt      netcode.PeerID // frames: another node with a free slot, under another child of the root ("" none)
	hdepth   int            // ack: how far below the sender the holder is
	reason   byte
	flags    byte             // frames: flagHold
	ids      []netcode.PeerID // accept (path), redirect (candidates)
	beat     uint64
	start    int // frames
	records  [][]byte
	frame    int // state, end
	state    []byte
	checksum uint64
}

func appendUvarint(b []byte, v int) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendIDs(b []byte, ids []netcode.PeerID) []byte {
	b = appendUvarint(b, len(ids))
	for _, id := range ids {
		b = appendUvarint(b, len(id))
		b = append(b, id...)
	}
	return b
}

// appendMsg appends the encoding of m to b.
func appendMsg(b []byte, m *msg) []byte {
	b = append(b, Magic, WireVersion, m.typ)
	switch m.typ {
	case msgJoin:
		b = appendUvarint(b, m.have)
		b = appendUvarint(b, len(m.lost))
		b = append(b, m.lost...)
	case msgAccept:
		b = appendIDs(b, m.ids)
	case msgRedirect:
		b = append(b, m.reason)
		b = appendIDs(b, m.ids)
	case msgFrames:
		b = append(b, m.flags)
		b = binary.AppendUvarint(b, m.beat)
		b = appendUvarint(b, m.start)
		b = appendUvarint(b, len(m.records))
		for _, r := range m.records {
			b = appendUvarint(b, len(r))
			b = append(b, r...)
		}
		b = appendUvarint(b, len(m.holder))
		b = append(b, m.holder...)
		b = appendUvarint(b, len(m.alt))
		b = append(b, m.alt...)
	case msgState:
		b = appendUvarint(b, m.frame)
		b = appendUvarint(b, len(m.state))
		b = append(b, m.state...)
	case msgAck:
		b = appendUvarint(b, m.have)
		b = appendUvarint(b, min(m.free, maxCount))
		b = appendUvarint(b, min(m.size, maxCount))
		b = appendUvarint(b, len(m.holder))
		b = append(b, m.holder...)
		b = appendUvarint(b, m.hdepth)
	case msgEnd:
		b = appendUvarint(b, m.frame)
		b = binary.LittleEndian.AppendUint64(b, m.checksum)
	case msgLeave:
		b = append(b, m.reason)
	}
	return b
}

// reader decodes fields and remembers the first error with its offset.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

func (r *reader) uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(ErrTruncated)
		if n < 0 {
			r.err = ErrTooLarge
		}
		return 0
	}
	if v > limit {
		r.fail(ErrTooLarge)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b)-r.off < n {
		r.fail(ErrTruncated)
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}

func (r *reader) byte() byte {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

func (r *reader) ids(limit int, dst []netcode.PeerID) []netcode.PeerID {
	n := int(r.uvarint(uint64(limit)))
	dst = dst[:0]
	for range n {
		l := int(r.uvarint(maxIDLen))
		v := r.bytes(l)
		if r.err != nil {
			return dst
		}
		if l == 0 {
			r.fail(ErrTooLarge)
			return dst
		}
		dst = append(dst, netcode.PeerID(v))
	}
	return dst
}

// parseMsg decodes data into m, reusing m's slices. Bytes after the last
// field are ignored (forward compatibility within a version). The error
// is a *WireError without Peer.
func parseMsg(data []byte, m *msg) error {
	r := reader{b: data}
	if len(data) < 3 {
		return &WireError{Offset: len(data), Err: ErrTruncated}
	}
	if data[0] != Magic {
		return &WireError{Offset: 0, Err: ErrMagic}
	}
	if data[1] != WireVersion {
		return &WireError{Offset: 1, Err: ErrVersion}
	}
	r.off = 3
	m.typ = data[2]
	switch m.typ {
	case msgJoin:
		m.have = int(r.uvarint(maxFrame))
		m.lost = netcode.PeerID(r.bytes(int(r.uvarint(maxIDLen))))
	case msgAccept:
		m.ids = r.ids(maxPath, m.ids)
		if r.err == nil && len(m.ids) == 0 {
			r.fail(ErrTruncated)
		}
	case msgRedirect:
		m.reason = r.byte()
		m.ids = r.ids(maxCandidates, m.ids)
	case msgFrames:
		m.flags = r.byte()
		m.beat = r.uvarint(1<<63 - 1)
		m.start = int(r.uvarint(maxFrame))
		n := int(r.uvarint(maxBatch))
		m.records = m.records[:0]
		for range n {
			l := int(r.uvarint(maxRecord))
			v := r.bytes(l)
			if r.err != nil {
				break
			}
			m.records = append(m.records, v)
		}
		if r.err == nil && m.start+n > maxFrame {
			r.fail(ErrTooLarge)
		}
		m.holder = netcode.PeerID(r.bytes(int(r.uvarint(maxIDLen))))
		m.alt = ""
		if r.err == nil && r.off < len(r.b) { // absent from the first encoders
			m.alt = netcode.PeerID(r.bytes(int(r.uvarint(maxIDLen))))
		}
	case msgState:
		m.frame = int(r.uvarint(maxFrame))
		l := int(r.uvarint(maxState))
		m.state = r.bytes(l)
	case msgAck:
		m.have = int(r.uvarint(maxFrame))
		m.free = int(r.uvarint(maxCount))
		m.size = int(r.uvarint(maxCount))
		m.holder = netcode.PeerID(r.bytes(int(r.uvarint(maxIDLen))))
		m.hdepth = int(r.uvarint(maxPath))
	case msgEnd:
		m.frame = int(r.uvarint(maxFrame))
		if v := r.bytes(8); v != nil {
			m.checksum = binary.LittleEndian.Uint64(v)
		}
	case msgLeave:
		m.reason = r.byte()
	default:
		return &WireError{Offset: 2, Err: ErrUnknownType}
	}
	if r.err != nil {
		return &WireError{Offset: r.off, Err: r.err}
	}
	return nil
}
