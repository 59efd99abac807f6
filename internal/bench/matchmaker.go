package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// mmBenchResult is the JSON object printed by -json.
type mmBenchResult struct {
	Tick1v1Ms          float64 `json:"tick_1v1_10k_ms"`
	Tick1v1Matches     int     `json:"tick_1v1_10k_matches"`
	Naive1v1Ms         float64 `json:"naive_1v1_10k_ms"`
	Naive1v1Ratio      float64 `json:"naive_over_tick_1v1"`
	SparseMs           float64 `json:"tick_1v1_10k_sparse_ms"`
	SparseNaiveMs      float64 `json:"naive_1v1_10k_sparse_ms"`
	SparseRatio        float64 `json:"naive_over_tick_1v1_sparse"`
	SparseMatches      int     `json:"tick_1v1_10k_sparse_matches"`
	Tick5v5Ms          float64 `json:"tick_5v5_10k_ms"`
	Tick5v5Matches     int     `json:"tick_5v5_10k_matches"`
	Tick1v1100kMs      float64 `json:"tick_1v1_100k_ms"`
	Tick1v1100kMatches int     `json:"tick_1v1_100k_matches"`
	Sparse100kMs       float64 `json:"tick_1v1_100k_sparse_ms"`
	Sparse100kMatches  int     `json:"tick_1v1_100k_sparse_matches"`
	Tick5v5100kMs      float64 `json:"tick_5v5_100k_ms"`
	Tick5v5100kMatches int     `json:"tick_5v5_100k_matches"`
	Growth1v1          float64 `json:"growth_1v1"`
	Growth1v1Sparse    float64 `json:"growth_1v1_sparse"`
	Growth5v5          float64 `json:"growth_5v5"`
	// The same passes in CPU time of the pass's thread: what they cost on
	// an idle machine, when other processes share this one.
	Tick1v1CPUMs       float64 `json:"tick_1v1_10k_cpu_ms"`
	SparseCPUMs        float64 `json:"tick_1v1_10k_sparse_cpu_ms"`
	Tick5v5CPUMs       float64 `json:"tick_5v5_10k_cpu_ms"`
	Tick1v1100kCPUMs   float64 `json:"tick_1v1_100k_cpu_ms"`
	Sparse100kCPUMs    float64 `json:"tick_1v1_100k_sparse_cpu_ms"`
	Tick5v5100kCPUMs   float64 `json:"tick_5v5_100k_cpu_ms"`
	Growth1v1CPU       float64 `json:"growth_1v1_cpu"`
	Growth1v1SparseCPU float64 `json:"growth_1v1_sparse_cpu"`
	Growth5v5CPU       float64 `json:"growth_5v5_cpu"`
	// The collector's CPU time during each pass (see timePass), the
	// cycles that ended in it, and what the pass allocated.
	Tick1v1GCMs         float64 `json:"tick_1v1_10k_gc_ms"`
	SparseGCMs          float64 `json:"tick_1v1_10k_sparse_gc_ms"`
	Tick5v5GCMs         float64 `json:"tick_5v5_10k_gc_ms"`
	Tick1v1100kGCMs     float64 `json:"tick_1v1_100k_gc_ms"`
	Sparse100kGCMs      float64 `json:"tick_1v1_100k_sparse_gc_ms"`
	Tick5v5100kGCMs     float64 `json:"tick_5v5_100k_gc_ms"`
	Tick1v1GCCycles     float64 `json:"tick_1v1_10k_gc_cycles"`
	SparseGCCycles      float64 `json:"tick_1v1_10k_sparse_gc_cycles"`
	Tick5v5GCCycles     float64 `json:"tick_5v5_10k_gc_cycles"`
	Tick1v1100kGCCycles float64 `json:"tick_1v1_100k_gc_cycles"`
	Sparse100kGCCycles  float64 `json:"tick_1v1_100k_sparse_gc_cycles"`
	Tick5v5100kGCCycles float64 `json:"tick_5v5_100k_gc_cycles"`
	Tick1v1AllocMB      float64 `json:"tick_1v1_10k_alloc_mb"`
	SparseAllocMB       float64 `json:"tick_1v1_10k_sparse_alloc_mb"`
	Tick5v5AllocMB      float64 `json:"tick_5v5_10k_alloc_mb"`
	Tick1v1100kAllocMB  float64 `json:"tick_1v1_100k_alloc_mb"`
	Sparse100kAllocMB   float64 `json:"tick_1v1_100k_sparse_alloc_mb"`
	Tick5v5100kAllocMB  float64 `json:"tick_5v5_100k_alloc_mb"`
	LoadAvg             string  `json:"loadavg"`
	InsertCancelOps     float64 `json:"insert_cancel_ops_per_s"`
	MapBaselineOps      float64 `json:"map_insert_delete_ops_per_s"`
	WaitP50Ms           float64 `json:"wait_p50_ms"`
	WaitP95Ms           float64 `json:"wait_p95_ms"`
	WaitTargetMs        float64 `json:"wait_target_ms"`
	PassIntervalMs      float64 `json:"pass_interval_ms"`
	WaitMatched         int     `json:"wait_matched_tickets"`
	ServedWaitP50Ms     float64 `json:"served_wait_p50_ms"`
	ServedWaitP95Ms     float64 `json:"served_wait_p95_ms"`
	ServedMatched       int     `json:"served_matched_players"`
	RatingUpdates       float64 `json:"rating_updates_per_s"`
	RatingBaselineOps   float64 `json:"rating_baseline_predict_per_s"`
	Runs                int     `json:"runs"`
	TargetsMet          bool    `json:"targets_met"`
	TargetTick1v1Ms     float64 `json:"target_tick_1v1_10k_ms"`
	TargetTick5v5Ms     float64 `json:"target_tick_5v5_10k_ms"`
	TargetTick100kMs    float64 `json:"target_tick_100k_ms"`
	TargetGrowth        float64 `json:"target_growth"`
	TargetInsertCancel  float64 `json:"target_insert_cancel_ops_per_s"`
	TargetRating        float64 `json:"target_rating_updates_per_s"`
}

