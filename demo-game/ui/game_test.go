package ui

import (
	"errors"
	"testing"

	"github.com/hajimehoshi/ebiten/v2"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
)

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{Players: 5}); !errors.Is(err, match.ErrBadConfig) {
		t.Fatalf("5 players: %v", err)
	}
	if _, err := New(Config{Start: "credits"}); !errors.Is(err, match.ErrBadConfig) {
		t.Fatalf("unknown start screen: %v", err)
	}
}

// TestUpdateDrivesTheMatch runs the game's Update without a window: in
// attract mode every frame ticks the session once, and the frame limit ends
// the game.
func TestUpdateDrivesTheMatch(t *testing.T) {
	var sess match.Session
	g, err := New(Config{Bot: true, Players: 3, Frames: 120,
		NewSession: func(players int, seed uint64, allBots bool) (match.Session, error) {
			s, err := match.NewLocal(match.LocalConfig{Players: players, Seed: seed, AllBots: allBots})
			sess = s
			return s, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := g.screen.(*play); !ok || sess == nil || sess.LocalPlayer() != -1 {
		t.Fatalf("Bot did not start a bots-only match: screen %T", g.screen)
	}
	for i := 0; i < 119; i++ {
		if err := g.Update(); err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	if f := sess.State().Frame; f != 119 {
		t.Fatalf("after 119 updates the match is at frame %d", f)
	}
	if err := g.Update(); !errors.Is(err, ebiten.Termination) {
		t.Fatalf("the 120th update did not end the game: %v", err)
	}
}

// TestMatchEndFlow plays bot matches through Update: a watched match is
// followed by the next one, a played match by the results screen, each after
// the winner's banner has shown for three seconds.
func TestMatchEndFlow(t *testing.T) {
	var sessions []match.Session
	cfg := Config{Seed: 1, NewSession: func(players int, seed uint64, _ bool) (match.Session, error) {
		// Bots in every seat, so that the match ends by itself.
		s, err := match.NewLocal(match.LocalConfig{Players: players, Seed: seed, AllBots: true})
		sessions = append(sessions, s)
		return s, err
	}}
	for _, watch := range []bool{true, false} {
		sessions = nil
		g, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := g.screen.(*menu); !ok {
			t.Fatalf("the game opens on %T, want the menu", g.screen)
		}
		if err := g.startMatch(2, watch); err != nil {
			t.Fatal(err)
		}
		first := sessions[0]
		over, switched := -1, -1
		for i := 0; i < 20*60*arena.TickRate; i++ {
			if err := g.Update(); err != nil {
				t.Fatal(err)
			}
			if over < 0 && first.State().Phase == arena.PhaseMatchOver {
				over = i
			}
			if _, ok := g.screen.(*play); !ok || len(sessions) > 1 {
				switched = i
				break
			}
		}
		if over < 0 {
			t.Fatal("the match never ended")
		}
		if banner := switched - over; banner < 3*arena.TickRate-1 || banner > 3*arena.TickRate+1 {
			t.Fatalf("the winner's banner showed for %d frames", banner)
		}
		if watch {
			if len(sessions) != 2 || sessions[1].State().Frame > 1 {
				t.Fatalf("watching: %d sessions after the match", len(sessions))
			}
		} else if r, ok := g.screen.(*results); !ok || r.final.Phase != arena.PhaseMatchOver {
			t.Fatalf("playing: screen %T after the match", g.screen)
		}
		if err := first.Tick(0); !errors.Is(err, match.ErrClosed) {
			t.Fatalf("the finished session was not closed: %v", err)
		}
	}
}
