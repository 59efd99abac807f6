package arena

import "testing"

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
