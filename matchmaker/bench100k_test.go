package matchmaker

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// spreadPool enqueues tickets holding players players, ratings of standard
// deviation spread, spaced so the pool spans span of wait times.
func spreadPool(tb testing.TB, q QueueConfig, players int, parties bool, spread float64, span time.Duration) *Matchmaker {
	clk := &fakeClock{t: time.Unix(0, 0)}
	m := New(Config{Now: clk.Now, NewID: func() string { return "" }})
	if err := m.AddQueue(q); err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	n := 0
	step := span / time.Duration(players)
	for p := 0; p < players; {
		size := 1
		if parties {
			size = []int{1, 1, 1, 1, 1, 2, 2, 3, 5}[rng.Intn(9)]
		}
		size = min(size, players-p)
		tk := Ticket{ID: fmt.Sprintf("t%d", n), Queue: q.Name}
		for j := 0; j < size; j++ {
			tk.Players = append(tk.Players, Player{ID: fmt.Sprintf("p%d", p+j), Rating: Rating{Mu: 25 + rng.NormFloat64()*spread, Sigma: 3}})
		}
		if _, err := m.Enqueue(tk); err != nil {
			tb.Fatal(err)
		}
		clk.t = clk.t.Add(step * time.Duration(size))
		p += size
		n++
	}
	return m
}

func benchSpread(b *testing.B, q QueueConfig, players int, parties bool, spread float64) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m := spreadPool(b, q, players, parties, spread, 10*time.Second)
		runtime.GC()
		b.StartTimer()
		m.Process()
	}
}

var q1v1 = QueueConfig{Name: "1v1", Rules: []Rule{{Kind: RuleSkill, Value: 1, Steps: []Step{{After: 10 * time.Second, Value: 2}, {After: 30 * time.Second, Value: 4}}}}}
var q5v5 = QueueConfig{Name: "5v5", Shape: Shape{TeamSize: 5}, Rules: []Rule{{Kind: RuleSkill, Value: 2, Steps: []Step{{After: 10 * time.Second, Value: 4}}}}}

// The pass at 10,000 and 100,000 tickets over the same span of waits.
func BenchmarkP1v1_10k(b *testing.B)        { benchSpread(b, q1v1, 10_000, false, 5) }
func BenchmarkP1v1_100k(b *testing.B)       { benchSpread(b, q1v1, 100_000, false, 5) }
func BenchmarkP1v1Sparse_10k(b *testing.B)  { benchSpread(b, q1v1, 10_000, false, 20_000) }
func BenchmarkP1v1Sparse_100k(b *testing.B) { benchSpread(b, q1v1, 100_000, false, 200_000) }
func BenchmarkP5v5_10k(b *testing.B)        { benchSpread(b, q5v5, 10_000, true, 5) }
func BenchmarkP5v5_100k(b *testing.B)       { benchSpread(b, q5v5, 100_000, true, 5) }
