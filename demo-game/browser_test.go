package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/browser"
)

// webServer is `rallypoint serve -web-demo`: the one command that builds
// the web demo and serves it next to the signaling endpoint.
type webServer struct {
	cmd      *exec.Cmd
	page, ws string // the page's URL and the signaling URL, on one origin
	logs     *lockedBuffer
}

// startWebServe builds rallypoint (once) and starts `rallypoint serve
// -web-demo` on loopback, which builds the web demo with the go command
// (the test runs in the repository), and waits until it listens.
func startWebServe() (*webServer, error) {
	serveOnce.Do(func() {
		serveBinary = filepath.Join(filepath.Dir(binary), "rallypoint")
		out, err := exec.Command("go", "build", "-o", serveBinary, "../cmd/rallypoint").CombinedOutput()
		if err != nil {
			serveErr = fmt.Errorf("building rallypoint: %v\n%s", err, out)
		}
	})
	if serveErr != nil {
		return nil, serveErr
	}
	s := &webServer{cmd: exec.Command(serveBinary, "serve", "-web-demo", "-addr", "127.0.0.1:0", "-log-format", "json", "-db", ":memory:"), logs: &lockedBuffer{}}
	pipe, err := s.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.logs.WriteString(sc.Text() + "\n")
			var line struct{ Web, Signaling string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Web != "" && s.page == "" {
				s.page, s.ws = line.Web, line.Signaling
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		return s, nil
	case <-time.After(5 * time.Minute):
		s.stop()
		return nil, fmt.Errorf("rallypoint serve -web-demo did not listen in 5 minutes:\n%s", s.logs.String())
	}
}

func (s *webServer) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// webResult is what a browser tab running the demo reports in window.demo:
// the headless mode's JSON line (result), standard error and the exit code.
type webResult struct {
	Result *struct {
		result
		Start   float64 `json:"start_s"`
		Connect float64 `json:"connect_s"`
	} `json:"result"`
	Stderr []string `json:"stderr"`
	Exit   *int     `json:"exit"`
}

// awaitTab waits until the demo in page exits and returns what it reported.
func awaitTab(t *testing.T, p *browser.Page, d time.Duration) webResult {
	t.Helper()
	p.MustWait(t, d, `window.demo && window.demo.exit !== null`)
	var r webResult
	p.MustEval(t, `window.demo`, &r)
	if r.Exit == nil || *r.Exit != 0 || r.Result == nil {
		t.Fatalf("the demo in the browser exited with %v, result %+v\nstderr:\n%s\nconsole:\n%s", r.Exit, r.Result, strings.Join(r.Stderr, "\n"), p.ConsoleTail(40))
	}
	return r
}

// nativeResult is the JSON line of a native demo process.
type nativeResult struct {
	result
	Start   float64 `json:"start_s"`
	Connect float64 `json:"connect_s"`
}

// runNative runs the native demo with args and returns its result and
// standard error; failures are reported with t.Errorf (it runs on other
// goroutines than the test's).
func runNative(t *testing.T, ctx context.Context, args ...string) (nativeResult, string) {
	t.Helper()
	_, stderr, stdout := runDemoOutput(t, ctx, args...)
	var r nativeResult
	if stdout != "" {
		if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &r); err != nil {
			t.Errorf("demo-game %v printed %q: %v", args, stdout, err)
		}
	}
	return r, stderr
}