var benchSkill1v1 = matchmaker.Rule{Kind: matchmaker.RuleSkill, Value: 1, Steps: []matchmaker.Step{
	{After: 10 * time.Second, Value: 2}, {After: 30 * time.Second, Value: 4}}}

// benchSpan is the span of wait times of every measured pool, whatever its
// size: the oldest ticket has waited this long, so rules widen alike at
// 10,000 and at 100,000 tickets.
const benchSpan = 10 * time.Second

// benchPool makes a matchmaker with a fake clock holding players players
// (in parties when parties is set), enqueued evenly over benchSpan.
func benchPool(q matchmaker.QueueConfig, players int, parties bool, seed int64) *matchmaker.Matchmaker {
	return benchPoolSpread(q, players, parties, seed, 5)
}

// benchPoolSpread is benchPool with ratings of standard deviation spread.
func benchPoolSpread(q matchmaker.QueueConfig, players int, parties bool, seed int64, spread float64) *matchmaker.Matchmaker {
	now := time.Unix(0, 0)
	m := matchmaker.New(matchmaker.Config{Now: func() time.Time { return now }})
	if err := m.AddQueue(q); err != nil {
		panic(err)
	}
	step := benchSpan / time.Duration(players) // per player: 1 ms at 10,000
	rng := rand.New(rand.NewSource(seed))
	for p, n := 0, 0; p < players; n++ {
		size := 1
		if parties {
			size = []int{1, 1, 1, 1, 1, 2, 2, 3, 5}[rng.Intn(9)]
		}
		size = min(size, players-p)
		tk := matchmaker.Ticket{Queue: q.Name}
		for j := 0; j < size; j++ {
			tk.Players = append(tk.Players, matchmaker.Player{ID: fmt.Sprintf("p%d", p+j),
				Rating: matchmaker.Rating{Mu: 25 + rng.NormFloat64()*spread, Sigma: 3}})
		}
		if _, err := m.Enqueue(tk); err != nil {
			panic(err)
		}
		now = now.Add(step)
		p += size
	}
	// The pass runs when the last ticket has just arrived.
	return m
}

