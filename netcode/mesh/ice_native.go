//go:build !js

package mesh

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// tuneEngine applies the mesh's fast-setup defaults to a connection's
// setting engine. relay is true for a TURN fallback attempt; socks, when
// set, learns the attempt's packet sockets.
func tuneEngine(s *webrtc.SettingEngine, cfg *Config, relay bool, socks *attemptSockets) {
	s.DetachDataChannels()
	// mDNS candidates cost ~200 ms of name resolution; native peers do not
	// need them.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// The mesh judges liveness from its own traffic and restarts ICE after
	// three interrupt periods of silence (restartAfter); ICE's own
	// disconnected state restarts nothing (see Mesh.iceState), and ICE
	// never fails on its own (failed timeout 0). pion counts only packets
	// from the remote candidate of its selected pair, and the two sides
	// may select different pairs: each takes the best of the candidates
	// it knew when its checks succeeded (lossy signaling leaves one side
	// without some of the other's), and pion's answering side keeps its
	// pair when a nomination names one of no higher priority. Each side's
	// data then arrives on a pair the other did not select, so its ICE
	// agent hears the selected pair only in the answers to its own
	// consent checks, one every 2 s. At 25% loss each way nearly half of
	// those round trips fail (1 − 0.75²); a few in a row exceed pion's
	// disconnected plus failed timeouts, and its failed state would close
	// every candidate of a connection whose data flows both ways.
	// The mesh's silence timers (restartAfter, DisconnectAfter) and,
	// before a pair is selected, iceCheckTimeout take that role. The remaining timers set the pace of ICE's consent
	// checks, which go out once per the shorter of the two: every 2 s, as
	// pion's default keep-alive, each check costing about 230 bytes.
	s.SetICETimeouts(cfg.DisconnectAfter, 0, max(2*time.Second, cfg.PingInterval))
	s.SetPrflxAcceptanceMinWait(0)
	// pion waits 500 ms before it accepts a server-reflexive pair, which
	// delays every direct connection through a NAT by that much; the
	// checks themselves already order the pairs by priority.
	s.SetSrflxAcceptanceMinWait(0)
	if relay {
		s.SetRelayAcceptanceMinWait(0)
	}
	s.SetDTLSInsecureSkipHelloVerify(true)
	s.SetDTLSRetransmissionInterval(cfg.DTLSRetransmitInterval)
	// SCTP's INIT travels in the offer and answer (sctp-init, SNAP), which
	// spares the association's two round trips after DTLS. A peer whose
	// description has no sctp-init (a browser) gets the usual handshake.
	s.EnableSctpSnap(true)
	s.EnableSCTPZeroChecksum(true)
	s.SetSCTPRTOMax(cfg.SCTPRTOMax)
	if cfg.Loopback || onlyLoopback() {
		s.SetIncludeLoopbackCandidate(true)
	}
	suites := cfg.DTLSCipherSuites
	if suites == nil {
		suites = DefaultDTLSCipherSuites
	}
	s.SetDTLSCipherSuites(suites...)
	var n transport.Net = cfg.Net
	if n == nil {
		// A fresh view of the host's interfaces for every attempt, as
		// pion makes when it is given no network.
		if std, err := stdnet.NewNet(); err == nil {
			n = std
		}
	}
	if n == nil {
		return
	}
	if cfg.bundler != nil {
		n = cfg.bundler.Wrap(n)
	}
	if socks != nil {
		n = &socketNet{Net: n, socks: socks}
	}
	s.SetNet(n)
}

// attemptSockets are the packet sockets pion opened for one attempt
// through ListenPacket: those of its server-reflexive and TURN (over UDP)
// candidates. Closing them when the attempt closes ends a TURN Allocate
// that is waiting for a server that does not answer at its next
// retransmission (at most 1.6 s later) instead of after all of them
// (about 8 s); pion's Close waits for it.
type attemptSockets struct {
	mu     sync.Mutex
	conns  []net.PacketConn
	closed bool
}

