package mesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/signaling"
)

// refreshSignaler is a memsignal.Signaler that refreshes TURN REST
// credentials itself (netcode.ICERefresher), a refresh waiting while the
// test holds it, and that reports each signal once the mesh has been
// handed it.
type refreshSignaler struct {
	*memsignal.Signaler
	fresh     func() []netcode.ICEServer
	mu        sync.Mutex
	hold      chan struct{} // non-nil: refreshes wait for it to close
	entered   chan struct{} // closed when a held refresh began
	delivered func(from string, payload []byte)
}

func (s *refreshSignaler) RefreshICEServers(ctx context.Context) ([]netcode.ICEServer, error) {
	s.mu.Lock()
	hold, entered := s.hold, s.entered
	s.entered = nil
	s.mu.Unlock()
	if hold != nil {
		if entered != nil {
			close(entered)
		}
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.fresh(), nil
}

func (s *refreshSignaler) SubscribeSignals(onSignal func(string, []byte), onPeer func(string, bool)) func() {
	return s.Signaler.SubscribeSignals(func(from string, payload []byte) {
		onSignal(from, payload) // posts the signal to the mesh's loop
		s.mu.Lock()
		d := s.delivered
		s.mu.Unlock()
		if d != nil {
			d(from, payload)
		}
	}, onPeer)
}

// heldLab is two meshes, a (offering) and b, on a virtual network where
// only a TURN server (pion's, checking TURN REST credentials) joins them,
// with signalers that refresh credentials, b's refresh held on request.
type heldLab struct {
	t          *testing.T
	ctx        context.Context
	a, b       *Mesh
	sa, sb     *refreshSignaler
	hold       chan struct{}
	entered    chan struct{}
	release    func()
	offersToB  atomic.Int32
	dropRepeat atomic.Bool // lose a's repeated offers of an attempt
	firstRelay <-chan [2]string
}

// newHeldLab starts the meshes. With holdFirst b's first refresh (the one
// its first TURN attempt waits for) is held, a's repeats of its first
// offer are lost, and firstRelay yields a's relay candidate of that offer.
func newHeldLab(t *testing.T, holdFirst bool, cfg func(Config) Config) *heldLab {
	checkLeaks(t)
	l := &heldLab{t: t}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	l.ctx = ctx
	lab := newVNetLab(t, 3)
	const secret = "held-secret"
	turnURL, _ := startTURNAuth(t, lab.nets[2], "10.9.0.12", "rallypoint.test", turnRESTAuth(secret))
	var lost atomic.Int32
	lab.setFilter(func(c vnet.Chunk) bool {
		src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr())
		if b := c.UserData(); holdFirst && src == "10.9.0.10" && dst == "10.9.0.12" &&
			len(b) >= 2 && b[0] == 0 && b[1] == 3 && lost.Add(1) <= 2 {
			// a's first two TURN Allocate requests are lost: its relay
			// candidate comes after the retransmissions (pion's first
			// waits 200 ms, the next twice that), well after its first
			// offer left with its host candidates.
			return false
		}
		return !(src == "10.9.0.10" && dst == "10.9.0.11" || src == "10.9.0.11" && dst == "10.9.0.10") // relays only
	})
	// Credentials valid for 30 s are within the mesh's refresh margin (a
	// minute at least): an attempt uses them without a refresh only for
	// refreshPause after the last one.
	servers := func(id string) []netcode.ICEServer {
		u, p := signaling.TURNCredentials(secret, id, 30*time.Second, time.Now())
		return []netcode.ICEServer{{URLs: []string{turnURL}, Username: u, Credential: p}}
	}
	hub := &memsignal.Hub{Filter: func(from, to string, payload []byte) bool {
		s, err := parseSignal(payload)
		if err != nil || from != "a" || s.T != sigOffer || s.Restart {
			return true
		}
		return l.offersToB.Add(1) == 1 || !l.dropRepeat.Load()
	}}
	var once sync.Once
	l.release = func() { once.Do(func() { close(l.hold) }) }
	l.hold, l.entered = make(chan struct{}), make(chan struct{})
	t.Cleanup(l.release)
	var sigs [2]*refreshSignaler
	for i, id := range []string{"a", "b"} {
		s, err := hub.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Leave)
		sigs[i] = &refreshSignaler{Signaler: s, fresh: func() []netcode.ICEServer { return servers(id) }}
	}
	l.sa, l.sb = sigs[0], sigs[1]
	if holdFirst {
		l.sb.hold, l.sb.entered = l.hold, l.entered
		l.dropRepeat.Store(true)
		l.firstRelay = l.watchRelay(false)
	}
	for i, rs := range sigs {
		c := lab.config(i)
		c.ICEServers = servers(rs.LocalID())
		c = cfg(c)
		m, err := New(rs, c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if i == 0 {
			l.a = m
		} else {
			l.b = m
		}
	}
	return l
}

