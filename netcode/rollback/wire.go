package rollback

import (
	"encoding/binary"
	"math"

	"github.com/rallypoint/rallypoint/netcode"
)

// The session wire format. docs/netcode-wire.md describes it byte by byte.
//
// Every session message starts with a version byte and a kind byte:
//
//	0  version (WireVersion)
//	1  kind: bits 0-2 the message type; the other bits depend on the type
//
// Integers are unsigned LEB128 varints (uvarint) or zigzag varints (varint)
// as encoding/binary writes them; a checksum is 4 bytes little endian
// (wireChecksum).
// A message of another version is rejected; bytes after a message's last
// field are ignored (the input message's last field is its optional epoch
// byte, so a field added after it needs a new version).
//
// Version history:
//
//	1: first version.
//	2: checksum reports carry 4 bytes (the 64-bit checksum folded), so
//	   that a 2-player datagram stays within 16 bytes.
//	3: the start barrier (control subtype hello) and the final report
//	   (control subtype final); a peer that cannot reach a quorum of the
//	   players stops instead of dropping them.
const WireVersion = 3

// Message types. Part of the protocol: only append to this list.
const (
	wireInput   = 1 // unreliable: a player's inputs, acks, frame advantage, checksum
	wireFeed    = 2 // unreliable: confirmed inputs of every player, to a spectator
	wireFeedAck = 3 // unreliable: a spectator's ack of the feed
	wireDrop    = 4 // reliable: a peer's view of a player it drops
	wireJoin    = 5 // reliable: a spectator asks for the feed
	wireState   = 6 // reliable: a saved state, to a spectator that joins late
	wireControl = 7 // reliable: rejoin request, vote and welcome (a subtype byte follows)
)

// Subtypes of wireControl. Only append to this list.
const (
	ctlRejoin  = 1 // a restarted player asks to rejoin
	ctlVote    = 2 // a peer's proposal of the frame the player rejoins at
	ctlWelcome = 3 // the state and rejoin frame, to the rejoining player
	ctlHello   = 4 // unreliable, repeated: the start barrier (who the sender hears)
	ctlFinal   = 5 // unreliable, repeated: the sender's confirmed end of the match
)

// Flags of ctlHello.
const (
	helloStarted = 0x01 // the sender passed the barrier
	helloAbort   = 0x02 // the sender gave up: the match does not start
)

// Bits of the kind byte of wireInput.
const (
	kindTypeMask  = 0x07
	flagChecksum  = 0x08 // a checksum report follows the inputs
	flagAdvantage = 0x10 // the frame advantage byte is present
	countShift    = 5    // bits 5-6: frames carried, 1 to 3; 0: a uvarint count follows
	countMask     = 0x03
	flagPacked    = 0x80 // ack and start deltas share one byte (two 4-bit nibbles)
)

// Limits checked before allocating.
const (
	// maxWireFrames is the most frames one input or feed message carries.
	maxWireFrames = 128
	// maxWireFrame is the largest frame number on the wire.
	maxWireFrame = 1 << 30
	// maxStateSize is the largest saved state a session transfers.
	maxStateSize = 60 << 10
	// maxWirePlayers is the most players a session has.
	maxWirePlayers = 32
)

// wireInputMsg is a decoded wireInput message.
type wireInputMsg struct {
	Frame        int  // the sender's current frame
	Ack          int  // last frame of the receiver's inputs the sender holds, -1 for none
	Advantage    int8 // the sender's frame advantage over the receiver, in frames
	HasAdvantage bool
	Start        int    // first frame carried
	Count        int    // frames carried
	Inputs       []byte // Count × width bytes, frame-major, the sender's players in handle order
	HasSum       bool
	SumFrame     int
	Sum          uint32 // wireChecksum of the state of SumFrame
	// Epoch counts the rejoin votes the sender cast (mod 256); zero is
	// not sent. A receiver that has not yet received that many votes
	// drops the datagram until the votes arrive on the reliable channel.
	Epoch uint8
}

func appendZigzag(b []byte, v int) []byte { return binary.AppendVarint(b, int64(v)) }