// closeAll closes the sockets, and any opened later.
func (a *attemptSockets) closeAll() {
	a.mu.Lock()
	conns := a.conns
	a.conns, a.closed = nil, true
	a.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type socketNet struct {
	transport.Net
	socks *attemptSockets
}

func (n *socketNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	n.socks.mu.Lock()
	closed := n.socks.closed
	if !closed {
		n.socks.conns = append(n.socks.conns, c)
	}
	n.socks.mu.Unlock()
	if closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	return c, nil
}

// tuneTURN gives an attempt's TURN connections a dialer with a deadline
// that the attempt's closing cancels (ctx), and reads pion's log for
// TURN failures into report.
func tuneTURN(s *webrtc.SettingEngine, cfg *Config, ctx context.Context, servers []netcode.ICEServer, report *turnReport, dead func() bool) {
	s.SetICEProxyDialer(newTURNDialer(ctx, cfg.Net, cfg.TURNDialTimeout, servers))
	inner := s.LoggerFactory
	if inner == nil {
		inner = logging.NewDefaultLoggerFactory()
	}
	s.LoggerFactory = &turnLogFactory{inner: inner, report: report, dead: dead}
}

// DefaultDTLSCipherSuites are the DTLS suites a mesh offers when
// Config.DTLSCipherSuites is nil: pion's defaults with
// ChaCha20-Poly1305 moved to the front. A ChaCha20-Poly1305 record carries
// a 16-byte tag and no explicit nonce, 8 bytes less than an AES-GCM record;
// browsers offer it too, so a browser peer that prefers AES-GCM still
// connects.
var DefaultDTLSCipherSuites = []dtls.CipherSuiteID{
	dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	dtls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	dtls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	dtls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
}

// onlyLoopback reports whether the host has no usable interface but lo, in
// which case loopback candidates are the only way to connect.
func onlyLoopback() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err == nil && len(addrs) > 0 {
			return false
		}
	}
	return true
}

// earlySelection reports whether this build's answering side uses the
// first checked candidate pair without waiting for nomination (see
// earlyPair); the answer says so ("early").
const earlySelection = true

// earlyPair lets ICE use a candidate pair as soon as it is known to work
// rather than after the controlling (offering) side's nomination, which
// pion sends only after a check of its own succeeded and acts on only
// when the nomination is answered: one round trip on each side before
// DTLS may start.
//
// Both sides select early only the pair that the candidates each has
// signaled make the best one (the highest pair priority of RFC 8445
// §6.1.2.3, ties broken by address; computed alike on both sides), so
// that they pick the same pair. Any other pair (peer-reflexive ones
// through NATs included) waits for pion's rules.
//
//   - Answering (ICE-controlled) side: the first connectivity check that
//     arrives on the best pair, authenticated with this side's ICE
//     password (which only the peer learned, from this side's answer),
//     selects it. The check came over that pair, so the path toward this
//     side works, and responses and DTLS go back over the same addresses.
//     A nomination of another pair later replaces it (pion switches to a
//     nominated pair), so a standard offerer (a browser) still decides.
//   - Offering (ICE-controlling) side, only when the answer said the
//     answering side selects early too: the first check from the peer on
//     the best pair, once its own check on that pair has been answered
//     (the pair works both ways), selects it. pion stops sending
//     nominations once a pair is selected, which a peer that waits for
//     one (a browser answering) would never get; a mesh peer that selects
//     early does not need it. Not on a host candidate while this side is
//     behind a NAT (it gathered a server-reflexive candidate at an address
//     none of its host candidates has): the peer may see this side at a
//     NAT mapping it was never told of (a symmetric NAT maps each
//     destination apart), a peer-reflexive candidate on which it cannot
//     select early, so it waits for a nomination that pion would no
//     longer send. Such a pair is left to pion's nomination.
//
// Once a pair is selected (early or by nomination), the handler leaves
// ICE alone, ICE restarts included.
type earlyPair struct {
	offerer bool
	// peerEarly is set, before the answer is applied, when the answer
	// says its side selects early.
	peerEarly atomic.Bool
	selected  atomic.Bool

	mu     sync.Mutex
	local  []earlyCand
	remote []earlyCand
	// hosts and reflexive are the addresses of this side's host and
	// server-reflexive candidates (natted).
	hosts, reflexive []string
}

// earlyCand is a signaled UDP candidate.
type earlyCand struct {
	addr string
	port int
	prio uint32
	v6   bool
}

func newEarlyCand(c ice.Candidate) (earlyCand, bool) {
	nt := c.NetworkType()
	if nt != ice.NetworkTypeUDP4 && nt != ice.NetworkTypeUDP6 {
		return earlyCand{}, false
	}
	return earlyCand{addr: c.Address(), port: c.Port(), prio: c.Priority(), v6: nt == ice.NetworkTypeUDP6}, true
}

// addLocal records a candidate this side gathered.
func (e *earlyPair) addLocal(c *webrtc.ICECandidate) {
	if c.Protocol != webrtc.ICEProtocolUDP {
		return
	}
	e.mu.Lock()
	e.local = append(e.local, earlyCand{addr: c.Address, port: int(c.Port), prio: c.Priority, v6: strings.Contains(c.Address, ":")})
	switch c.Typ {
	case webrtc.ICECandidateTypeHost:
		e.hosts = append(e.hosts, c.Address)
	case webrtc.ICECandidateTypeSrflx:
		e.reflexive = append(e.reflexive, c.Address)
	}
	e.mu.Unlock()
}

