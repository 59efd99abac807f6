package rollback_test

import (
	"errors"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode/netsim"
)

var lossy = netsim.Conditions{Latency: 100 * time.Millisecond, Jitter: 30 * time.Millisecond, Loss: 0.25}

func TestSessionLossySync(t *testing.T) {
	for _, tc := range []struct {
		players, perPeer, frames int
	}{{2, 1, 3000}, {3, 1, 3000}, {4, 1, 3000}, {8, 1, 3000}, {4, 2, 3000}} {
		t.Run(fmtPlayers(tc.players, tc.perPeer), func(t *testing.T) {
			c := newCluster(t, clusterOpts{players: tc.players, perPeer: tc.perPeer, cond: lossy, seed: int64(tc.players*10 + tc.perPeer)})
			c.run(tc.frames)
			c.checkSync(tc.frames - 60)
			var rb uint64
			for _, p := range c.peers {
				rb += p.s.Stats().Rollbacks
			}
			if rb == 0 {
				t.Error("no rollback happened: the test exercises nothing")
			}
			t.Logf("frames %v, rollbacks %d", c.frames(), rb)
		})
	}
}

func fmtPlayers(players, perPeer int) string {
	s := "players=" + itoa(players)
	if perPeer > 1 {
		s += ",local=" + itoa(perPeer)
	}
	return s
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// TestSessionRuntimeDelayChanges changes the input delay 2 → 4 → 1 at
// runtime, each peer on its own (odd peers one frame more), and checks the
// peers stay in sync through every phase.
func TestSessionRuntimeDelayChanges(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 5, mutate: func(i int, cfg *rollback.Config) { cfg.InputDelay = 2 }})
	for _, phase := range []struct{ delay, frames int }{{2, 600}, {4, 1200}, {1, 1800}} {
		for i, p := range c.peers {
			if err := p.s.SetInputDelay(phase.delay + i%2); err != nil {
				t.Fatal(err)
			}
			if got := p.s.InputDelay(); got != phase.delay+i%2 {
				t.Fatalf("%s: InputDelay %d after SetInputDelay(%d)", p.id, got, phase.delay+i%2)
			}
		}
		for c.peers[0].s.Frame() < phase.frames {
			c.step(true)
		}
		c.checkSync(phase.frames - 150)
	}
	c.run(2000)
	c.checkSync(1900)
	if err := c.peers[0].s.SetInputDelay(-1); !errors.Is(err, rollback.ErrConfig) {
		t.Fatalf("negative delay: %v", err)
	}
}

func TestSessionLockstepNeverStallsAtOneWayDelay(t *testing.T) {
	owd := 100 * time.Millisecond
	delay := rollback.SuggestInputDelay(2*owd, 0, 60)
	if delay != 6 {
		t.Fatalf("SuggestInputDelay(200ms, 0, 60) = %d, want 6", delay)
	}
	c := newCluster(t, clusterOpts{players: 4, cond: netsim.Conditions{Latency: owd}, seed: 6,
		mutate: func(i int, cfg *rollback.Config) {
			// Start at tick 0: the barrier's wait is not a lockstep stall.
			cfg.Lockstep, cfg.InputDelay, cfg.StartTimeout = true, delay, -1
		}})
	for i := 0; i < 1500; i++ {
		if n := c.step(true); n != 0 {
			t.Fatalf("tick %d: %d peers stalled in lockstep at delay %d", i, n, delay)
		}
	}
	for _, p := range c.peers {
		if st := p.s.Stats(); st.Rollbacks != 0 || st.Stalls != 0 {
			t.Fatalf("%s: lockstep rolled back or stalled: %+v", p.id, st)
		}
	}
	c.run(1500)
	c.checkSync(1400)

	// One frame less than the one-way delay must stall: the test above
	// is not vacuous.
	c = newCluster(t, clusterOpts{players: 2, cond: netsim.Conditions{Latency: owd}, seed: 6,
		mutate: func(i int, cfg *rollback.Config) { cfg.Lockstep = true; cfg.InputDelay = delay - 1 }})
	stalls := 0
	for i := 0; i < 300; i++ {
		stalls += c.step(true)
	}
	if stalls == 0 {
		t.Fatal("lockstep below the one-way delay never stalled")
	}
}

