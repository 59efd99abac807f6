package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// ErrNotInstalled is returned by Path and Launch when no chromium binary is
// found.
var ErrNotInstalled = errors.New("browser: chromium not found (install Debian's chromium package: scripts/setup.sh does)")

// candidates are the binaries Path looks for, in order.
var candidates = []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"}

// Path returns the chromium binary to run: $CHROMIUM when set, else the
// first of chromium, chromium-browser, google-chrome and headless_shell
// found on PATH.
func Path() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: $CHROMIUM: %v", ErrNotInstalled, err)
		}
		return p, nil
	}
	for _, name := range candidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", ErrNotInstalled
}

// Options configure Launch. The zero value is a headless browser with the
// flags the package doc describes.
type Options struct {
	// KeepMDNS leaves Chromium's default of hiding host addresses behind
	// mDNS .local names in ICE candidates.
	KeepMDNS bool
	// Flags are extra command-line switches, name to value (true for a
	// switch without a value).
	Flags map[string]any
}

// Browser is one running headless chromium process.
type Browser struct {
	ctx         context.Context // the browser's first tab: keeps it alive
	cancelAlloc context.CancelFunc
	cancel      context.CancelFunc
	closeOnce   sync.Once
}

// Launch starts chromium. It returns ErrNotInstalled when there is none.
// ctx bounds the start only; the browser runs until Close.
func Launch(ctx context.Context, o Options) (*Browser, error) {
	path, err := Path()
	if err != nil {
		return nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	if !o.KeepMDNS {
		opts = append(opts, chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"))
	}
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	for k, v := range o.Flags {
		opts = append(opts, chromedp.Flag(k, v))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	b := &Browser{ctx: bctx, cancelAlloc: cancelAlloc, cancel: cancel}
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }() // the first Run starts the process
	select {
	case err = <-started:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("browser: starting %s: %w", path, err)
	}
	return b, nil
}

// Close ends every page and the chromium process, and waits for it.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		b.cancel()
		b.cancelAlloc() // waits for the process to exit
	})
}

// maxConsole is how many console lines a page keeps.
const maxConsole = 1000

// Page is one tab.
type Page struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	console []string
	dropped int
}

// NewPage opens a new tab and navigates it to url (ctx bounds the
// navigation). The page stays open until Page.Close or Browser.Close.
func (b *Browser) NewPage(ctx context.Context, url string) (*Page, error) {
	p := &Page{}
	pctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(p.listen))
	p.ctx, p.cancel = pctx, cancel
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(pctx, chromedp.Navigate(url)) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("browser: opening %s: %w", url, err)
	}
	return p, nil
}

// Close closes the tab.
func (p *Page) Close() { p.cancel() }

// listen keeps console calls and uncaught exceptions.
func (p *Page) listen(ev any) {
	var line string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		parts := make([]string, 0, len(e.Args))
		for _, a := range e.Args {
			parts = append(parts, remoteText(a))
		}
		line = string(e.Type) + ": " + strings.Join(parts, " ")
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		line = "exception: " + d.Text
		if d.Exception != nil {
			line += " " + remoteText(d.Exception)
		}
	default:
		return
	}
	p.mu.Lock()
	if len(p.console) >= maxConsole {
		copy(p.console, p.console[1:])
		p.console = p.console[:maxConsole-1]
		p.dropped++
	}
	p.console = append(p.console, line)
	p.mu.Unlock()
}

func remoteText(o *runtime.RemoteObject) string {
	if o == nil {
		return ""
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	if o.Description != "" {
		return o.Description
	}
	return string(o.Type)
}

// Console returns the lines the page logged so far ("log: text",
// "error: text", "exception: text"), oldest first. When lines were
// dropped, the first says how many.
func (p *Page) Console() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.console)+1)
	if p.dropped > 0 {
		out = append(out, fmt.Sprintf("(%d older lines dropped)", p.dropped))
	}
	return append(out, p.console...)
}

// Eval evaluates a JavaScript expression in the page, awaits the promise it
// returns, if any, and decodes the JSON value of the result into out (nil:
// the result is ignored).
func (p *Page) Eval(ctx context.Context, expr string, out any) error {
	ectx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	raw, err := chromedp.Run(ectx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("browser: eval %s: %w", short(expr), ctx.Err())
		}
		return fmt.Errorf("browser: eval %s: %w", short(expr), err)
	}
	if out == nil {
		return nil
	}
	if len(raw) == 0 {
		raw = []byte("null")
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("browser: eval %s: decoding %s: %w", short(expr), short(string(raw)), err)
	}
	return nil
}

// Wait evaluates expr every 10 ms until its value is truthy. It returns
// the first evaluation error, or ctx's error.
func (p *Page) Wait(ctx context.Context, expr string) error {
	check := "!!(" + expr + ")"
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		var ok bool
		if err := p.Eval(ctx, check, &ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("browser: waiting for %s: %w", short(expr), ctx.Err())
		case <-t.C:
		}
	}
}

func short(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
