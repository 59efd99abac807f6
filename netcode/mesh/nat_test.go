//go:build linux

package mesh

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/signaling"
)

// The tests in this file run meshes whose sockets live in network
// namespaces behind NATs made with iptables, with Debian's coturn as the
// STUN and TURN server on the "public" side:
//
//	peer ns ── NAT ns (MASQUERADE, --random-fully for symmetric) ──┐
//	peer ns ── NAT ns ─────────────────────────────────────────────┤ pub ns
//	edge ns (10.99.1.2, no NAT) ─── 10.99.1.1 (coturn) ────────────┘
//
// The pub namespace routes 10.0.0.0/8 into a dummy interface, so the
// private addresses behind the NATs are unreachable from it, as on the
// internet. The meshes run in the test process: their pion sockets are
// opened inside the namespaces (netns.NS.PionNet), the signals travel in
// memory (or through a signaling server on loopback).

const natSecret = "rallypoint-nat-test"

// candidateRE finds the candidates in a signal: SDP lines (escaped in
// JSON, so they end at a backslash) and candidate fields.
var candidateRE = regexp.MustCompile(`candidate:[^"\\]*`)

type natLab struct {
	lab  *netns.Lab
	pub  *netns.NS
	edge *netns.NS
	ip   string // coturn's address
	turn *netns.TURN
}

// newNATLab builds the public side and starts coturn on it.
func newNATLab(t *testing.T) *natLab {
	t.Helper()
	lab := netns.New(t)
	if !netns.HaveTURN() {
		t.Skip("skipping NAT test: coturn's turnserver not found (scripts/setup.sh installs it)")
	}
	if _, err := lab.NS("probe").Run("iptables", "-w", "-L", "-n"); err != nil {
		t.Skipf("skipping NAT test: iptables unusable: %v", err)
	}
	pub, edge := lab.NS("pub"), lab.NS("edge")
	pi, ei := lab.Link(pub, edge, netns.LinkOptions{})
	edge.Route("default", "via", pi.IPv4)
	_ = ei
	pub.Forward()
	pub.DropUnrouted("10.0.0.0/8")
	l := &natLab{lab: lab, pub: pub, edge: edge, ip: pi.IPv4}
	l.turn = pub.StartTURN(netns.TURNOptions{IP: pi.IPv4, Secret: natSecret})
	t.Logf("coturn listening after %v", l.turn.Started.Round(time.Millisecond))
	return l
}

// natHost is where one mesh's sockets live.
type natHost struct {
	ns  *netns.NS
	net transport.Net
}

// behindNAT makes a host namespace behind a NAT router of kind; block
// drops the host's UDP at the router (only TCP leaves).
func (l *natLab) behindNAT(t *testing.T, name string, kind netns.NATKind, blockUDP bool) natHost {
	t.Helper()
	host, router := l.lab.NS(name), l.lab.NS(name+"-nat")
	out, pubSide := l.lab.Link(router, l.pub, netns.LinkOptions{})
	in, _ := l.lab.Link(router, host, netns.LinkOptions{})
	router.Route("default", "via", pubSide.IPv4)
	host.Route("default", "via", in.IPv4)
	router.NAT(out, kind)
	if blockUDP {
		router.IPTables("-A", "FORWARD", "-p", "udp", "-j", "DROP")
	}
	return l.host(t, host)
}

// public is a host on the public side, without a NAT.
func (l *natLab) public(t *testing.T) natHost { return l.host(t, l.edge) }

func (l *natLab) host(t *testing.T, ns *netns.NS) natHost {
	t.Helper()
	n, err := ns.PionNet()
	if err != nil {
		t.Fatal(err)
	}
	return natHost{ns: ns, net: n}
}

// iceServers returns coturn as STUN server and as TURN server over UDP
// and TCP, with TURN REST credentials of secret for user, valid for ttl.
func (l *natLab) iceServers(secret, user string, ttl time.Duration) []netcode.ICEServer {
	u, p := signaling.TURNCredentials(secret, user, ttl, time.Now())
	return []netcode.ICEServer{
		{URLs: []string{"stun:" + l.ip + ":3478"}},
		{URLs: []string{l.turn.UDP, l.turn.TCP}, Username: u, Credential: p},
	}
}

// natConfig is a mesh configuration for the lab: tight timeouts, so that
// each case takes seconds.
func natConfig(h natHost, ice []netcode.ICEServer) Config {
	return Config{
		Net:               h.net,
		ICEServers:        ice,
		TURNFallbackAfter: 600 * time.Millisecond,
		ConnectTimeout:    8 * time.Second,
		NoReconnect:       true,
	}
}

