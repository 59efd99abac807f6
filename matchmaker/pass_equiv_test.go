package matchmaker

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// randomPool enqueues the same random tickets into two matchmakers (one
// using the pass's indexes, one the naive scan) over several passes with
// the clock advancing, and requires identical matches at every pass.
func comparePasses(t *testing.T, q QueueConfig, seed int64, tickets int, spread float64, parties bool) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1000, 0)}
	mk := func(naive bool) *Matchmaker {
		n := 0
		m := New(Config{Now: clk.Now, NewID: func() string { n++; return fmt.Sprintf("id%d", n) }})
		m.naive = naive
		if err := m.AddQueue(q); err != nil {
			t.Fatal(err)
		}
		return m
	}
	fast, slow := mk(false), mk(true)
	rng := rand.New(rand.NewSource(seed))
	regions := []string{"eu", "us"}
	player := 0
	for pass := 0; pass < 5; pass++ {
		for i := 0; i < tickets; i++ {
			size := 1
			if parties {
				size = 1 + rng.Intn(min(q.Shape.TeamSize, 3))
			}
			tk := Ticket{ID: fmt.Sprintf("t%d-%d", pass, i), Queue: q.Name,
				Strings: map[string]string{"region": regions[rng.Intn(2)]},
				Numbers: map[string]float64{"level": float64(rng.Intn(40))}}
			for j := 0; j < size; j++ {
				player++
				// Some exact ties in skill, to exercise the order by enqueue.
				mu := 25 + float64(int(rng.NormFloat64()*spread*4))/4
				tk.Players = append(tk.Players, Player{ID: fmt.Sprintf("p%d", player), Rating: Rating{Mu: mu, Sigma: 3}})
			}
			_, err1 := fast.Enqueue(tk)
			_, err2 := slow.Enqueue(tk)
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("enqueue disagrees: %v vs %v", err1, err2)
			}
			clk.Advance(time.Duration(rng.Intn(300)) * time.Millisecond)
		}
		a, b := fast.Process(), slow.Process()
		if len(a.Matches) != len(b.Matches) {
			t.Fatalf("pass %d: %d matches with indexes, %d with the naive scan", pass, len(a.Matches), len(b.Matches))
		}
		for i := range a.Matches {
			ma, mb := a.Matches[i], b.Matches[i]
			if !slices.Equal(ticketIDs(ma), ticketIDs(mb)) {
				t.Fatalf("pass %d match %d: tickets %v with indexes, %v with the naive scan", pass, i, ticketIDs(ma), ticketIDs(mb))
			}
			for j := range ma.Tickets {
				if ma.Tickets[j].Team != mb.Tickets[j].Team {
					t.Fatalf("pass %d match %d: teams differ", pass, i)
				}
			}
		}
		if len(a.Matches) > 0 {
			t.Logf("pass %d: %d matches agree", pass, len(a.Matches))
		}
	}
}

func TestPassMatchesNaiveScan(t *testing.T) {
	skill := Rule{Kind: RuleSkill, Value: 1, Steps: []Step{{After: 2 * time.Second, Value: 3}, {After: 6 * time.Second, Value: 8}}}
	cases := []struct {
		name    string
		q       QueueConfig
		spread  float64
		parties bool
	}{
		{"1v1 dense", QueueConfig{Name: "q", Rules: []Rule{skill}}, 3, false},
		{"1v1 sparse", QueueConfig{Name: "q", Rules: []Rule{skill}}, 300, false},
		{"1v1 region and level", QueueConfig{Name: "q", Rules: []Rule{skill,
			{Kind: RuleEqual, Key: "region"}, {Kind: RuleDifference, Key: "level", Value: 5, Steps: []Step{{After: 4 * time.Second, Value: 20}}}}}, 5, false},
		{"5v5 parties", QueueConfig{Name: "q", Shape: Shape{TeamSize: 5}, Rules: []Rule{skill}}, 4, true},
		{"3v3 parties sparse", QueueConfig{Name: "q", Shape: Shape{TeamSize: 3}, Rules: []Rule{skill}}, 60, true},
		{"ffa relaxed", QueueConfig{Name: "q", Shape: Shape{Teams: 6, MinTeams: 4, MinTeamsSteps: []Step{{After: 3 * time.Second, Value: 2}}}, Rules: []Rule{skill}}, 6, false},
		{"no skill rule", QueueConfig{Name: "q", Shape: Shape{TeamSize: 2}, Rules: []Rule{{Kind: RuleDifference, Key: "level", Value: 3}}}, 5, true},
		{"small max scan", QueueConfig{Name: "q", MaxScan: 2, Shape: Shape{TeamSize: 4}, Rules: []Rule{skill, {Kind: RuleDifference, Key: "level", Value: 6}}}, 4, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for seed := int64(1); seed <= 3; seed++ {
				comparePasses(t, c.q, seed, 150, c.spread, c.parties)
			}
		})
	}
}

func TestFirstFrom(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for _, n := range []int{0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 71, 72, 73, 127, 128, 129, 300, 1000} {
		for _, vals := range []int{3, 20, 1000} {
			s := make([]uint64, n)
			for i := range s {
				s[i] = uint64(rng.Intn(vals))
			}
			slices.Sort(s)
			var c, mid []uint64
			for i := 0; i < n; i += skillBlock {
				c = append(c, s[i])
			}
			for i := 0; i < n; i += skillLine {
				mid = append(mid, s[i])
			}
			for x := uint64(0); x <= uint64(vals); x++ {
				for _, orEqual := range []bool{false, true} {
					want := 0
					for want < n && !(s[want] > x || orEqual && s[want] == x) {
						want++
					}
					if got := firstFrom(s, mid, c, x, orEqual); got != want {
						t.Fatalf("n %d: firstFrom(%v, orEqual %v) = %d, want %d", n, x, orEqual, got, want)
					}
				}
			}
			for _, orEqual := range []bool{false, true} {
				if got := firstFrom(s, mid, c, ^uint64(0), orEqual); got != n {
					t.Fatalf("n %d: firstFrom(max, orEqual %v) = %d, want %d", n, orEqual, got, n)
				}
			}
		}
	}
}