// TestSessionCorrectionAtPredictionThreshold: with three players, one peer
// sits at the end of its prediction window waiting for a slow peer while
// corrections from a fast peer arrive; the first wrong frame must be the
// earliest over every peer (ggrs#75).
func TestSessionCorrectionAtPredictionThreshold(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, seed: 7, cond: netsim.Conditions{Latency: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.25}})
	slow := netsim.Conditions{Latency: 180 * time.Millisecond, Jitter: 40 * time.Millisecond, Loss: 0.25}
	c.net.SetLink("p2", "p0", slow)
	c.net.SetLink("p2", "p1", slow)
	c.run(2500)
	c.checkSync(2400)
	st := c.peers[0].s.Stats()
	if st.Stalls == 0 || st.Rollbacks == 0 {
		t.Fatalf("p0 never sat at the threshold or never rolled back: %+v", st)
	}
	// Rollbacks longer than the window would mean a late correction was
	// applied from the wrong frame.
	if st.RolledBack > st.Rollbacks*9 {
		t.Fatalf("rolled back %d frames in %d rollbacks: more than the window", st.RolledBack, st.Rollbacks)
	}
}

func TestSessionBadMessagesAreRejected(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 2, seed: 8})
	evil := c.net.Endpoint("evil")
	for i := 0; i < 50; i++ {
		c.step(true)
	}
	const v = rollback.WireVersion
	for _, msg := range [][]byte{nil, {v}, {9, 1}, {v, 1, 0xff}, {v, 4, 9}, {v, 6}, {v, 1, 5, 0, 0, 0, 200}} {
		_ = evil.Send("p0", netcode.Unreliable, msg)
		_ = c.peers[1].ep.Send("p0", netcode.Unreliable, msg)
	}
	c.run(200)
	c.checkSync(150)
	st := c.peers[0].s.Stats()
	if st.Rejected < 14 {
		t.Fatalf("rejected %d of 14 bad messages", st.Rejected)
	}
	var sawPeer bool
	for _, e := range c.peers[0].evs {
		if r, ok := e.(rollback.EventRejected); ok {
			var we *rollback.WireError
			if errors.As(r.Err, &we) && we.Peer == "evil" {
				sawPeer = true
			}
		}
	}
	if !sawPeer {
		t.Fatal("no EventRejected named the sender")
	}
}

// TestSessionDuplicatesReorderingAndBandwidth adds duplication, reordering
// and a tight bandwidth cap (8 kB/s a link) to the lossy network.
func TestSessionDuplicatesReorderingAndBandwidth(t *testing.T) {
	cond := lossy
	cond.Duplicate, cond.Reorder, cond.Bandwidth = 0.1, 0.1, 8000
	c := newCluster(t, clusterOpts{players: 4, cond: cond, seed: 51})
	c.run(2000)
	c.checkSync(1900)
	for _, p := range c.peers {
		if st := p.ep.Stats(); st.Duplicated == 0 || st.Lost == 0 {
			t.Fatalf("%s: the network did not misbehave: %+v", p.id, st)
		}
	}
}

// sizeCheck fails when a session message would not fit the mesh's
// unreliable channel.
type sizeCheck struct {
	netcode.Transport
	t       *testing.T
	largest *int
}

func (s sizeCheck) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if ch != netcode.Reliable && len(data) > netcode.MaxDatagramMessage {
		s.t.Errorf("%d-byte datagram, the mesh takes %d", len(data), netcode.MaxDatagramMessage)
	}
	*s.largest = max(*s.largest, len(data))
	return s.Transport.Send(to, ch, data)
}

// TestSessionLargeInputsFitDatagrams: 4 players with 200-byte inputs under
// loss (so many frames stay unacknowledged): every datagram fits the mesh's
// limit, the oldest frames go first, and the peers stay in sync.
func TestSessionLargeInputsFitDatagrams(t *testing.T) {
	largest := 0
	c := newCluster(t, clusterOpts{players: 4, inputSize: 200, cond: lossy, seed: 61,
		wrap: func(tr netcode.Transport) netcode.Transport { return sizeCheck{tr, t, &largest} }})
	c.run(800)
	c.checkSync(700)
	if largest < 600 {
		t.Fatalf("largest datagram %d bytes: the test never filled one", largest)
	}
	if _, err := rollback.New(c.peers[0].ep, newToyGame(8), rollback.Config{
		Players: make([]rollback.Player, 8), InputSize: 200}); !errors.Is(err, rollback.ErrConfig) {
		t.Fatalf("8 players × 200 bytes accepted: %v", err)
	}
}
