package match

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
)

// TestWatchLobbyMatch: a spectator asks to watch an online lobby before
// its match starts (SpectateCode waits), gets in once it runs, attaches to
// a player's broadcast, watches from the first frames (the lobby's seed)
// the lobby's delay behind, and ends on the players' final confirmed
// checksum for the same frame, which the tree's end confirms; the player
// feeding it reports the relay and the bytes it sent.
// TestLANRejoinAndSpectate and TestLANSpectatorTree cover spectators in
// processes, relays and parents killed.
func TestWatchLobbyMatch(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host, err := CreateLobby(ctx, url, LobbyConfig{Players: 2, Seed: 8, Player: "ann", SpectateDelay: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := host.Client().State()
	if _, err := SpectateCode(ctx, url, "ABC0O1", LobbyConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("a malformed code: %v", err)
	}
	if _, err := SpectateCode(ctx, url, "ABCDEF", LobbyConfig{}); !errors.Is(err, lobby.ErrNotFound) {
		t.Fatalf("an unknown code: %v", err)
	}
	joiner, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{Player: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	const frames = 360
	var (
		wg      sync.WaitGroup
		results [2]Result
		errs    [3]error
		watched WatchResult
		started = make(chan struct{})
	)
	for i, l := range []*Lobby{host, joiner} {
		wg.Go(func() {
			sess, err := l.AwaitStart(ctx, true)
			if err != nil {
				errs[i] = err
				l.Close()
				return
			}
			defer sess.Close()
			results[i], errs[i] = Run(ctx, sess, RunConfig{Frames: frames, OnStart: func(time.Duration) {
				if i == 0 {
					close(started)
				}
			}})
		})
	}
	wg.Go(func() {
		// Asked before the start; it gets in a second into the match at
		// the latest.
		w, err := SpectateCode(ctx, url, st.Code, LobbyConfig{Player: "tv"})
		if err != nil {
			errs[2] = err
			return
		}
		defer w.Close()
		select {
		case <-started:
		case <-ctx.Done():
		}
		watched, errs[2] = w.Run(ctx, frames, nil)
	})
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	c := results[0].Confirmed
	if c == nil || !c.PeersAgree || results[1].ChecksumHex != results[0].ChecksumHex {
		t.Fatalf("players: %s / %s", results[0].JSON(), results[1].JSON())
	}
	if !watched.Spectator || watched.Frames != frames || watched.Confirmed.Frame != c.Frame || watched.Confirmed.Checksum != c.Checksum ||
		watched.Ended == nil || !watched.Ended.Match || watched.Ended.Frame != frames || watched.DelayFrames != 30 ||
		watched.ParentSeat < 0 || watched.Depth != 1 {
		t.Fatalf("spectator: %s, players: %s", watched.JSON(), results[0].JSON())
	}
	b := results[watched.ParentSeat].Broadcast
	if b == nil || b.RelaysMax != 1 || b.DelayFrames != 30 || b.BytesSent == 0 {
		t.Fatalf("the parent's broadcast: %s", results[watched.ParentSeat].JSON())
	}
	t.Logf("the spectator started from frame %d and ended on %s at frame %d", watched.JoinedFrame, watched.Confirmed.Checksum, watched.Confirmed.Frame)
}
