package mesh

import (
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// PeerStats describes the connection to one peer. Packet and byte counts
// are data-channel messages as the mesh writes and reads them (frames with
// the mesh's headers, pings included), not IP packets.
type PeerStats struct {
	State PeerState

	// RTT is the smoothed round-trip time of the keep-alive pings
	// (RFC 6298 weights); Jitter is the smoothed variation between
	// consecutive RTT samples (RFC 3550 weights). Zero until the first
	// pong, which arrives within one ping interval plus one RTT.
	RTT        time.Duration
	Jitter     time.Duration
	RTTSamples uint64

	// LossIn is the fraction of the peer's last 64 pings that did not
	// reach us; LossOut is the peer's figure for ours, carried in its
	// pongs. Both are in [0, 1].
	LossIn  float64
	LossOut float64

	// Rates over the last quarter second.
	PacketsInPerSec  float64
	PacketsOutPerSec float64
	BytesInPerSec    float64
	BytesOutPerSec   float64

	// Totals since the connection opened.
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64

	// QueuedBytes is what SCTP holds for the peer, not yet acknowledged.
	QueuedBytes int
	// SinceLastPacket is the time since anything arrived from the peer.
	SinceLastPacket time.Duration
	// StaleSequenced counts Sequenced messages dropped as older than one
	// already delivered.
	StaleSequenced uint64

	// LocalCandidate and RemoteCandidate are the types ("host", "srflx",
	// "prflx", "relay") of the selected ICE candidate pair; Relayed is true
	// when either is "relay". A remote candidate that ICE learned as
	// peer-reflexive (a check arrived before its signal) is reported with
	// the type of the signaled candidate at the same address, when there
	// is one.
	LocalCandidate  string
	RemoteCandidate string
	Relayed         bool

	// ICERestarts counts the ICE restarts this side started (the offering
	// side restarts when a connected pair stops answering).
	ICERestarts uint32
}

// pingSize is the length of a ping or pong frame.
const pingSize = 1 + 4 + 8 + 2

type ping struct {
	seq    uint32
	sentAt int64
	loss   uint16
}

func appendPing(b []byte, typ byte, seq uint32, sentAt int64, loss uint16) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(sentAt))
	return binary.BigEndian.AppendUint16(b, loss)
}

func parsePing(f []byte) (ping, bool) {
	if len(f) < pingSize {
		return ping{}, false
	}
	return ping{
		seq:    binary.BigEndian.Uint32(f[1:]),
		sentAt: int64(binary.BigEndian.Uint64(f[5:])),
		loss:   binary.BigEndian.Uint16(f[13:]),
	}, true
}

// peerStats gathers one peer's measurements. Counters are atomic; the
// estimators share mu.
type peerStats struct {
	pktsIn, pktsOut   atomic.Uint64
	bytesIn, bytesOut atomic.Uint64
	stale             atomic.Uint64
	restarts          atomic.Uint32

	mu              sync.Mutex
	srtt, rttvar    float64 // ns
	jitter          float64 // ns
	lastRTT         float64
	samples         uint64
	lossIn, lossOut float64
	pingSeq         uint32
	lastPingIn      uint32
	havePingIn      bool
	pingMask        uint64 // bit i: ping lastPingIn-i arrived
	pingSpan        int    // sequence numbers the mask covers
	rateAt          time.Time
	last            [4]uint64 // counters at rateAt
	rates           [4]float64
	pc              *webrtc.PeerConnection
	remoteTypes     map[string]string // "ip:port" -> type of the peer's signaled candidates
}

func (s *peerStats) init() { s.rateAt = time.Now() }

// reset starts the measurements of a new connection.
func (s *peerStats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srtt, s.rttvar, s.jitter, s.lastRTT, s.samples = 0, 0, 0, 0, 0
	s.lossIn, s.lossOut = 0, 0
	s.havePingIn = false
}

