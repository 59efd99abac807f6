package matchmaker

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// tick is the resolution of the boundary tests: one step of the fake clock.
const tick = time.Millisecond

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time                      { return c.t }
func (c *fakeClock) Advance(d time.Duration)             { c.t = c.t.Add(d) }
func (c *fakeClock) Set(base time.Time, d time.Duration) { c.t = base.Add(d) }

func newTestMM(t *testing.T, qs ...QueueConfig) (*Matchmaker, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	n := 0
	m := New(Config{Now: clk.Now, NewID: func() string { n++; return fmt.Sprintf("id%d", n) }})
	for _, q := range qs {
		if err := m.AddQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	return m, clk
}

func solo(queue, id string, mu float64) Ticket {
	return Ticket{ID: id, Queue: queue, Players: []Player{{ID: "p-" + id, Rating: Rating{Mu: mu, Sigma: 5}}}}
}

func mustEnqueue(t *testing.T, m *Matchmaker, tk Ticket) string {
	t.Helper()
	id, err := m.Enqueue(tk)
	if err != nil {
		t.Fatalf("enqueue %s: %v", tk.ID, err)
	}
	return id
}

func ticketIDs(mt Match) []string {
	var ids []string
	for _, t := range mt.Tickets {
		ids = append(ids, t.Ticket.ID)
	}
	return ids
}

func TestOneVsOne(t *testing.T) {
	m, _ := newTestMM(t, QueueConfig{Name: "duel"})
	mustEnqueue(t, m, solo("duel", "a", 25))
	if res := m.Process(); len(res.Matches) != 0 {
		t.Fatalf("one ticket matched: %+v", res.Matches)
	}
	mustEnqueue(t, m, solo("duel", "b", 30))
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatalf("got %d matches", len(res.Matches))
	}
	mt := res.Matches[0]
	if len(mt.Teams) != 2 || len(mt.Teams[0]) != 1 || len(mt.Teams[1]) != 1 {
		t.Fatalf("teams %+v", mt.Teams)
	}
	if mt.Host != "p-a" || mt.Session != mt.ID || mt.ID == "" {
		t.Errorf("host %q session %q id %q", mt.Host, mt.Session, mt.ID)
	}
	if mt.Quality <= 0 || mt.Quality > 1 || len(mt.WinProbability) != 2 || mt.WinProbability[1] <= 0.5 {
		t.Errorf("quality %v win %v", mt.Quality, mt.WinProbability)
	}
	if _, err := m.Status("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("matched ticket still has status: %v", err)
	}
	if m.TicketOf("p-a") != "" {
		t.Error("matched player still queued")
	}
}

// boundary enqueues the tickets at time zero, then checks that no match
// forms at after-tick and one does at after.
func boundary(t *testing.T, q QueueConfig, after time.Duration, tickets ...Ticket) Match {
	t.Helper()
	m, clk := newTestMM(t, q)
	base := clk.t
	for _, tk := range tickets {
		mustEnqueue(t, m, tk)
	}
	if after > tick {
		clk.Set(base, after-tick)
		if res := m.Process(); len(res.Matches) != 0 {
			t.Fatalf("%s: matched one tick early (at %v): %v", q.Name, after-tick, ticketIDs(res.Matches[0]))
		}
	}
	clk.Set(base, after)
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatalf("%s: %d matches at %v, want 1", q.Name, len(res.Matches), after)
	}
	return res.Matches[0]
}

func TestSkillWindowSteps(t *testing.T) {
	q := QueueConfig{Name: "ranked", Rules: []Rule{{Kind: RuleSkill, Value: 100, Steps: []Step{
		{After: 10 * time.Second, Value: 200}, {After: 30 * time.Second, Value: 400}}}}}
	t.Run("initial", func(t *testing.T) { boundary(t, q, 0, solo("ranked", "a", 1000), solo("ranked", "b", 1100)) })
	t.Run("first step", func(t *testing.T) {
		boundary(t, q, 10*time.Second, solo("ranked", "a", 1000), solo("ranked", "b", 1101))
	})
	t.Run("second step", func(t *testing.T) {
		boundary(t, q, 30*time.Second, solo("ranked", "a", 1000), solo("ranked", "b", 1400))
	})
	t.Run("never beyond", func(t *testing.T) {
		m, clk := newTestMM(t, q)
		mustEnqueue(t, m, solo("ranked", "a", 1000))
		mustEnqueue(t, m, solo("ranked", "b", 1401))
		clk.Advance(4 * time.Minute)
		if res := m.Process(); len(res.Matches) != 0 {
			t.Fatal("matched beyond the widest window")
		}
	})
}