// onLoop runs fn on m's loop and waits for it.
func (l *heldLab) onLoop(m *Mesh, fn func()) {
	l.t.Helper()
	done := make(chan struct{})
	if !m.post(func() { fn(); close(done) }) {
		l.t.Fatal("mesh stopped")
	}
	select {
	case <-done:
	case <-l.ctx.Done():
		l.t.Fatal("loop did not run the task")
	}
}

// gen is m's attempt number with peer id (0 without one).
func (l *heldLab) gen(m *Mesh, id netcode.PeerID) (g uint32) {
	l.onLoop(m, func() {
		if p := m.peers[id]; p != nil && p.c != nil {
			g = p.c.gen
		}
	})
	return g
}

// watchRelay returns a channel that yields the address of a's first relay
// candidate of the ICE generation of a's next offer that matches (a
// restart or not) once b's loop has been handed it, and that offer's
// ufrag.
func (l *heldLab) watchRelay(restart bool) <-chan [2]string {
	out := make(chan [2]string, 1)
	var ufrag string
	done := false
	l.sb.mu.Lock()
	l.sb.delivered = func(_ string, payload []byte) {
		s, err := parseSignal(payload)
		if err != nil || done {
			return
		}
		if s.T == sigOffer && s.Restart == restart && ufrag == "" {
			ufrag = sdpUfrag(s.SDP)
		}
		for _, c := range s.Cands {
			f := strings.Fields(c.Candidate)
			if u, _ := candUfrag(c.Candidate); ufrag != "" && u == ufrag && len(f) > 7 && f[7] == "relay" {
				done = true
				out <- [2]string{f[4] + ":" + f[5], ufrag}
			}
		}
	}
	l.sb.mu.Unlock()
	return out
}

// awaitHeld waits for b's held refresh and for a's relay candidate of the
// held offer to reach b's loop, then lets the refresh end. It returns the
// candidate's address and the offer's ufrag.
func (l *heldLab) awaitHeld(relay <-chan [2]string) (addr, ufrag string) {
	l.t.Helper()
	select {
	case <-l.entered:
	case <-l.ctx.Done():
		l.t.Fatal("b's refresh was not held")
	}
	var got [2]string
	select {
	case got = <-relay:
	case <-l.ctx.Done():
		l.t.Fatal("a signaled no relay candidate for the held offer")
	}
	l.onLoop(l.b, func() {}) // the candidate's signal has been handled
	l.release()
	return got[0], got[1]
}

// awaitKnown waits until b has applied the offer whose ufrag is ufrag and
// knows a's relay candidate addr as such (a check from it would make it
// known as peer-reflexive); it fails once b applied another (other than
// prev, the one it had before).
func (l *heldLab) awaitKnown(addr, ufrag, prev string) {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var remote string
		var known []string
		l.onLoop(l.b, func() {
			p := l.b.peers["a"]
			if p == nil || p.c == nil {
				return
			}
			if rd := p.c.pc.RemoteDescription(); rd != nil {
				remote = sdpUfrag(rd.SDP)
			}
			for _, s := range p.c.pc.GetStats() {
				if rc, ok := s.(webrtc.ICECandidateStats); ok && rc.Type == webrtc.StatsTypeRemoteCandidate {
					known = append(known, fmt.Sprintf("%s %s:%d", rc.CandidateType, rc.IP, rc.Port))
				}
			}
		})
		if remote == ufrag && slices.Contains(known, "relay "+addr) { // not peer-reflexive: signaled
			return
		}
		if remote != ufrag && remote != prev || time.Now().After(deadline) {
			l.t.Fatalf("b applied the offer with ufrag %q (the held one: %q) and knows %v, not a's relay candidate %s",
				remote, ufrag, known, addr)
		}
		time.Sleep(10 * time.Millisecond) // polling pion's candidates
	}
}

