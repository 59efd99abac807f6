package browser

import (
	"context"
	"os"
	"strings"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Failed() bool
	Cleanup(func())
	Skip(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// launchTimeout bounds a browser's start in ForTest.
const launchTimeout = 60 * time.Second

// Require skips the test when no chromium binary is found, or fails it
// when the environment has CI=true. It is for tests that launch the
// browser through other code (a bench harness); ForTest calls it.
func Require(t TB) {
	t.Helper()
	if _, err := Path(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: the browser tests must run)", err)
		}
		t.Skip(err.Error())
	}
}

// ForTest launches a browser for the test and closes it when the test
// ends. Without a chromium binary it skips the test, or fails it when the
// environment has CI=true.
func ForTest(t TB, opts ...Options) *Browser {
	t.Helper()
	Require(t)
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	ctx, cancel := context.WithTimeout(context.Background(), launchTimeout)
	defer cancel()
	b, err := Launch(ctx, o)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// pageTimeout bounds opening a page in Open.
const pageTimeout = 30 * time.Second

// Open opens url in a new tab, closed when the test ends; when the test
// fails, the page's console is logged.
func (b *Browser) Open(t TB, url string) *Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pageTimeout)
	defer cancel()
	p, err := b.NewPage(ctx, url)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console of %s:\n%s", url, p.ConsoleTail(40))
		}
		p.Close()
	})
	return p
}

// MustEval is Eval bounded by 30 s; it fails the test on error, with the
// tail of the page's console.
func (p *Page) MustEval(t TB, expr string, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Eval(ctx, expr, out); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, p.ConsoleTail(40))
	}
}

// MustWait is Wait bounded by d; it fails the test on error or timeout,
// with the tail of the page's console.
func (p *Page) MustWait(t TB, d time.Duration, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := p.Wait(ctx, expr); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, p.ConsoleTail(40))
	}
}

// ConsoleTail returns the last n console lines, one per line.
func (p *Page) ConsoleTail(n int) string {
	lines := p.Console()
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