func TestDifferenceRuleSteps(t *testing.T) {
	q := QueueConfig{Name: "lvl", Rules: []Rule{{Kind: RuleDifference, Key: "level", Value: 4, Steps: []Step{{After: 5 * time.Second, Value: 5}}}}}
	a, b := solo("lvl", "a", 25), solo("lvl", "b", 25)
	a.Numbers = map[string]float64{"level": 10}
	b.Numbers = map[string]float64{"level": 15}
	boundary(t, q, 5*time.Second, a, b)
}

func TestEqualRule(t *testing.T) {
	relaxed := QueueConfig{Name: "modes", Rules: []Rule{{Kind: RuleEqual, Key: "mode", Steps: []Step{{After: 20 * time.Second, Off: true}}}}}
	a, b := solo("modes", "a", 25), solo("modes", "b", 25)
	a.Strings = map[string]string{"mode": "ctf"}
	b.Strings = map[string]string{"mode": "tdm"}
	boundary(t, relaxed, 20*time.Second, a, b)

	hard := QueueConfig{Name: "modes", Rules: []Rule{{Kind: RuleEqual, Key: "mode"}}, TTL: -1}
	m, clk := newTestMM(t, hard)
	mustEnqueue(t, m, a)
	mustEnqueue(t, m, b)
	clk.Advance(time.Hour)
	if res := m.Process(); len(res.Matches) != 0 {
		t.Fatal("different modes matched")
	}
	c := solo("modes", "c", 25)
	c.Strings = map[string]string{"mode": "tdm"}
	mustEnqueue(t, m, c)
	res := m.Process()
	if len(res.Matches) != 1 || fmt.Sprint(ticketIDs(res.Matches[0])) != "[b c]" {
		t.Fatalf("want b with c, got %+v", res.Matches)
	}
}

func TestRangeRuleSteps(t *testing.T) {
	q := QueueConfig{Name: "bracket", Rules: []Rule{{Kind: RuleRange, Key: "mmr", Min: 0, Max: 40, Steps: []Step{{After: 5 * time.Second, Value: 10}}}}}
	a, b := solo("bracket", "a", 25), solo("bracket", "b", 25)
	a.Numbers = map[string]float64{"mmr": 50}
	b.Numbers = map[string]float64{"mmr": 20}
	boundary(t, q, 5*time.Second, a, b)
}

func TestLatencyRuleSteps(t *testing.T) {
	q := QueueConfig{Name: "ping", Rules: []Rule{{Kind: RuleLatency, Value: 60, Steps: []Step{{After: 10 * time.Second, Value: 95}}}}}
	a, b := solo("ping", "a", 25), solo("ping", "b", 25)
	a.Latencies = map[string]float64{"eu": 30, "us": 120}
	b.Latencies = map[string]float64{"eu": 90, "us": 40}
	mt := boundary(t, q, 10*time.Second, a, b)
	if mt.Region != "eu" {
		t.Errorf("region %q, want eu", mt.Region)
	}
}

func TestTagsRule(t *testing.T) {
	q := QueueConfig{Name: "tags", Rules: []Rule{{Kind: RuleTags, Steps: []Step{{After: 15 * time.Second, Off: true}}}}}
	a, b := solo("tags", "a", 25), solo("tags", "b", 25)
	a.Tags = []string{"ctf"}
	b.Tags = []string{"tdm"}
	boundary(t, q, 15*time.Second, a, b)

	m, _ := newTestMM(t, q)
	mustEnqueue(t, m, a)
	mustEnqueue(t, m, b)
	c := solo("tags", "c", 25)
	c.Tags = []string{"koth", "tdm"}
	mustEnqueue(t, m, c)
	res := m.Process()
	if len(res.Matches) != 1 || fmt.Sprint(ticketIDs(res.Matches[0])) != "[b c]" {
		t.Fatalf("want b with c, got %+v", res.Matches)
	}
}

