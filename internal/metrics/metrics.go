package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Registry holds the collectors behind one /metrics endpoint.
type Registry struct {
	mu         sync.Mutex
	collectors []func(*Writer)
}

// Register adds a collector, called on every scrape.
func (r *Registry) Register(fn func(*Writer)) {
	r.mu.Lock()
	r.collectors = append(r.collectors, fn)
	r.mu.Unlock()
}

// WriteTo writes every collector's metrics to out.
func (r *Registry) WriteTo(out io.Writer) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cw := &countWriter{w: out}
	bw := bufio.NewWriter(cw)
	w := &Writer{w: bw, seen: map[string]bool{}}
	for _, c := range r.collectors {
		c(w)
	}
	err := bw.Flush()
	return cw.n, err
}

// ServeHTTP serves the metrics in the text format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.WriteTo(w)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Writer writes samples during a scrape. It prints a metric family's HELP
// and TYPE lines before its first sample.
type Writer struct {
	w    *bufio.Writer
	seen map[string]bool
}

func (w *Writer) header(name, help, typ string) {
	if w.seen[name] {
		return
	}
	w.seen[name] = true
	fmt.Fprintf(w.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// Counter writes one sample of a counter. labels are name, value pairs.
func (w *Writer) Counter(name, help string, v float64, labels ...string) {
	w.header(name, help, "counter")
	w.sample(name, v, labels)
}

// Gauge writes one sample of a gauge. labels are name, value pairs.
func (w *Writer) Gauge(name, help string, v float64, labels ...string) {
	w.header(name, help, "gauge")
	w.sample(name, v, labels)
}

// Histogram writes a histogram from per-bucket counts: counts[i] counts the
// observations at most bounds[i], and counts[len(bounds)] the rest (it is
// not cumulative; Histogram makes it so). sum is the sum of observations.
func (w *Writer) Histogram(name, help string, bounds []float64, counts []uint64, sum float64) {
	w.header(name, help, "histogram")
	var cum uint64
	for i, b := range bounds {
		if i < len(counts) {
			cum += counts[i]
		}
		w.sample(name+"_bucket", float64(cum), []string{"le", formatFloat(b)})
	}
	if len(counts) > len(bounds) {
		cum += counts[len(bounds)]
	}
	w.sample(name+"_bucket", float64(cum), []string{"le", "+Inf"})
	w.sample(name+"_sum", sum, nil)
	w.sample(name+"_count", float64(cum), nil)
}

func (w *Writer) sample(name string, v float64, labels []string) {
	w.w.WriteString(name)
	if len(labels) >= 2 {
		w.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.w.WriteByte(',')
			}
			w.w.WriteString(labels[i])
			w.w.WriteString(`="`)
			w.w.WriteString(escapeLabel(labels[i+1]))
			w.w.WriteByte('"')
		}
		w.w.WriteByte('}')
	}
	w.w.WriteByte(' ')
	w.w.WriteString(formatFloat(v))
	w.w.WriteByte('\n')
}

// SortedKeys returns the keys of m in order, for stable label output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
