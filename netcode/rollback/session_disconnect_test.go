package rollback_test

import (
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

func (c *cluster) kill(i int) {
	p := c.peers[i]
	p.dead = true
	_ = p.ep.Close()
	_ = p.s.Close()
}

func disconnects(p *peer) []rollback.EventPeerDisconnected {
	var out []rollback.EventPeerDisconnected
	for _, e := range p.evs {
		if d, ok := e.(rollback.EventPeerDisconnected); ok {
			out = append(out, d)
		}
	}
	return out
}

// TestSessionDropAgreedFrame kills one of four players under loss. The
// others must report it interrupted, then drop it at the same frame, and
// carry on in sync with its input marked disconnected.
func TestSessionDropAgreedFrame(t *testing.T) {
	for _, policy := range []rollback.DisconnectPolicy{rollback.DropPlayer, rollback.PredictPlayer} {
		c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 13, mutate: func(i int, cfg *rollback.Config) {
			cfg.DisconnectPolicy = policy
		}})
		for c.peers[0].s.Frame() < 600 {
			c.step(true)
		}
		c.kill(2)
		c.run(1500)
		c.checkSync(1400)
		frame := -1
		for _, p := range c.peers {
			if p.dead {
				continue
			}
			ds := disconnects(p)
			if len(ds) != 1 || ds[0].Peer != "p2" {
				t.Fatalf("%s: disconnect events %+v", p.id, ds)
			}
			if frame >= 0 && ds[0].Frame != frame {
				t.Fatalf("policy %d: %s dropped p2 at frame %d, another peer at %d", policy, p.id, ds[0].Frame, frame)
			}
			frame = ds[0].Frame
			interrupted := false
			for _, e := range p.evs {
				if _, ok := e.(rollback.EventPeerInterrupted); ok {
					interrupted = true
				}
			}
			if !interrupted {
				t.Errorf("%s: no interrupted event before the drop", p.id)
			}
		}
		if frame < 590 || frame > 640 {
			t.Fatalf("dropped at frame %d, killed near 600", frame)
		}
	}
}

// TestSessionStallPolicy cuts a peer off for 3 s: the others stall at the
// prediction window instead of dropping it, and resume in sync.
func TestSessionStallPolicy(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 14, mutate: func(i int, cfg *rollback.Config) {
		cfg.DisconnectPolicy = rollback.StallForPlayer
	}})
	for c.peers[0].s.Frame() < 300 {
		c.step(true)
	}
	down := lossy
	down.Down = true
	c.net.SetLinkBoth("p1", "p0", down)
	c.net.SetLinkBoth("p1", "p2", down)
	stalled := 0
	for i := 0; i < 180; i++ {
		stalled += c.step(true)
	}
	if stalled < 150 {
		t.Fatalf("only %d stalls while p1 was cut off", stalled)
	}
	c.net.SetLinkBoth("p1", "p0", lossy)
	c.net.SetLinkBoth("p1", "p2", lossy)
	c.run(1000)
	c.checkSync(900)
	for _, p := range c.peers {
		if len(disconnects(p)) != 0 {
			t.Fatalf("%s dropped a player under StallForPlayer", p.id)
		}
		resumed := false
		for _, e := range p.evs {
			if _, ok := e.(rollback.EventPeerResumed); ok {
				resumed = true
			}
		}
		if !resumed {
			t.Errorf("%s: no resumed event", p.id)
		}
	}
}

// TestSessionPartialPartitionDrop cuts only the link between p0 and p3:
// p0 drops p3, and the others must follow at the same frame.
func TestSessionPartialPartitionDrop(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 15})
	for c.peers[0].s.Frame() < 400 {
		c.step(true)
	}
	c.net.SetLinkBoth("p0", "p3", netsim.Conditions{Down: true, Latency: 100 * time.Millisecond})
	c.run(1200)
	var frames []int
	for _, p := range c.peers[:3] {
		ds := disconnects(p)
		if len(ds) == 0 {
			t.Fatalf("%s did not drop anyone", p.id)
		}
		frames = append(frames, ds[0].Frame)
	}
	if frames[0] != frames[1] || frames[1] != frames[2] {
		t.Fatalf("drop frames differ: %v", frames)
	}
	told := false
	for _, e := range c.peers[3].evs {
		if _, ok := e.(rollback.EventDroppedByPeers); ok {
			told = true
		}
	}
	if !told {
		t.Error("p3 was not told that the others dropped it")
	}
	c.peers[3].dead = true // it was dropped; it no longer matches
	c.checkSync(1100)
}
