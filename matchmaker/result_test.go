package matchmaker

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// Passes build their matches in room that Enqueue reserved and hand each
// Result only the part it filled. A caller may keep every Result and
// append to its slices: no later pass writes into a Result handed out, and
// nothing a caller appends reaches a later pass. A twin matchmaker whose
// Results nobody touches makes the same matches.
func TestResultsHeldAcrossPasses(t *testing.T) {
	duo := QueueConfig{Name: "duo", Shape: Shape{TeamSize: 2}, Rules: []Rule{{Kind: RuleSkill, Value: 3}}}
	duel := QueueConfig{Name: "duel", Rules: []Rule{{Kind: RuleSkill, Value: 1, Steps: []Step{{After: 2 * time.Second, Value: 3}}}}}
	m, clk := newTestMM(t, duel, duo)
	twin, twinClk := newTestMM(t, duel, duo)
	rng := rand.New(rand.NewSource(1))
	type held struct {
		res  Result
		snap string
	}
	var kept []held
	n := 0
	for round := 0; round < 16; round++ {
		// Bursts of different sizes, so the room is sometimes used up and
		// made anew, and sometimes left partly filled; the last rounds
		// enqueue nothing, so passes whose windows widened must find room
		// of their own.
		burst := 50 + rng.Intn(400)
		if round >= 12 {
			burst = 0
		}
		for i := 0; i < burst; i++ {
			n++
			tk := solo("duel", fmt.Sprintf("d%d", n), 25+rng.NormFloat64()*4)
			if rng.Intn(3) == 0 {
				tk = Ticket{ID: fmt.Sprintf("u%d", n), Queue: "duo", Players: []Player{
					{ID: fmt.Sprintf("u%d-a", n), Rating: Rating{Mu: 25 + rng.NormFloat64()*4, Sigma: 5}},
					{ID: fmt.Sprintf("u%d-b", n), Rating: Rating{Mu: 25 + rng.NormFloat64()*4, Sigma: 5}}}}
				if rng.Intn(2) == 0 {
					tk.Players = tk.Players[:1]
				}
			}
			mustEnqueue(t, m, tk)
			mustEnqueue(t, twin, tk)
		}
		clk.Advance(time.Second)
		twinClk.Advance(time.Second)
		res, want := m.Process(), twin.Process()
		if got, w := fmt.Sprint(res), fmt.Sprint(want); got != w {
			t.Fatalf("round %d: a pass after Results were kept and appended to differs:\n got %.300s\nwant %.300s", round, got, w)
		}
		if len(res.Matches) == 0 {
			if round < 12 {
				t.Fatalf("round %d: no match", round)
			}
			continue
		}
		if cap(res.Matches) != len(res.Matches) {
			t.Fatalf("round %d: Matches has room past its length (%d of %d): an append would write where a later pass builds", round, len(res.Matches), cap(res.Matches))
		}
		// The caller writes to what it was handed, and keeps it.
		first := &res.Matches[0]
		first.Teams[0] = append(first.Teams[0], Player{ID: "intruder"})
		first.Tickets = append(first.Tickets, MatchedTicket{Ticket: Ticket{ID: "intruder"}})
		first.WinProbability = append(first.WinProbability, 1)
		more := append(res.Matches, Match{ID: "intruder"})
		kept = append(kept, held{res, fmt.Sprint(res)}, held{Result{Matches: more}, fmt.Sprint(Result{Matches: more})})
	}
	for i, h := range kept {
		if got := fmt.Sprint(h.res); got != h.snap {
			t.Fatalf("held Result %d changed after later passes:\n got %.300s\nwant %.300s", i, got, h.snap)
		}
	}
}

// Backfills take room that Enqueue reserved for new matches (it counts
// only what the waiting players could make on their own): a pass that
// serves one and then makes new matches finds room of its own, and the
// next pass writes nowhere in the Result it handed out.
func TestBackfillAndNewMatchesShareRoom(t *testing.T) {
	m, clk := newTestMM(t, QueueConfig{Name: "duel"})
	for i := 0; i < 3; i++ {
		mustEnqueue(t, m, solo("duel", fmt.Sprint(i), 25))
		clk.Advance(tick)
	}
	if _, err := m.RequestBackfill(BackfillRequest{Queue: "duel", Session: "s1",
		Teams: [][]Player{{}, {{ID: "y"}}}, OpenSlots: []int{1}}); err != nil {
		t.Fatal(err)
	}
	res := m.Process()
	if len(res.Matches) != 2 || res.Matches[0].Backfill == "" || fmt.Sprint(ticketIDs(res.Matches[0])) != "[0]" ||
		fmt.Sprint(ticketIDs(res.Matches[1])) != "[1 2]" {
		t.Fatalf("want the backfill with 0, then 1 with 2; got %+v", res.Matches)
	}
	if cap(res.Matches) != len(res.Matches) {
		t.Fatalf("Matches has room past its length (%d of %d)", len(res.Matches), cap(res.Matches))
	}
	snap := fmt.Sprint(res)
	for i := 3; i < 9; i++ {
		mustEnqueue(t, m, solo("duel", fmt.Sprint(i), 25))
	}
	if next := m.Process(); len(next.Matches) != 3 {
		t.Fatalf("%d matches in the next pass, want 3", len(next.Matches))
	}
	if got := fmt.Sprint(res); got != snap {
		t.Fatalf("a held Result changed:\n got %s\nwant %s", got, snap)
	}
}