func (s *peerStats) sent(n int) {
	s.pktsOut.Add(1)
	s.bytesOut.Add(uint64(n))
}

func (s *peerStats) received(n int) {
	s.pktsIn.Add(1)
	s.bytesIn.Add(uint64(n))
}

// lossWindow is the number of recent pings the loss figures cover.
const lossWindow = 64

// pingIn updates the inbound loss figure from a ping's sequence number: the
// share of the last lossWindow sequence numbers that never arrived.
func (s *peerStats) pingIn(seq uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.havePingIn {
		s.lastPingIn, s.havePingIn, s.pingMask, s.pingSpan = seq, true, 1, 1
	} else {
		d := int32(seq - s.lastPingIn)
		switch {
		case d > 0:
			if d >= lossWindow {
				s.pingMask = 0
			} else {
				s.pingMask <<= uint(d)
			}
			s.pingMask |= 1
			s.lastPingIn = seq
			s.pingSpan = min(s.pingSpan+int(d), lossWindow)
		case -d < lossWindow:
			s.pingMask |= 1 << uint(-d) // late, but it arrived
		}
	}
	mask := s.pingMask
	if s.pingSpan < lossWindow {
		mask &= 1<<uint(s.pingSpan) - 1
	}
	s.lossIn = 1 - float64(bits.OnesCount64(mask))/float64(s.pingSpan)
}

func (s *peerStats) lossInWire() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return uint16(s.lossIn*65535 + 0.5)
}

// pongIn takes an RTT sample.
func (s *peerStats) pongIn(pg ping, now int64) {
	rtt := float64(now - pg.sentAt)
	if rtt < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.samples == 0 {
		s.srtt, s.rttvar = rtt, rtt/2
	} else {
		d := rtt - s.srtt
		if d < 0 {
			d = -d
		}
		s.rttvar += (d - s.rttvar) / 4
		s.srtt += (rtt - s.srtt) / 8
		j := rtt - s.lastRTT
		if j < 0 {
			j = -j
		}
		s.jitter += (j - s.jitter) / 16
	}
	s.lastRTT = rtt
	s.samples++
	s.lossOut = float64(pg.loss) / 65535
}

// tickRates recomputes the per-second rates every quarter second.
func (s *peerStats) tickRates(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el := now.Sub(s.rateAt)
	if el < 250*time.Millisecond {
		return
	}
	cur := [4]uint64{s.pktsIn.Load(), s.pktsOut.Load(), s.bytesIn.Load(), s.bytesOut.Load()}
	for i := range cur {
		s.rates[i] = float64(cur[i]-s.last[i]) / el.Seconds()
	}
	s.last, s.rateAt = cur, now
}

// candidates remembers the connection whose selected pair Stats reports.
func (s *peerStats) candidates(pc *webrtc.PeerConnection) {
	s.mu.Lock()
	s.pc = pc
	s.mu.Unlock()
}

func (s *peerStats) selectedPair() (string, string) {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil {
		return "", ""
	}
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return "", ""
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return "", ""
	}
	remote := pair.Remote.Typ.String()
	if pair.Remote.Typ == webrtc.ICECandidateTypePrflx {
		// A check that arrives before the candidate it comes from was
		// signaled makes a peer-reflexive candidate of that address (the
		// peer's host address on a LAN, its relay address on a fallback),
		// and pion keeps the type once the signal lands: report what the
		// address is.
		s.mu.Lock()
		if typ, ok := s.remoteTypes[net.JoinHostPort(pair.Remote.Address, strconv.Itoa(int(pair.Remote.Port)))]; ok {
			remote = typ
		}
		s.mu.Unlock()
	}
	return pair.Local.Typ.String(), remote
}

// remoteCandidate records the type of one of the peer's signaled
// candidates, by address.
func (s *peerStats) remoteCandidate(addr, typ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.remoteTypes == nil {
		s.remoteTypes = make(map[string]string)
	}
	if len(s.remoteTypes) < 64 {
		s.remoteTypes[addr] = typ
	}
}

