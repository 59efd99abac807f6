package bench

import "testing"

// BenchmarkSessionRollback4P is one AdvanceFrame of a 4-player session that
// rolls back 8 frames every frame (the game's work included; see
// RunRollbackBench for the overhead net of the game).
func BenchmarkSessionRollback4P(b *testing.B) {
	rig, err := newRollbackRig(4, 8, b.N+500)
	if err != nil {
		b.Fatal(err)
	}
	for k := 0; k < 500; k++ {
		if err := rig.step(k); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for k := 500; k < 500+b.N; k++ {
		if err := rig.step(k); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rb := rig.s.Stats().RolledBack; rb < uint64(8*b.N) {
		b.Fatalf("resimulated %d frames in %d ticks, want 8 per tick", rb, b.N)
	}
}

func TestRollbackBenchFigures(t *testing.T) {
	res, err := RunRollbackBench(RollbackBenchConfig{Frames: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResimulatedPerFrame < 7.99 {
		t.Errorf("resimulated %.2f frames per tick, want 8", res.ResimulatedPerFrame)
	}
	if res.AllocsPerFrame > 0.01 {
		t.Errorf("%.3f allocations per frame in steady state, want 0", res.AllocsPerFrame)
	}
	if res.MaxPayloadBytes > 16 || res.PayloadBytesPerTick > 16 {
		t.Errorf("payload mean %.1f, max %d bytes", res.PayloadBytesPerTick, res.MaxPayloadBytes)
	}
	t.Logf("%+v", res)
}

// TestRollbackBenchBaselineMakesTheSessionsCalls: the baseline that
// frame_overhead_ns subtracts makes exactly the game calls the session
// makes per tick; one call more would hide session work.
func TestRollbackBenchBaselineMakesTheSessionsCalls(t *testing.T) {
	const warm, ticks = 100, 200
	rig, err := newRollbackRig(4, 8, warm+ticks)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; k < warm; k++ {
		if err := rig.step(k); err != nil {
			t.Fatal(err)
		}
	}
	g := rig.game
	s0, l0, a0 := g.saves, g.loads, g.advances
	for k := warm; k < warm+ticks; k++ {
		if err := rig.step(k); err != nil {
			t.Fatal(err)
		}
	}
	base := newBenchBaseline(4, 8)
	bs0 := base.g.saves
	for k := warm; k < warm+ticks; k++ {
		base.frame(k)
	}
	session := [3]int{g.saves - s0, g.loads - l0, g.advances - a0}
	baseline := [3]int{base.g.saves - bs0, base.g.loads, base.g.advances}
	if session != baseline {
		t.Fatalf("saves, loads, advances over %d ticks: session %v, baseline %v", ticks, session, baseline)
	}
	if session != [3]int{8 * ticks, ticks, 9 * ticks} {
		t.Fatalf("session made %v calls, want an 8-frame rollback every tick", session)
	}
}
