package cluster_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// BenchmarkServiceChange measures the round trip of a request that changes
// a cluster service's state (the counter's ctr.add: one record saved,
// answered once it is written) on three nodes in this process, sent one
// at a time from the leader's node and from another, and by 32 clients at
// once (whose records are written in groups). It reports p50 and p99 in
// microseconds and, for the 32 clients, the requests per second.
func BenchmarkServiceChange(b *testing.B) {
	nodes := startClusterWith(b, 3, signaling.Config{ResumeGrace: 5 * time.Second, RatePerSec: 100000, RateBurst: 100000}, nil)
	ctrs := make([]*counter, len(nodes))
	for i, n := range nodes {
		ctrs[i] = newCounter(n.srv, n.node.Node())
	}
	c0 := dial(b, nodes[0].url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := c0.Request(ctx, "ctr.add", nil); err != nil {
		b.Fatal(err)
	}
	li := slices.IndexFunc(ctrs, func(c *counter) bool { return c.svc.Leading() })
	if li < 0 {
		b.Fatal("no leader")
	}
	pct := func(d []time.Duration, p int) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, len(d)*p/100)].Microseconds())
	}
	b.ResetTimer()
	for _, at := range []struct {
		name string
		node int
	}{{"leader", li}, {"other", (li + 1) % 3}} {
		c := dial(b, nodes[at.node].url)
		n := max(b.N, 200)
		d := make([]time.Duration, n)
		for i := range d {
			t0 := time.Now()
			if _, err := c.Request(ctx, "ctr.add", nil); err != nil {
				b.Fatal(err)
			}
			d[i] = time.Since(t0)
		}
		b.ReportMetric(pct(d, 50), at.name+"_p50_us")
		b.ReportMetric(pct(d, 99), at.name+"_p99_us")
	}
	const clients, each = 32, 100
	cs := make([]*signaling.Client, clients)
	for i := range cs {
		cs[i] = dial(b, nodes[(li+1+i%2)%3].url)
	}
	d := make([]time.Duration, clients*each)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range each {
				s := time.Now()
				if _, err := c.Request(ctx, "ctr.add", nil); err != nil {
					b.Error(err)
					return
				}
				d[i*each+k] = time.Since(s)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(len(d))/time.Since(t0).Seconds(), "concurrent_req/s")
	b.ReportMetric(pct(d, 50), "concurrent_p50_us")
	b.ReportMetric(pct(d, 99), "concurrent_p99_us")
}
