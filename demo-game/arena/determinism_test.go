package arena

import "testing"

// script returns deterministic, varied inputs for frame f: bots for some
// players, pseudo-random mashing for the others.
func script(s *State, f uint32, inputs []Input) {
	for i := range inputs {
		if i%2 == 0 {
			inputs[i] = BotInput(s, i)
			continue
		}
		x := uint64(f/7)*0x9e3779b97f4a7c15 + uint64(i)*0xbf58476d1ce4e5b9
		x ^= x >> 29
		inputs[i] = Input(x) & inputMask
	}
}

func run(players int, seed uint64, frames int) (*State, []uint64) {
	s := New(players, seed)
	in := make([]Input, players)
	sums := make([]uint64, 0, frames)
	for f := 0; f < frames; f++ {
		script(s, s.Frame, in)
		s.Step(in)
		sums = append(sums, s.Checksum())
	}
	return s, sums
}

func TestDeterministic(t *testing.T) {
	for n := MinPlayers; n <= MaxPlayers; n++ {
		_, a := run(n, 42, 3000)
		_, b := run(n, 42, 3000)
		for f := range a {
			if a[f] != b[f] {
				t.Fatalf("%d players: checksums differ at frame %d", n, f+1)
			}
		}
		_, c := run(n, 43, 3000)
		if a[len(a)-1] == c[len(c)-1] {
			t.Errorf("%d players: seeds 42 and 43 end with the same checksum", n)
		}
	}
}

// TestGoldenChecksum pins the rules and the bot: a change to either (or a
// platform that computes them differently) changes this checksum. Update it
// only with a deliberate change; a rule change also bumps EncodingVersion
// (a bot change does not: peers send the bot's inputs, not its code).
func TestGoldenChecksum(t *testing.T) {
	s, _ := run(4, 1, 2000)
	const goldenChecksum = 0x856ed66eadcde08d
	if got := s.Checksum(); got != goldenChecksum {
		t.Errorf("checksum after 2000 frames = %#x, want %#x (frame %d, round %d, phase %v)", got, uint64(goldenChecksum), s.Frame, s.Round, s.Phase)
	}
}

// TestLocalRollback plays the same match twice: straight, and the way a
// rollback session plays it, predicting late players' inputs (repeating
// their last known input), then rolling back with Load and re-stepping when
// the real inputs arrive. Every confirmed frame must match the straight run.
func TestLocalRollback(t *testing.T) {
	const players, frames = 3, 2400
	truth := make([][]Input, frames)
	want := make([]uint64, frames)
	s := New(players, 9)
	for f := 0; f < frames; f++ {
		truth[f] = make([]Input, players)
		script(s, s.Frame, truth[f])
		s.Step(truth[f])
		want[f] = s.Checksum()
	}

	// Player 0 is local; player p's inputs arrive delay[p] frames late,
	// and the delay changes over time as a network's would.
	delay := func(p, f int) int {
		if p == 0 {
			return 0
		}
		return (f/50 + p*3) % 9
	}
	var (
		cur       = New(players, 9)
		saved     = make([]State, frames+1) // saved[f]: state before frame f
		used      = make([][]Input, frames) // inputs stepped at frame f
		rollbacks int
		confirmed int
	)
	for f := 0; f < frames; f++ {
		// Which frames got new real inputs that differ from what we used?
		earliest := f
		for g := max(0, f-10); g < f; g++ {
			for p := 0; p < players; p++ {
				arrived := g+delay(p, g) == f
				if arrived && used[g][p] != truth[g][p] && g < earliest {
					earliest = g
				}
			}
		}
		if earliest < f {
			rollbacks++
			cur.Load(&saved[earliest])
			for g := earliest; g < f; g++ {
				for p := 0; p < players; p++ {
					if g+delay(p, g) <= f {
						used[g][p] = truth[g][p]
					}
				}
				cur.Save(&saved[g])
				cur.Step(used[g])
			}
		}
		// Step frame f with known inputs, predicting the rest.
		used[f] = make([]Input, players)
		for p := 0; p < players; p++ {
			switch {
			case delay(p, f) == 0:
				used[f][p] = truth[f][p]
			case f > 0:
				used[f][p] = used[f-1][p]
			}
		}
		cur.Save(&saved[f])
		cur.Step(used[f])
		// A frame is confirmed once every player's input for it arrived.
		// saved[c+1] is the state after frame c.
		if c := f - 9; c >= 0 {
			if got := saved[c+1].Checksum(); got != want[c] {
				t.Fatalf("confirmed frame %d: checksum %#x, straight run %#x", c+1, got, want[c])
			}
			confirmed++
		}
	}
	if rollbacks < 100 {
		t.Fatalf("only %d rollbacks: the test does not exercise rollback", rollbacks)
	}
	if confirmed < frames-10 {
		t.Fatalf("only %d frames confirmed", confirmed)
	}
	t.Logf("%d rollbacks, %d confirmed frames checked", rollbacks, confirmed)
}

func TestSaveLoad(t *testing.T) {
	s, _ := run(4, 5, 700)
	var snap State
	s.Save(&snap)
	before := s.Checksum()
	in := []Input{InputFire, InputUp | InputLeft, InputDash, InputDown}
	for range 100 {
		s.Step(in)
	}
	if s.Checksum() == before {
		t.Fatal("100 steps did not change the state")
	}
	after := s.Checksum()
	s.Load(&snap)
	if s.Checksum() != before {
		t.Fatal("Load did not restore the saved state")
	}
	for range 100 {
		s.Step(in)
	}
	if s.Checksum() != after {
		t.Fatal("re-stepping after Load diverged")
	}
}

func TestBotInputIsPure(t *testing.T) {
	s, _ := run(4, 3, 500)
	before := s.Checksum()
	var a, b [4]Input
	for i := range a {
		a[i] = BotInput(s, i)
		b[i] = BotInput(s, i)
	}
	if a != b || s.Checksum() != before {
		t.Fatal("BotInput is not a pure function of the state")
	}
	if BotInput(s, -1) != 0 || BotInput(s, 4) != 0 {
		t.Fatal("BotInput for a missing player is not 0")
	}
}