// passTime is what timePass measured: medians over the runs.
type passTime struct {
	wall, cpu float64 // ms; cpu is 0 where the thread's CPU time is unknown
	gc        float64 // ms of CPU time the collector spent during the pass
	cycles    float64 // collections that ended during the pass (or were under way at its end)
	allocMB   float64 // MB the pass allocated
	matches   int     // of the last run
}

// gcMetrics are the runtime/metrics that timePass reads around a pass: the
// collector's CPU time (assists, dedicated and fractional marking, pauses;
// not the marking it does on otherwise idle processors), completed cycles
// and bytes allocated.
var gcMetrics = []string{
	"/cpu/classes/gc/mark/assist:cpu-seconds",
	"/cpu/classes/gc/mark/dedicated:cpu-seconds",
	"/cpu/classes/gc/pause:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
	"/gc/heap/allocs:bytes",
}

func readGC(s []metrics.Sample) (gcSec float64, cycles, alloc uint64) {
	metrics.Read(s)
	for _, x := range s[:3] {
		if x.Value.Kind() == metrics.KindFloat64 {
			gcSec += x.Value.Float64()
		}
	}
	if s[3].Value.Kind() == metrics.KindUint64 {
		cycles = s[3].Value.Uint64()
	}
	if s[4].Value.Kind() == metrics.KindUint64 {
		alloc = s[4].Value.Uint64()
	}
	return gcSec, cycles, alloc
}

// timePass builds pools with pool and measures one Process over each, runs
// times. Process runs on the calling goroutine alone, so its thread's CPU
// time is what the pass costs on an idle machine; wall time also counts the
// time other processes hold the CPU. The collector's share is read from
// runtime/metrics, which counts a cycle's CPU time when the cycle ends: after
// the pass, timePass waits for a cycle under way to end (disabling the
// collector for a moment starts none) before reading them.
func timePass(runs int, pool func(run int) *matchmaker.Matchmaker) passTime {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	samples := gcSamples()
	var ss []passSample
	for i := 0; i < runs; i++ {
		ss = append(ss, samplePass(pool(i), samples))
	}
	return aggregate(ss)
}

// timeGrowth measures passes over small and large pools alternately, a
// pair of pools each run, and returns both sizes' times and the growth:
// the median over the runs of the large pass's time over the small one's,
// wall and CPU. A pair's two passes run seconds apart at most, so a
// machine whose speed drifts (other virtual machines on its host, clock
// changes) slows both alike, where timing every small pass before every
// large one would put the drift into the ratio.
func timeGrowth(runs int, small, large func(run int) *matchmaker.Matchmaker) (ps, pl passTime, growth, growthCPU float64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	samples := gcSamples()
	var ss, ls []passSample
	var gw, gc []float64
	for i := 0; i < runs; i++ {
		s := samplePass(small(i), samples)
		l := samplePass(large(i), samples)
		ss, ls = append(ss, s), append(ls, l)
		gw = append(gw, l.wall/s.wall)
		if s.cpu > 0 && l.cpu > 0 {
			gc = append(gc, l.cpu/s.cpu)
		}
	}
	growth = median(gw)
	if len(gc) == runs {
		growthCPU = median(gc)
	}
	return aggregate(ss), aggregate(ls), growth, growthCPU
}

// passSample is one pass's measurements.
type passSample struct {
	wall, cpu, gc, cycles, allocMB float64 // cpu 0: unknown
	matches                        int
}

