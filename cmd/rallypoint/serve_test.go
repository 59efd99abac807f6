package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/signaling"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the rallypoint command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rallypoint-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "rallypoint")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestServeMuxHealthzAndMetrics(t *testing.T) {
	defer goleak.VerifyNone(t)
	mux, srv, _, err := newServeMux(serveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	get := func(path string) string {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	if got := get("/healthz"); strings.TrimSpace(got) != "ok" {
		t.Fatalf("healthz %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	a, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.Join(ctx, "m")
	b.Join(ctx, "m")
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Request(ctx, "nope", nil); err == nil {
		t.Fatal("unknown type accepted")
	}
	// The relay is observed once the write to b completes, which may be
	// just after a's ack: scrape until it shows.
	m := get("/metrics")
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(m, `relay_seconds_bucket{le="+Inf"} 1`) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		m = get("/metrics")
	}
	for _, want := range []string{
		"rallypoint_signaling_sessions 2\n",
		"rallypoint_signaling_rooms 1\n",
		"rallypoint_signaling_relayed_total 1\n",
		`rallypoint_signaling_errors_total{code="unknown_type"} 1` + "\n",
		"# TYPE rallypoint_signaling_relay_seconds histogram\n",
		`rallypoint_signaling_relay_seconds_bucket{le="+Inf"} 1` + "\n",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
}

func TestOriginChecker(t *testing.T) {
	check := originChecker([]string{"https://game.example"})
	for origin, want := range map[string]bool{"": true, "https://game.example": true, "https://GAME.example": true, "https://evil.example": false, "http://game.example": false} {
		r := httptest.NewRequest("GET", "/ws", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if got := check(r); got != want {
			t.Errorf("origin %q: %v, want %v", origin, got, want)
		}
	}
}

func TestSmoke(t *testing.T) {
	defer goleak.VerifyNone(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := smoke(ctx, &out, "", 3); err != nil {
		t.Fatalf("smoke: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"alice joined smoke#", "bob -> alice", "smoke OK: 3 signals each way", "server stopped"} {
		if !strings.Contains(s, want) {
			t.Errorf("transcript lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "alice -> bob"); n != 3 {
		t.Errorf("%d alice -> bob lines", n)
	}
}

// startServe runs `rallypoint serve` on a free port and returns its
// signaling URL; the process is stopped with SIGTERM at cleanup.
func startServe(t *testing.T, extra ...string) (url string, cmd *exec.Cmd, wait func() error, logs *syncBuffer) {
	t.Helper()
	args := []string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json", "-data-dir", t.TempDir()}
	cmd = exec.Command(binary(t), append(args, extra...)...)
	// Stderr through an io.Pipe: Wait returns only after everything the
	// process wrote is copied, so the logs are complete once Wait returns
	// and the scanner has drained the pipe.
	stderr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs = &syncBuffer{done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		defer close(logs.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.WriteString(line + "\n")
			var rec struct {
				Msg       string `json:"msg"`
				Signaling string `json:"signaling"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				found <- rec.Signaling
			}
		}
	}()
	var waitOnce sync.Once
	var waitErr error
	wait = func() error {
		waitOnce.Do(func() {
			waitErr = cmd.Wait()
			pw.Close()
			<-logs.done
		})
		return waitErr
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		wait()
	})
	select {
	case url = <-found:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs.String())
	}
	return url, cmd, wait, logs
}

type syncBuffer struct {
	done chan struct{} // closed when the writer is finished
	mu   sync.Mutex
	b    bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) {
	s.mu.Lock()
	s.b.WriteString(x)
	s.mu.Unlock()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTwoClientProcessesMeetThroughServe runs `rallypoint serve` and two
// client processes (this test binary re-run as TestHelperClientProcess)
// that meet with next=2 and exchange signals; then SIGTERM stops the server
// gracefully.
func TestTwoClientProcessesMeetThroughServe(t *testing.T) {
	url, cmd, wait, logs := startServe(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command(os.Args[0], "-test.run=^TestHelperClientProcess$", "-test.v")
			c.Env = append(os.Environ(), "RALLYPOINT_TEST_CLIENT_URL="+url, fmt.Sprintf("RALLYPOINT_TEST_CLIENT_NAME=client-%d", i))
			out, err := c.CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || !strings.Contains(outs[i], "MET ") {
			t.Fatalf("client %d: %v\n%s\nserver:\n%s", i, errs[i], outs[i], logs.String())
		}
	}
	// Each saw the other's id as the signal's sender.
	id := func(out string) (self, peer string) {
		_, rest, _ := strings.Cut(out, "MET ")
		f := strings.Fields(rest)
		return f[0], f[1]
	}
	a, ap := id(outs[0])
	b, bp := id(outs[1])
	if ap != b || bp != a {
		t.Fatalf("client 0 is %s and met %s; client 1 is %s and met %s", a, ap, b, bp)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve exited with %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop on SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no graceful stop in logs:\n%s", logs.String())
	}
}

// TestHelperClientProcess is a client process for
// TestTwoClientProcessesMeetThroughServe; it does nothing in a normal run.
func TestHelperClientProcess(t *testing.T) {
	url := os.Getenv("RALLYPOINT_TEST_CLIENT_URL")
	if url == "" {
		t.Skip("helper process only")
	}
	name := os.Getenv("RALLYPOINT_TEST_CLIENT_NAME")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := c.Events()
	ri, err := c.JoinNext(ctx, "procs", 2)
	if err != nil {
		t.Fatal(err)
	}
	peer := ""
	if len(ri.Peers) > 0 {
		peer = ri.Peers[0]
	}
	var got string
	for peer == "" || got == "" {
		select {
		case e := <-ev:
			switch e := e.(type) {
			case signaling.PeerJoined:
				peer = e.Peer
				if err := c.Signal(ctx, peer, json.RawMessage(`{"hello":"from `+name+`"}`)); err != nil {
					t.Fatal(err)
				}
			case signaling.Signal:
				if e.From != peer && peer != "" {
					t.Fatalf("signal from %s, peer is %s", e.From, peer)
				}
				got = string(e.Data)
				if peer == "" {
					peer = e.From
				}
				if len(ri.Peers) > 0 {
					// The second arrival answers the first one's signal.
					if err := c.Signal(ctx, peer, json.RawMessage(`{"hello":"from `+name+`"}`)); err != nil {
						t.Fatal(err)
					}
				}
			}
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	// Wait for the peer to have our signal before leaving: it answers last
	// or it sent first, so a final ping round trip suffices for the order.
	time.Sleep(200 * time.Millisecond)
	fmt.Printf("MET %s %s %s\n", c.ID(), peer, got)
}
