package matchmaker

import (
	"fmt"
	"math/rand"
	"testing"
	"time"
)

// fillPool enqueues n tickets (players, not tickets, when parties) with
// ratings around 25 and the queue's skill window.
func benchPool(b *testing.B, q QueueConfig, players int, parties bool) (*Matchmaker, *fakeClock) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	m := New(Config{Now: clk.Now, NewID: func() string { return "" }})
	if err := m.AddQueue(q); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	n := 0
	for p := 0; p < players; {
		size := 1
		if parties {
			size = []int{1, 1, 1, 1, 1, 2, 2, 3, 5}[rng.Intn(9)]
		}
		if p+size > players {
			size = players - p
		}
		tk := Ticket{ID: fmt.Sprintf("t%d", n), Queue: q.Name}
		for j := 0; j < size; j++ {
			tk.Players = append(tk.Players, Player{ID: fmt.Sprintf("p%d", p+j), Rating: Rating{Mu: 25 + rng.NormFloat64()*5, Sigma: 3}})
		}
		if _, err := m.Enqueue(tk); err != nil {
			b.Fatal(err)
		}
		clk.t = clk.t.Add(time.Millisecond)
		p += size
		n++
	}
	return m, clk
}

func benchProcess(b *testing.B, q QueueConfig, parties bool) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m, _ := benchPool(b, q, 10_000, parties)
		b.StartTimer()
		res := m.Process()
		if len(res.Matches) == 0 {
			b.Fatal("no matches")
		}
	}
}

func BenchmarkProcess1v1_10k(b *testing.B) {
	benchProcess(b, QueueConfig{Name: "1v1", Rules: []Rule{{Kind: RuleSkill, Value: 1, Steps: []Step{{After: 10 * time.Second, Value: 2}, {After: 30 * time.Second, Value: 4}}}}}, false)
}

func BenchmarkProcess5v5Parties_10k(b *testing.B) {
	benchProcess(b, QueueConfig{Name: "5v5", Shape: Shape{TeamSize: 5}, Rules: []Rule{{Kind: RuleSkill, Value: 2, Steps: []Step{{After: 10 * time.Second, Value: 4}}}}}, true)
}

func BenchmarkEnqueueCancel(b *testing.B) {
	m := New(Config{NewID: func() string { return "" }})
	if err := m.AddQueue(QueueConfig{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[i%len(ids)]
		if _, err := m.Enqueue(Ticket{ID: id, Queue: "q", Players: []Player{{ID: id}}}); err != nil {
			b.Fatal(err)
		}
		if err := m.Cancel(id); err != nil {
			b.Fatal(err)
		}
	}
}
