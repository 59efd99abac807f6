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

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestMatchmakerMatch queues two bots on a real matchmaker service (its
// default queues) over a real signaling server: the matchmaker client's
// Matched puts them in a session with its roster, they connect over WebRTC
// and play, and then both report seat 0 as the winner and get their new
// ratings from the Rated event. Signals keep reaching the mesh after the
// match is made while nobody reads the signaling client's Events.
func TestMatchmakerMatch(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{RatePerSec: 10000, RateBurst: 1000})
	svc, err := mmservice.New(srv, mmservice.Config{Interval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer func() {
		hs.Close()
		srv.Close()
		svc.Close()
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if _, err := DialOnline(ctx, OnlineConfig{ServerURL: url, Matchmaker: "chess"}); !errors.Is(err, mmclient.ErrUnknownQueue) {
		t.Fatalf("unknown queue: %v", err)
	}
	const frames = 120
	sessions := make([]*Online, 2)
	results := make([]Result, 2)
	ratings := make([]matchmaker.Rating, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			sessions[i], errs[i] = DialOnline(ctx, OnlineConfig{ServerURL: url, Matchmaker: "1v1", Seed: 3, AllBots: true})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
		defer sessions[i].Close()
	}
	// Nobody reads the signaling clients' Events after the match is made:
	// signals must keep reaching the mesh all the same, far more than any
	// event buffer holds. Malformed ones are counted by the mesh and change
	// nothing else.
	const signals = 600
	to := string(sessions[0].roster.Self)
	for range signals {
		if err := sessions[1].mm.Signaling().SendSignal(ctx, to, []byte(`{"flood":true}`)); err != nil {
			t.Fatal(err)
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sessions[0].mesh.BadSignals() < signals {
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d signals reached the mesh", sessions[0].mesh.BadSignals(), signals)
		case <-tick.C:
		}
	}
	for i, o := range sessions {
		wg.Go(func() {
			if results[i], errs[i] = Run(ctx, o, RunConfig{Frames: frames, Fast: true}); errs[i] != nil {
				return
			}
			ratings[i], errs[i] = o.ReportResult(ctx, 0)
			o.Close()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
	}
	for i, o := range sessions {
		// Both hold the matchmaker's roster, seats in the same order.
		if !slices.Equal(o.roster.Players, sessions[0].roster.Players) || o.roster.SeatOf(o.roster.Self) != o.Seat() {
			t.Fatalf("player %d: roster %+v, seat %d; player 0: %+v", i, o.roster, o.Seat(), sessions[0].roster)
		}
	}
	if sessions[0].Room() != sessions[1].Room() || sessions[0].Seat() == sessions[1].Seat() {
		t.Fatalf("rooms %s and %s, seats %d and %d", sessions[0].Room(), sessions[1].Room(), sessions[0].Seat(), sessions[1].Seat())
	}
	if results[0].ChecksumHex != results[1].ChecksumHex || !results[0].Confirmed.PeersAgree {
		t.Fatalf("results %s and %s", results[0].JSON(), results[1].JSON())
	}
	for i, o := range sessions {
		if won := o.Seat() == 0; won != (ratings[i].Mu > matchmaker.DefaultMu) {
			t.Fatalf("player %d in seat %d rated %+v", i, o.Seat(), ratings[i])
		}
		if _, err := o.ReportResult(ctx, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("report after Close: %v", err)
		}
	}
}