// appendInputMsg encodes m; width is the bytes of one frame (the sender's
// players × input size). scratch is reused for the delta pass.
//
//	0  version
//	1  kind: type 1 | flags | count<<5 (count 1 to 3, else 0)
//	2  frame, low 16 bits, little endian (the receiver restores the rest
//	   from its own frame: peers are never 32,768 frames apart)
//	4  with flagPacked: one byte, (ack − frame + 8)<<4 | (start − frame + 8)
//	   without: varint ack − frame, then varint start − frame
//	.  [uvarint count, when not in the kind byte]
//	.  [int8 advantage, with flagAdvantage]
//	.  inputs: count frames, XOR-delta and run-length coded (appendFrames)
//	.  [varint checksum frame − frame, 4-byte checksum, with flagChecksum]
//	.  [epoch byte, when not zero]
func appendInputMsg(b []byte, m *wireInputMsg, width int, scratch []byte) ([]byte, []byte) {
	kind := byte(wireInput)
	if m.HasSum {
		kind |= flagChecksum
	}
	if m.HasAdvantage {
		kind |= flagAdvantage
	}
	if m.Count >= 1 && m.Count <= countMask {
		kind |= byte(m.Count) << countShift
	}
	da, ds := m.Ack-m.Frame, m.Start-m.Frame
	packed := da >= -8 && da <= 7 && ds >= -8 && ds <= 7
	if packed {
		kind |= flagPacked
	}
	b = append(b, WireVersion, kind, byte(m.Frame), byte(m.Frame>>8))
	if packed {
		b = append(b, byte(da+8)<<4|byte(ds+8))
	} else {
		b = appendZigzag(b, da)
		b = appendZigzag(b, ds)
	}
	if (kind>>countShift)&countMask == 0 {
		b = binary.AppendUvarint(b, uint64(m.Count))
	}
	if m.HasAdvantage {
		b = append(b, byte(m.Advantage))
	}
	b, scratch = appendFrames(b, m.Inputs[:m.Count*width], width, scratch)
	if m.HasSum {
		b = appendZigzag(b, m.SumFrame-m.Frame)
		b = binary.LittleEndian.AppendUint32(b, m.Sum)
	}
	if m.Epoch != 0 {
		b = append(b, m.Epoch)
	}
	return b, scratch
}

// parseInputMsg decodes a wireInput message whose frames are width bytes;
// ref is the receiver's own frame, to restore the sender's. m.Inputs is
// reused when large enough.
func parseInputMsg(data []byte, width, ref int, m *wireInputMsg) error {
	r := wireReader{b: data}
	kind := r.header(wireInput)
	m.HasSum = kind&flagChecksum != 0
	m.HasAdvantage = kind&flagAdvantage != 0
	lo := int(r.byte()) | int(r.byte())<<8
	m.Frame = ref + int(int16(uint16(lo)-uint16(ref)))
	if m.Frame < 0 || m.Frame > maxWireFrame {
		r.fail()
	}
	if kind&flagPacked != 0 {
		d := int(r.byte())
		m.Ack = m.Frame + d>>4 - 8
		m.Start = m.Frame + d&15 - 8
	} else {
		m.Ack = m.Frame + r.zigzag()
		m.Start = m.Frame + r.zigzag()
	}
	if m.Ack < -1 || m.Ack > maxWireFrame || m.Start < 0 || m.Start > maxWireFrame {
		r.fail()
	}
	if c := int(kind>>countShift) & countMask; c != 0 {
		m.Count = c
	} else {
		m.Count = r.count(maxWireFrames)
	}
	m.Advantage = 0
	if m.HasAdvantage {
		m.Advantage = int8(r.byte())
	}
	if r.err == nil {
		m.Inputs = r.frames(m.Inputs, m.Count, width)
	}
	if m.HasSum {
		m.SumFrame = m.Frame + r.zigzag()
		if m.SumFrame < 0 || m.SumFrame > maxWireFrame {
			r.fail()
		}
		m.Sum = r.uint32()
	}
	m.Epoch = 0
	if r.err == nil && r.off < len(r.b) {
		m.Epoch = r.byte()
	}
	return r.err
}

// wireFeedMsg is a decoded wireFeed message: confirmed inputs of every
// player and the frames at which players were dropped.
type wireFeedMsg struct {
	Start  int
	Count  int
	Inputs []byte // Count × players × input size
	Drops  []wireDropFrom
}

// wireDropFrom says that player Handle was dropped from frame From, and
// rejoined at Until (noDrop if it has not).
type wireDropFrom struct {
	Handle int
	From   int
	Until  int
}

