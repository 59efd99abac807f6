package rollback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

func hasEvent[E rollback.Event](p *peer) (E, bool) {
	for _, e := range p.evs {
		if v, ok := e.(E); ok {
			return v, true
		}
	}
	var zero E
	return zero, false
}

func (c *cluster) cut(id netcode.PeerID, down bool) {
	cond := lossy
	cond.Down = down
	for _, q := range c.peers {
		if q.id != id {
			c.net.SetLinkBoth(id, q.id, cond)
		}
	}
}

// TestSessionStartBarrier: p3 is unreachable for its first second. No peer
// simulates a frame before every peer reaches every other; then all start
// within a few ticks of each other and play in sync.
func TestSessionStartBarrier(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 41})
	c.cut("p3", true)
	for i := 0; i < 60; i++ {
		c.step(true)
	}
	for _, p := range c.peers {
		if p.s.Frame() != 0 {
			t.Fatalf("%s ran to frame %d while p3 was unreachable", p.id, p.s.Frame())
		}
		if _, ok := hasEvent[rollback.EventStarted](p); ok {
			t.Fatalf("%s started while p3 was unreachable", p.id)
		}
	}
	c.cut("p3", false)
	c.run(600)
	c.checkSync(500)
	for _, p := range c.peers {
		ev, ok := hasEvent[rollback.EventStarted](p)
		if !ok {
			t.Fatalf("%s: no EventStarted", p.id)
		}
		if ev.Waited < time.Second || ev.Waited > 2*time.Second {
			t.Errorf("%s waited %v at the barrier, p3 was cut off for 1 s", p.id, ev.Waited)
		}
		if len(disconnects(p)) != 0 {
			t.Errorf("%s dropped a player: %+v", p.id, disconnects(p))
		}
	}
}

// TestSessionStartFails: p2 is never reachable. Every peer fails the start
// with an event and ErrStartFailed, and none simulates a frame.
func TestSessionStartFails(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 42, mutate: func(i int, cfg *rollback.Config) {
		cfg.StartTimeout = 2 * time.Second
	}})
	c.cut("p2", true)
	failed := map[netcode.PeerID]error{}
	for tick := 0; tick < 5*60 && len(failed) < 3; tick++ {
		for _, p := range c.peers {
			if err := p.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				if !errors.Is(err, rollback.ErrStartFailed) {
					t.Fatalf("%s: %v", p.id, err)
				}
				failed[p.id] = err
			}
			p.drain()
		}
		c.net.Advance(time.Second / 60)
	}
	for _, p := range c.peers {
		if failed[p.id] == nil {
			t.Fatalf("%s did not fail the start", p.id)
		}
		ev, ok := hasEvent[rollback.EventStartFailed](p)
		if !ok || len(ev.Missing) == 0 {
			t.Errorf("%s: start failure event %+v", p.id, ev)
		}
		if p.s.Frame() != 0 {
			t.Errorf("%s simulated %d frames", p.id, p.s.Frame())
		}
	}
	t.Logf("p0: %v; p2: %v", failed["p0"], failed["p2"])
}

// TestSessionBlackoutNoSplit cuts p2 off from everyone for 3 s mid-match.
// The three others drop it at one agreed frame and finish together; p2
// stops and says it was dropped. Nobody plays on alone.
func TestSessionBlackoutNoSplit(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 43})
	for _, p := range c.peers {
		if err := p.s.Finish(900); err != nil {
			t.Fatal(err)
		}
	}
	for c.peers[0].s.Frame() < 300 {
		c.step(true)
	}
	c.cut("p2", true)
	for i := 0; i < 180; i++ {
		c.step(true)
	}
	c.cut("p2", false)
	c.settle(t)
	p2 := c.peers[2]
	if !p2.dead {
		t.Fatal("p2 did not stop after the blackout")
	}
	if _, ok := hasEvent[rollback.EventDroppedByPeers](p2); !ok {
		t.Error("p2: no EventDroppedByPeers")
	}
	if o := p2.s.Outcome(); o.Agree || o.Reason == "" {
		t.Errorf("p2 outcome %+v", o)
	}
	if p2.s.Frame() > 300+150 {
		t.Errorf("p2 played on to frame %d after being cut off at 300", p2.s.Frame())
	}
	var sum uint64
	drop := -1
	for _, p := range c.peers {
		if p == p2 {
			continue
		}
		o := p.s.Outcome()
		if o.Agree || !o.Reported || !o.Final || len(o.Dropped) != 1 || o.Dropped[0].Peer != "p2" {
			t.Fatalf("%s: outcome %+v", p.id, o)
		}
		if drop >= 0 && (o.Dropped[0].Frame != drop || o.Checksum != sum) {
			t.Fatalf("%s: dropped p2 at %d with final %x, another at %d with %x", p.id, o.Dropped[0].Frame, o.Checksum, drop, sum)
		}
		drop, sum = o.Dropped[0].Frame, o.Checksum
		t.Logf("%s: %s", p.id, o.Reason)
	}
}