// awaitFlow waits until a is connected to b through the relays on
// attempt gen, with at least restarts ICE restarts, and pings go round.
func (l *heldLab) awaitFlow(gen, restarts uint32) {
	l.t.Helper()
	samples := -1
	for {
		st, err := l.a.Stats("b")
		if err != nil {
			l.t.Fatal(err)
		}
		if samples < 0 && st.ICERestarts >= restarts && st.State == PeerStateConnected && st.Relayed &&
			l.gen(l.a, "b") == gen && l.gen(l.b, "a") == gen {
			samples = int(st.RTTSamples)
		}
		if samples >= 0 && int(st.RTTSamples) >= samples+2 {
			l.t.Logf("connected on attempt %d after %d restarts, pair %s/%s, RTT %v",
				gen, st.ICERestarts, st.LocalCandidate, st.RemoteCandidate, st.RTT)
			return
		}
		if l.ctx.Err() != nil {
			l.t.Fatalf("a: %+v; attempts %d/%d, want %d", st, l.gen(l.a, "b"), l.gen(l.b, "a"), gen)
		}
		time.Sleep(20 * time.Millisecond) // polling the stats
	}
}

// TestHeldOfferKeepsItsCandidates: the answering side holds an offer
// until its TURN credentials are refreshed, and candidates of that offer
// arrive meanwhile (an offer leaves with its first candidates; the relay
// candidate, which needs a TURN allocation, trickles after it). They
// wait for the offer: once it is applied the answering side knows the
// offering side's relay candidate, and the pair connects through the
// relays on that attempt.
//
// restart: an ICE restart's offer, held; its candidates carry a ufrag
// that the description still applied lacks (pion drops such a candidate).
// first offer: the first attempt's, with TURN from the start; the
// offering side's repeats of the offer (which carry the candidates
// gathered since) are lost.
func TestHeldOfferKeepsItsCandidates(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		l := newHeldLab(t, false, func(c Config) Config { c.RelayOnly = true; return c })
		for _, m := range []*Mesh{l.a, l.b} {
			if err := m.WaitConnected(l.ctx, 1); err != nil {
				t.Fatalf("%s: %v", m.LocalID(), err)
			}
		}
		gen := l.gen(l.a, "b")
		var prev string
		l.onLoop(l.b, func() { prev = sdpUfrag(l.b.peers["a"].c.pc.RemoteDescription().SDP) })
		// b's next refresh waits; its credentials need one at once.
		l.sb.mu.Lock()
		l.sb.hold, l.sb.entered = l.hold, l.entered
		l.sb.mu.Unlock()
		l.onLoop(l.b, func() { l.b.refreshedAt = time.Time{} })
		relay := l.watchRelay(true)
		l.onLoop(l.a, func() {
			p := l.a.peers["b"]
			p.lastRestart = time.Time{}
			l.a.restartICE(p, p.c)
		})
		addr, ufrag := l.awaitHeld(relay)
		l.awaitKnown(addr, ufrag, prev)
		l.awaitFlow(gen, 1)
	})
	t.Run("first offer", func(t *testing.T) {
		l := newHeldLab(t, true, func(c Config) Config { c.TURNFallbackAfter = -1; return c })
		addr, ufrag := l.awaitHeld(l.firstRelay)
		l.awaitKnown(addr, ufrag, "")
		l.awaitFlow(1, 0)
	})
}
