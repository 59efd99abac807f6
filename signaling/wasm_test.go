//go:build !js

package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeWithWebSocket returns the node command line that gives wasm programs
// a WebSocket global (Node 20 needs --experimental-websocket; Node 22 and
// later have it by default), or skips the test.
func nodeWithWebSocket(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found: the js/wasm client test runs the wasm build under Node.js (scripts/setup.sh installs it)")
	}
	probe := "process.exit(typeof WebSocket === 'function' ? 0 : 1)"
	for _, args := range [][]string{{node, "--experimental-websocket"}, {node}} {
		if exec.Command(args[0], append(args[1:], "-e", probe)...).Run() == nil {
			return args
		}
	}
	out, _ := exec.Command(node, "--version").Output()
	t.Skipf("node %s has no WebSocket global (Node.js 20.10 or later needed, with --experimental-websocket before 22)", strings.TrimSpace(string(out)))
	return nil
}

// TestWasmClientMeetsNativeClient builds internal/wasmpeer for js/wasm, so
// that its Client dials through coder/websocket and the JavaScript
// WebSocket object, runs it under Node.js against a real server on
// 127.0.0.1, and checks that it meets a native Client in a room: signals
// flow both ways, the wasm peer stays idle past both the server's idle
// timeout and its own read deadline without losing its session (the
// browser answers the server's pings; the client's application pings keep
// its deadline), and its Close is seen as the peer leaving.
func TestWasmClientMeetsNativeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm binary")
	}
	nodeArgs := nodeWithWebSocket(t)
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Skip("go command not found")
	}
	goroot, err := exec.Command(goBin, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	execJS := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec_node.js")
	if _, err := os.Stat(execJS); err != nil {
		execJS = filepath.Join(strings.TrimSpace(string(goroot)), "misc", "wasm", "wasm_exec_node.js")
	}
	wasm := filepath.Join(t.TempDir(), "wasmpeer.wasm")
	build := exec.Command(goBin, "build", "-o", wasm, "./internal/wasmpeer")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm peer: %v\n%s", err, out)
	}

	// The server pings every 250 ms and drops a connection silent for 3 s
	// (generous: Go on wasm shares one thread with the JavaScript that
	// answers pings), far less than the wasm peer's 12 idle seconds, which
	// also outlast the client's own read deadline (2×250 ms + 10 s).
	ts := newTestServer(t, Config{PingInterval: 250 * time.Millisecond, IdleTimeout: 3 * time.Second})
	native := dialT(t, ts.URL, nil)
	ev := native.Events()
	const room = "wasm-meets-native"
	if _, err := native.Join(testCtx(t), room); err != nil {
		t.Fatal(err)
	}
	signals := make(chan [2]string, 4)
	defer native.SubscribeSignals(func(from string, payload []byte) {
		signals <- [2]string{from, string(payload)}
	}, nil)()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeArgs[0], append(nodeArgs[1:], "--stack-size=8192", execJS, wasm, ts.URL, room)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cancel()
		<-done
	}()

	joined := waitEvent(t, ev, func(PeerJoined) bool { return true })
	var sig [2]string
	select {
	case sig = <-signals:
	case err := <-done:
		t.Fatalf("wasm peer ended before signaling: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("no signal from the wasm peer\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	var hello map[string]string
	if err := json.Unmarshal([]byte(sig[1]), &hello); err != nil || hello["hello"] != "from wasm" {
		t.Fatalf("signal %q: %v", sig[1], err)
	}
	if sig[0] != joined.Peer || hello["id"] != joined.Peer {
		t.Fatalf("signal from %q (says %q), the wasm peer joined as %q", sig[0], hello["id"], joined.Peer)
	}
	if err := native.SendSignal(testCtx(t), sig[0], []byte(`{"hello":"from native"}`)); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, ev, func(e Event) bool {
		switch e := e.(type) {
		case PeerInterrupted:
			t.Errorf("wasm peer interrupted: %+v", e)
		case PeerLeft:
			return e.Peer == joined.Peer
		}
		return false
	})
	select {
	case err := <-done:
		done <- err
		if err != nil {
			t.Fatalf("wasm peer: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("wasm peer did not exit\nstdout:\n%s", stdout.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"dialed " + joined.Peer,
		"joined " + room + " with " + native.ID(),
		`signal ` + native.ID() + ` {"hello":"from native"}`,
		"ping ok",
		"closed",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("wasm peer output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("wasm peer:\n%s", out)
}
