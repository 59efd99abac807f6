//go:build !js

package mesh

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v4/vnet"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// handshakeLab is two meshes on pion's virtual network, a (p00, offering,
// the DTLS server) and b, whose packets from a to b pass only when they
// are STUN until the test opens the gate: ICE selects a pair and b's
// ClientHello reaches a, while a's answer to it (and everything after)
// is held back, as on a host too loaded to finish the handshakes soon.
// With deaf set, b's packets to a are held back the same way (a hears
// nothing of b's DTLS). A TURN server runs on the network too (cfg is
// given it), so that a mesh's TURN fallback can be armed.
type handshakeLab struct {
	t    *testing.T
	a, b *testMesh
	open atomic.Bool
	deaf bool
	held atomic.Int64 // packets dropped (not STUN)
}

func newHandshakeLab(t *testing.T, deaf bool, cfg func(c Config, turn []netcode.ICEServer) Config) *handshakeLab {
	t.Helper()
	const aIP, bIP = "10.9.0.10", "10.9.0.11"
	l := &handshakeLab{t: t, deaf: deaf}
	lab := newVNetLab(t, 3)
	url, _ := startTURN(t, lab.nets[2], "10.9.0.12", "alice", "s3cret")
	turn := []netcode.ICEServer{{URLs: []string{url}, Username: "alice", Credential: "s3cret"}}
	lab.setFilter(func(c vnet.Chunk) bool {
		src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr())
		if l.open.Load() || !(src == aIP && dst == bIP || deaf && src == bIP && dst == aIP) {
			return true
		}
		if c.Network() == "udp" && stun.IsMessage(c.UserData()) {
			return true
		}
		l.held.Add(1)
		return false
	})
	ms := startMeshes(t, &memsignal.Hub{}, 2, func(i int) Config { return cfg(lab.config(i), turn) })
	l.a, l.b = ms[0], ms[1]
	return l
}

// attemptView is what a's loop knows of its current attempt with b.
type attemptView struct {
	gen                 uint32
	relay, iceUp, hello bool
	started, iceUpAt    time.Time
	state               PeerState
}

// onLoop runs fn on m's loop and waits for it.
func onLoop(t *testing.T, m *Mesh, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if !m.post(func() { fn(); close(done) }) {
		t.Fatal("mesh stopped")
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("loop did not run the task")
	}
}

// attempt returns m's current attempt with peer (gen 0 without one).
func attempt(t *testing.T, m *Mesh, peer netcode.PeerID) (v attemptView) {
	t.Helper()
	onLoop(t, m, func() {
		m.mu.Lock()
		p := m.peers[peer]
		m.mu.Unlock()
		if p == nil || p.c == nil {
			return
		}
		c := p.c
		v = attemptView{gen: c.gen, relay: c.relay, iceUp: c.iceUp, hello: c.peerHello.Load(),
			started: c.started, iceUpAt: c.iceUpAt, state: p.loadState()}
	})
	return v
}

// awaitAttempt polls a's attempt with b until ok accepts it.
func (l *handshakeLab) awaitAttempt(what string, ok func(attemptView) bool) attemptView {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := attempt(l.t, l.a.Mesh, l.b.LocalID())
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("a: %s: attempt %+v after 20 s", what, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// awaitHandshake waits until a's first attempt has selected a pair and the
// handshake's first packets were held back, and returns that attempt:
// unless deaf, a has had b's ClientHello and its answer was dropped.
func (l *handshakeLab) awaitHandshake() attemptView {
	l.t.Helper()
	v := l.awaitAttempt("ICE up", func(v attemptView) bool { return v.iceUp })
	if v.gen != 1 || v.relay {
		l.t.Fatalf("ICE came up on attempt %d (relay %v), want the first, direct one", v.gen, v.relay)
	}
	for deadline := time.Now().Add(20 * time.Second); l.held.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			l.t.Fatal("no handshake packet within 20 s of ICE coming up")
		}
	}
	if v = attempt(l.t, l.a.Mesh, l.b.LocalID()); v.hello == l.deaf {
		l.t.Fatalf("attempt %+v: the peer's ClientHello arrived %v, want %v", v, v.hello, !l.deaf)
	}
	return v
}

// tickAt runs a's timers as at now (a time the loop's own ticks have not
// reached yet) and returns a's attempt after them.
func (l *handshakeLab) tickAt(now time.Time) attemptView {
	l.t.Helper()
	onLoop(l.t, l.a.Mesh, func() { l.a.tick(now) })
	return attempt(l.t, l.a.Mesh, l.b.LocalID())
}