// appendDrops writes: uvarint n, then n × (handle byte, uvarint from,
// uvarint until+1, 0 when the player has not rejoined).
func appendDrops(b []byte, drops []wireDropFrom) []byte {
	b = binary.AppendUvarint(b, uint64(len(drops)))
	for _, d := range drops {
		b = append(b, byte(d.Handle))
		b = binary.AppendUvarint(b, uint64(d.From))
		until := uint64(0)
		if d.Until != noDrop {
			until = uint64(d.Until) + 1
		}
		b = binary.AppendUvarint(b, until)
	}
	return b
}

func (r *wireReader) drops(dst []wireDropFrom) []wireDropFrom {
	n := r.count(maxWirePlayers)
	dst = dst[:0]
	for i := 0; i < n && r.err == nil; i++ {
		d := wireDropFrom{Handle: int(r.byte()), From: r.frame(), Until: noDrop}
		if u := r.frame(); u > 0 {
			d.Until = u - 1
		}
		dst = append(dst, d)
	}
	return dst
}

func appendFeedMsg(b []byte, m *wireFeedMsg, width int, scratch []byte) ([]byte, []byte) {
	b = append(b, WireVersion, wireFeed)
	b = binary.AppendUvarint(b, uint64(m.Start))
	b = binary.AppendUvarint(b, uint64(m.Count))
	b, scratch = appendFrames(b, m.Inputs[:m.Count*width], width, scratch)
	return appendDrops(b, m.Drops), scratch
}

func parseFeedMsg(data []byte, width int, m *wireFeedMsg) error {
	r := wireReader{b: data}
	r.header(wireFeed)
	m.Start = r.frame()
	m.Count = r.count(maxWireFrames)
	if r.err == nil {
		m.Inputs = r.frames(m.Inputs, m.Count, width)
	}
	m.Drops = r.drops(m.Drops)
	return r.err
}

func appendFeedAck(b []byte, ack int) []byte {
	b = append(b, WireVersion, wireFeedAck)
	return binary.AppendUvarint(b, uint64(ack+1))
}

func parseFeedAck(data []byte) (int, error) {
	r := wireReader{b: data}
	r.header(wireFeedAck)
	ack := r.frame() - 1
	return ack, r.err
}

// wireDropMsg is one peer's view of a player it drops: the last frame of
// the player's inputs it holds, and the inputs before it.
type wireDropMsg struct {
	Handle int
	Last   int    // last frame held, -1 for none
	Inputs []byte // the inputs of frames Last-n+1 .. Last
}

func appendDropMsg(b []byte, m *wireDropMsg, size int) []byte {
	b = append(b, WireVersion, wireDrop, byte(m.Handle))
	b = binary.AppendUvarint(b, uint64(m.Last+1))
	b = binary.AppendUvarint(b, uint64(len(m.Inputs)/size))
	return append(b, m.Inputs...)
}

func parseDropMsg(data []byte, size int, m *wireDropMsg) error {
	r := wireReader{b: data}
	r.header(wireDrop)
	m.Handle = int(r.byte())
	m.Last = r.frame() - 1
	n := r.count(maxWireFrames)
	if r.err == nil && n > m.Last+1 {
		r.fail()
	}
	m.Inputs = append(m.Inputs[:0], r.raw(n*size)...)
	return r.err
}

func appendJoinMsg(b []byte) []byte { return append(b, WireVersion, wireJoin) }

// wireStateMsg carries a saved state to a spectator.
type wireStateMsg struct {
	Frame int
	Drops []wireDropFrom
	State []byte
}

func appendStateMsg(b []byte, m *wireStateMsg) []byte {
	b = append(b, WireVersion, wireState)
	return appendStateBody(b, m)
}

func appendStateBody(b []byte, m *wireStateMsg) []byte {
	b = binary.AppendUvarint(b, uint64(m.Frame))
	b = appendDrops(b, m.Drops)
	b = binary.AppendUvarint(b, uint64(len(m.State)))
	return append(b, m.State...)
}

func parseStateMsg(data []byte, m *wireStateMsg) error {
	r := wireReader{b: data}
	r.header(wireState)
	r.stateBody(m)
	return r.err
}

func (r *wireReader) stateBody(m *wireStateMsg) {
	m.Frame = r.frame()
	m.Drops = r.drops(m.Drops)
	size := r.count(maxStateSize)
	m.State = append(m.State[:0], r.raw(size)...)
}

