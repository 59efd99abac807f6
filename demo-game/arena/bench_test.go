package arena

import (
	"testing"
	"time"
)

func benchState(b *testing.B) *State {
	s, _ := run(4, 11, 1200)
	return s
}

func BenchmarkStep(b *testing.B) {
	s := benchState(b)
	var snap State
	s.Save(&snap)
	in := []Input{InputFire | InputUp, InputLeft | InputFire, InputUp | InputRight, InputFire}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%600 == 0 {
			s.Load(&snap) // stay in the middle of a round
		}
		s.Step(in)
	}
}

func BenchmarkSave(b *testing.B) {
	s := benchState(b)
	var dst State
	b.ReportAllocs()
	for b.Loop() {
		s.Save(&dst)
	}
}

func BenchmarkLoad(b *testing.B) {
	s := benchState(b)
	var src State
	s.Save(&src)
	b.ReportAllocs()
	for b.Loop() {
		s.Load(&src)
	}
}

func BenchmarkAppendBinary(b *testing.B) {
	s := benchState(b)
	buf := make([]byte, 0, EncodedSize)
	b.ReportAllocs()
	b.SetBytes(EncodedSize)
	for b.Loop() {
		buf, _ = s.AppendBinary(buf[:0])
	}
}

func BenchmarkUnmarshalBinary(b *testing.B) {
	s := benchState(b)
	data, _ := s.MarshalBinary()
	var t State
	b.ReportAllocs()
	b.SetBytes(EncodedSize)
	for b.Loop() {
		if err := t.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChecksum(b *testing.B) {
	s := benchState(b)
	b.ReportAllocs()
	for b.Loop() {
		s.Checksum()
	}
}

func BenchmarkBotInput(b *testing.B) {
	s := benchState(b)
	b.ReportAllocs()
	for b.Loop() {
		for p := 0; p < 4; p++ {
			BotInput(s, p)
		}
	}
}

// BenchmarkRollback8 measures the worst tick of a rollback session with an
// 8-frame prediction window: load the state from 8 frames back and re-step
// 8 frames, saving before each. It measures plain stepping in the same run
// and reports the ratio, since absolute times drift between runs.
func BenchmarkRollback8(b *testing.B) {
	s := benchState(b)
	in := []Input{InputFire | InputUp, InputLeft | InputFire, InputUp | InputRight, InputFire}
	var start State
	s.Save(&start)
	var snaps [8]State

	// The baseline: plain steps from the same state, timed in this run.
	const baseSteps = 200_000
	st := start
	t0 := time.Now()
	for i := range baseSteps {
		if i%600 == 0 {
			st = start
		}
		st.Step(in)
	}
	stepNs := float64(time.Since(t0).Nanoseconds()) / baseSteps
	b.ReportAllocs()
	for b.Loop() {
		s.Load(&start)
		for f := range snaps {
			s.Save(&snaps[f])
			s.Step(in)
		}
	}
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(stepNs, "ns/step-baseline")
	b.ReportMetric(perTick/stepNs, "x-step")
	b.ReportMetric(perTick/1e6*100/(1000.0/TickRate), "%-of-tick")
}