// samplePass measures one Process over m on the calling goroutine, which
// is locked to its thread.
func samplePass(m *matchmaker.Matchmaker, samples []metrics.Sample) passSample {
	runtime.GC() // the pool's construction garbage is not the pass's
	g0, n0, a0 := readGC(samples)
	c0, ok := threadCPU()
	start := time.Now()
	res := m.Process()
	ps := passSample{wall: msSince(start), matches: len(res.Matches)}
	if c1, ok1 := threadCPU(); ok && ok1 {
		ps.cpu = float64((c1 - c0).Microseconds()) / 1e3
	}
	old := debug.SetGCPercent(-1) // returns once no cycle is under way
	g1, n1, a1 := readGC(samples)
	debug.SetGCPercent(old)
	ps.gc = (g1 - g0) * 1e3
	ps.cycles = float64(n1 - n0)
	ps.allocMB = float64(a1-a0) / 1e6
	return ps
}

// aggregate returns the medians of ss.
func aggregate(ss []passSample) passTime {
	var ws, cs, gs, ns, as []float64
	var pt passTime
	for _, s := range ss {
		ws, gs, ns, as = append(ws, s.wall), append(gs, s.gc), append(ns, s.cycles), append(as, s.allocMB)
		if s.cpu > 0 {
			cs = append(cs, s.cpu)
		}
		pt.matches = s.matches
	}
	if len(cs) > 0 {
		pt.cpu = median(cs)
	}
	pt.wall, pt.gc, pt.cycles, pt.allocMB = median(ws), median(gs), median(ns), median(as)
	return pt
}

// fields returns the measurements in the order of mmBenchResult's fields.
func (p passTime) fields() (wall, cpu, gc, cycles, allocMB float64, matches int) {
	return p.wall, p.cpu, p.gc, p.cycles, p.allocMB, p.matches
}

func gcSamples() []metrics.Sample {
	s := make([]metrics.Sample, len(gcMetrics))
	for i, n := range gcMetrics {
		s[i].Name = n
	}
	return s
}

// naivePass is the baseline: the O(n²) pass a straightforward matchmaker
// makes (the shape of Nakama's): for each waiting ticket, oldest first, scan
// every other ticket for the oldest one within the window.
func naivePass(skills []float64, window float64) int {
	used := make([]bool, len(skills))
	matches := 0
	for i := range skills {
		if used[i] {
			continue
		}
		for j := i + 1; j < len(skills); j++ {
			if !used[j] && math.Abs(skills[i]-skills[j]) <= window {
				used[i], used[j] = true, true
				matches++
				break
			}
		}
	}
	return matches
}

