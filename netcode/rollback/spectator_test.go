package rollback_test

import (
	"errors"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

type watcher struct {
	sp *rollback.Spectator
	g  *toyGame
}

func newWatcher(t *testing.T, c *cluster, id netcode.PeerID, cfg rollback.SpectatorConfig) *watcher {
	g := newToyGame(cfg.Players)
	sp, err := rollback.NewSpectator(c.net.Endpoint(id), g, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &watcher{sp: sp, g: g}
}

// spectatorState returns the host's confirmed state at the spectator's
// current frame, by re-running the toy game... the simplest exact check is
// to compare with the saved checksums the host reported.
func TestSpectatorsEarlyAndMidMatch(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 11, mutate: func(i int, cfg *rollback.Config) {
		if i == 0 {
			cfg.Spectators = []netcode.PeerID{"early"}
			cfg.AcceptSpectators = true
		}
		cfg.ChecksumInterval = 1
	}})
	c.net.SetLinkBoth("p0", "early", lossy)
	c.net.SetLinkBoth("p0", "late", lossy)
	early := newWatcher(t, c, "early", rollback.SpectatorConfig{Host: "p0", Players: 3})
	var late *watcher
	sums := map[int]uint64{}
	check := func(w *watcher, name string) {
		if w == nil {
			return
		}
		for {
			before := w.sp.Frame()
			err := w.sp.AdvanceFrame()
			if errors.Is(err, rollback.ErrSpectatorWaiting) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.sp.Frame() == before {
				return
			}
			// The spectator's state after each frame must equal the
			// players' confirmed state of that frame.
			if want, ok := c.peers[0].sums[w.sp.Frame()]; ok {
				got := rollback.Checksum(w.g.SaveState(nil))
				if got != want {
					t.Fatalf("%s: frame %d checksum %x, players have %x", name, w.sp.Frame(), got, want)
				}
				sums[w.sp.Frame()] = got
			}
			break
		}
	}
	for c.peers[0].s.Frame() < 2400 {
		c.step(true)
		check(early, "early")
		check(late, "late")
		if late == nil && c.peers[0].s.Frame() >= 1200 {
			late = newWatcher(t, c, "late", rollback.SpectatorConfig{Host: "p0", Players: 3, CatchUpSpeed: 8})
		}
	}
	for i := 0; i < 300; i++ {
		c.step(false)
		check(early, "early")
		check(late, "late")
	}
	c.checkSync(2300)
	host := c.peers[0].s.Frame()
	for name, w := range map[string]*watcher{"early": early, "late": late} {
		if host-w.sp.Frame() > 30 {
			t.Errorf("%s spectator at frame %d, host at %d", name, w.sp.Frame(), host)
		}
	}
	joined := 0
	for _, e := range c.peers[0].evs {
		if j, ok := e.(rollback.EventSpectatorJoined); ok {
			joined++
			if j.Peer == "late" && j.Frame < 1100 {
				t.Errorf("late spectator started at frame %d, want a state near 1200", j.Frame)
			}
		}
	}
	if joined != 2 {
		t.Errorf("%d spectators joined, want 2", joined)
	}
	if len(sums) < 2000 {
		t.Errorf("only %d spectator frames checked", len(sums))
	}
}

func TestSpectatorRefusedWhenNotListed(t *testing.T) {
	c := newCluster(t, clusterOpts{players: 2, seed: 12})
	w := newWatcher(t, c, "stranger", rollback.SpectatorConfig{Host: "p0", Players: 2})
	for i := 0; i < 100; i++ {
		c.step(true)
		if err := w.sp.AdvanceFrame(); !errors.Is(err, rollback.ErrSpectatorWaiting) {
			t.Fatalf("unlisted spectator advanced: %v", err)
		}
	}
	if c.peers[0].s.Stats().Rejected == 0 {
		t.Fatal("host did not reject the unlisted spectator")
	}
}

// TestSpectatorFollowsDropAndRejoin: a spectator watches a match in which a
// player is killed, dropped, restarted and rejoins; its state must match
// the players' confirmed state frame by frame throughout.
func TestSpectatorFollowsDropAndRejoin(t *testing.T) {
	every := func(i int, cfg *rollback.Config) {
		cfg.ChecksumInterval = 1
		if i == 0 {
			cfg.Spectators = []netcode.PeerID{"tv"}
		}
	}
	c := newCluster(t, clusterOpts{players: 3, cond: lossy, seed: 41, mutate: every})
	c.net.SetLinkBoth("p0", "tv", lossy)
	w := newWatcher(t, c, "tv", rollback.SpectatorConfig{Host: "p0", Players: 3})
	checked := 0
	watch := func() {
		for {
			err := w.sp.AdvanceFrame()
			if errors.Is(err, rollback.ErrSpectatorWaiting) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := c.peers[0].sums[w.sp.Frame()]; ok {
				if got := rollback.Checksum(w.g.SaveState(nil)); got != want {
					t.Fatalf("spectator frame %d: %x, players %x", w.sp.Frame(), got, want)
				}
				checked++
			}
			if w.sp.Behind() < 2 {
				return
			}
		}
	}
	for c.peers[0].s.Frame() < 400 {
		c.step(true)
		watch()
	}
	c.kill(2)
	for i := 0; i < 150; i++ { // past the disconnect timeout: dropped
		c.step(true)
		watch()
	}
	c.restart(2, "p2", 3, func(cfg *rollback.Config) { cfg.ChecksumInterval = 1 })
	for c.peers[0].s.Frame() < 1200 {
		c.step(true)
		watch()
	}
	for i := 0; i < 200; i++ {
		c.step(false)
		watch()
	}
	c.checkSync(1100)
	var dropped, rejoined bool
	for _, e := range c.peers[0].evs {
		switch e.(type) {
		case rollback.EventPeerDisconnected:
			dropped = true
		case rollback.EventPeerRejoined:
			rejoined = dropped
		}
	}
	if !rejoined {
		t.Fatal("the match saw no drop followed by a rejoin")
	}
	if checked < 1000 || c.peers[0].s.Frame()-w.sp.Frame() > 30 {
		t.Fatalf("spectator checked %d frames, at frame %d of %d", checked, w.sp.Frame(), c.peers[0].s.Frame())
	}
}