func TestFreeForAllRelaxation(t *testing.T) {
	q := QueueConfig{Name: "ffa", Shape: Shape{Teams: 8, TeamsMultiple: 2, MinTeamsSteps: []Step{
		{After: 20 * time.Second, Value: 6}, {After: 40 * time.Second, Value: 4}}}}
	m, clk := newTestMM(t, q)
	base := clk.t
	for i := 0; i < 5; i++ {
		mustEnqueue(t, m, solo("ffa", fmt.Sprint(i), 25))
		clk.Advance(tick)
	}
	for _, at := range []time.Duration{20*time.Second - tick, 20 * time.Second, 40*time.Second - tick} {
		clk.Set(base, at)
		if res := m.Process(); len(res.Matches) != 0 {
			t.Fatalf("matched at %v: %v", at, ticketIDs(res.Matches[0]))
		}
	}
	clk.Set(base, 40*time.Second)
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatalf("%d matches at 40s", len(res.Matches))
	}
	if got := fmt.Sprint(ticketIDs(res.Matches[0])); got != "[0 1 2 3]" {
		t.Errorf("matched %s, want the four oldest", got)
	}
	if len(res.Matches[0].Teams) != 4 {
		t.Errorf("%d teams", len(res.Matches[0].Teams))
	}
	if st, _ := m.Stats("ffa"); st.Tickets != 1 {
		t.Errorf("%d left, want 1", st.Tickets)
	}
	// A full lobby needs no wait.
	m2, _ := newTestMM(t, q)
	for i := 0; i < 8; i++ {
		mustEnqueue(t, m2, solo("ffa", fmt.Sprint(i), 25))
	}
	if res := m2.Process(); len(res.Matches) != 1 || len(res.Matches[0].Teams) != 8 {
		t.Fatalf("full lobby: %+v", res.Matches)
	}
}

func TestFairnessOldestCompatibleFirst(t *testing.T) {
	q := QueueConfig{Name: "r", Rules: []Rule{{Kind: RuleSkill, Value: 100}}}
	m, clk := newTestMM(t, q)
	mustEnqueue(t, m, solo("r", "old", 1000))
	clk.Advance(time.Second)
	mustEnqueue(t, m, solo("r", "far", 2000)) // incompatible with everyone
	clk.Advance(time.Second)
	mustEnqueue(t, m, solo("r", "older-compatible", 1090))
	clk.Advance(time.Second)
	mustEnqueue(t, m, solo("r", "closest", 1001))
	res := m.Process()
	if len(res.Matches) != 1 || fmt.Sprint(ticketIDs(res.Matches[0])) != "[old older-compatible]" {
		t.Fatalf("got %+v", res.Matches)
	}
}

func TestPartiesNeverSplitAndNoTicketTwice(t *testing.T) {
	q := QueueConfig{Name: "5v5", Shape: Shape{TeamSize: 5}, Rules: []Rule{{Kind: RuleSkill, Value: 4, Steps: []Step{{After: 10 * time.Second, Value: 8}}}}}
	m, clk := newTestMM(t, q)
	rng := rand.New(rand.NewSource(1))
	parties := map[string][]string{}
	seen := map[string]bool{}
	matches := 0
	n := 0
	for round := 0; round < 40; round++ {
		for i := 0; i < 60; i++ {
			size := []int{1, 1, 1, 1, 2, 2, 3, 5}[rng.Intn(8)]
			tk := Ticket{ID: fmt.Sprintf("t%d", n), Queue: "5v5"}
			for j := 0; j < size; j++ {
				tk.Players = append(tk.Players, Player{ID: fmt.Sprintf("t%d.%d", n, j), Rating: Rating{Mu: 25 + rng.NormFloat64()*4, Sigma: 3}})
				parties[tk.ID] = append(parties[tk.ID], tk.Players[j].ID)
			}
			mustEnqueue(t, m, tk)
			n++
			if rng.Intn(10) == 0 {
				_ = m.Cancel(tk.ID)
				delete(parties, tk.ID)
			}
		}
		clk.Advance(time.Second)
		for _, mt := range m.Process().Matches {
			matches++
			if len(mt.Teams) != 2 || len(mt.Teams[0]) != 5 || len(mt.Teams[1]) != 5 {
				t.Fatalf("bad teams %v", mt.Teams)
			}
			onTeam := map[string]int{}
			for ti, team := range mt.Teams {
				for _, p := range team {
					onTeam[p.ID] = ti
				}
			}
			for _, tk := range mt.Tickets {
				if seen[tk.Ticket.ID] {
					t.Fatalf("ticket %s in two matches", tk.Ticket.ID)
				}
				seen[tk.Ticket.ID] = true
				want, ok := parties[tk.Ticket.ID]
				if !ok {
					t.Fatalf("cancelled or unknown ticket %s matched", tk.Ticket.ID)
				}
				for _, pid := range want {
					if team, ok := onTeam[pid]; !ok || team != tk.Team {
						t.Fatalf("party %s split: player %s on team %d, ticket on %d", tk.Ticket.ID, pid, team, tk.Team)
					}
				}
			}
		}
	}
	if matches < 50 {
		t.Fatalf("only %d matches", matches)
	}
}