// natResult is what one pair measured.
type natResult struct {
	setup, rtt time.Duration
	stats      PeerStats
}

// connectPair waits until a and b are connected and measures setup time
// (since start) and RTT.
func connectPair(t *testing.T, start time.Time, a, b *Mesh, timeout time.Duration) natResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, m := range []*Mesh{a, b} {
		if err := m.WaitConnected(ctx, 1); err != nil {
			drainEvents(t, a)
			drainEvents(t, b)
			t.Fatalf("%s: not connected after %v: %v", m.LocalID(), time.Since(start).Round(time.Millisecond), err)
		}
	}
	setup := time.Since(start)
	st := waitRTT(t, a, b.LocalID())
	return natResult{setup: setup, rtt: st.RTT, stats: st}
}

// waitRTT waits for three RTT samples of peer and returns its stats.
func waitRTT(t *testing.T, m *Mesh, peer netcode.PeerID) PeerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := m.Stats(peer)
		if err == nil && st.RTTSamples >= 3 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no RTT to %s: %+v %v", m.LocalID(), peer, st, err)
		}
		select {
		case <-m.changes():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func drainEvents(t *testing.T, m *Mesh) {
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return
			}
			if d, isD := ev.(EventDisconnected); isD {
				t.Logf("%s: %v: %v", m.LocalID(), ev, d.Err)
			} else {
				t.Logf("%s: %v", m.LocalID(), ev)
			}
		default:
			return
		}
	}
}

// closeTimed closes m, fails the test if that took a second or more, and
// then waits (outside the measured time) for pion to let go of every
// connection, so the leak check sees none of them.
func closeTimed(t *testing.T, m *Mesh) time.Duration {
	t.Helper()
	start := time.Now()
	m.Close()
	d := time.Since(start)
	if d >= time.Second {
		t.Errorf("%s: Close took %v", m.LocalID(), d)
	}
	m.readers.Wait()
	m.closers.Wait()
	return d
}

// startNATMeshes joins the hosts to a fresh hub as a, b, c... and starts
// their meshes.
func startNATMeshes(t *testing.T, hub *memsignal.Hub, cfgs ...Config) []*Mesh {
	t.Helper()
	var out []*Mesh
	for i, cfg := range cfgs {
		s, err := hub.Join(string(rune('a' + i)))
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
		t.Cleanup(func() { m.Close(); s.Leave() })
	}
	return out
}

func logResult(t *testing.T, name string, r natResult, closes ...time.Duration) {
	t.Logf("%s: setup %v, RTT %v, pair %s/%s relayed=%v, Close %v",
		name, r.setup.Round(100*time.Microsecond), r.rtt.Round(time.Microsecond),
		r.stats.LocalCandidate, r.stats.RemoteCandidate, r.stats.Relayed, closes)
}

func TestNATConeToConeConnectsDirectly(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATCone, false)
	hb := l.behindNAT(t, "b", netns.NATCone, false)
	for _, tc := range []struct {
		name string
		tune func(netcode.PeerID, bool, *webrtc.SettingEngine)
	}{
		{"mesh", nil},
		// pion's default: a server-reflexive pair is accepted after 500 ms.
		{"pion's 500 ms srflx wait", func(_ netcode.PeerID, _ bool, s *webrtc.SettingEngine) {
			s.SetSrflxAcceptanceMinWait(500 * time.Millisecond)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca, cb := natConfig(ha, l.iceServers(natSecret, "a", time.Hour)), natConfig(hb, l.iceServers(natSecret, "b", time.Hour))
			ca.TURNFallbackAfter, cb.TURNFallbackAfter = 3*time.Second, 3*time.Second
			ca.Tune, cb.Tune = tc.tune, tc.tune
			start := time.Now()
			ms := startNATMeshes(t, &memsignal.Hub{}, ca, cb)
			r := connectPair(t, start, ms[0], ms[1], 10*time.Second)
			if r.stats.Relayed || (r.stats.LocalCandidate != "srflx" && r.stats.RemoteCandidate != "srflx") {
				t.Errorf("cone/cone pair %s/%s relayed=%v, want a direct srflx pair", r.stats.LocalCandidate, r.stats.RemoteCandidate, r.stats.Relayed)
			}
			logResult(t, "cone/cone "+tc.name, r, closeTimed(t, ms[0]), closeTimed(t, ms[1]))
		})
	}
}

