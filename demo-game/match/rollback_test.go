package match

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// TestSimulatedRollbackIsExact runs bots through real rollback sessions
// under lag, jitter and loss, then checks that every peer computed the same
// confirmed frames, and that those frames equal a straight run of the arena
// with the confirmed inputs.
func TestSimulatedRollbackIsExact(t *testing.T) {
	const players, ticks = 3, 1500
	s, err := NewSimulated(SimConfig{Players: players, Seed: 11, AllBots: true,
		Lag: 60 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.15})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inputs := make([][]arena.Input, ticks+64)
	s.peers[0].game.OnAdvance = func(f int, in []arena.Input, _ bool) {
		inputs[f] = append(inputs[f][:0], in...)
	}
	for range ticks {
		if err := s.Tick(0); err != nil {
			t.Fatal(err)
		}
	}
	var st Stats
	s.Stats(&st)
	if st.Rollbacks == 0 || st.RollbackFrames == 0 {
		t.Fatalf("no rollbacks under 60 ms lag and 15%% loss: %+v", st)
	}
	if st.Desyncs != 0 {
		t.Fatalf("%d desyncs", st.Desyncs)
	}
	frame, sum, agree := s.Confirmed()
	if frame < ticks-60 || !agree {
		t.Fatalf("confirmed frame %d (of %d ticks), peers agree %v", frame, ticks, agree)
	}
	// Every recent confirmed frame agrees on every peer, not just the last.
	// (The rings hold 256 frames; peers run up to the prediction window
	// beyond the confirmed frame.)
	for f := frame - 200; f <= frame; f++ {
		want, _ := s.peers[0].game.SumAt(f)
		for k, p := range s.peers[1:] {
			if got, ok := p.game.SumAt(f); !ok || got != want {
				t.Fatalf("frame %d: peer %d has %#x, peer 0 %#x", f, k+1, got, want)
			}
		}
	}
	// The straight run with the confirmed inputs reaches the same state.
	ref := arena.New(players, 11)
	for f := 0; f <= frame; f++ {
		ref.Step(inputs[f])
	}
	if ref.Checksum() != sum {
		t.Fatalf("straight run of %d frames: %#x, rollback sessions %#x", frame+1, ref.Checksum(), sum)
	}
	t.Logf("%d rollbacks, last %d frames, %d frames confirmed, RTT %v", st.Rollbacks, st.RollbackFrames, frame+1, st.Peers[0].RTT)
}

func TestSimulatedConditions(t *testing.T) {
	s, err := NewSimulated(SimConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.LocalPlayer() != 0 || s.State().NumPlayers != 2 {
		t.Fatalf("zero config: local %d, players %d", s.LocalPlayer(), s.State().NumPlayers)
	}
	if err := s.SetConditions(100*time.Millisecond, 0.05); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConditions(0, 1.5); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("loss 1.5: %v", err)
	}
	for i := range 600 {
		in := arena.InputRight
		if i%20 < 10 {
			in |= arena.InputFire
		}
		if err := s.Tick(in); err != nil {
			t.Fatal(err)
		}
	}
	var st Stats
	s.Stats(&st)
	// 100 ms each way: the session measures a round trip of about 200 ms
	// on the network's virtual clock (plus up to a few frames of
	// processing).
	rtt := st.Peers[0].RTT
	if rtt < 180*time.Millisecond || rtt > 300*time.Millisecond {
		t.Fatalf("RTT %v under 100 ms one-way lag", rtt)
	}
	if !st.CanCondition || st.Lag != 100*time.Millisecond || st.Loss != 0.05 || st.Peers[0].Candidate != "sim" {
		t.Fatalf("stats %+v", st)
	}
	if st.Peers[0].KbpsOut <= 0 || st.Peers[0].KbpsIn <= 0 {
		t.Fatalf("no traffic measured: %+v", st.Peers[0])
	}
	if st.Predicted <= 0 {
		t.Fatalf("no frames predicted under 100 ms lag: %+v", st)
	}
	if _, _, agree := s.Confirmed(); !agree {
		t.Fatal("peers disagree")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Tick(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tick after Close: %v", err)
	}
}

func TestSimulatedHeadlessMatch(t *testing.T) {
	run := func() Result {
		s, err := NewSimulated(SimConfig{Players: 4, Seed: 2, AllBots: true, Lag: 30 * time.Millisecond, Loss: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		r, err := Run(context.Background(), s, RunConfig{Fast: true, Frames: 30 * 60 * arena.TickRate})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(), run()
	if a.Phase != "match over" || a.Confirmed == nil || !a.Confirmed.PeersAgree {
		t.Fatalf("result %s", a.JSON())
	}
	if a.ChecksumHex != b.ChecksumHex || !reflect.DeepEqual(*a.Confirmed, *b.Confirmed) {
		t.Fatalf("two runs differ:\n%s\n%s", a.JSON(), b.JSON())
	}
}

func TestNewSimulatedBadConfig(t *testing.T) {
	for _, cfg := range []SimConfig{{Players: 1}, {Players: 5}, {Loss: -0.1}} {
		if _, err := NewSimulated(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func BenchmarkSimulatedTick(b *testing.B) {
	for _, players := range []int{2, 4} {
		b.Run(string(rune('0'+players))+"players", func(b *testing.B) {
			s, err := NewSimulated(SimConfig{Players: players, AllBots: true, Lag: 50 * time.Millisecond, Loss: 0.05})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Tick(0); err != nil {
					b.Fatal(err)
				}
				if s.State().Phase == arena.PhaseMatchOver {
					b.StopTimer()
					s.Close()
					s, _ = NewSimulated(SimConfig{Players: players, AllBots: true, Lag: 50 * time.Millisecond, Loss: 0.05})
					b.StartTimer()
				}
			}
		})
	}
}
