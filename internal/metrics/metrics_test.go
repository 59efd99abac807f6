package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rallypoint/rallypoint/cluster"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestSignalingRelayHistogram: the server's per-bucket relay counts become
// a cumulative histogram in seconds, the overflow counted only in +Inf.
func TestSignalingRelayHistogram(t *testing.T) {
	n := len(signaling.RelayBucketsMicros)
	counts := make([]uint64, n+1)
	counts[0], counts[2], counts[n] = 5, 2, 1 // ≤25 µs, ≤100 µs, beyond the last bound
	reg := prometheus.NewRegistry()
	reg.MustRegister(&signalingCollector{stats: func() signaling.Stats {
		return signaling.Stats{Sessions: 3, Rejoins: 2, Errors: map[string]uint64{"rate_limited": 4}, RelayCounts: counts, RelaySumMicros: 500_000}
	}})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
		switch f.GetName() {
		case "rallypoint_signaling_rejoins_total":
			if v := f.GetMetric()[0].GetCounter().GetValue(); v != 2 {
				t.Errorf("rejoins %v", v)
			}
		case "rallypoint_signaling_sessions":
			if v := f.GetMetric()[0].GetGauge().GetValue(); v != 3 {
				t.Errorf("sessions %v", v)
			}
		case "rallypoint_signaling_errors_total":
			m := f.GetMetric()
			if len(m) != 1 || m[0].GetLabel()[0].GetValue() != "rate_limited" || m[0].GetCounter().GetValue() != 4 {
				t.Errorf("errors %v", m)
			}
		case "rallypoint_signaling_relay_seconds":
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 8 || h.GetSampleSum() != 0.5 {
				t.Errorf("count %d sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
			b := h.GetBucket()
			if len(b) != n || b[0].GetUpperBound() != 25e-6 || b[0].GetCumulativeCount() != 5 ||
				b[1].GetCumulativeCount() != 5 || b[2].GetCumulativeCount() != 7 || b[n-1].GetCumulativeCount() != 7 {
				t.Errorf("buckets %v", b)
			}
		}
	}
	if len(got) != 11 {
		t.Errorf("%d families: %v", len(got), got)
	}
}

// TestClusterMetrics: a cluster node's registry names the node in
// rallypoint_node_info and carries its cluster gauges, counters and the
// round-trip histogram (a single embedded node: one live node, no routes).
func TestClusterMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := cluster.Start(ctx, cluster.Config{Name: "m1"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	srv, err := signaling.NewClusterServer(ctx, signaling.Config{}, node)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := prometheus.NewRegistry()
	if err := RegisterCluster(reg, node, srv); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"rallypoint_node_info":                        1,
		"rallypoint_cluster_live_nodes":               1,
		"rallypoint_cluster_routes":                   0,
		"rallypoint_cluster_signals_sent_total":       0,
		"rallypoint_cluster_signals_received_total":   0,
		"rallypoint_cluster_relay_round_trip_seconds": 0,
	}
	for _, f := range fams {
		w, ok := want[f.GetName()]
		if !ok {
			t.Errorf("unexpected family %s", f.GetName())
			continue
		}
		delete(want, f.GetName())
		m := f.GetMetric()[0]
		var v float64
		switch {
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetHistogram() != nil:
			v = float64(m.GetHistogram().GetSampleCount())
		}
		if v != w {
			t.Errorf("%s = %v, want %v", f.GetName(), v, w)
		}
		if f.GetName() == "rallypoint_node_info" {
			if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "node" || l[0].GetValue() != "m1" {
				t.Errorf("node_info labels %v", l)
			}
		}
	}
	for name := range want {
		t.Errorf("no %s", name)
	}
}

// TestClusterServiceLeaderMetric: rallypoint_service_leader{service} is 1
// on a node once it leads and serves the service (registered after the
// metrics), for each cluster-wide service of the server.
func TestClusterServiceLeaderMetric(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := cluster.Start(ctx, cluster.Config{Name: "m2"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	srv, err := signaling.NewClusterServer(ctx, signaling.Config{}, node)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := prometheus.NewRegistry()
	if err := RegisterCluster(reg, node, srv); err != nil {
		t.Fatal(err)
	}
	svc := srv.Service("x", signaling.ServiceConfig{})
	leaderOf := func() map[string]float64 {
		fams, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]float64{}
		for _, f := range fams {
			if f.GetName() != "rallypoint_service_leader" {
				continue
			}
			for _, m := range f.GetMetric() {
				out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
			}
		}
		return out
	}
	if got := leaderOf(); got["x"] != 0 || len(got) != 1 {
		t.Fatalf("before Start: %v, want x at 0", got)
	}
	svc.Start()
	for !svc.Leading() {
		if ctx.Err() != nil {
			t.Fatal("the only node never led the service")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := leaderOf(); got["x"] != 1 {
		t.Fatalf("leading: %v, want x at 1", got)
	}
}
