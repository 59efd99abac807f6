package match

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestOnlineMatch plays bots against each other through a real signaling
// server on loopback and real WebRTC connections: they queue and connect,
// the server is shut down, and they play a fixed number of frames through
// rollback sessions and must end with the same confirmed state.
func TestOnlineMatch(t *testing.T) {
	for _, players := range []int{2, 3} {
		srv := signaling.NewServer(signaling.Config{})
		hs := httptest.NewServer(srv)
		url := "ws" + strings.TrimPrefix(hs.URL, "http")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)

		const frames = 240
		results := make([]Result, players)
		errs := make([]error, players)
		stats := make([]Stats, players)
		var wg sync.WaitGroup
		sessions := make([]*Online, players)
		for i := range players {
			wg.Go(func() {
				sessions[i], errs[i] = DialOnline(ctx, OnlineConfig{ServerURL: url, Players: players, Seed: 9})
			})
		}
		wg.Wait()
		// Once the mesh is up the server is not needed: stop it before
		// the match starts.
		hs.Close()
		srv.Close()
		for i, o := range sessions {
			if errs[i] != nil {
				t.Fatalf("%d players: peer %d: %v", players, i, errs[i])
			}
			// Every peer seats the room's members alike, in the server's
			// seat order, itself included.
			r := o.roster
			if !slices.Equal(r.Players, sessions[0].roster.Players) || len(r.Players) != players || r.Players[o.Seat()].Peer != r.Self {
				t.Fatalf("%d players: peer %d: roster %+v, seat %d", players, i, r, o.Seat())
			}
			wg.Go(func() {
				defer o.Close()
				if i == 0 {
					// Lag on one peer's sends: rollbacks on the others.
					o.SetConditions(30*time.Millisecond, 0.05)
				}
				// The local seat is played by the bot through the input
				// callback, which also samples the overlay's figures.
				input := func(s *arena.State, p int) arena.Input {
					if s.Frame == frames-40 {
						o.Stats(&stats[i])
					}
					return arena.BotInput(s, p)
				}
				results[i], errs[i] = Run(ctx, o, RunConfig{Frames: frames, Input: input})
			})
		}
		wg.Wait()
		cancel()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("%d players: peer %d: %v", players, i, err)
			}
		}
		for i, r := range results {
			if r.Frames != frames || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame < frames-1 {
				t.Fatalf("%d players: peer %d: %s", players, i, r.JSON())
			}
			if r.ChecksumHex != results[0].ChecksumHex {
				t.Fatalf("%d players: peer %d ended with %s, peer 0 with %s", players, i, r.ChecksumHex, results[0].ChecksumHex)
			}
		}
		var rollbacks uint64
		for i, st := range stats {
			// Direct on loopback: the local candidate is a host one (the
			// remote may show as host or peer-reflexive).
			if len(st.Peers) != players-1 || !strings.HasPrefix(st.Peers[0].Candidate, "host") || st.Peers[0].RTT == 0 || st.Peers[0].KbpsIn == 0 {
				t.Fatalf("peer %d stats: %+v", i, st)
			}
			rollbacks += st.Rollbacks
		}
		t.Logf("%d players: checksum %s, rollbacks %d, peer 0: %+v", players, results[0].ChecksumHex, rollbacks, stats[0].Peers)
	}
}

func TestDialOnlineErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := DialOnline(ctx, OnlineConfig{ServerURL: "http://x"}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("http URL: %v", err)
	}
	if _, err := DialOnline(ctx, OnlineConfig{ServerURL: "ws://127.0.0.1:1/ws", Players: 9}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("9 players: %v", err)
	}
	// Alone in a queue of two: cancelling the wait returns a context error.
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer srv.Close()
	defer hs.Close()
	cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err := DialOnline(cctx, OnlineConfig{ServerURL: "ws" + strings.TrimPrefix(hs.URL, "http"), Players: 2})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting alone: %v", err)
	}
	// A networked headless run needs a frame limit.
	if _, err := Run(ctx, &fakeSettler{}, RunConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Run without a limit: %v", err)
	}
}

// TestStartOnlineRoster: a roster the arena cannot seat, or one where this
// peer holds no seat, is refused before connecting anything, and what the
// match would have owned is closed.
func TestStartOnlineRoster(t *testing.T) {
	seats := func(ids ...netcode.PeerID) []netcode.Seat {
		var s []netcode.Seat
		for _, id := range ids {
			s = append(s, netcode.Seat{Peer: id})
		}
		return s
	}
	for name, r := range map[string]netcode.Roster{
		"one player":   {Session: "s", Self: "a", Players: seats("a")},
		"five players": {Session: "s", Self: "a", Players: seats("a", "b", "c", "d", "e")},
		"spectator":    {Session: "s", Self: "z", Players: seats("a", "b"), Spectators: []netcode.PeerID{"z"}},
		"stranger":     {Session: "s", Self: "z", Players: seats("a", "b")},
	} {
		var c closeCount
		if _, err := startOnline(context.Background(), nil, r, true, OnlineConfig{}, &c); !errors.Is(err, ErrBadConfig) || c != 1 {
			t.Errorf("%s: %v, closed %d times", name, err, c)
		}
	}
}

type closeCount int

func (c *closeCount) Close() error { *c++; return nil }

type fakeSettler struct{ Local }

func (*fakeSettler) finish(int) error { return nil }

func (*fakeSettler) settle(context.Context, time.Duration) (*arena.State, error) {
	return nil, nil
}

// TestOnlineTimeSync runs two peers at different tick rates (60 and 30 per
// second, far apart so that a loaded machine keeps them apart): the faster
// one must skip ticks to let the slower one keep up.
func TestOnlineTimeSync(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer srv.Close()
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	peers := make([]*Online, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range peers {
		wg.Go(func() {
			peers[i], errs[i] = DialOnline(ctx, OnlineConfig{ServerURL: url, Players: 2, Seed: 3, AllBots: true})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("peer %d: %v", i, err)
		} else {
			defer peers[i].Close()
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	rates := []time.Duration{time.Second / 60, time.Second / 30}
	for i, p := range peers {
		wg.Go(func() {
			tk := time.NewTicker(rates[i])
			defer tk.Stop()
			// Both tick for 3 s: a peer that stops first leaves the
			// other without its opponent (a 2-player match then ends).
			for range int(3 * time.Second / rates[i]) {
				<-tk.C
				if err := p.Tick(0); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Peer 0 ticks at 60 per second: it runs ahead and must skip.
	if peers[0].skipped == 0 || peers[0].skipped <= peers[1].skipped {
		t.Fatalf("ticks skipped: %d by the faster peer, %d by the slower", peers[0].skipped, peers[1].skipped)
	}
	t.Logf("skipped %d and %d ticks", peers[0].skipped, peers[1].skipped)
}
