package match

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestMatchmakerMatch queues two bots on a real matchmaker service (its
// default queues) over a real signaling server: mm.matched puts them in a
// session, they connect over WebRTC and play, and then both report seat 0
// as the winner and get their new ratings.
func TestMatchmakerMatch(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
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

	if _, err := DialOnline(ctx, OnlineConfig{ServerURL: url, Matchmaker: "chess"}); err == nil || !strings.Contains(err.Error(), mmservice.CodeUnknownQueue) {
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
			o, err := DialOnline(ctx, OnlineConfig{ServerURL: url, Matchmaker: "1v1", Seed: 3, AllBots: true})
			if err != nil {
				errs[i] = err
				return
			}
			sessions[i] = o
			defer o.Close()
			if results[i], errs[i] = Run(ctx, o, RunConfig{Frames: frames, Fast: true}); errs[i] != nil {
				return
			}
			ratings[i], errs[i] = o.ReportResult(ctx, 0)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
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