// wireCtlMsg is a decoded wireControl message.
type wireCtlMsg struct {
	Sub     byte
	Handles []int          // ctlRejoin: the players rejoining
	Token   []byte         // ctlRejoin: the game's resume credential, opaque here
	Handle  int            // ctlVote: first handle of the rejoining player
	Frame   int            // ctlVote: proposed frame; ctlWelcome: the rejoin frame
	Joiner  netcode.PeerID // ctlVote: the rejoining peer
	Nonce   uint64         // ctlRejoin, ctlVote: names the rejoining session
	State   wireStateMsg
	Flags   byte   // ctlHello: helloStarted, helloAbort
	Heard   uint32 // ctlHello: handles of the players whose peers the sender hears (its own included)
	Sum     uint32 // ctlFinal: wireChecksum of the state at Frame (the end frame)
	Roster  uint32 // ctlFinal: handles of the players still in the match
	Seen    uint32 // ctlFinal: handles of the players whose final reports the sender holds (its own included)
}

// appendCtlMsg encodes a control message:
//
//	ctlRejoin:  n, n handle bytes, uvarint token length, token, 8-byte nonce
//	ctlVote:    handle byte, uvarint frame, uvarint id length, id, 8-byte nonce
//	ctlWelcome: uvarint rejoin frame, then a state body as in wireState
//	ctlHello:   flags byte, 4-byte heard mask (bit h: player h)
//	ctlFinal:   uvarint end frame, 4-byte checksum, 4-byte roster mask,
//	            4-byte seen mask
//
// Masks and checksums are little endian.
func appendCtlMsg(b []byte, m *wireCtlMsg) []byte {
	b = append(b, WireVersion, wireControl, m.Sub)
	switch m.Sub {
	case ctlRejoin:
		b = append(b, byte(len(m.Handles)))
		for _, h := range m.Handles {
			b = append(b, byte(h))
		}
		b = binary.AppendUvarint(b, uint64(len(m.Token)))
		b = append(b, m.Token...)
		b = binary.LittleEndian.AppendUint64(b, m.Nonce)
	case ctlVote:
		b = append(b, byte(m.Handle))
		b = binary.AppendUvarint(b, uint64(m.Frame))
		b = binary.AppendUvarint(b, uint64(len(m.Joiner)))
		b = append(b, m.Joiner...)
		b = binary.LittleEndian.AppendUint64(b, m.Nonce)
	case ctlWelcome:
		b = binary.AppendUvarint(b, uint64(m.Frame))
		b = appendStateBody(b, &m.State)
	case ctlHello:
		b = append(b, m.Flags)
		b = binary.LittleEndian.AppendUint32(b, m.Heard)
	case ctlFinal:
		b = binary.AppendUvarint(b, uint64(m.Frame))
		b = binary.LittleEndian.AppendUint32(b, m.Sum)
		b = binary.LittleEndian.AppendUint32(b, m.Roster)
		b = binary.LittleEndian.AppendUint32(b, m.Seen)
	}
	return b
}

const maxTokenSize = 1024

func parseCtlMsg(data []byte, m *wireCtlMsg) error {
	r := wireReader{b: data}
	r.header(wireControl)
	m.Sub = r.byte()
	switch m.Sub {
	case ctlRejoin:
		n := int(r.byte())
		if n == 0 || n > maxWirePlayers {
			r.fail()
		}
		m.Handles = m.Handles[:0]
		for i := 0; i < n && r.err == nil; i++ {
			m.Handles = append(m.Handles, int(r.byte()))
		}
		m.Token = append(m.Token[:0], r.raw(r.count(maxTokenSize))...)
		m.Nonce = r.uint64()
	case ctlVote:
		m.Handle = int(r.byte())
		m.Frame = r.frame()
		m.Joiner = netcode.PeerID(r.raw(r.count(256)))
		m.Nonce = r.uint64()
	case ctlWelcome:
		m.Frame = r.frame()
		r.stateBody(&m.State)
	case ctlHello:
		m.Flags = r.byte()
		m.Heard = r.uint32()
	case ctlFinal:
		m.Frame = r.frame()
		m.Sum = r.uint32()
		m.Roster = r.uint32()
		m.Seen = r.uint32()
	default:
		if r.err == nil {
			r.err = &WireError{Offset: 2, Err: ErrUnexpected}
		}
	}
	return r.err
}

// wireKind returns the message type of data, or an error for a message this
// version cannot read.
func wireKind(data []byte) (byte, error) {
	if len(data) < 2 {
		return 0, &WireError{Offset: len(data), Err: ErrMalformed}
	}
	if data[0] != WireVersion {
		return 0, &WireError{Offset: 0, Err: ErrVersion}
	}
	return data[1] & kindTypeMask, nil
}

