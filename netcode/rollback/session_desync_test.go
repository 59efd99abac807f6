package rollback_test

import (
	"testing"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// buggyGame diverges from frame 500 on: a non-deterministic game.
type buggyGame struct{ toyGame }

func (g *buggyGame) AdvanceFrame(in *rollback.Inputs) {
	g.toyGame.AdvanceFrame(in)
	if in.Frame == 500 {
		g.pos[0] += 1000
	}
}

// TestSessionDetectsDesync: one peer's game diverges at frame 500. Both
// peers must report the first checksummed frame after it, with both
// checksums and the other peer, and the confirmed-state hook must hold the
// diverging states; no frame before 500 may be reported.
func TestSessionDetectsDesync(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 31, mutate: func(i int, cfg *rollback.Config) {
		cfg.ChecksumInterval, cfg.StartTimeout = 20, -1
	}})
	states := map[int][]byte{}
	// Swap p1's game for the buggy one before the first frame.
	bg := &buggyGame{toyGame: *newToyGame(3)}
	p1 := c.peers[1]
	s, err := rollback.New(p1.ep, bg, rollback.Config{
		Players:          []rollback.Player{{Peer: "p0"}, {}, {Peer: "p2"}},
		Clock:            c.net.Now,
		ChecksumInterval: 20,
		EventBuffer:      4096,
		StartTimeout:     -1, // the bug is timed in ticks: start at tick 0 like the others
		OnConfirmedState: func(f int, sum uint64, st []byte) {
			p1.sums[f] = sum
			if f == 520 {
				states[f] = append([]byte(nil), st...)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p1.s, p1.g = s, &bg.toyGame
	c.run(800)
	for _, p := range c.peers {
		var first *rollback.EventDesync
		for _, e := range p.evs {
			if d, ok := e.(rollback.EventDesync); ok {
				if d.Frame <= 500 {
					t.Fatalf("%s: desync reported at frame %d, before the bug", p.id, d.Frame)
				}
				if first == nil {
					first = &d
				}
			}
		}
		if first == nil {
			t.Fatalf("%s: no desync reported", p.id)
		}
		if first.Frame != 520 || first.Local == first.Remote {
			t.Errorf("%s: first report %+v, want frame 520 with two checksums", p.id, *first)
		}
		if p.id == "p1" && first.Peer != "p0" && first.Peer != "p2" {
			t.Errorf("p1 reported peer %q", first.Peer)
		}
		if p.id != "p1" && first.Peer != "p1" {
			t.Errorf("%s blamed %q, want p1", p.id, first.Peer)
		}
	}
	if st, ok := states[520]; !ok || rollback.Checksum(st) != p1.sums[520] {
		t.Error("the confirmed-state hook did not hand over the state it checksummed")
	}
}
