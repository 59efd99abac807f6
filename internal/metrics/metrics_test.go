package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTextFormat(t *testing.T) {
	var r Registry
	r.Register(func(w *Writer) {
		w.Gauge("rp_sessions", "Sessions now.", 3)
		w.Counter("rp_errors_total", "Errors by code.", 2, "code", "rate_limited")
		w.Counter("rp_errors_total", "Errors by code.", 1, "code", `we"ird`)
		w.Histogram("rp_relay_seconds", "Relay latency.", []float64{0.001, 0.01}, []uint64{5, 2, 1}, 0.5)
	})
	srv := httptest.NewServer(&r)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := `# HELP rp_sessions Sessions now.
# TYPE rp_sessions gauge
rp_sessions 3
# HELP rp_errors_total Errors by code.
# TYPE rp_errors_total counter
rp_errors_total{code="rate_limited"} 2
rp_errors_total{code="we\"ird"} 1
# HELP rp_relay_seconds Relay latency.
# TYPE rp_relay_seconds histogram
rp_relay_seconds_bucket{le="0.001"} 5
rp_relay_seconds_bucket{le="0.01"} 7
rp_relay_seconds_bucket{le="+Inf"} 8
rp_relay_seconds_sum 0.5
rp_relay_seconds_count 8
`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("content type %q", ct)
	}
}