// appendFrames writes count frames of width bytes: each frame XORed with the
// one before it (the first as is), then run-length coded in tokens:
//
//	0x00-0x7f  a run of t+1 zero bytes
//	0x80-0xff  ((t>>4)&7)+1 literal bytes follow, then a run of t&15 zero
//	           bytes
//
// so a steady 1-byte input over three frames codes as two bytes.
func appendFrames(b, in []byte, width int, scratch []byte) ([]byte, []byte) {
	if cap(scratch) < len(in) {
		scratch = make([]byte, len(in))
	}
	d := scratch[:len(in)]
	for i := range in {
		if i < width {
			d[i] = in[i]
		} else {
			d[i] = in[i] ^ in[i-width]
		}
	}
	for i := 0; i < len(d); {
		if d[i] == 0 {
			j := i
			for j < len(d) && d[j] == 0 && j-i < 128 {
				j++
			}
			b = append(b, byte(j-i-1))
			i = j
			continue
		}
		// A literal of up to 8 bytes, taking in single zeros between
		// non-zero bytes, then up to 15 zeros.
		j := i
		for j < len(d) && j-i < 8 && (d[j] != 0 || (j+1 < len(d) && d[j+1] != 0 && j+1-i < 8)) {
			j++
		}
		z := j
		for z < len(d) && d[z] == 0 && z-j < 15 {
			z++
		}
		b = append(b, 0x80|byte(j-i-1)<<4|byte(z-j))
		b = append(b, d[i:j]...)
		i = z
	}
	return b, scratch
}

// wireReader decodes with sticky errors: after the first error every read
// returns zero.
type wireReader struct {
	b   []byte
	off int
	err error
}

func (r *wireReader) fail() {
	if r.err == nil {
		r.err = &WireError{Offset: r.off, Err: ErrMalformed}
	}
}

func (r *wireReader) header(kind byte) byte {
	if len(r.b) < 2 {
		r.fail()
		return 0
	}
	if r.b[0] != WireVersion {
		r.err = &WireError{Offset: 0, Err: ErrVersion}
		return 0
	}
	if r.b[1]&kindTypeMask != kind {
		r.fail()
		return 0
	}
	r.off = 2
	return r.b[1]
}

func (r *wireReader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail()
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wireReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail()
		return 0
	}
	r.off += n
	return v
}

func (r *wireReader) zigzag() int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 || v > maxWireFrame || v < -maxWireFrame {
		r.fail()
		return 0
	}
	r.off += n
	return int(v)
}

func (r *wireReader) frame() int {
	v := r.uvarint()
	if v > maxWireFrame {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *wireReader) count(max int) int {
	v := r.uvarint()
	if v > uint64(max) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *wireReader) uint32() uint32 {
	if r.err != nil || len(r.b)-r.off < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

// wireChecksum folds a 64-bit state checksum to the 32 bits a checksum
// report carries.
func wireChecksum(sum uint64) uint32 { return uint32(sum) ^ uint32(sum>>32) }

func (r *wireReader) uint64() uint64 {
	if r.err != nil || len(r.b)-r.off < 8 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *wireReader) raw(n int) []byte {
	if r.err != nil || n < 0 || len(r.b)-r.off < n {
		r.fail()
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// frames decodes count frames of width bytes written by appendFrames into
// dst (reused when large enough).
func (r *wireReader) frames(dst []byte, count, width int) []byte {
	total := count * width
	if width <= 0 || width > math.MaxUint16 || total > 1<<20 {
		r.fail()
		return dst[:0]
	}
	if cap(dst) < total {
		dst = make([]byte, total)
	}
	dst = dst[:total]
	for i := 0; i < total; {
		t := r.byte()
		if r.err != nil {
			return dst[:0]
		}
		if t < 0x80 {
			n := int(t) + 1
			if i+n > total {
				r.fail()
				return dst[:0]
			}
			clear(dst[i : i+n])
			i += n
			continue
		}
		n, z := int(t>>4&7)+1, int(t&15)
		if i+n+z > total {
			r.fail()
			return dst[:0]
		}
		lit := r.raw(n)
		if r.err != nil {
			return dst[:0]
		}
		copy(dst[i:], lit)
		clear(dst[i+n : i+n+z])
		i += n + z
	}
	for i := width; i < total; i++ {
		dst[i] ^= dst[i-width]
	}
	return dst
}
