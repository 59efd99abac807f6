// Package browser drives a real headless Chromium from Go tests and
// benchmarks, through the DevTools protocol (chromedp): it starts Debian's
// chromium, opens pages (tabs) served by the test, evaluates JavaScript in
// them, waits for conditions and keeps what the pages write to their
// console.
//
// # Use in a test
//
//	srv := httptest.NewServer(http.FileServer(http.Dir("testdata")))
//	t.Cleanup(srv.Close)                    // before ForTest: the browser closes first
//	b := browser.ForTest(t)                 // skips (or fails in CI) without chromium
//	page := b.Open(t, srv.URL+"/page.html") // a new tab; closed at the end of the test
//	page.MustWait(t, 20*time.Second, `window.done === true`)
//	var n int
//	page.MustEval(t, `window.count`, &n)
//	// page.Console() returns what the page logged; a failing MustWait
//	// or MustEval prints its tail.
//
// ForTest launches one browser per call and closes it in t.Cleanup
// (Require alone does the skip-or-fail check, for a test whose browser is
// launched by the code under test). One browser holds any number of pages,
// each a tab with its own JavaScript realm, so two pages are two
// independent peers. When a test fails, Open's cleanup logs the tail of
// each page's console. Launch, Browser.NewPage,
// Page.Eval and Page.Wait are the same without a testing.TB, for
// benchmark commands: they return errors (ErrNotInstalled when no
// chromium binary is found) and the caller closes what it opened.
//
// Eval awaits a promise the expression returns (so `import("/m.js").then(...)`
// or an async function call can be evaluated) and decodes the JSON value of
// the result into out (nil: ignored). A thrown exception comes back as an
// error with its message. Wait evaluates its expression every 10 ms until
// it is truthy, an evaluation throws, or the context ends.
//
// # Which chromium, which flags
//
// Path looks for $CHROMIUM (a full path), then chromium, chromium-browser,
// google-chrome and headless_shell on PATH. When none is found ForTest skips
// the test with a message naming Debian's chromium package
// (scripts/setup.sh installs it), except when the environment has CI=true:
// then the test fails, so a CI run never passes without its browser tests.
//
// The browser runs headless with a fresh profile in a temporary directory,
// without the sandbox when the process runs as root (Chromium refuses to
// start as root otherwise), and with flags that make WebRTC usable between
// processes on one host: host candidates carry IP addresses instead of
// mDNS .local names (WebRtcHideLocalIpsWithMdns off: the mesh's native
// peers do not resolve mDNS names, and a host without multicast on lo
// could not either) and loopback addresses are allowed as candidates, for
// hosts and network namespaces whose only interface is lo. Options.KeepMDNS
// leaves Chromium's default (mDNS host candidates), as a real user's
// browser would have it.
//
// # Concurrency and limits
//
// A Browser and its Pages are safe for concurrent use; evaluations on one
// page run one at a time in the page, in the order they reach it. Each page
// keeps the last 1000 console lines (older ones are dropped and counted in
// the first line Console returns). Close on a Browser ends every page and
// the chromium process and waits for it; closing twice is harmless.
package browser
