package rollback_test

import (
	"errors"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// TestSpectatorFailover: a spectator fed by p0 of four players under loss.
// p0 dies and the game reports it (FeederLeft): the spectator moves to p1
// at once. Later p1 dies unreported: after FeederTimeout of silence the
// spectator moves to p2. Its state matches the surviving players'
// confirmed state frame by frame throughout, and it ends near their frame.
func TestSpectatorFailover(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 4, cond: lossy, seed: 61, mutate: func(i int, cfg *rollback.Config) {
		cfg.ChecksumInterval = 1
		cfg.Spectators = []netcode.PeerID{"tv"}
	}})
	feeders := []netcode.PeerID{"p0", "p1", "p2", "p3"}
	for _, f := range feeders {
		c.net.SetLinkBoth(f, "tv", lossy)
	}
	w := newWatcher(t, c, "tv", rollback.SpectatorConfig{Feeders: feeders, Players: 4, Clock: c.net.Now})
	var changes []rollback.EventFeederChanged
	checked := 0
	watch := func() {
		for {
			err := w.sp.AdvanceFrame()
			if errors.Is(err, rollback.ErrSpectatorWaiting) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := c.peers[3].sums[w.sp.Frame()]; ok {
				if got := rollback.Checksum(w.g.SaveState(nil)); got != want {
					t.Fatalf("spectator frame %d (feeder %s): %x, players %x", w.sp.Frame(), w.sp.Feeder(), got, want)
				}
				checked++
			}
			if w.sp.Behind() < 2 {
				break
			}
		}
		for {
			select {
			case e := <-w.sp.Events():
				if fc, ok := e.(rollback.EventFeederChanged); ok {
					changes = append(changes, fc)
				}
				continue
			default:
			}
			break
		}
	}
	for c.peers[3].s.Frame() < 500 {
		c.step(true)
		watch()
	}
	if w.sp.Feeder() != "p0" || len(changes) != 0 || checked < 300 {
		t.Fatalf("before any death: feeder %s, %d changes, %d frames checked", w.sp.Feeder(), len(changes), checked)
	}
	c.kill(0)
	w.sp.FeederLeft("p0")
	if w.sp.Feeder() != "p1" {
		t.Fatalf("feeder %s after p0 left, want p1", w.sp.Feeder())
	}
	before := checked
	for c.peers[3].s.Frame() < 1100 {
		c.step(true)
		watch()
	}
	if len(changes) != 1 || changes[0] != (rollback.EventFeederChanged{From: "p0", To: "p1", Frame: changes[0].Frame, Reason: rollback.FeederLeft}) {
		t.Fatalf("after p0 left: changes %+v", changes)
	}
	if checked-before < 300 {
		t.Fatalf("only %d frames checked after the switch to p1", checked-before)
	}
	c.kill(1) // not reported: the spectator finds out by the silence
	before = checked
	for c.peers[3].s.Frame() < 1800 {
		c.step(true)
		watch()
	}
	for i := 0; i < 300; i++ {
		c.step(false)
		watch()
	}
	if len(changes) != 2 || changes[1].From != "p1" || changes[1].To != "p2" || changes[1].Reason != rollback.FeederSilent {
		t.Fatalf("after p1 died: changes %+v", changes)
	}
	if checked-before < 300 || c.peers[3].s.Frame()-w.sp.Frame() > 30 {
		t.Fatalf("after the switch to p2: %d frames checked, spectator at %d, players at %d", checked-before, w.sp.Frame(), c.peers[3].s.Frame())
	}
	t.Logf("switches at frames %d and %d; %d frames checked; spectator %d, players %d", changes[0].Frame, changes[1].Frame, checked, w.sp.Frame(), c.peers[3].s.Frame())
}