// TestSessionHalfSplit partitions four players two against two: the half
// with the lowest handle goes on, the other stops.
func TestSessionHalfSplit(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 44})
	for c.peers[0].s.Frame() < 300 {
		c.step(true)
	}
	down := lossy
	down.Down = true
	for _, a := range []netcode.PeerID{"p0", "p1"} {
		for _, b := range []netcode.PeerID{"p2", "p3"} {
			c.net.SetLinkBoth(a, b, down)
		}
	}
	c.run(800)
	for _, p := range c.peers {
		_, stopped := hasEvent[rollback.EventDroppedByPeers](p)
		if (p.id == "p2" || p.id == "p3") != (stopped && p.dead) {
			t.Errorf("%s: stopped %v (dead %v)", p.id, stopped, p.dead)
		}
	}
	for _, p := range c.peers[:2] {
		if ds := disconnects(p); len(ds) != 2 {
			t.Errorf("%s: disconnects %+v", p.id, ds)
		}
	}
	c.checkSync(700)
}

// TestSessionOutcomeAgree: three peers under loss finish at frame 600 and
// agree on the final checksum with the full roster.
func TestSessionOutcomeAgree(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 45})
	for _, p := range c.peers {
		if err := p.s.Finish(600); err != nil {
			t.Fatal(err)
		}
	}
	c.settle(t)
	var sum uint64
	for i, p := range c.peers {
		o := p.s.Outcome()
		if !o.Agree || !o.Settled || o.Reason != "" || len(o.Remaining) != 3 || len(o.Peers) != 2 || o.End != 600 {
			t.Fatalf("%s: outcome %+v", p.id, o)
		}
		if p.s.Frame() != 600 {
			t.Errorf("%s ran to frame %d past the end", p.id, p.s.Frame())
		}
		if i > 0 && o.Checksum != sum {
			t.Fatalf("%s final checksum %x, p0 %x", p.id, o.Checksum, sum)
		}
		sum = o.Checksum
	}
	if err := c.peers[0].s.Finish(700); !errors.Is(err, rollback.ErrConfig) {
		t.Errorf("a second, different end frame: %v", err)
	}
}

// settle ticks until every live peer's outcome is settled.
func (c *cluster) settle(t *testing.T) {
	for tick := 0; ; tick++ {
		done := true
		for _, p := range c.peers {
			if !p.dead && !p.s.Outcome().Settled {
				done = false
			}
		}
		if done {
			return
		}
		if tick > 60*60 {
			for _, p := range c.peers {
				t.Logf("%s: frame %d, outcome %+v", p.id, p.s.Frame(), p.s.Outcome())
			}
			t.Fatal("outcomes never settled")
		}
		c.step(true)
	}
}

// TestSessionEndAdopted: only p0 calls Finish; the others adopt its end
// frame from its final report (going back if they ran past it), and all
// agree.
func TestSessionEndAdopted(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 46})
	for c.peers[0].s.Frame() < 290 {
		c.step(true)
	}
	if err := c.peers[0].s.Finish(300); err != nil {
		t.Fatal(err)
	}
	c.settle(t)
	for _, p := range c.peers {
		o := p.s.Outcome()
		if !o.Agree || o.End != 300 || p.s.Frame() != 300 || o.Checksum != c.peers[0].s.Outcome().Checksum {
			t.Fatalf("%s: frame %d, outcome %+v", p.id, p.s.Frame(), o)
		}
		if p.id != "p0" {
			if ev, ok := hasEvent[rollback.EventEnding](p); !ok || ev.Frame != 300 || ev.Peer != "p0" {
				t.Errorf("%s: ending event %+v", p.id, ev)
			}
		}
	}
}
