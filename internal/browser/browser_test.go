package browser_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/browser"
)

const page = `<!doctype html><title>t</title><script>
console.log("hello", 42);
window.ready = false;
setTimeout(() => { window.ready = true; }, 50);
</script>`

// TestPageEvalWaitConsole runs a real chromium: a page served by the test
// logs, Wait sees a flag set by a timer, Eval decodes values and awaited
// promises, a thrown error comes back as an error, and a second tab is an
// independent realm.
func TestPageEvalWaitConsole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close) // registered before ForTest: the browser closes first
	b := browser.ForTest(t)
	p := b.Open(t, srv.URL)
	p.MustWait(t, 10*time.Second, `window.ready`)
	var got struct {
		N int    `json:"n"`
		S string `json:"s"`
	}
	p.MustEval(t, `new Promise(r => setTimeout(() => r({n: 6*7, s: "x"}), 10))`, &got)
	if got.N != 42 || got.S != "x" {
		t.Fatalf("eval = %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Eval(ctx, `(() => { throw new Error("boom") })()`, nil); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("eval of a throw: %v", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := p.Wait(short, `false`); err == nil {
		t.Fatal("Wait of false returned nil")
	}
	if c := strings.Join(p.Console(), "\n"); !strings.Contains(c, "log: hello 42") {
		t.Fatalf("console = %q", c)
	}
	p.MustEval(t, `window.mark = 1`, nil)
	q := b.Open(t, srv.URL)
	var marked bool
	q.MustEval(t, `window.mark === 1`, &marked)
	if marked {
		t.Fatal("two pages share a realm")
	}
}
