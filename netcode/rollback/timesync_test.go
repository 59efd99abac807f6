package rollback_test

import (
	"math"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// TestTimeSyncSlowsThePeerAhead starts one peer 20 frames before the other;
// each peer paces its own ticks by TickScale. The peer ahead must be told to
// wait, slow down smoothly (never skip a frame) and end within two frames.
func TestTimeSyncSlowsThePeerAhead(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 2, seed: 9, cond: netsim.Conditions{Latency: 40 * time.Millisecond, Jitter: 5 * time.Millisecond},
		mutate: func(i int, cfg *rollback.Config) { cfg.MaxPrediction = 30 }})
	tick := time.Second / 60
	next := []time.Time{c.net.Now(), c.net.Now().Add(20 * tick)}
	end := c.net.Now().Add(20 * time.Second)
	maxScale := 1.0
	var gap []float64
	for now := c.net.Now(); now.Before(end); now = c.net.Now() {
		for i, p := range c.peers {
			if now.Before(next[i]) {
				continue
			}
			before := p.s.Frame()
			_ = p.s.AddLocalInput(i, []byte{byte(p.rng.Intn(8))})
			_ = p.s.AdvanceFrame()
			if d := p.s.Frame() - before; d > 1 {
				t.Fatalf("%s skipped %d frames", p.id, d-1)
			}
			p.drain()
			scale := p.s.TickScale()
			maxScale = math.Max(maxScale, scale)
			next[i] = next[i].Add(time.Duration(float64(tick) * scale))
		}
		c.net.Advance(time.Millisecond)
		if now.Sub(end) > -2*time.Second {
			gap = append(gap, math.Abs(float64(c.peers[0].s.Frame()-c.peers[1].s.Frame())))
		}
	}
	waits := 0
	for _, e := range c.peers[0].evs {
		if w, ok := e.(rollback.EventWaitRecommended); ok && w.Frames >= 2 {
			waits++
		}
	}
	if waits == 0 {
		t.Error("the peer ahead got no wait recommendation")
	}
	if maxScale <= 1.0 || maxScale > 1.25 {
		t.Errorf("max tick scale %.3f, want in (1, 1.25]", maxScale)
	}
	for _, g := range gap {
		if g > 3 {
			t.Fatalf("peers still %v frames apart after 18 s", g)
		}
	}
	t.Logf("waits %d, max tick scale %.3f, final gap %v", waits, maxScale, gap[len(gap)-1])
	c.run(c.peers[0].s.Frame() + 10)
	c.checkSync(60)
}

// TestTimeSyncFixedTickSkips: with a fixed tick rate, the peer ahead uses
// SkipTick and the gap closes the same way.
func TestTimeSyncFixedTickSkips(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 2, seed: 10, cond: netsim.Conditions{Latency: 40 * time.Millisecond},
		mutate: func(i int, cfg *rollback.Config) { cfg.MaxPrediction = 30 }})
	// p0 starts 20 ticks early.
	for i := 0; i < 20; i++ {
		_ = c.peers[0].s.AddLocalInput(0, []byte{1})
		_ = c.peers[0].s.AdvanceFrame()
		c.net.Advance(time.Second / 60)
	}
	skipped := 0
	for tick := 0; tick < 1200; tick++ {
		for i, p := range c.peers {
			if p.s.SkipTick() {
				skipped++
				p.s.Poll()
				continue
			}
			_ = p.s.AddLocalInput(i, []byte{byte(tick)})
			_ = p.s.AdvanceFrame()
			p.drain()
		}
		c.net.Advance(time.Second / 60)
	}
	if skipped == 0 {
		t.Fatal("no tick skipped")
	}
	if gap := c.peers[0].s.Frame() - c.peers[1].s.Frame(); gap > 3 || gap < -3 {
		t.Fatalf("peers %d frames apart after 20 s", gap)
	}
	t.Logf("%d ticks skipped", skipped)
}
