package matchmaker_test

import (
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
)

// A 1v1 queue whose skill window widens after 10 seconds, stepped with a
// fake clock.
func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := matchmaker.New(matchmaker.Config{Now: func() time.Time { return now }})
	_ = m.AddQueue(matchmaker.QueueConfig{Name: "duel", Rules: []matchmaker.Rule{{
		Kind: matchmaker.RuleSkill, Value: 2,
		Steps: []matchmaker.Step{{After: 10 * time.Second, Value: 5}},
	}}})
	_, _ = m.Enqueue(matchmaker.Ticket{Queue: "duel", Players: []matchmaker.Player{{ID: "ann", Rating: matchmaker.Rating{Mu: 25, Sigma: 3}}}})
	_, _ = m.Enqueue(matchmaker.Ticket{Queue: "duel", Players: []matchmaker.Player{{ID: "bob", Rating: matchmaker.Rating{Mu: 29, Sigma: 3}}}})

	fmt.Println("matches now:", len(m.Process().Matches))
	now = now.Add(10 * time.Second)
	match := m.Process().Matches[0]
	fmt.Println("after 10s:", match.Teams[0][0].ID, "vs", match.Teams[1][0].ID, "host", match.Host)
	// Output:
	// matches now: 0
	// after 10s: ann vs bob host ann
}

// Rating a finished 2v2: the second team won.
func ExampleRater_Rate() {
	r := matchmaker.NewRater(matchmaker.RatingConfig{})
	teams := [][]matchmaker.Rating{
		{r.NewRating(), r.NewRating()},
		{r.NewRating(), r.NewRating()},
	}
	_ = r.Rate(teams, []float64{2, 1})
	fmt.Printf("loser %.3f, winner %.3f, winner ordinal %.3f\n", teams[0][0].Mu, teams[1][0].Mu, teams[1][0].Ordinal())
	// Output:
	// loser 23.036, winner 26.964, winner ordinal 2.430
}