func TestNATSymmetricFallsBackToTURN(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATSymmetric, false)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	start := time.Now()
	ms := startNATMeshes(t, &memsignal.Hub{},
		natConfig(ha, l.iceServers(natSecret, "a", time.Hour)), natConfig(hb, l.iceServers(natSecret, "b", time.Hour)))
	r := connectPair(t, start, ms[0], ms[1], 10*time.Second)
	if !r.stats.Relayed {
		t.Errorf("symmetric/symmetric pair %s/%s not relayed", r.stats.LocalCandidate, r.stats.RemoteCandidate)
	}
	logResult(t, "symmetric/symmetric", r, closeTimed(t, ms[0]), closeTimed(t, ms[1]))
}

func TestNATUDPBlockedUsesTURNOverTCP(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATCone, true)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	start := time.Now()
	ms := startNATMeshes(t, &memsignal.Hub{},
		natConfig(ha, l.iceServers(natSecret, "a", time.Hour)), natConfig(hb, l.iceServers(natSecret, "b", time.Hour)))
	r := connectPair(t, start, ms[0], ms[1], 10*time.Second)
	if r.stats.LocalCandidate != "relay" {
		t.Errorf("UDP-blocked side's pair %s/%s, want a local relay candidate", r.stats.LocalCandidate, r.stats.RemoteCandidate)
	}
	logResult(t, "UDP blocked, TURN/TCP", r, closeTimed(t, ms[0]), closeTimed(t, ms[1]))
}

func TestNATRelayOnlyForEveryPair(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATCone, false)
	hb := l.behindNAT(t, "b", netns.NATCone, false)
	hc := l.public(t)
	// Every candidate a signals, in offers, answers or candidate signals.
	var mu sync.Mutex
	var leaked []string
	hub := &memsignal.Hub{Filter: func(from, _ string, payload []byte) bool {
		if from == "a" {
			for _, cand := range candidateRE.FindAllString(string(payload), -1) {
				if !strings.Contains(cand, " typ relay") {
					mu.Lock()
					leaked = append(leaked, cand)
					mu.Unlock()
				}
			}
		}
		return true
	}}
	ca := natConfig(ha, l.iceServers(natSecret, "a", time.Hour))
	ca.RelayOnly = true
	start := time.Now()
	ms := startNATMeshes(t, hub, ca,
		natConfig(hb, l.iceServers(natSecret, "b", time.Hour)), natConfig(hc, l.iceServers(natSecret, "c", time.Hour)))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ms[0].WaitConnected(ctx, 2); err != nil {
		drainEvents(t, ms[0])
		t.Fatalf("relay-only a: %v", err)
	}
	setup := time.Since(start)
	for _, peer := range []netcode.PeerID{"b", "c"} {
		st := waitRTT(t, ms[0], peer)
		if st.LocalCandidate != "relay" || !st.Relayed {
			t.Errorf("a's pair to %s: %s/%s relayed=%v, want relay only", peer, st.LocalCandidate, st.RemoteCandidate, st.Relayed)
		}
		logResult(t, "relay-only a to "+string(peer), natResult{setup: setup, rtt: st.RTT, stats: st})
	}
	mu.Lock()
	if len(leaked) > 0 {
		t.Errorf("relay-only a signaled other candidates: %q", leaked)
	}
	mu.Unlock()
	t.Logf("Close: a %v, b %v, c %v", closeTimed(t, ms[0]), closeTimed(t, ms[1]), closeTimed(t, ms[2]))
}

func TestNATExpiredCredentialsAreRefreshed(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATSymmetric, false)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	url, _ := startSignaling(t, signaling.Config{
		ICEServers: []signaling.ICEServer{{URLs: []string{"stun:" + l.ip + ":3478"}}},
		TURNURLs:   []string{l.turn.UDP, l.turn.TCP},
		TURNSecret: natSecret,
		TURNTTL:    time.Second,
	})
	ca, cb := dialJoin(t, url, "nat"), dialJoin(t, url, "nat")
	// The welcome's credentials expire within a second: wait until they
	// have, as for a player who waited in a lobby.
	exp, ok := netcode.TURNExpiry(ca.ICEServers()[1].Username)
	if !ok {
		t.Fatalf("welcome credentials %+v", ca.ICEServers())
	}
	for !time.Now().After(exp.Add(time.Second)) {
		time.Sleep(50 * time.Millisecond) // until the wall clock passes the expiry
	}
	start := time.Now()
	var ms []*Mesh
	for _, x := range []struct {
		c *signaling.Client
		h natHost
	}{{ca, ha}, {cb, hb}} {
		m, err := New(x.c, natConfig(x.h, x.c.ICEServers()))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		t.Cleanup(func() { m.Close() })
	}
	r := connectPair(t, start, ms[0], ms[1], 10*time.Second)
	if !r.stats.Relayed {
		t.Errorf("pair %s/%s not relayed", r.stats.LocalCandidate, r.stats.RemoteCandidate)
	}
	if ms[0].ICERefreshes()+ms[1].ICERefreshes() == 0 {
		t.Error("connected through TURN without refreshing expired credentials")
	}
	t.Logf("refreshes: a %d, b %d", ms[0].ICERefreshes(), ms[1].ICERefreshes())
	logResult(t, "expired credentials, refreshed", r, closeTimed(t, ms[0]), closeTimed(t, ms[1]))
}

