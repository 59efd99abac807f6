package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// numChannels is the number of channels every pair carries: the three
// Channel values and the mesh's own control channel.
const numChannels = 4

// control is the mesh's own channel, for its pings; Send refuses it.
const control netcode.Channel = 3

// maxDatagram is the largest frame written on an unreliable channel.
const maxDatagram = netcode.MaxDatagramMessage + 8

// Frame types. The first byte of every frame on the Reliable and control
// channels says what follows; an Unreliable frame is the message as it is
// (a type byte would push a session's 8-byte datagram into the next 4-byte
// SCTP padding step); the Sequenced channel's frames are a 4-byte sequence
// number followed by the message. All integers are big endian. Only append
// to this list.
//
//	Reliable:   0 message | 1 total(u32) first-chunk | 2 next-chunk | 3 bye(code u8)
//	control:    4 ping | 5 pong
//	ping, pong: seq(u32) sent-at(i64 ns, sender's clock) loss-in(u16, /65535)
//
// The control channel ("rp-control") carries only the mesh's pings. It never
// retransmits, whatever Config.DatagramRetransmits says, so that a
// ping lost is counted lost and a round trip is never measured across a
// retransmission.
const (
	frameMessage byte = 0
	frameFirst   byte = 1
	frameNext    byte = 2
	frameBye     byte = 3
	framePing    byte = 4
	framePong    byte = 5
)

// Bye codes.
const (
	byeCodeLeft   byte = 1
	byeCodeKicked byte = 2
)

// channelSpec is how one Channel maps onto a negotiated data channel.
type channelSpec struct {
	label   string
	ordered bool
	reliab  bool
}

// channelSpecs is indexed by Channel. Reliable is pre-negotiated with
// data channel id 0 (reliableID) on both sides; the others are opened
// in-band by the offering side and matched by label on the answering
// side, whatever id the offering stack picked: a browser ignores the id
// of a channel it opens in-band (W3C webrtc-pc, RTCDataChannelInit.id
// applies only with negotiated) and assigns its own (see newConn for why
// they are in-band at all). docs/mesh-wire.md lists the settings.
var channelSpecs = [numChannels]channelSpec{
	netcode.Reliable:   {label: "rp-reliable", ordered: true, reliab: true},
	netcode.Unreliable: {label: "rp-unreliable"},
	netcode.Sequenced:  {label: "rp-sequenced"},
	control:            {label: "rp-control"},
}

// reliableID is the data channel id of the pre-negotiated Reliable
// channel.
const reliableID uint16 = 0

// channelByLabel returns the Channel whose in-band data channel carries
// label; ok is false for the Reliable channel (pre-negotiated, never
// in-band) and for labels that are not the mesh's.
func channelByLabel(label string) (ch netcode.Channel, ok bool) {
	for i := range channelSpecs {
		if netcode.Channel(i) != netcode.Reliable && channelSpecs[i].label == label {
			return netcode.Channel(i), true
		}
	}
	return 0, false
}

// init is the data channel configuration of channel ch; rexmit is the
// maxRetransmits of the datagram channels (see
// Config.DatagramRetransmits). Only Reliable gets an id: the stack
// assigns the in-band channels' ids.
func (s channelSpec) init(ch netcode.Channel, rexmit uint16) *webrtc.DataChannelInit {
	ordered := s.ordered
	init := &webrtc.DataChannelInit{Ordered: &ordered}
	if ch == netcode.Reliable {
		negotiated, id := true, reliableID
		init.Negotiated, init.ID = &negotiated, &id
	}
	if ch == control {
		rexmit = 0
	}
	if !s.reliab {
		init.MaxRetransmits = &rexmit
	}
	return init
}

