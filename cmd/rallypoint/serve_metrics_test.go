package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// oldMetricNames are the metric families /metrics served before it moved to
// client_golang; they must all stay.
var oldMetricNames = []string{
	"rallypoint_signaling_sessions",
	"rallypoint_signaling_connections",
	"rallypoint_signaling_rooms",
	"rallypoint_signaling_sessions_opened_total",
	"rallypoint_signaling_resumes_total",
	"rallypoint_signaling_messages_total",
	"rallypoint_signaling_relayed_total",
	"rallypoint_signaling_errors_total",
	"rallypoint_signaling_relay_seconds",
}

// newMetricNames are the families added with client_golang.
var newMetricNames = []string{
	"go_goroutines",
	"go_memstats_heap_alloc_bytes",
	"process_resident_memory_bytes",
	"process_cpu_seconds_total",
	"rallypoint_signaling_connections_opened_total",
	"rallypoint_lobby_lobbies",
	"rallypoint_lobby_listed",
	"rallypoint_lobby_members",
	"rallypoint_matchmaker_tickets",
	"rallypoint_matchmaker_players",
	"rallypoint_matchmaker_matches_total",
	"rallypoint_matchmaker_pass_seconds",
	"rallypoint_matchmaker_time_to_match_seconds",
}

// scrape gets base+"/metrics" and parses it as the Prometheus text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include labels (name, value pairs): a gauge's or counter's value, a
// histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with labels %v", name, labels)
	return 0
}

// TestServeMetricsNames scrapes /metrics of a running `rallypoint serve`
// process: every old family is there, and the runtime, process, lobby and
// matchmaker families beside them, with a series per matchmaker queue
// before any match.
func TestServeMetricsNames(t *testing.T) {
	url, _, _, _ := startServe(t)
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/ws")
	fams := scrape(t, base)
	for _, name := range append(append([]string(nil), oldMetricNames...), newMetricNames...) {
		if fams[name] == nil {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if t.Failed() {
		return
	}
	if g := value(t, fams, "go_goroutines"); g < 1 {
		t.Errorf("go_goroutines %v", g)
	}
	if rss := value(t, fams, "process_resident_memory_bytes"); rss < 1<<20 {
		t.Errorf("process_resident_memory_bytes %v", rss)
	}
	for _, q := range []string{"1v1", "5v5", "ffa"} {
		for _, name := range []string{"rallypoint_matchmaker_tickets", "rallypoint_matchmaker_matches_total", "rallypoint_matchmaker_time_to_match_seconds"} {
			if v := value(t, fams, name, "queue", q); v != 0 {
				t.Errorf("%s{queue=%q} = %v on a fresh server", name, q, v)
			}
		}
	}
	if ty := fams["rallypoint_signaling_relay_seconds"].GetType(); ty != dto.MetricType_HISTOGRAM {
		t.Errorf("relay_seconds is a %v", ty)
	}
}

// TestServeMetricsFollowLobbiesAndMatches: lobby and matchmaker metrics
// follow what clients do on the server.
func TestServeMetricsFollowLobbiesAndMatches(t *testing.T) {
	defer goleak.VerifyNone(t)
	mux, srv, _, err := newServeMux(serveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() *signaling.Client {
		c, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	host, guest := dial(), dial()
	var st lobby.State
	r, err := host.Request(ctx, lobby.TypeCreate, lobby.CreateData{Name: "metrics"})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r, &st); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.Request(ctx, lobby.TypeJoin, lobby.JoinData{ID: st.ID}); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, hs.URL)
	for name, want := range map[string]float64{"rallypoint_lobby_lobbies": 1, "rallypoint_lobby_listed": 1, "rallypoint_lobby_members": 2} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// One ticket waits; a second makes a match on the next pass.
	a, b := dial(), dial()
	aev, bev := a.Events(), b.Events()
	if _, err := a.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}); err != nil {
		t.Fatal(err)
	}
	fams = scrape(t, hs.URL)
	if got := value(t, fams, "rallypoint_matchmaker_tickets", "queue", "1v1"); got != 1 {
		t.Errorf("1v1 tickets %v with one enqueued", got)
	}
	if _, err := b.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []<-chan signaling.Event{aev, bev} {
		for matched := false; !matched; {
			select {
			case e := <-ev:
				m, ok := e.(signaling.Message)
				matched = ok && m.Type == mmservice.TypeMatched
			case <-ctx.Done():
				t.Fatal("no mm.matched")
			}
		}
	}
	// The pass hook runs before matches are delivered: the match is counted.
	fams = scrape(t, hs.URL)
	for _, c := range []struct {
		name  string
		queue string
		want  float64
	}{
		{"rallypoint_matchmaker_tickets", "1v1", 0},
		{"rallypoint_matchmaker_players", "1v1", 0},
		{"rallypoint_matchmaker_matches_total", "1v1", 1},
		{"rallypoint_matchmaker_time_to_match_seconds", "1v1", 2},
		{"rallypoint_matchmaker_matches_total", "5v5", 0},
	} {
		if got := value(t, fams, c.name, "queue", c.queue); got != c.want {
			t.Errorf("%s{queue=%q} = %v, want %v", c.name, c.queue, got, c.want)
		}
	}
	if n := value(t, fams, "rallypoint_matchmaker_pass_seconds"); n < 1 {
		t.Errorf("%v passes observed", n)
	}
}