func TestNATICERestartRefreshesCredentials(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATSymmetric, false)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	url, _ := startSignaling(t, signaling.Config{
		ICEServers: []signaling.ICEServer{{URLs: []string{"stun:" + l.ip + ":3478"}}},
		TURNURLs:   []string{l.turn.UDP, l.turn.TCP},
		TURNSecret: natSecret,
		TURNTTL:    2 * time.Second,
	})
	ca, cb := dialJoin(t, url, "nat"), dialJoin(t, url, "nat")
	start := time.Now()
	var ms []*Mesh
	for _, x := range []struct {
		c *signaling.Client
		h natHost
	}{{ca, ha}, {cb, hb}} {
		m, err := New(x.c, natConfig(x.h, x.c.ICEServers()))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		t.Cleanup(func() { m.Close() })
	}
	// a is the offering side, which restarts ICE.
	a, b := ms[0], ms[1]
	cred := ca
	if b.LocalID() < a.LocalID() {
		a, b, cred = b, a, cb
	}
	r := connectPair(t, start, a, b, 10*time.Second)
	if !r.stats.Relayed {
		t.Fatalf("pair %s/%s not relayed", r.stats.LocalCandidate, r.stats.RemoteCandidate)
	}
	// The credentials the pair connected with run out; an ICE restart
	// then gathers relay candidates again, after a refresh.
	exp, _ := netcode.TURNExpiry(cred.ICEServers()[1].Username)
	for !time.Now().After(exp) {
		time.Sleep(50 * time.Millisecond) // until the wall clock passes the expiry
	}
	before := a.ICERefreshes()
	restarted := time.Now()
	a.post(func() {
		a.mu.Lock()
		p := a.peers[b.LocalID()]
		a.mu.Unlock()
		p.lastRestart = time.Time{}
		a.restartICE(p, p.c)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := a.Stats(b.LocalID())
		if err != nil {
			t.Fatal(err)
		}
		if a.ICERefreshes() > before && st.ICERestarts >= 1 && st.State == PeerStateConnected && st.Relayed {
			t.Logf("ICE restart with refreshed credentials: %d refreshes, %d restarts, pair %s/%s after %v",
				a.ICERefreshes(), st.ICERestarts, st.LocalCandidate, st.RemoteCandidate, time.Since(restarted).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			drainEvents(t, a)
			t.Fatalf("after the restart: %d refreshes (before %d), %+v", a.ICERefreshes(), before, st)
		}
		time.Sleep(20 * time.Millisecond) // polling the stats
	}
	st := waitRTT(t, a, b.LocalID())
	logResult(t, "ICE restart, refreshed", natResult{setup: r.setup, rtt: st.RTT, stats: st}, closeTimed(t, a), closeTimed(t, b))
}

// failure waits for m's EventDisconnected about peer and returns its
// ConnectError and when it came.
func failure(t *testing.T, m *Mesh, peer netcode.PeerID, timeout time.Duration) (*ConnectError, time.Time) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-m.Events():
			d, ok := ev.(EventDisconnected)
			if !ok || d.Peer != peer {
				continue
			}
			var ce *ConnectError
			if d.Reason != ReasonICEFailed || !errors.As(d.Err, &ce) {
				t.Fatalf("%s: %v: %v, want ReasonICEFailed with a ConnectError", m.LocalID(), ev, d.Err)
			}
			return ce, d.At
		case <-deadline:
			t.Fatalf("%s: no failure for %s within %v", m.LocalID(), peer, timeout)
		}
	}
}

