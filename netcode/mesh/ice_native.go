//go:build !js

package mesh

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/ice/v4"
	"github.com/pion/logging"
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
	// two interrupt periods of silence (Mesh.restartICE), so ICE's timers
	// only back it up. They also set the pace of ICE's consent checks,
	// which go out once per the shortest of the three: every 2 s, as
	// pion's default keep-alive, each check costing about 230 bytes.
	s.SetICETimeouts(cfg.DisconnectAfter, 2*cfg.DisconnectAfter, max(2*time.Second, cfg.PingInterval))
	s.SetPrflxAcceptanceMinWait(0)
	// pion waits 500 ms before it accepts a server-reflexive pair, which
	// delays every direct connection through a NAT by that much; the
	// checks themselves already order the pairs by priority.
	s.SetSrflxAcceptanceMinWait(0)
	if relay {
		s.SetRelayAcceptanceMinWait(0)
	}
	s.SetDTLSInsecureSkipHelloVerify(true)
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