// send frames data for ch and hands it to SCTP, which copies it.
func (p *peer) send(ch netcode.Channel, data []byte) error {
	m := p.m
	switch ch {
	case netcode.Reliable:
		if len(data) > m.cfg.MaxMessageSize {
			return &MessageSizeError{Channel: ch, Size: len(data), Limit: m.cfg.MaxMessageSize}
		}
	case netcode.Unreliable, netcode.Sequenced:
		if len(data) > netcode.MaxDatagramMessage {
			return &MessageSizeError{Channel: ch, Size: len(data), Limit: netcode.MaxDatagramMessage}
		}
	default:
		return ErrUnknownChannel
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rw := p.rw[ch]
	if rw == nil {
		return &PeerError{Peer: p.id, Op: "send", Err: ErrPeerNotConnected}
	}
	if q := int(p.dcs[ch].BufferedAmount()); q+len(data) > m.cfg.SendQueueLimit {
		return &PeerError{Peer: p.id, Op: "send", Err: ErrQueueFull}
	}
	var err error
	switch ch {
	case netcode.Reliable:
		err = p.writeReliable(rw, data)
	case netcode.Unreliable:
		err = p.write(rw, data) // no frame byte: it would cost 4 bytes of SCTP padding a packet
	case netcode.Sequenced:
		p.seqOut++
		f := binary.BigEndian.AppendUint32(p.frame[:0], p.seqOut)
		f = append(f, data...)
		p.frame = f
		err = p.write(rw, f)
	}
	if err != nil {
		return &PeerError{Peer: p.id, Op: "send", Err: err}
	}
	p.lastSend.Store(m.now())
	return nil
}

// writeReliable sends a message whole or chunked (see chunkFrames).
func (p *peer) writeReliable(rw datachannel.ReadWriteCloser, data []byte) error {
	var err error
	p.frame, err = chunkFrames(p.frame, data, func(f []byte) error { return p.write(rw, f) })
	return err
}

func (p *peer) write(rw datachannel.ReadWriteCloser, f []byte) error {
	_, err := rw.WriteDataChannel(f, false)
	if err == nil {
		p.st.sent(len(f))
	}
	return err
}

// read is one channel's reader goroutine. It exits when the channel
// closes.
func (m *Mesh) read(p *peer, c *conn, ch netcode.Channel, rw datachannel.ReadWriteCloser) {
	defer m.readers.Done()
	size := maxDatagram + 64
	if ch == netcode.Reliable {
		size = 64 << 10 // an SCTP message of the default maximum size
	}
	buf := make([]byte, size)
	pong := make([]byte, 0, pingSize)
	var asm reassembler
	asm.max = m.cfg.MaxMessageSize
	var lastSeq uint32
	var haveSeq bool
	fail := func(err error, r DisconnectReason) {
		m.post(func() {
			if c.dead.Load() || p.c != c {
				return
			}
			// A connection that ends without a goodbye frame (the peer
			// timed out on its side, or crashed) is not a peer that left
			// the room: while it is still a member, try again.
			m.endPeer(p, r, err, r == ReasonLeft)
		})
	}
	for {
		n, _, err := rw.ReadDataChannel(buf)
		if err != nil {
			if errors.Is(err, io.ErrShortBuffer) {
				fail(fmt.Errorf("%w: message over %d bytes on %s channel", ErrProtocol, size, ch), ReasonProtocol)
				return
			}
			if ch == netcode.Reliable {
				// The reliable channel decides how the connection
				// ended: a goodbye frame arrives on it before its end,
				// while the other channels may end first and would
				// report a kicked peer as one that left.
				fail(err, ReasonLeft)
			}
			return
		}
		if c.muted.Load() {
			continue // kicked: read on only until the connection closes
		}
		p.lastRecv.Store(m.now())
		p.st.received(n)
		f := buf[:n]
		switch ch {
		case netcode.Reliable:
			if n > 0 && f[0] == frameBye {
				r := ReasonLeft
				if n > 1 && f[1] == byeCodeKicked {
					r = ReasonKickedByPeer
				}
				m.post(func() {
					if r == ReasonKickedByPeer {
						m.mu.Lock()
						m.blocked[p.id] = r
						m.mu.Unlock()
					}
					if !c.dead.Load() && p.c == c {
						m.disconnect(p, r, nil)
					}
				})
				return
			}
			msg, owned, err := asm.feed(f)
			if err != nil {
				fail(err, ReasonProtocol)
				return
			}
			if msg == nil {
				continue
			}
			if on := m.cfg.OnMessage; on != nil {
				on(p.id, netcode.Reliable, msg)
			} else if !m.in.pushReliable(p.id, msg, owned, &c.dead) {
				return
			}
		case netcode.Unreliable:
			m.deliverDatagram(p.id, netcode.Unreliable, f)
		case control:
			if n == 0 {
				continue
			}
			switch f[0] {
			case framePing:
				if pg, ok := parsePing(f); ok {
					p.st.pingIn(pg.seq)
					pong = appendPing(pong[:0], framePong, pg.seq, pg.sentAt, p.st.lossInWire())
					if _, err := rw.WriteDataChannel(pong, false); err == nil {
						p.st.sent(len(pong))
					}
				}
			case framePong:
				if pg, ok := parsePing(f); ok {
					p.st.pongIn(pg, m.now())
				}
			}
			// Unknown frame types are ignored: later versions may add some.
		case netcode.Sequenced:
			if n < 4 {
				continue
			}
			seq := binary.BigEndian.Uint32(f)
			if haveSeq && int32(seq-lastSeq) <= 0 {
				p.st.stale.Add(1)
				continue
			}
			haveSeq, lastSeq = true, seq
			m.deliverDatagram(p.id, netcode.Sequenced, f[4:])
		}
	}
}

// deliverDatagram hands an unreliable message to Config.OnMessage or
// the inbox.
func (m *Mesh) deliverDatagram(from netcode.PeerID, ch netcode.Channel, data []byte) {
	if on := m.cfg.OnMessage; on != nil {
		on(from, ch, data)
		return
	}
	m.in.pushDatagram(from, ch, data)
}

// inbox holds received messages until Poll. Small buffers are recycled
// so a steady stream of datagrams allocates nothing.
type inbox struct {
	mu      sync.Mutex
	cond    sync.Cond
	q       []inMsg
	spare   []inMsg
	free    [][]byte
	limit   int
	closed  bool
	dropped atomic.Uint64
	pollMu  sync.Mutex
	ready   chan struct{} // holds a token while messages may be waiting
}

type inMsg struct {
	from netcode.PeerID
	ch   netcode.Channel
	buf  []byte
}

// smallBuf is the capacity of recycled buffers.
const smallBuf = 2048

func (b *inbox) init(limit int) {
	b.limit = limit
	b.cond.L = &b.mu
	b.q = make([]inMsg, 0, 64)
	b.spare = make([]inMsg, 0, 64)
	b.ready = make(chan struct{}, 1)
}

// notify leaves a token in ready; the caller holds mu.
func (b *inbox) notify() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

func (b *inbox) bufLocked(n int) []byte {
	if n <= smallBuf {
		if k := len(b.free); k > 0 {
			buf := b.free[k-1]
			b.free = b.free[:k-1]
			return buf[:n]
		}
		return make([]byte, n, smallBuf)
	}
	return make([]byte, n)
}

// pushDatagram copies an unreliable message in, or drops and counts it
// when the inbox is full.
func (b *inbox) pushDatagram(from netcode.PeerID, ch netcode.Channel, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	if len(b.q) >= b.limit {
		b.dropped.Add(1)
		return
	}
	buf := b.bufLocked(len(data))
	copy(buf, data)
	b.q = append(b.q, inMsg{from: from, ch: ch, buf: buf})
	b.notify()
}

// pushReliable adds a reliable message, waiting while the inbox is full
// (which stops reading from SCTP and so pushes back on the sender). owned
// says the inbox may keep data; otherwise it is copied. It reports false
// when the connection or the mesh closed while waiting.
func (b *inbox) pushReliable(from netcode.PeerID, data []byte, owned bool, dead *atomic.Bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.q) >= b.limit && !b.closed && !dead.Load() {
		b.cond.Wait()
	}
	if b.closed || dead.Load() {
		return false
	}
	buf := data
	if !owned {
		buf = b.bufLocked(len(data))
		copy(buf, data)
	}
	b.q = append(b.q, inMsg{from: from, ch: netcode.Reliable, buf: buf})
	b.notify()
	return true
}

func (b *inbox) poll(fn func(from netcode.PeerID, ch netcode.Channel, data []byte)) {
	b.pollMu.Lock()
	defer b.pollMu.Unlock()
	b.mu.Lock()
	batch := b.q
	b.q = b.spare[:0]
	b.mu.Unlock()
	if len(batch) == 0 {
		b.mu.Lock()
		b.spare = batch
		b.mu.Unlock()
		return
	}
	for _, msg := range batch {
		fn(msg.from, msg.ch, msg.buf)
	}
	b.mu.Lock()
	for i := range batch {
		if cap(batch[i].buf) == smallBuf && len(b.free) < b.limit {
			b.free = append(b.free, batch[i].buf)
		}
		batch[i] = inMsg{}
	}
	b.spare = batch[:0]
	b.cond.Broadcast()
	b.mu.Unlock()
}

// wakeAll wakes readers waiting for room so they notice a closed
// connection.
func (b *inbox) wakeAll() {
	b.mu.Lock()
	b.cond.Broadcast()
	b.mu.Unlock()
}

func (b *inbox) close() {
	b.mu.Lock()
	b.closed = true
	b.cond.Broadcast()
	b.mu.Unlock()
}