func TestNATTURNUnreachableFailsTypedAndFreezesNothing(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATSymmetric, false)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	hc := l.public(t)
	// A TURN server on UDP and TCP at an address where every packet
	// vanishes; coturn still answers STUN.
	u, p := signaling.TURNCredentials(natSecret, "x", time.Hour, time.Now())
	dead := "10.99.250.1:3478"
	ice := []netcode.ICEServer{
		{URLs: []string{"stun:" + l.ip + ":3478"}},
		{URLs: []string{"turn:" + dead + "?transport=udp", "turn:" + dead + "?transport=tcp"}, Username: u, Credential: p},
	}
	cfgs := []Config{natConfig(ha, ice), natConfig(hb, ice), natConfig(hc, ice)}
	for i := range cfgs {
		cfgs[i].ConnectTimeout = 6 * time.Second
	}
	start := time.Now()
	ms := startNATMeshes(t, &memsignal.Hub{}, cfgs...)
	a := ms[0]
	// a and b reach c directly (c is public); a and b need the relay.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, 1); err != nil {
			t.Fatalf("%s: %v", m.LocalID(), err)
		}
	}
	setup := time.Since(start)
	st0 := waitRTT(t, a, "c")
	// While a-b tries the dead relay, a's events keep coming and its
	// pings to c keep answering.
	var interrupted bool
	var ce *ConnectError
	var failedAt time.Time
	deadline := time.After(15 * time.Second)
	lastSamples, lastAt, maxGap := st0.RTTSamples, time.Now(), time.Duration(0)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for ce == nil {
		select {
		case ev := <-a.Events():
			switch e := ev.(type) {
			case EventInterrupted:
				if e.Peer == "c" {
					interrupted = true
				}
			case EventDisconnected:
				if e.Peer == "b" {
					if e.Reason != ReasonICEFailed || !errors.As(e.Err, &ce) {
						t.Fatalf("a: %v: %v, want ReasonICEFailed with a ConnectError", e, e.Err)
					}
					failedAt = e.At
				} else {
					t.Fatalf("a: %v", e)
				}
			}
		case now := <-tick.C:
			st, err := a.Stats("c")
			if err != nil {
				t.Fatal(err)
			}
			if st.RTTSamples != lastSamples {
				lastSamples, lastAt = st.RTTSamples, now
			}
			maxGap = max(maxGap, now.Sub(lastAt))
		case <-deadline:
			t.Fatalf("a: no failure for b within 15 s")
		}
	}
	if !errors.Is(ce, ErrTURNUnreachable) || !ce.RelayTried {
		t.Errorf("a-b failed with %v, want ErrTURNUnreachable", ce)
	}
	if interrupted || maxGap > time.Second {
		t.Errorf("a-c disturbed while a-b failed: interrupted=%v, longest gap between RTT samples %v", interrupted, maxGap)
	}
	stc := waitRTT(t, a, "c")
	t.Logf("a-b: %v after %v", ce, failedAt.Sub(start).Round(time.Millisecond))
	logResult(t, "TURN unreachable, a to public c", natResult{setup: setup, rtt: stc.RTT, stats: stc})
	t.Logf("a-c: longest gap between RTT samples while a-b failed %v", maxGap.Round(time.Millisecond))
	t.Logf("Close: a %v, b %v, c %v", closeTimed(t, ms[0]), closeTimed(t, ms[1]), closeTimed(t, ms[2]))
}

func TestNATWrongSecretFailsTyped(t *testing.T) {
	checkLeaks(t)
	l := newNATLab(t)
	ha := l.behindNAT(t, "a", netns.NATSymmetric, false)
	hb := l.behindNAT(t, "b", netns.NATSymmetric, false)
	cfgs := []Config{
		natConfig(ha, l.iceServers("not-the-secret", "a", time.Hour)),
		natConfig(hb, l.iceServers("not-the-secret", "b", time.Hour)),
	}
	for i := range cfgs {
		cfgs[i].ConnectTimeout = 4 * time.Second
	}
	start := time.Now()
	ms := startNATMeshes(t, &memsignal.Hub{}, cfgs...)
	ce, at := failure(t, ms[0], "b", 15*time.Second)
	if !errors.Is(ce, ErrTURNAuth) {
		t.Errorf("failed with %v, want ErrTURNAuth", ce)
	}
	t.Logf("wrong secret: %v after %v; Close a %v, b %v", ce, at.Sub(start).Round(time.Millisecond), closeTimed(t, ms[0]), closeTimed(t, ms[1]))
}