func median(d []float64) float64 {
	s := append([]float64(nil), d...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

// MatchmakerConfig holds the flags of rallypoint bench matchmaker.
type MatchmakerConfig struct {
	JSON         bool          // -json: print one JSON object instead of a table
	Runs         int           // -runs: runs of each pass measurement (the median is reported)
	Interval     time.Duration // -interval: pass interval of the time-to-match measurement
	WaitDuration time.Duration // -wait-duration: length of the time-to-match measurement
}

// Matchmaker runs rallypoint bench matchmaker and prints its report on stdout (one
// JSON object with JSON set, else a table).
func Matchmaker(cfg MatchmakerConfig) error {
	r := mmBenchResult{Runs: cfg.Runs, PassIntervalMs: float64(cfg.Interval.Milliseconds()),
		TargetTick1v1Ms: 50, TargetTick5v5Ms: 200, TargetTick100kMs: 100, TargetGrowth: 12, TargetInsertCancel: 20000, TargetRating: 50000}
	q1 := matchmaker.QueueConfig{Name: "1v1", Rules: []matchmaker.Rule{benchSkill1v1}}
	q5 := matchmaker.QueueConfig{Name: "5v5", Shape: matchmaker.Shape{TeamSize: 5},
		Rules: []matchmaker.Rule{{Kind: matchmaker.RuleSkill, Value: 2, Steps: []matchmaker.Step{{After: 10 * time.Second, Value: 4}}}}}

	// Our passes over 10,000 tickets and over 100,000 over the same span
	// of waits, a pool of each size in turn (timeGrowth): their times and
	// the growth (10x the tickets; n log n allows about 12x).
	var small, large passTime
	small, large, r.Growth1v1, r.Growth1v1CPU = timeGrowth(cfg.Runs,
		func(i int) *matchmaker.Matchmaker { return benchPool(q1, 10_000, false, int64(i)) },
		func(i int) *matchmaker.Matchmaker { return benchPool(q1, 100_000, false, int64(i)) })
	r.Tick1v1Ms, r.Tick1v1CPUMs, r.Tick1v1GCMs, r.Tick1v1GCCycles, r.Tick1v1AllocMB, r.Tick1v1Matches = small.fields()
	r.Tick1v1100kMs, r.Tick1v1100kCPUMs, r.Tick1v1100kGCMs, r.Tick1v1100kGCCycles, r.Tick1v1100kAllocMB, r.Tick1v1100kMatches = large.fields()
	// A sparse pool: ratings spread so wide that most tickets have no
	// partner in their window, where a scan of every pair costs O(n²). It
	// stays sparse at 100,000: ratings spread ten times as wide, so
	// tickets are as far apart as at 10,000 and as few have a partner (at
	// the same spread, 100,000 tickets would be a dense pool where three in
	// four match).
	small, large, r.Growth1v1Sparse, r.Growth1v1SparseCPU = timeGrowth(cfg.Runs,
		func(i int) *matchmaker.Matchmaker { return benchPoolSpread(q1, 10_000, false, int64(i), 20_000) },
		func(i int) *matchmaker.Matchmaker { return benchPoolSpread(q1, 100_000, false, int64(i), 200_000) })
	r.SparseMs, r.SparseCPUMs, r.SparseGCMs, r.SparseGCCycles, r.SparseAllocMB, r.SparseMatches = small.fields()
	r.Sparse100kMs, r.Sparse100kCPUMs, r.Sparse100kGCMs, r.Sparse100kGCCycles, r.Sparse100kAllocMB, r.Sparse100kMatches = large.fields()
	small, large, r.Growth5v5, r.Growth5v5CPU = timeGrowth(cfg.Runs,
		func(i int) *matchmaker.Matchmaker { return benchPool(q5, 10_000, true, int64(i)) },
		func(i int) *matchmaker.Matchmaker { return benchPool(q5, 100_000, true, int64(i)) })
	r.Tick5v5Ms, r.Tick5v5CPUMs, r.Tick5v5GCMs, r.Tick5v5GCCycles, r.Tick5v5AllocMB, r.Tick5v5Matches = small.fields()
	r.Tick5v5100kMs, r.Tick5v5100kCPUMs, r.Tick5v5100kGCMs, r.Tick5v5100kGCCycles, r.Tick5v5100kAllocMB, r.Tick5v5100kMatches = large.fields()
	// The naive scan over the 10,000-ticket pools' ratings in enqueue
	// order.
	var tn, tsn []float64
	for i := 0; i < cfg.Runs; i++ {
		rng := rand.New(rand.NewSource(int64(i)))
		skills := make([]float64, 10_000)
		for j := range skills {
			skills[j] = 25 + rng.NormFloat64()*5
		}
		start := time.Now()
		naivePass(skills, benchSkill1v1.Value)
		tn = append(tn, msSince(start))
		rng = rand.New(rand.NewSource(int64(i))) // the sparse pool's ratings
		for j := range skills {
			skills[j] = 25 + rng.NormFloat64()*20_000
		}
		start = time.Now()
		naivePass(skills, benchSkill1v1.Value)
		tsn = append(tsn, msSince(start))
	}
	r.Naive1v1Ms = median(tn)
	r.Naive1v1Ratio = r.Naive1v1Ms / r.Tick1v1Ms
	r.SparseNaiveMs = median(tsn)
	r.SparseRatio = r.SparseNaiveMs / r.SparseMs

	// Insert + cancel, against bare map insert + delete in the same run.
	{
		m := matchmaker.New(matchmaker.Config{})
		_ = m.AddQueue(matchmaker.QueueConfig{Name: "q"})
		ids := make([]string, 4096)
		for i := range ids {
			ids[i] = fmt.Sprintf("t%d", i)
		}
		const n = 200_000
		start := time.Now()
		for i := 0; i < n; i++ {
			id := ids[i%len(ids)]
			if _, err := m.Enqueue(matchmaker.Ticket{ID: id, Queue: "q", Players: []matchmaker.Player{{ID: id}}}); err != nil {
				return err
			}
			if err := m.Cancel(id); err != nil {
				return err
			}
		}
		r.InsertCancelOps = n / time.Since(start).Seconds()
		base := map[string]int{}
		start = time.Now()
		for i := 0; i < n; i++ {
			id := ids[i%len(ids)]
			base[id] = i
			delete(base, id)
		}
		r.MapBaselineOps = n / time.Since(start).Seconds()
	}

	// Time to match with a compatible pool: a producer enqueues 1v1 tickets
	// with a real clock while a ticker runs passes every interval.
	{
		m := matchmaker.New(matchmaker.Config{})
		_ = m.AddQueue(matchmaker.QueueConfig{Name: "1v1", Rules: []matchmaker.Rule{benchSkill1v1}})
		var waits []float64
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(cfg.Interval)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					res := m.Process()
					mu.Lock()
					for _, mt := range res.Matches {
						for _, tk := range mt.Tickets {
							waits = append(waits, float64(tk.Waited.Microseconds())/1e3)
						}
					}
					mu.Unlock()
				}
			}
		}()
		rng := rand.New(rand.NewSource(1))
		end := time.Now().Add(cfg.WaitDuration)
		for n := 0; time.Now().Before(end); n++ {
			id := fmt.Sprintf("w%d", n)
			_, _ = m.Enqueue(matchmaker.Ticket{ID: id, Queue: "1v1", Players: []matchmaker.Player{{ID: id, Rating: matchmaker.Rating{Mu: 25 + rng.Float64(), Sigma: 3}}}})
			time.Sleep(time.Millisecond) // about 1,000 tickets per second
		}
		time.Sleep(2 * cfg.Interval)
		close(stop)
		<-done
		mu.Lock()
		sort.Float64s(waits)
		if len(waits) > 0 {
			r.WaitP50Ms = waits[len(waits)/2]
			r.WaitP95Ms = waits[(len(waits)*95+99)/100-1]
		}
		r.WaitMatched = len(waits)
		mu.Unlock()
		r.WaitTargetMs = r.PassIntervalMs + 100
	}

	// The same end to end: real clients on loopback enqueue through a
	// signaling server with the matchmaking service, and time from sending
	// mm.enqueue to receiving mm.matched.
	if err := servedWait(&r, cfg.Interval, cfg.WaitDuration); err != nil {
		return err
	}

	// 5v5 rating updates on one goroutine, against PredictDraw (the cheapest
	// whole-game computation) in the same run.
	{
		rater := matchmaker.NewRater(matchmaker.RatingConfig{})
		teams := make([][]matchmaker.Rating, 2)
		for i := range teams {
			for j := 0; j < 5; j++ {
				teams[i] = append(teams[i], rater.NewRating())
			}
		}
		ranks := []float64{1, 2}
		const n = 500_000
		start := time.Now()
		for i := 0; i < n; i++ {
			ranks[0], ranks[1] = ranks[1], ranks[0]
			if err := rater.Rate(teams, ranks); err != nil {
				return err
			}
		}
		r.RatingUpdates = n / time.Since(start).Seconds()
		start = time.Now()
		for i := 0; i < n/5; i++ {
			_, _ = rater.PredictDraw(teams)
		}
		r.RatingBaselineOps = n / 5 / time.Since(start).Seconds()
	}
	r.TargetsMet = r.Tick1v1Ms <= r.TargetTick1v1Ms && r.Tick5v5Ms <= r.TargetTick5v5Ms &&
		r.InsertCancelOps >= r.TargetInsertCancel && r.WaitP95Ms <= r.WaitTargetMs && r.ServedWaitP95Ms <= r.WaitTargetMs &&
		r.RatingUpdates >= r.TargetRating &&
		r.Tick1v1100kMs <= r.TargetTick100kMs && r.Sparse100kMs <= r.TargetTick100kMs && r.Tick5v5100kMs <= r.TargetTick100kMs &&
		r.Growth1v1 <= r.TargetGrowth && r.Growth1v1Sparse <= r.TargetGrowth && r.Growth5v5 <= r.TargetGrowth

	r.LoadAvg = "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			r.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(r)
	}
	w := os.Stdout
	load := r.LoadAvg
	fmt.Fprintf(w, "matchmaker benchmark (median of %d runs where repeated; load average %s)\n", r.Runs, load)
	fmt.Fprintf(w, "%-34s %14s %14s %s\n", "measure", "value", "target", "notes")
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches; naive scan %.2f ms (%.2fx: a dense pool, first neighbour fits)\n", "tick_1v1_10k_ms", r.Tick1v1Ms, "<= 50", r.Tick1v1Matches, r.Naive1v1Ms, r.Naive1v1Ratio)
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches; naive O(n²) scan %.2f ms = %.1fx our time\n", "tick_1v1_10k_sparse_ms", r.SparseMs, "", r.SparseMatches, r.SparseNaiveMs, r.SparseRatio)
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches, parties of 1-5\n", "tick_5v5_10k_ms", r.Tick5v5Ms, "<= 200", r.Tick5v5Matches)
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches, 100,000 tickets over the same %v of waits; CPU %.2f ms (10k: %.2f)\n", "tick_1v1_100k_ms", r.Tick1v1100kMs, "<= 100", r.Tick1v1100kMatches, benchSpan, r.Tick1v1100kCPUMs, r.Tick1v1CPUMs)
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches, ratings spread 10x (same density as at 10k); CPU %.2f ms (10k: %.2f)\n", "tick_1v1_100k_sparse_ms", r.Sparse100kMs, "<= 100", r.Sparse100kMatches, r.Sparse100kCPUMs, r.SparseCPUMs)
	fmt.Fprintf(w, "%-34s %14.2f %14s %d matches, parties of 1-5; CPU %.2f ms (10k: %.2f)\n", "tick_5v5_100k_ms", r.Tick5v5100kMs, "<= 100", r.Tick5v5100kMatches, r.Tick5v5100kCPUMs, r.Tick5v5CPUMs)
	for _, g := range []struct {
		name                string
		ms, cycles, allocMB float64
	}{
		{"tick_1v1_10k_gc_ms", r.Tick1v1GCMs, r.Tick1v1GCCycles, r.Tick1v1AllocMB},
		{"tick_1v1_10k_sparse_gc_ms", r.SparseGCMs, r.SparseGCCycles, r.SparseAllocMB},
		{"tick_5v5_10k_gc_ms", r.Tick5v5GCMs, r.Tick5v5GCCycles, r.Tick5v5AllocMB},
		{"tick_1v1_100k_gc_ms", r.Tick1v1100kGCMs, r.Tick1v1100kGCCycles, r.Tick1v1100kAllocMB},
		{"tick_1v1_100k_sparse_gc_ms", r.Sparse100kGCMs, r.Sparse100kGCCycles, r.Sparse100kAllocMB},
		{"tick_5v5_100k_gc_ms", r.Tick5v5100kGCMs, r.Tick5v5100kGCCycles, r.Tick5v5100kAllocMB},
	} {
		fmt.Fprintf(w, "%-34s %14.2f %14s collector CPU during the pass; %.0f cycles, %.1f MB allocated\n", g.name, g.ms, "", g.cycles, g.allocMB)
	}
	fmt.Fprintf(w, "%-34s %14.2f %14s 100k over 10k pass (10x the tickets; median of paired runs); in CPU time %.2f\n", "growth_1v1", r.Growth1v1, "<= 12", r.Growth1v1CPU)
	fmt.Fprintf(w, "%-34s %14.2f %14s in CPU time %.2f\n", "growth_1v1_sparse", r.Growth1v1Sparse, "<= 12", r.Growth1v1SparseCPU)
	fmt.Fprintf(w, "%-34s %14.2f %14s in CPU time %.2f\n", "growth_5v5", r.Growth5v5, "<= 12", r.Growth5v5CPU)
	fmt.Fprintf(w, "%-34s %14.0f %14s bare map insert+delete %.0f/s (%.1fx)\n", "insert_cancel_ops_per_s", r.InsertCancelOps, ">= 20000", r.MapBaselineOps, r.MapBaselineOps/r.InsertCancelOps)
	fmt.Fprintf(w, "%-34s %14.1f %14s p50 %.1f ms over %d tickets, pass every %v\n", "wait_p95_ms", r.WaitP95Ms, fmt.Sprintf("<= %.0f", r.WaitTargetMs), r.WaitP50Ms, r.WaitMatched, cfg.Interval)
	fmt.Fprintf(w, "%-34s %14.1f %14s p50 %.1f ms over %d players: loopback clients, mm.enqueue sent to mm.matched received\n", "served_wait_p95_ms", r.ServedWaitP95Ms, fmt.Sprintf("<= %.0f", r.WaitTargetMs), r.ServedWaitP50Ms, r.ServedMatched)
	fmt.Fprintf(w, "%-34s %14.0f %14s 5v5 Plackett-Luce, one goroutine; PredictDraw %.0f/s\n", "rating_updates_per_s", r.RatingUpdates, ">= 50000", r.RatingBaselineOps)
	fmt.Fprintf(w, "targets met: %v\n", r.TargetsMet)
	return nil
}

