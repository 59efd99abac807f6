package arena_test

import (
	"fmt"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// Two bots play a whole match.
func Example() {
	s := arena.New(2, 1)
	in := make([]arena.Input, 2)
	for s.Phase != arena.PhaseMatchOver {
		for p := range in {
			in[p] = arena.BotInput(s, p)
		}
		s.Step(in)
	}
	fmt.Printf("player %d wins %d-%d after %d rounds\n",
		s.MatchWinner, s.Players[s.MatchWinner].Wins, s.Players[1-s.MatchWinner].Wins, s.Round)
	// Output: player 1 wins 3-1 after 4 rounds
}

// A rollback session rewinds with Load and re-steps with corrected inputs.
func ExampleState_Load() {
	s := arena.New(2, 7)
	var snap arena.State
	s.Save(&snap)

	s.Step([]arena.Input{arena.InputLeft, 0}) // predicted: player 1 idle
	s.Load(&snap)                             // player 1's real input arrives
	s.Step([]arena.Input{arena.InputLeft, arena.InputRight})

	straight := arena.New(2, 7)
	straight.Step([]arena.Input{arena.InputLeft, arena.InputRight})
	fmt.Println(s.Checksum() == straight.Checksum())
	// Output: true
}
