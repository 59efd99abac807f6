package match

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLocalMatchesArena(t *testing.T) {
	l, err := NewLocal(LocalConfig{Players: 3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ref := arena.New(3, 5)
	in := make([]arena.Input, 3)
	for f := 0; f < 1500; f++ {
		local := arena.Input(f*37) & (arena.InputUp | arena.InputLeft | arena.InputFire)
		in[0] = local
		in[1], in[2] = arena.BotInput(ref, 1), arena.BotInput(ref, 2)
		ref.Step(in)
		if err := l.Tick(local); err != nil {
			t.Fatal(err)
		}
		if l.State().Checksum() != ref.Checksum() {
			t.Fatalf("frame %d: local session diverged from the arena", f+1)
		}
	}
	if l.LocalPlayer() != 0 {
		t.Fatalf("LocalPlayer = %d", l.LocalPlayer())
	}
}

func TestLocalErrors(t *testing.T) {
	if _, err := NewLocal(LocalConfig{Players: 5}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("5 players: %v", err)
	}
	l, err := NewLocal(LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if n := l.State().NumPlayers; n != arena.MinPlayers {
		t.Fatalf("zero config has %d players", n)
	}
	if err := l.SetConditions(time.Millisecond, 0.1); !errors.Is(err, ErrNoSimulator) {
		t.Fatalf("SetConditions: %v", err)
	}
	var st Stats
	l.Stats(&st)
	if st.Transport == "" || st.CanCondition || st.Rollback || len(st.Peers) != 0 {
		t.Fatalf("local stats claim a network: %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Tick(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tick after Close: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRunFastToMatchOver(t *testing.T) {
	for n := arena.MinPlayers; n <= arena.MaxPlayers; n++ {
		a, _ := NewLocal(LocalConfig{Players: n, Seed: 3, AllBots: true})
		b, _ := NewLocal(LocalConfig{Players: n, Seed: 3, AllBots: true})
		ra, err := Run(context.Background(), a, RunConfig{Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Run(context.Background(), b, RunConfig{Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		if ra.Phase != "match over" || ra.Winner < 0 || ra.Wins[ra.Winner] != arena.WinRounds {
			t.Fatalf("%d players: %+v", n, ra)
		}
		if ra.Checksum != rb.Checksum || ra.Frames != rb.Frames {
			t.Fatalf("%d players: two runs differ: %s vs %s", n, ra.JSON(), rb.JSON())
		}
	}
}

func TestRunLimits(t *testing.T) {
	l, _ := NewLocal(LocalConfig{Players: 2, AllBots: true})
	r, err := Run(context.Background(), l, RunConfig{Frames: 500, Fast: true})
	if err != nil || r.Frames != 500 {
		t.Fatalf("Frames 500: %d frames, %v", r.Frames, err)
	}
	// Duration counts game time: 2 s is 120 frames, even when fast.
	l, _ = NewLocal(LocalConfig{Players: 2, AllBots: true})
	r, err = Run(context.Background(), l, RunConfig{Duration: 2 * time.Second, Fast: true})
	if err != nil || r.Frames != 120 {
		t.Fatalf("Duration 2s: %d frames, %v", r.Frames, err)
	}
	// The result marshals as one JSON line with the checksum in hex.
	var m map[string]any
	if err := json.Unmarshal([]byte(r.JSON()), &m); err != nil {
		t.Fatal(err)
	}
	if m["checksum"] != r.ChecksumHex || len(r.ChecksumHex) != 16 || m["frames"].(float64) != 120 {
		t.Fatalf("JSON %s", r.JSON())
	}
}

func TestRunPacedAtTickRate(t *testing.T) {
	l, _ := NewLocal(LocalConfig{Players: 2, AllBots: true})
	start := time.Now()
	r, err := Run(context.Background(), l, RunConfig{Frames: 30})
	if err != nil || r.Frames != 30 {
		t.Fatalf("%d frames, %v", r.Frames, err)
	}
	// 30 frames at 60 per second take half a second; a loaded machine
	// may take longer, never shorter.
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Fatalf("30 paced frames took only %v", el)
	}
}

func TestRunCancel(t *testing.T) {
	for _, fast := range []bool{false, true} {
		l := &idle{Local{state: arena.New(2, 1)}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := Run(ctx, l, RunConfig{Fast: fast})
			done <- err
		}()
		time.Sleep(50 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("fast=%v: %v", fast, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("fast=%v: Run did not return after cancel", fast)
		}
	}
}

// idle is a session where nobody moves: every round times out in a draw and
// the match never ends.
type idle struct{ Local }

func (s *idle) Tick(arena.Input) error {
	s.state.Step(nil)
	return nil
}