func TestTeamsBalanced(t *testing.T) {
	q := QueueConfig{Name: "2v2", Shape: Shape{TeamSize: 2}}
	m, _ := newTestMM(t, q)
	for i, mu := range []float64{10, 20, 30, 40} {
		mustEnqueue(t, m, solo("2v2", fmt.Sprint(i), mu))
	}
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatal("no match")
	}
	var sums [2]float64
	for ti, team := range res.Matches[0].Teams {
		for _, p := range team {
			sums[ti] += p.Rating.Mu
		}
	}
	if sums[0] != 50 || sums[1] != 50 {
		t.Fatalf("team sums %v, want 50/50", sums)
	}
	if p := res.Matches[0].WinProbability; math.Abs(p[0]-0.5) > 1e-9 {
		t.Errorf("win probability %v for equal teams", p)
	}
}

func TestBackfillServedFirst(t *testing.T) {
	q := QueueConfig{Name: "2v2", Shape: Shape{TeamSize: 2}}
	m, clk := newTestMM(t, q)
	for i := 0; i < 4; i++ {
		mustEnqueue(t, m, solo("2v2", fmt.Sprint(i), 25))
		clk.Advance(tick)
	}
	id, err := m.RequestBackfill(BackfillRequest{Queue: "2v2", Session: "s1", Host: "h",
		Teams: [][]Player{{{ID: "h"}, {ID: "x"}}, {{ID: "y"}}}, OpenSlots: []int{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatalf("%d matches, want only the backfill", len(res.Matches))
	}
	mt := res.Matches[0]
	if mt.Backfill != id || mt.Session != "s1" || mt.Host != "h" || fmt.Sprint(ticketIDs(mt)) != "[0]" || mt.Tickets[0].Team != 1 {
		t.Fatalf("backfill match %+v", mt)
	}
	if len(mt.Teams[1]) != 2 {
		t.Errorf("team 1 %+v", mt.Teams[1])
	}
	if err := m.CancelBackfill(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("served request still cancellable: %v", err)
	}
}

func TestBackfillPartyFitsSlots(t *testing.T) {
	q := QueueConfig{Name: "3v3", Shape: Shape{TeamSize: 3}}
	m, _ := newTestMM(t, q)
	duo := Ticket{ID: "duo", Queue: "3v3", Players: []Player{{ID: "d1"}, {ID: "d2"}}}
	mustEnqueue(t, m, duo)
	mustEnqueue(t, m, solo("3v3", "s", 25))
	if _, err := m.RequestBackfill(BackfillRequest{Queue: "3v3", Session: "s1",
		Teams: [][]Player{{{ID: "a"}}, {{ID: "b"}, {ID: "c"}}}, OpenSlots: []int{2, 1}}); err != nil {
		t.Fatal(err)
	}
	res := m.Process()
	if len(res.Matches) != 1 {
		t.Fatalf("%d matches", len(res.Matches))
	}
	for _, tk := range res.Matches[0].Tickets {
		if tk.Ticket.ID == "duo" && tk.Team != 0 || tk.Ticket.ID == "s" && tk.Team != 1 {
			t.Errorf("ticket %s on team %d", tk.Ticket.ID, tk.Team)
		}
	}
}

func TestCancelAndTTL(t *testing.T) {
	q := QueueConfig{Name: "q", TTL: time.Minute}
	m, clk := newTestMM(t, q)
	mustEnqueue(t, m, solo("q", "a", 25))
	if err := m.Cancel("a"); err != nil {
		t.Fatal(err)
	}
	if err := m.Cancel("a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second cancel: %v", err)
	}
	mustEnqueue(t, m, solo("q", "b", 25))
	base := clk.t
	clk.Set(base, time.Minute-tick)
	if res := m.Process(); len(res.Expired) != 0 {
		t.Fatal("expired a tick early")
	}
	clk.Set(base, time.Minute)
	res := m.Process()
	if len(res.Expired) != 1 || res.Expired[0].ID != "b" {
		t.Fatalf("expired %+v", res.Expired)
	}
	// The player may queue again.
	mustEnqueue(t, m, solo("q", "b", 25))
	st, _ := m.Stats("q")
	if st.Canceled != 1 || st.Expired != 1 || st.Tickets != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestStatusAndStats(t *testing.T) {
	m, clk := newTestMM(t, QueueConfig{Name: "q", Shape: Shape{Teams: 4}})
	for i := 0; i < 3; i++ {
		mustEnqueue(t, m, solo("q", fmt.Sprint(i), 25))
		clk.Advance(time.Second)
	}
	st, err := m.Status("2")
	if err != nil || st.Ahead != 2 || st.Waited != time.Second {
		t.Fatalf("status %+v %v", st, err)
	}
	qs, _ := m.Stats("q")
	if qs.Tickets != 3 || qs.Players != 3 || qs.WaitP50 != 2*time.Second || qs.WaitP95 != 3*time.Second {
		t.Fatalf("stats %+v", qs)
	}
	mustEnqueue(t, m, solo("q", "3", 25))
	m.Process()
	qs, _ = m.Stats("q")
	if qs.Matches != 1 || qs.Matched != 4 || qs.MatchedP95 != 3*time.Second {
		t.Fatalf("stats after match %+v", qs)
	}
}

func TestEnqueueErrors(t *testing.T) {
	m, _ := newTestMM(t, QueueConfig{Name: "q", Shape: Shape{TeamSize: 2}, MaxTickets: 2})
	cases := []struct {
		name string
		tk   Ticket
		want error
	}{
		{"unknown queue", Ticket{Queue: "nope", Players: []Player{{ID: "x"}}}, ErrUnknownQueue},
		{"no players", Ticket{Queue: "q"}, ErrInvalidTicket},
		{"party too big", Ticket{Queue: "q", Players: []Player{{ID: "1"}, {ID: "2"}, {ID: "3"}}}, ErrInvalidTicket},
		{"same player twice", Ticket{Queue: "q", Players: []Player{{ID: "1"}, {ID: "1"}}}, ErrInvalidTicket},
		{"nan number", Ticket{Queue: "q", Players: []Player{{ID: "1"}}, Numbers: map[string]float64{"x": math.NaN()}}, ErrInvalidTicket},
		{"bad rating", Ticket{Queue: "q", Players: []Player{{ID: "1", Rating: Rating{Mu: 1, Sigma: -1}}}}, ErrInvalidTicket},
		{"negative latency", Ticket{Queue: "q", Players: []Player{{ID: "1"}}, Latencies: map[string]float64{"eu": -1}}, ErrInvalidTicket},
	}
	for _, c := range cases {
		if _, err := m.Enqueue(c.tk); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	mustEnqueue(t, m, Ticket{ID: "a", Queue: "q", Players: []Player{{ID: "1"}}})
	if _, err := m.Enqueue(Ticket{ID: "a", Queue: "q", Players: []Player{{ID: "2"}}}); !errors.Is(err, ErrDuplicateTicket) {
		t.Errorf("duplicate ticket: %v", err)
	}
	if _, err := m.Enqueue(Ticket{Queue: "q", Players: []Player{{ID: "1"}}}); !errors.Is(err, ErrAlreadyQueued) {
		t.Errorf("player twice: %v", err)
	}
	mustEnqueue(t, m, Ticket{Queue: "q", Players: []Player{{ID: "2"}}})
	_, err := m.Enqueue(Ticket{Queue: "q", Players: []Player{{ID: "3"}}})
	var te *TicketError
	if !errors.Is(err, ErrPoolFull) || !errors.As(err, &te) {
		t.Errorf("pool full: %v", err)
	}
}

func TestQueueErrors(t *testing.T) {
	m := New(Config{})
	bad := []QueueConfig{
		{},
		{Name: "x", Shape: Shape{Teams: 1}},
		{Name: "x", Shape: Shape{Teams: 4, MinTeams: 5}},
		{Name: "x", Shape: Shape{Teams: 5, TeamsMultiple: 2}},
		{Name: "x", Rules: []Rule{{Kind: 99}}},
		{Name: "x", Rules: []Rule{{Kind: RuleDifference}}},
		{Name: "x", Rules: []Rule{{Kind: RuleSkill, Value: math.NaN()}}},
		{Name: "x", Rules: []Rule{{Kind: RuleSkill, Steps: []Step{{After: 2}, {After: 1}}}}},
	}
	for i, q := range bad {
		if err := m.AddQueue(q); !errors.Is(err, ErrInvalidQueue) {
			t.Errorf("%d: %v", i, err)
		}
	}
	if err := m.AddQueue(QueueConfig{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddQueue(QueueConfig{Name: "x"}); !errors.Is(err, ErrQueueExists) {
		t.Errorf("twice: %v", err)
	}
}

func TestPack(t *testing.T) {
	cases := []struct {
		sizes, caps []int
		ok          bool
	}{
		{[]int{2, 2, 2, 2, 2}, []int{5, 5}, false},
		{[]int{3, 2, 3, 2}, []int{5, 5}, true},
		{[]int{4, 3, 2, 1}, []int{5, 5}, true},
		{[]int{3, 3, 3}, []int{5, 5}, false},
		{[]int{5, 5}, []int{5, 5}, true},
	}
	for _, c := range cases {
		assign := make([]int, len(c.sizes))
		if got := pack(c.sizes, c.caps, assign); got != c.ok {
			t.Errorf("pack(%v, %v) = %v", c.sizes, c.caps, got)
			continue
		}
		if c.ok {
			fill := make([]int, len(c.caps))
			for i, b := range assign {
				fill[b] += c.sizes[i]
			}
			for b := range fill {
				if fill[b] > c.caps[b] {
					t.Errorf("pack(%v) overfills bin %d: %v", c.sizes, b, fill)
				}
			}
		}
	}
}

func TestTeamsRelaxationWithDuos(t *testing.T) {
	// Up to 4 teams of 2; after 30 s, 2 teams will do.
	q := QueueConfig{Name: "duos", Shape: Shape{TeamSize: 2, Teams: 4, TeamsMultiple: 2, MinTeamsSteps: []Step{{After: 30 * time.Second, Value: 2}}}}
	m, clk := newTestMM(t, q)
	base := clk.t
	for i := 0; i < 3; i++ {
		mustEnqueue(t, m, Ticket{ID: fmt.Sprint(i), Queue: "duos", Players: []Player{{ID: fmt.Sprintf("%d.a", i)}, {ID: fmt.Sprintf("%d.b", i)}}})
		clk.Advance(tick)
	}
	clk.Set(base, 30*time.Second-tick)
	if res := m.Process(); len(res.Matches) != 0 {
		t.Fatal("matched before relaxation")
	}
	clk.Set(base, 30*time.Second)
	res := m.Process()
	// 3 duos = 3 teams, not a multiple of 2: the seed's group cannot be
	// trimmed (teams of 2 need whole parties), so no match; a fourth duo
	// completes a full match at once.
	if len(res.Matches) != 0 {
		t.Fatalf("3 teams matched despite TeamsMultiple 2: %v", ticketIDs(res.Matches[0]))
	}
	mustEnqueue(t, m, Ticket{ID: "3", Queue: "duos", Players: []Player{{ID: "3.a"}, {ID: "3.b"}}})
	res = m.Process()
	if len(res.Matches) != 1 || len(res.Matches[0].Teams) != 4 {
		t.Fatalf("want one full match, got %+v", res.Matches)
	}
	for _, tk := range res.Matches[0].Tickets {
		team := res.Matches[0].Teams[tk.Team]
		if len(team) != 2 || team[0].ID[:1] != team[1].ID[:1] {
			t.Fatalf("duo split: %+v", res.Matches[0].Teams)
		}
	}
}

func TestIncompatibleSeedDoesNotBlockOthers(t *testing.T) {
	// Every candidate fails the seed's latency rule; the seed gives up
	// (after at most MaxScan rejections) and the others still match.
	q := QueueConfig{Name: "q", MaxScan: 5, Rules: []Rule{{Kind: RuleLatency, Value: 50}}}
	m, _ := newTestMM(t, q)
	seed := solo("q", "seed", 25)
	seed.Latencies = map[string]float64{"eu": 10}
	mustEnqueue(t, m, seed)
	for i := 0; i < 20; i++ {
		far := solo("q", fmt.Sprint("far", i), 25)
		far.Latencies = map[string]float64{"us": 10}
		mustEnqueue(t, m, far)
	}
	res := m.Process()
	// The far tickets match each other; the seed stays.
	if len(res.Matches) != 10 {
		t.Fatalf("%d matches, want 10", len(res.Matches))
	}
	for _, mt := range res.Matches {
		if mt.Region != "us" {
			t.Errorf("region %q", mt.Region)
		}
	}
	if _, err := m.Status("seed"); err != nil {
		t.Errorf("seed: %v", err)
	}
}

func TestBackfillValidation(t *testing.T) {
	m, _ := newTestMM(t, QueueConfig{Name: "2v2", Shape: Shape{TeamSize: 2}})
	bad := []BackfillRequest{
		{Queue: "2v2", Session: "s", OpenSlots: []int{0, 0}},
		{Queue: "2v2", Session: "s", OpenSlots: []int{3}},
		{Queue: "2v2", Session: "s", OpenSlots: []int{1, 1, 1}},
		{Queue: "2v2", OpenSlots: []int{1}},
		{Queue: "2v2", Session: "s", Teams: [][]Player{{{ID: "a"}, {ID: "b"}}}, OpenSlots: []int{1}},
	}
	for i, b := range bad {
		if _, err := m.RequestBackfill(b); !errors.Is(err, ErrInvalidBackfill) {
			t.Errorf("%d: %v", i, err)
		}
	}
	if _, err := m.RequestBackfill(BackfillRequest{Queue: "nope", Session: "s", OpenSlots: []int{1}}); !errors.Is(err, ErrUnknownQueue) {
		t.Errorf("unknown queue: %v", err)
	}
}

// TestSeedsInAgeOrder: with every ticket compatible, matches pair the
// tickets strictly by age, whatever was cancelled in between.
func TestSeedsInAgeOrder(t *testing.T) {
	m, clk := newTestMM(t, QueueConfig{Name: "q"})
	rng := rand.New(rand.NewSource(3))
	var order []string
	for i := 0; i < 200; i++ {
		id := fmt.Sprint(i)
		mustEnqueue(t, m, solo("q", id, 25+rng.NormFloat64()*10))
		clk.Advance(tick)
		order = append(order, id)
		if rng.Intn(4) == 0 {
			victim := rng.Intn(len(order))
			if m.Cancel(order[victim]) == nil {
				order = append(order[:victim], order[victim+1:]...)
			}
		}
	}
	res := m.Process()
	if len(res.Matches) != len(order)/2 {
		t.Fatalf("%d matches for %d tickets", len(res.Matches), len(order))
	}
	for i, mt := range res.Matches {
		if got, want := fmt.Sprint(ticketIDs(mt)), fmt.Sprint(order[2*i:2*i+2]); got != want {
			t.Fatalf("match %d = %s, want %s", i, got, want)
		}
	}
}

// TestEnqueueSince: a ticket put back with the time it was first enqueued
// keeps its wait: its skill window is as wide as that wait allows at
// once, and Status and EnqueuedAt report it. Enqueue order stays wait
// order: a ticket older than those waiting goes before them (Status's
// Ahead, and it seeds first), a future time is moved down to now.
func TestEnqueueSince(t *testing.T) {
	q := QueueConfig{Name: "ranked", Rules: []Rule{{Kind: RuleSkill, Value: 100, Steps: []Step{
		{After: 10 * time.Second, Value: 200}, {After: 30 * time.Second, Value: 400}}}}}
	m, clk := newTestMM(t, q)
	now := clk.Now()
	if _, err := m.EnqueueSince(solo("ranked", "a", 1000), now.Add(-40*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnqueueSince(solo("ranked", "old", 5000), now.Add(-50*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.EnqueueSince(solo("ranked", "future", 9000), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ahead := map[string]int{"old": 0, "a": 1, "future": 2}
	for id, want := range map[string]time.Duration{"a": 40 * time.Second, "old": 50 * time.Second, "future": 0} {
		st, err := m.Status(id)
		if err != nil || st.Waited != want {
			t.Errorf("%s: waited %v (%v), want %v", id, st.Waited, err, want)
		}
		if st.Ahead != ahead[id] {
			t.Errorf("%s: %d ahead, want %d", id, st.Ahead, ahead[id])
		}
		if at, ok := m.EnqueuedAt(id); !ok || !at.Equal(now.Add(-want)) {
			t.Errorf("%s: enqueued at %v %v, want %v", id, at, ok, now.Add(-want))
		}
	}
	// a has waited 40 s: its window is 400 wide, not the first 100.
	mustEnqueue(t, m, solo("ranked", "b", 1350))
	res := m.Process()
	if len(res.Matches) != 1 || !slices.Equal(slices.Sorted(slices.Values(ticketIDs(res.Matches[0]))), []string{"a", "b"}) {
		t.Fatalf("matches %+v, want a with b (a's wait went on)", res.Matches)
	}
	if _, ok := m.EnqueuedAt("a"); ok {
		t.Error("a matched but still has an enqueue time")
	}
}

// TestEnqueueSinceBusyQueue: a ticket put back in a queue where younger
// tickets wait goes at its place in enqueue order: it keeps its whole
// wait and seeds before the younger ones. Many put back at one place
// keep the order (Status's Ahead) once the seqs between two neighbours
// run out.
func TestEnqueueSinceBusyQueue(t *testing.T) {
	m, clk := newTestMM(t, QueueConfig{Name: "duel"})
	mustEnqueue(t, m, solo("duel", "x", 1000))
	clk.Advance(20 * time.Second)
	mustEnqueue(t, m, solo("duel", "y", 1000))
	clk.Advance(10 * time.Second)
	mustEnqueue(t, m, solo("duel", "z", 1000))
	now := clk.Now()
	if _, err := m.EnqueueSince(solo("duel", "r", 1000), now.Add(-25*time.Second)); err != nil {
		t.Fatal(err)
	}
	st, err := m.Status("r")
	if err != nil || st.Waited != 25*time.Second || st.Ahead != 1 {
		t.Fatalf("r: %+v (%v), want 25s waited, 1 ahead", st, err)
	}
	if st, _ := m.Status("z"); st.Ahead != 3 {
		t.Fatalf("z: %d ahead, want 3", st.Ahead)
	}
	res := m.Process()
	var got []string
	for _, mt := range res.Matches {
		got = append(got, fmt.Sprint(slices.Sorted(slices.Values(ticketIDs(mt)))))
	}
	if want := []string{"[r x]", "[y z]"}; !slices.Equal(got, want) {
		t.Fatalf("matches %v, want %v (r seeds right after x)", got, want)
	}

	// 40 tickets put back at one time, between two waiting ones.
	m, clk = newTestMM(t, QueueConfig{Name: "duel", Rules: []Rule{{Kind: RuleSkill, Value: 1}}})
	mustEnqueue(t, m, solo("duel", "first", 0))
	clk.Advance(10 * time.Second)
	mustEnqueue(t, m, solo("duel", "last", 1e6))
	since := clk.Now().Add(-5 * time.Second)
	for i := range 40 {
		if _, err := m.EnqueueSince(solo("duel", fmt.Sprint("b", i), float64(10_000*(i+1))), since); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		if st, err := m.Status(fmt.Sprint("b", i)); err != nil || st.Ahead != i+1 || st.Waited != 5*time.Second {
			t.Fatalf("b%d: %+v (%v), want %d ahead, 5s waited", i, st, err, i+1)
		}
	}
	if st, _ := m.Status("last"); st.Ahead != 41 {
		t.Fatalf("last: %d ahead, want 41", st.Ahead)
	}
	mustEnqueue(t, m, solo("duel", "new", 2e6))
	if st, _ := m.Status("new"); st.Ahead != 42 {
		t.Fatalf("new: %d ahead, want 42", st.Ahead)
	}
}

// TestRequestBackfillSince: a backfill request put back with the time it
// was made keeps its wait (its rules widen from there), its id, and its
// place before younger requests.
func TestRequestBackfillSince(t *testing.T) {
	q := QueueConfig{Name: "ranked", Shape: Shape{TeamSize: 2}, Rules: []Rule{{Kind: RuleSkill, Value: 100, Steps: []Step{
		{After: 10 * time.Second, Value: 200}, {After: 30 * time.Second, Value: 400}}}}}
	m, clk := newTestMM(t, q)
	now := clk.Now()
	req := func(id, session string) BackfillRequest {
		return BackfillRequest{ID: id, Queue: "ranked", Session: session, Host: "h",
			Teams: [][]Player{{{ID: "h-" + session, Rating: Rating{Mu: 1000, Sigma: 5}}, {ID: "x-" + session, Rating: Rating{Mu: 1000, Sigma: 5}}},
				{{ID: "y-" + session, Rating: Rating{Mu: 1000, Sigma: 5}}}}, OpenSlots: []int{0, 1}}
	}
	// young is requested now, old 40 s ago (after young, in call order).
	if id, err := m.RequestBackfill(req("young", "s1")); err != nil || id != "young" {
		t.Fatalf("request young: %q %v", id, err)
	}
	if id, err := m.RequestBackfillSince(req("old", "s2"), now.Add(-40*time.Second)); err != nil || id != "old" {
		t.Fatalf("request old: %q %v", id, err)
	}
	if _, err := m.RequestBackfillSince(req("old", "s3"), now); !errors.Is(err, ErrDuplicateTicket) {
		t.Fatalf("a second request under the id old: %v", err)
	}
	for id, want := range map[string]time.Duration{"young": 0, "old": 40 * time.Second} {
		if at, ok := m.BackfillRequestedAt(id); !ok || !at.Equal(now.Add(-want)) {
			t.Errorf("%s: requested at %v %v, want %v", id, at, ok, now.Add(-want))
		}
	}
	// A ticket 350 away fits only a window widened by 30 s of wait: old's.
	mustEnqueue(t, m, solo("ranked", "b", 1350))
	res := m.Process()
	if len(res.Matches) != 1 || res.Matches[0].Backfill != "old" || res.Matches[0].Session != "s2" {
		t.Fatalf("matches %+v, want the old request filled (its wait went on)", res.Matches)
	}
	if _, ok := m.BackfillRequestedAt("old"); ok {
		t.Error("old filled but still pending")
	}
	// Both requests fit a ticket at their level: the one made earlier
	// (put back after a younger one) is served first.
	if _, err := m.RequestBackfillSince(req("old2", "s4"), now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	mustEnqueue(t, m, solo("ranked", "c", 1000))
	res = m.Process()
	if len(res.Matches) != 1 || res.Matches[0].Backfill != "old2" {
		t.Fatalf("matches %+v, want old2 served before young", res.Matches)
	}
	if _, ok := m.BackfillRequestedAt("young"); !ok {
		t.Error("young not pending")
	}
}
