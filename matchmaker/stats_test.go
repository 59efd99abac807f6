package matchmaker

import (
	"fmt"
	"math/rand"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestStatsWaitPercentiles compares the wait percentiles of Stats with a
// sort of every live ticket's wait, over a pool with cancellations and a
// pass, and requires Stats not to allocate: it runs under the
// Matchmaker's lock on every mm.stats request.
func TestStatsWaitPercentiles(t *testing.T) {
	m, clk := newTestMM(t, QueueConfig{Name: "q", TTL: -1, Rules: []Rule{{Kind: RuleSkill, Value: 0.5}}})
	rng := rand.New(rand.NewSource(9))
	at := map[string]time.Time{}
	seq := map[string]int{}
	for i := 0; i < 3000; i++ {
		id := fmt.Sprint(i)
		mustEnqueue(t, m, solo("q", id, 25+rng.NormFloat64()*20))
		at[id], seq[id] = clk.t, i
		clk.Advance(time.Duration(rng.Intn(50)) * time.Millisecond)
		if rng.Intn(5) == 0 {
			victim := fmt.Sprint(rng.Intn(i + 1))
			if m.Cancel(victim) == nil {
				delete(at, victim)
			}
		}
		if i%1000 == 999 {
			for _, mt := range m.Process().Matches {
				for _, tk := range mt.Tickets {
					delete(at, tk.Ticket.ID)
				}
			}
		}
		if i%250 != 0 && i%1000 != 999 { // also right after a pass, with no dead entry
			continue
		}
		var waits []time.Duration
		for _, a := range at {
			waits = append(waits, clk.t.Sub(a))
		}
		slices.Sort(waits)
		st, err := m.Stats("q")
		if err != nil {
			t.Fatal(err)
		}
		want := [3]time.Duration{pct(waits, 50), pct(waits, 95), pct(waits, 99)}
		if got := [3]time.Duration{st.WaitP50, st.WaitP95, st.WaitP99}; got != want || st.Tickets != len(at) {
			t.Fatalf("after %d tickets: %d waiting, p50/95/99 %v, want %d and %v", i+1, st.Tickets, got, len(at), want)
		}
		// Status counts the live tickets enqueued before.
		for id := range at { // one ticket at random
			want := 0
			for other := range at {
				if seq[other] < seq[id] {
					want++
				}
			}
			ts, err := m.Status(id)
			if err != nil || ts.Ahead != want {
				t.Fatalf("status of %s: %+v %v, want %d ahead", id, ts, err, want)
			}
			break
		}
	}
	if allocs := testing.AllocsPerRun(20, func() { _, _ = m.Stats("q") }); allocs != 0 {
		t.Errorf("Stats allocates %.0f times per call", allocs)
	}
}

// BenchmarkStats100k is one Stats call over 100,000 waiting tickets.
func BenchmarkStats100k(b *testing.B) {
	now := time.Unix(0, 0)
	m := New(Config{Now: func() time.Time { return now }})
	if err := m.AddQueue(QueueConfig{Name: "q"}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 100_000; i++ {
		id := fmt.Sprint(i)
		if _, err := m.Enqueue(Ticket{ID: id, Queue: "q", Players: []Player{{ID: id}}}); err != nil {
			b.Fatal(err)
		}
		now = now.Add(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Stats("q"); err != nil {
			b.Fatal(err)
		}
	}
}

// A pass over a pool that Enqueue filled allocates little: the room for
// its Result's matches, the slices of the matches and the pass's scratch
// were reserved as the tickets arrived.
func TestPassAllocatesLittle(t *testing.T) {
	for _, c := range []struct {
		name    string
		q       QueueConfig
		parties bool
	}{
		{"1v1", q1v1, false},
		{"5v5 parties", q5v5, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := spreadPool(t, c.q, 20_000, c.parties, 5, 10*time.Second)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res := m.Process()
			runtime.ReadMemStats(&after)
			if len(res.Matches) < 1000 {
				t.Fatalf("%d matches", len(res.Matches))
			}
			matchesBytes := uint64(len(res.Matches)) * uint64(unsafe.Sizeof(Match{}))
			mallocs, bytes := after.Mallocs-before.Mallocs, after.TotalAlloc-before.TotalAlloc
			if raceEnabled {
				bytes /= 2
			}
			t.Logf("%d matches: %d allocations, %d bytes (the Matches array %d)", len(res.Matches), mallocs, bytes, matchesBytes)
			if mallocs > 100 || bytes > 256<<10 {
				t.Fatalf("the pass allocated %d times, %d bytes; want at most 100 and 256 KiB", mallocs, bytes)
			}
		})
	}
}
