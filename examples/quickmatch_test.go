package examples_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"github.com/rallypoint/rallypoint/signaling"
)

// quickMatch is all the networking a game needs for a quick match: it asks
// the matchmaker of the server at url for a 1v1 match, connects to the
// opponent over WebRTC and plays frames ticks of a rollback session. input
// reads the local player's controls once per tick.
func quickMatch(ctx context.Context, url string, game rollback.Game, input func(seat int) []byte, frames int) error {
	mc, m, err := mmclient.QuickMatch(ctx, url, mmclient.Ticket{Queue: "1v1"}, nil)
	if err != nil {
		return err
	}
	defer mc.Close()
	peers, err := mesh.Connect(ctx, mc.Signaling(), m.Roster, nil)
	if err != nil {
		return err
	}
	defer peers.Close()
	seat := m.Roster.SeatOf(m.Roster.Self)
	s, err := rollback.New(peers, game, rollback.Config{Roster: &m.Roster})
	for tick := time.NewTicker(time.Second / 60); err == nil && s.Frame() < frames; <-tick.C {
		s.AddLocalInput(seat, input(seat))
		if err = s.AdvanceFrame(); errors.Is(err, rollback.ErrPredictionThreshold) {
			err = nil // the session waits for the opponent: skip this tick
		}
	}
	return err
}

// Two players quick-match through a real signaling server with the
// matchmaker, connect peer to peer and play 400 ticks. Seat 0 presses 1
// every frame and seat 1 presses 2, so after frame 299 both peers must
// hold the scores 300 and 600, computed from inputs that crossed the mesh.
func Example_quickMatch() {
	srv := signaling.NewServer(signaling.Config{})
	svc, err := service.New(srv, service.Config{Interval: 10 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	defer svc.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var games [2]counter
	errs := make(chan error, len(games))
	for i := range games {
		go func() { errs <- quickMatch(ctx, url, &games[i], pad, 400) }()
	}
	for range games {
		if err := <-errs; err != nil {
			fmt.Println("player failed:", err)
		}
	}
	for i, g := range games {
		fmt.Printf("player %d: confirmed scores after frame %d: %v\n", i, confirmedAt, g.confirmed)
	}
	// Output:
	// player 0: confirmed scores after frame 299: [300 600]
	// player 1: confirmed scores after frame 299: [300 600]
}