// natted reports whether this side is behind a NAT: a server-reflexive
// candidate's address is none of its host candidates'.
func (e *earlyPair) natted() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.reflexive {
		if !slices.Contains(e.hosts, r) {
			return true
		}
	}
	return false
}

// addRemote records a candidate line the peer signaled.
func (e *earlyPair) addRemote(line string) {
	c, err := ice.UnmarshalCandidate(line)
	if err != nil {
		return
	}
	ec, ok := newEarlyCand(c)
	if !ok {
		return
	}
	e.mu.Lock()
	e.remote = append(e.remote, ec)
	e.mu.Unlock()
}

// pairPriority is RFC 8445's pair priority, g the controlling side's
// candidate priority and d the controlled side's.
func pairPriority(g, d uint32) uint64 {
	lo, hi := min(g, d), max(g, d)
	p := uint64(lo)<<32 + 2*uint64(hi)
	if g > d {
		p++
	}
	return p
}

// isBest reports whether local-remote is the best pair of the signaled
// candidates (both must be among them): the highest pair priority, and
// among pairs of equal priority (pion gives every host candidate the
// same) the smallest controlling, then controlled, address, so that both
// sides pick the same one.
func (e *earlyPair) isBest(l, r earlyCand) bool {
	// g and d are the controlling (offering) and controlled sides'
	// candidates of a pair.
	gd := func(local, remote earlyCand) (g, d earlyCand) {
		if e.offerer {
			return local, remote
		}
		return remote, local
	}
	better := func(g1, d1, g2, d2 earlyCand) bool {
		if p1, p2 := pairPriority(g1.prio, d1.prio), pairPriority(g2.prio, d2.prio); p1 != p2 {
			return p1 > p2
		}
		if k1, k2 := g1.key(), g2.key(); k1 != k2 {
			return k1 < k2
		}
		return d1.key() < d2.key()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	known := func(list []earlyCand, c earlyCand) bool {
		for _, x := range list {
			if x.key() == c.key() && x.v6 == c.v6 {
				return true
			}
		}
		return false
	}
	if !known(e.local, l) || !known(e.remote, r) {
		return false
	}
	g, d := gd(l, r)
	for _, a := range e.local {
		for _, b := range e.remote {
			if a.v6 != b.v6 {
				continue
			}
			if g2, d2 := gd(a, b); better(g2, d2, g, d) {
				return false
			}
		}
	}
	return true
}

// key names a candidate's transport address.
func (c earlyCand) key() string { return net.JoinHostPort(c.addr, strconv.Itoa(c.port)) }

// handle is pion's binding request handler: true selects pair. It runs
// on the ICE agent's goroutine after the request was authenticated and
// answered.
func (e *earlyPair) handle(m *stun.Message, local, remote ice.Candidate, pair *ice.CandidatePair) bool {
	if e.selected.Load() || pair == nil || local == nil || remote == nil {
		return false
	}
	if e.offerer {
		if !e.peerEarly.Load() || pair.ResponsesReceived() == 0 {
			return false
		}
		if local.Type() == ice.CandidateTypeHost && e.natted() {
			return false
		}
	} else if m.Contains(stun.AttrUseCandidate) {
		// A nomination: pion's own rules apply.
		return false
	}
	l, ok1 := newEarlyCand(local)
	r, ok2 := newEarlyCand(remote)
	if !ok1 || !ok2 || !e.isBest(l, r) {
		return false
	}
	e.selected.Store(true)
	return true
}

// setPeerEarly records what the answer said.
func (e *earlyPair) setPeerEarly(v bool) { e.peerEarly.Store(v) }

// connected records that ICE selected a pair by itself.
func (e *earlyPair) connected() { e.selected.Store(true) }

// tuneEarly installs e on the setting engine.
func tuneEarly(s *webrtc.SettingEngine, e *earlyPair) {
	s.SetICEBindingRequestHandler(e.handle)
}

// tuneHandshake sets heard once the peer's first DTLS flight (its
// ClientHello) has arrived, when this side is the DTLS server: pion
// builds the ServerHello only in answer to it.
func tuneHandshake(s *webrtc.SettingEngine, heard *atomic.Bool) {
	s.SetDTLSServerHelloMessageHook(func(m handshake.MessageServerHello) handshake.Message {
		heard.Store(true)
		return &m
	})
}