// servedWait runs a signaling server with the matchmaking service on
// 127.0.0.1, and 40 clients that enqueue in 1v1, wait for mm.matched and
// enqueue again, for d.
func servedWait(r *mmBenchResult, interval, d time.Duration) error {
	srv := signaling.NewServer(signaling.Config{})
	svc, err := mmservice.New(srv, mmservice.Config{Interval: interval, MaxTicketsPerIP: -1})
	if err != nil {
		srv.Close()
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		svc.Close()
		srv.Close()
		return err
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	defer func() {
		svc.Close()
		srv.Close()
		hs.Close()
	}()
	url := "ws://" + ln.Addr().String() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	end := time.Now().Add(d)
	var mu sync.Mutex
	var waits []float64
	var wg sync.WaitGroup
	errc := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := signaling.Dial(ctx, url, nil)
			if err != nil {
				errc <- err
				return
			}
			defer c.Close()
			events := c.Events()
			for time.Now().Before(end) {
				start := time.Now()
				if _, err := c.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}); err != nil {
					errc <- err
					return
				}
				for matched := false; !matched; {
					select {
					case ev := <-events:
						if m, ok := ev.(signaling.Message); ok && m.Type == mmservice.TypeMatched {
							matched = true
						}
					case <-ctx.Done():
						errc <- ctx.Err()
						return
					}
				}
				mu.Lock()
				waits = append(waits, float64(time.Since(start).Microseconds())/1e3)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return fmt.Errorf("served wait: %w", err)
	default:
	}
	sort.Float64s(waits)
	if len(waits) > 0 {
		r.ServedWaitP50Ms = waits[len(waits)/2]
		r.ServedWaitP95Ms = waits[(len(waits)*95+99)/100-1]
	}
	r.ServedMatched = len(waits)
	return nil
}
