//go:build !js

package mesh

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// selectedPair returns the candidate pair ICE selected for the mesh's
// connection to peer (nil while there is none).
func selectedPair(t *testing.T, m *Mesh, peer netcode.PeerID) *webrtc.ICECandidatePair {
	t.Helper()
	var pc *webrtc.PeerConnection
	done := make(chan struct{})
	if !m.post(func() {
		m.mu.Lock()
		if p := m.peers[peer]; p != nil && p.c != nil {
			pc = p.c.pc
		}
		m.mu.Unlock()
		close(done)
	}) {
		t.Fatal("mesh closed")
	}
	<-done
	if pc == nil {
		return nil
	}
	pair, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil {
		return nil
	}
	return pair
}

// mismatchLab is a pair of meshes on pion's virtual network whose two
// sides selected different candidate pairs, and a switch that drops every
// STUN packet.
type mismatchLab struct {
	ms          []*testMesh
	dropSTUN    atomic.Bool
	stunDropped atomic.Int64
}

// newMismatchLab builds the pair: the offering side p00 has two
// addresses, and the answering side p01 never learns the better one (the
// signals rename it to an address that does not exist), so p01 selects
// the pair toward the address it knows while p00 selects the pair from the
// better one. It returns nil (everything closed) when p00 selected the
// same pair as p01 anyway (by nomination, before its early selection).
func newMismatchLab(t *testing.T) *mismatchLab {
	t.Helper()
	const hidden, shown, fake = "10.9.0.10", "10.9.0.20", "10.9.0.99"
	lab := &mismatchLab{}
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.9.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	var nets []*vnet.Net
	for _, ips := range [][]string{{hidden, shown}, {"10.9.0.11"}} {
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: ips})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(nw); err != nil {
			t.Fatal(err)
		}
		nets = append(nets, nw)
	}
	r.AddChunkFilter(func(c vnet.Chunk) bool {
		if lab.dropSTUN.Load() && c.Network() == "udp" && stun.IsMessage(c.UserData()) {
			lab.stunDropped.Add(1)
			return false
		}
		return true
	})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	// p01 learns p00's better address under another name (same length,
	// rewritten in place before the hub copies the signal).
	hub := &memsignal.Hub{Filter: func(from, to string, payload []byte) bool {
		if from == "p00" {
			for i := bytes.Index(payload, []byte(hidden)); i >= 0; i = bytes.Index(payload, []byte(hidden)) {
				copy(payload[i:], fake)
			}
		}
		return true
	}}
	cfg := func(i int) Config {
		c := testConfig()
		c.Loopback = false
		c.Net = nets[i]
		// Shorter timers: with the old ICE timeouts (disconnected after
		// DisconnectAfter, failed DisconnectAfter×2 later) pion failed the
		// connection 4.5 s after its selected pair last heard STUN, and
		// within 6 s (it looks every 1.5 s).
		c.DisconnectAfter = 1500 * time.Millisecond
		c.NoReconnect = true
		return c
	}
	lab.ms = startMeshes(t, hub, 2, cfg)
	waitAll(t, lab.ms, 1)
	a, b := lab.ms[0], lab.ms[1]
	// The two sides settle on their pairs within a few checks.
	var pa, pb *webrtc.ICECandidatePair
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		pa, pb = selectedPair(t, a.Mesh, b.LocalID()), selectedPair(t, b.Mesh, a.LocalID())
		if pa != nil && pb != nil && pa.Local.Address == hidden && pb.Remote.Address == shown {
			t.Logf("p00 selected %s, p01 selected %s", pa, pb)
			return lab
		}
	}
	t.Logf("the sides did not select different pairs: p00 %v, p01 %v", pa, pb)
	for _, m := range lab.ms {
		m.Close()
		m.sig.Leave()
	}
	_ = r.Stop()
	return nil
}

// TestMismatchedPairsStayConnected builds a pair whose two sides selected
// different candidate pairs, as lossy signaling does on a LAN with several
// addresses per peer: the offering side p00 has two addresses, and the
// answering side p01 never learns the better one (the signals rename it to
// an address that does not exist). p01 selects the pair toward the address
// it knows; p00 selects the pair from the better address, so p01 receives
// p00's data on a pair it did not select. Then every STUN packet is
// dropped, as a run of lost consent checks would be, while data keeps
// flowing both ways. pion hears p01's selected pair only through STUN, and
// its ICE agent used to declare the connection failed after its
// disconnected and failed timeouts, closing every candidate of a
// connection whose data was flowing: the mesh must keep it.
func TestMismatchedPairsStayConnected(t *testing.T) {
	checkLeaks(t)
	var lab *mismatchLab
	for try := 1; lab == nil; try++ {
		if lab = newMismatchLab(t); lab == nil && try == 3 {
			t.Fatal("three times the sides selected the same pair")
		}
	}
	a, b, ms := lab.ms[0], lab.ms[1], lab.ms
	dropSTUN, stunDropped := &lab.dropSTUN, &lab.stunDropped
	dropSTUN.Store(true)
	// Both sides send a datagram every 10 ms for 8 s, past the old
	// failure time, and must hear each other to the end.
	var got [2]int
	var last [2]time.Time
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for time.Since(start) < 8*time.Second {
		<-tick.C
		for i, m := range []*testMesh{a, b} {
			other := ms[1-i].LocalID()
			_ = m.Send(other, netcode.Unreliable, []byte("x"))
			m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
				got[i]++
				last[i] = time.Now()
			})
		}
	}
	for i, m := range []*testMesh{a, b} {
		for drained := false; !drained; {
			select {
			case ev := <-m.Events():
				if d, ok := ev.(EventDisconnected); ok {
					t.Errorf("%s: %s disconnected (%s) while data flowed", m.LocalID(), d.Peer, d.Reason)
				}
			default:
				drained = true
			}
		}
		if since := time.Since(last[i]); since > time.Second {
			t.Errorf("%s: last datagram %v ago (%d received)", m.LocalID(), since.Round(time.Millisecond), got[i])
		}
	}
	if n := stunDropped.Load(); n == 0 {
		t.Error("no STUN packet was dropped: the consent checks did not run")
	}
	t.Logf("received %v datagrams; %d STUN packets dropped", got, stunDropped.Load())
}

// TestAttemptFailsWithoutPair: pion's ICE never fails on its own, so the
// mesh ends an attempt whose checks found no working pair within
// iceCheckTimeout (3 × DisconnectAfter) itself and starts the next one
// sooner than the attempt timeout (5 s) would.
func TestAttemptFailsWithoutPair(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	offers := map[uint32]time.Duration{} // attempt -> when its first offer left p00
	start := time.Now()
	hub := &memsignal.Hub{Filter: func(from, to string, payload []byte) bool {
		if s, err := parseSignal(payload); err == nil && from == "p00" && s.T == sigOffer && !s.Restart {
			mu.Lock()
			if _, ok := offers[s.G]; !ok {
				offers[s.G] = time.Since(start)
			}
			mu.Unlock()
		}
		return true
	}}
	startMeshes(t, hub, 2, func(int) Config {
		c := testConfig()
		c.InterruptAfter, c.DisconnectAfter = 200*time.Millisecond, 600*time.Millisecond // checks fail after 1.8 s
		c.dropCandidate = func(netcode.PeerID, string) bool { return true }              // no pair can work
		return c
	})
	deadline := time.Now().Add(4500 * time.Millisecond)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(offers)
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(offers) < 2 {
		t.Fatalf("attempts offered within 4.5 s: %v; want a second one after the first one's checks failed at 1.8 s", offers)
	}
	t.Logf("first offers of each attempt: %v", offers)
}
