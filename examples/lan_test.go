package examples_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// lanMatch is all the networking a game needs on a LAN with no server: one
// player hosts a lobby for two, advertised over DNS-SD; the other finds it
// and joins; once both are in and ready the match starts, the players
// connect over WebRTC and play frames ticks of a rollback session.
func lanMatch(ctx context.Context, host bool, game rollback.Game, input func(seat int) []byte, frames int) error {
	lm, err := lobby.MatchLAN(ctx, lobby.LANMatchConfig{Host: host, Game: "counter", Players: 2})
	if err != nil {
		return err
	}
	defer lm.Close()
	peers, err := mesh.Connect(ctx, lm.Signaling(), lm.Roster, nil)
	if err != nil {
		return err
	}
	defer peers.Close()
	seat := lm.Roster.SeatOf(lm.Roster.Self)
	s, err := rollback.New(peers, game, rollback.Config{Roster: &lm.Roster})
	for tick := time.NewTicker(time.Second / 60); err == nil && s.Frame() < frames; <-tick.C {
		s.AddLocalInput(seat, input(seat))
		if err = s.AdvanceFrame(); errors.Is(err, rollback.ErrPredictionThreshold) {
			err = nil // the session waits for the other player: skip this tick
		}
	}
	return err
}

// Two players on a LAN with no server: one hosts, the other finds the
// lobby over mDNS/DNS-SD, joins and gets ready; the host starts the match
// and both play 400 ticks peer to peer. The test runs inside a network
// namespace of its own (see TestMain), so the multicast stays there.
func Example_lanMatch() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var games [2]counter
	errs := make(chan error, len(games))
	for i := range games {
		go func() { errs <- lanMatch(ctx, i == 0, &games[i], pad, 400) }()
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