// candidateAddr returns "ip:port" and the type of a candidate line
// ("candidate:F C udp PRIO IP PORT typ TYPE ..."). Only IP addresses
// count (an mDNS name cannot be matched with a selected pair), and only
// the types a pair can report: host, srflx, relay.
func candidateAddr(cand string) (addr, typ string, ok bool) {
	f := strings.Fields(cand)
	if len(f) < 8 || f[6] != "typ" {
		return "", "", false
	}
	switch f[7] {
	case "host", "srflx", "relay":
	default:
		return "", "", false
	}
	if _, err := strconv.ParseUint(f[5], 10, 16); err != nil {
		return "", "", false
	}
	if _, err := netip.ParseAddr(f[4]); err != nil {
		return "", "", false
	}
	return net.JoinHostPort(f[4], f[5]), f[7], true
}

// sendPing writes a keep-alive ping on the control channel. It runs on
// the loop.
func (p *peer) sendPing(m *Mesh) {
	p.st.mu.Lock()
	p.st.pingSeq++
	seq := p.st.pingSeq
	p.st.mu.Unlock()
	loss := p.st.lossInWire()
	p.mu.Lock()
	defer p.mu.Unlock()
	rw := p.rw[control]
	if rw == nil {
		return
	}
	f := appendPing(p.frame[:0], framePing, seq, m.now(), loss)
	p.frame = f
	_ = p.write(rw, f)
}

// stats snapshots the peer's statistics.
func (p *peer) stats() PeerStats {
	out := PeerStats{
		State:           p.loadState(),
		PacketsIn:       p.st.pktsIn.Load(),
		PacketsOut:      p.st.pktsOut.Load(),
		BytesIn:         p.st.bytesIn.Load(),
		BytesOut:        p.st.bytesOut.Load(),
		StaleSequenced:  p.st.stale.Load(),
		ICERestarts:     p.st.restarts.Load(),
		SinceLastPacket: time.Duration(p.m.now() - p.lastRecv.Load()),
	}
	p.mu.Lock()
	for _, dc := range p.dcs {
		if dc != nil {
			out.QueuedBytes += int(dc.BufferedAmount())
		}
	}
	p.mu.Unlock()
	out.LocalCandidate, out.RemoteCandidate = p.st.selectedPair()
	out.Relayed = out.LocalCandidate == "relay" || out.RemoteCandidate == "relay"
	s := &p.st
	s.mu.Lock()
	out.RTT = time.Duration(s.srtt)
	out.Jitter = time.Duration(s.jitter)
	out.RTTSamples = s.samples
	out.LossIn, out.LossOut = s.lossIn, s.lossOut
	out.PacketsInPerSec, out.PacketsOutPerSec = s.rates[0], s.rates[1]
	out.BytesInPerSec, out.BytesOutPerSec = s.rates[2], s.rates[3]
	s.mu.Unlock()
	if out.State == PeerStateConnecting {
		out.SinceLastPacket = 0
	}
	return out
}

// BundlingStats counts the SCTP acknowledgements the mesh held back to send
// in the same UDP datagram as a later packet to the same peer (see
// Config.AckHold).
type BundlingStats struct {
	Held    uint64 // acknowledgements held back
	Bundled uint64 // sent inside a later packet's datagram: a datagram saved each
	Alone   uint64 // sent on their own after all: no packet followed within AckHold
}

// Bundling returns the mesh's acknowledgement bundling counts since it was
// made; all zero when bundling is off or in a browser build.
func (m *Mesh) Bundling() BundlingStats {
	if m.cfg.bundler == nil {
		return BundlingStats{}
	}
	st := m.cfg.bundler.Stats()
	return BundlingStats{Held: st.Held, Bundled: st.Bundled, Alone: st.Alone}
}