// TestBrowserDemoOnline plays the demo online in headless Chromium: the
// js/wasm build, built and served by `rallypoint serve -web-demo`, runs in
// a tab with its flags from the query string and its server the page's own
// origin, and plays through that server with native headless bots, peer to peer between
// the browser's RTCPeerConnection and pion. Each match plays 300 frames at
// 60 a second (a player's pace) and every player reports the same agreed
// final checksum (the sessions' outcome exchange: peers_agree).
//
// The tabs run the demo's headless mode (?headless&bot): the game's
// window (Ebiten on WebGL) works in headless Chromium with its software
// renderer (--use-angle=swiftshader), but on a loaded 2-core machine a
// software-rendered frame can hold the tab's only thread past the mesh's
// 2 s liveness deadline, and the other peers then drop it.
func TestBrowserDemoOnline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the web demo and runs Chromium: skipped in -short")
	}
	type started struct {
		srv *webServer
		err error
	}
	serving := make(chan started, 1)
	go func() { // while the browser starts
		srv, err := startWebServe()
		serving <- started{srv, err}
	}()
	server := sync.OnceValue(func() started { return <-serving })
	t.Cleanup(func() { // also when the test is skipped: no chromium
		if st := server(); st.srv != nil {
			st.srv.stop()
		}
	})
	b := browser.ForTest(t)
	st := server()
	if st.err != nil {
		t.Fatal(st.err)
	}
	page, ws := st.srv.page, st.srv.ws
	const frames = "300"

	// A quick match: the server's matchmaker pairs the tab with a native
	// bot in its 1v1 queue.
	t.Run("quick match", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var (
			native       nativeResult
			nativeStderr string
			wg           sync.WaitGroup
		)
		wg.Go(func() {
			native, nativeStderr = runNative(t, ctx, "-headless", "-bot", "-server", ws, "-quick", "-frames", frames, "-seed", "3", "-wait", "90s")
		})
		tab := b.Open(t, page+"?headless=1&bot=1&quick=1&frames="+frames+"&seed=3&wait=90s")
		web := awaitTab(t, tab, 100*time.Second)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		sw, sn := sessionLine.FindStringSubmatch(strings.Join(web.Stderr, "\n")), sessionLine.FindStringSubmatch(nativeStderr)
		if sw == nil || sn == nil || sw[1] != sn[1] || sw[2] == sn[2] {
			t.Fatalf("browser session %q, native %q\nbrowser stderr: %s\nnative stderr: %s", sw, sn, web.Stderr, nativeStderr)
		}
		w := web.Result
		checkAgree(t, 2, w.result, native.result)
		// The page fetched the game gzipped (demo.wasm.gz).
		var wasm struct{ Encoded, Decoded int }
		tab.MustEval(t, `(e => ({encoded: e.encodedBodySize, decoded: e.decodedBodySize}))(performance.getEntriesByType("resource").find(e => e.name.endsWith("/demo.wasm")))`, &wasm)
		if wasm.Decoded < 1<<20 || wasm.Encoded*2 > wasm.Decoded {
			t.Errorf("demo.wasm: %d bytes on the wire for %d", wasm.Encoded, wasm.Decoded)
		}
		t.Logf("quick match %s, browser in seat %s: both agree on frame 299, checksum %s; mesh connected in %.3f s (browser) and %.3f s (native); demo.wasm %.1f MB, %.1f MB on the wire",
			sw[1], sw[2], w.Checksum, w.Connect, native.Connect, float64(wasm.Decoded)/1e6, float64(wasm.Encoded)/1e6)
	})

	// A lobby of three: the demo in one tab creates it and prints its join
	// code, a native bot and the demo in a second tab join by that code,
	// the hosting tab starts once all are ready. The mesh has a
	// browser-browser pair and two browser-native pairs.
	t.Run("lobby of two tabs and a native bot", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		host := b.Open(t, page+"?headless&bot&lobby&players=3&frames="+frames+"&seed=5&name=tab1&wait=90s")
		host.MustWait(t, 60*time.Second, `window.demo && window.demo.stderr.some(l => l.includes("lobby code "))`)
		var stderr []string
		host.MustEval(t, `window.demo.stderr`, &stderr)
		m := codeLine.FindStringSubmatch(strings.Join(stderr, "\n"))
		if m == nil {
			t.Fatalf("the hosting tab printed no lobby code: %q", stderr)
		}
		code := m[1]
		var (
			native       nativeResult
			nativeStderr string
			wg           sync.WaitGroup
		)
		wg.Go(func() {
			native, nativeStderr = runNative(t, ctx, "-headless", "-bot", "-server", ws, "-code", code, "-frames", frames, "-name", "native", "-wait", "90s")
		})
		joiner := b.Open(t, page+"?headless&bot&code="+strings.ToLower(code)+"&frames="+frames+"&name=tab2&wait=90s")
		rs := []webResult{awaitTab(t, host, 100*time.Second), awaitTab(t, joiner, 30*time.Second)}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		sessions, seats := map[string]bool{}, map[string]bool{}
		for _, e := range []string{strings.Join(rs[0].Stderr, "\n"), strings.Join(rs[1].Stderr, "\n"), nativeStderr} {
			s := sessionLine.FindStringSubmatch(e)
			if s == nil {
				t.Fatalf("no session line in %s", e)
			}
			sessions[s[1]], seats[s[2]] = true, true
		}
		if len(sessions) != 1 || len(seats) != 3 {
			t.Fatalf("sessions %v, seats %v", sessions, seats)
		}
		checkAgree(t, 3, rs[0].Result.result, rs[1].Result.result, native.result)
		t.Logf("lobby %s: 2 tabs and a native bot agree on frame 299, checksum %s; mesh connected in %.3f s and %.3f s (tabs), %.3f s (native)",
			code, native.Checksum, rs[0].Result.Connect, rs[1].Result.Connect, native.Connect)
	})
}

// checkAgree checks that every player played 300 frames of a match of n
// players and reports the same final checksum, agreed by all peers.
func checkAgree(t *testing.T, n int, rs ...result) {
	t.Helper()
	for i, r := range rs {
		if r.Frames != 300 || r.Players != n || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame != 299 ||
			r.Checksum != rs[0].Checksum || r.Confirmed.Checksum != rs[0].Confirmed.Checksum {
			t.Fatalf("player %d: %+v; player 0: %+v", i, r, rs[0])
		}
	}
}
