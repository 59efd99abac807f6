package match_test

import (
	"context"
	"fmt"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// The headless mode: bots play a whole match as fast as possible.
func ExampleRun() {
	sess, _ := match.NewLocal(match.LocalConfig{Players: 2, Seed: 1, AllBots: true})
	defer sess.Close()
	r, _ := match.Run(context.Background(), sess, match.RunConfig{Fast: true})
	fmt.Println(r.Phase, "winner", r.Winner, "wins", r.Wins)
	// Output: match over winner 1 wins [1 3]
}