// connectedOn opens the gate and checks that both sides connect on
// attempt gen.
func (l *handshakeLab) connectedOn(gen uint32) {
	l.t.Helper()
	l.open.Store(true)
	waitEvent[EventConnected](l.t, l.a.Mesh, l.b.LocalID(), 20*time.Second)
	waitEvent[EventConnected](l.t, l.b.Mesh, l.a.LocalID(), 20*time.Second)
	if va, vb := attempt(l.t, l.a.Mesh, l.b.LocalID()), attempt(l.t, l.b.Mesh, l.a.LocalID()); va.gen != gen || vb.gen != gen {
		l.t.Fatalf("connected on attempts %d (a) and %d (b), want %d", va.gen, vb.gen, gen)
	}
	if err := l.a.Send(l.b.LocalID(), netcode.Reliable, []byte("up")); err != nil {
		l.t.Fatal(err)
	}
	if got := collect(l.t, l.b.Mesh, 1, 10*time.Second); len(got) != 1 || string(got[0].data) != "up" {
		l.t.Fatalf("b received %v", got)
	}
}

// An attempt whose ICE has selected a pair and whose DTLS handshake is
// slow is left to finish: neither the TURN fallback nor the attempt timer
// replaces it within attemptTimeout of the selection, and it is the one
// that connects. One whose handshake is still unfinished then has stalled
// and is replaced (by the TURN fallback where there is a TURN server);
// one whose peer's DTLS never arrived gets no such grace, and
// ConnectTimeout still bounds the whole.
func TestHandshakingAttemptIsKept(t *testing.T) {
	const fallback = 3 * time.Second
	withTURN := func(c Config, turn []netcode.ICEServer) Config {
		c.ICEServers = turn
		c.TURNFallbackAfter = fallback
		return c
	}
	t.Run("TURN fallback", func(t *testing.T) {
		checkLeaks(t)
		l := newHandshakeLab(t, false, withTURN)
		v := l.awaitHandshake()
		// Past the fallback time: the old rule started a relay attempt.
		if w := l.tickAt(v.started.Add(fallback + time.Millisecond)); w.gen != 1 {
			t.Fatalf("attempt %d (relay %v) replaced the first, whose ICE was up and handshake under way", w.gen, w.relay)
		}
		l.connectedOn(1)
		st, err := l.a.Stats(l.b.LocalID())
		if err != nil {
			t.Fatal(err)
		}
		if st.Relayed {
			t.Errorf("pair %s/%s relayed", st.LocalCandidate, st.RemoteCandidate)
		}
	})
	t.Run("attempt timer", func(t *testing.T) {
		checkLeaks(t)
		l := newHandshakeLab(t, false, func(c Config, _ []netcode.ICEServer) Config { return c })
		v := l.awaitHandshake()
		// Past the attempt timer, with ICE up for less than
		// attemptTimeout: the old rule started a new attempt.
		now := v.started.Add(attemptTimeout + time.Millisecond)
		if now.Sub(v.iceUpAt) > attemptTimeout {
			t.Fatalf("ICE came up %v after the attempt started", v.iceUpAt.Sub(v.started))
		}
		if w := l.tickAt(now); w.gen != 1 {
			t.Fatalf("attempt %d replaced the first, whose ICE was up and handshake under way", w.gen)
		}
		l.connectedOn(1)
	})
	t.Run("stalled handshake", func(t *testing.T) {
		checkLeaks(t)
		l := newHandshakeLab(t, false, withTURN)
		v := l.awaitHandshake()
		// The loop's own timers, in real time: the gate stays shut.
		w := l.awaitAttempt("replaced", func(w attemptView) bool { return w.gen != v.gen })
		if d := w.started.Sub(v.iceUpAt); d < attemptTimeout || !w.relay {
			t.Fatalf("attempt %d (relay %v) started %v after the first one's ICE came up, want a relay attempt after %v",
				w.gen, w.relay, d, attemptTimeout)
		}
		t.Logf("attempt %d (relay) started %v after attempt 1 selected a pair", w.gen, w.started.Sub(v.iceUpAt).Round(time.Millisecond))
		l.connectedOn(w.gen)
	})
	t.Run("peer not handshaking", func(t *testing.T) {
		// a's ICE is up but nothing of b's DTLS arrives (an offering side
		// alone in an early selection looks the same): the fallback
		// starts at its time.
		checkLeaks(t)
		l := newHandshakeLab(t, true, withTURN)
		v := l.awaitHandshake()
		w := l.tickAt(v.started.Add(fallback + time.Millisecond))
		if w.gen == v.gen || !w.relay {
			t.Fatalf("attempt %d (relay %v) after the fallback time, want a relay attempt", w.gen, w.relay)
		}
		l.connectedOn(w.gen)
	})
	t.Run("connect timeout", func(t *testing.T) {
		checkLeaks(t)
		const timeout = 2 * time.Second
		l := newHandshakeLab(t, false, func(c Config, turn []netcode.ICEServer) Config {
			c = withTURN(c, turn)
			c.ConnectTimeout = timeout
			c.NoReconnect = true
			return c
		})
		v := l.awaitHandshake()
		ev := waitEvent[EventDisconnected](t, l.a.Mesh, l.b.LocalID(), 20*time.Second)
		if ev.Reason != ReasonICEFailed {
			t.Fatalf("a: %v, want ReasonICEFailed", ev)
		}
		if d := ev.At.Sub(v.iceUpAt); d >= attemptTimeout {
			t.Errorf("a gave up %v after ICE came up; ConnectTimeout is %v", d, timeout)
		}
	})
}
