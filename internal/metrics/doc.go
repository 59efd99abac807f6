// Package metrics writes metrics in the Prometheus text exposition format
// (version 0.0.4) without pulling in a client library: collectors are
// functions that write the current values when /metrics is scraped.
//
// A Registry is safe for concurrent use; collectors run one scrape at a time
// on the scraping request's goroutine and must not block.
//
// Usage:
//
//	var reg metrics.Registry
//	reg.Register(func(w *metrics.Writer) {
//		w.Gauge("app_sessions", "Sessions now.", float64(n))
//		w.Counter("app_errors_total", "Errors by code.", float64(k), "code", "rate_limited")
//	})
//	mux.Handle("/metrics", &reg)
//
// A family's HELP and TYPE lines are written before its first sample, so
// the samples of one family must be written together.
package metrics
