package mesh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/signaling"
)

// startSignaling runs a real signaling server on 127.0.0.1:0.
func startSignaling(t *testing.T, cfg signaling.Config) (url string, closeFn func()) {
	t.Helper()
	srv := signaling.NewServer(cfg)
	hs := httptest.NewServer(srv)
	var once bool
	closeFn = func() {
		if once {
			return
		}
		once = true
		_ = srv.Close()
		hs.Close()
	}
	t.Cleanup(closeFn)
	return "ws" + strings.TrimPrefix(hs.URL, "http"), closeFn
}

func dialJoin(t *testing.T, url, room string) *signaling.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := c.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMeshOverSignalingServer(t *testing.T) {
	checkLeaks(t)
	url, stopServer := startSignaling(t, signaling.Config{})
	var ms []*Mesh
	for i := 0; i < 3; i++ {
		c := dialJoin(t, url, "match")
		m, err := New(c, testConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ms = append(ms, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, 2); err != nil {
			t.Fatalf("%s: %v", m.LocalID(), err)
		}
	}
	// The rendezvous point goes away mid-match; game traffic does not
	// need it.
	stopServer()
	time.Sleep(100 * time.Millisecond)
	for _, m := range ms {
		for _, id := range m.Connected() {
			if err := m.Send(id, netcode.Reliable, []byte("from "+string(m.LocalID()))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, m := range ms {
		got := collect(t, m, 2, 10*time.Second)
		if len(got) != 2 {
			t.Fatalf("%s received %d messages after the server stopped", m.LocalID(), len(got))
		}
		for _, r := range got {
			if string(r.data) != "from "+string(r.from) {
				t.Fatalf("%s received %q from %s", m.LocalID(), r.data, r.from)
			}
		}
	}
}

const helperURLEnv = "RALLYPOINT_MESH_HELPER_URL"

// TestHelperMeshPeer is not a test: TestKilledPeerProcess runs the test
// binary with it as a mesh peer in a separate process.
func TestHelperMeshPeer(t *testing.T) {
	url := os.Getenv(helperURLEnv)
	if url == "" {
		t.Skip("helper process for TestKilledPeerProcess")
	}
	c := dialJoin(t, url, "killed")
	m, err := New(c, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fmt.Println("connected", c.LocalID())
	for { // echo until killed
		<-m.Ready()
		m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) { _ = m.Send(from, ch, data) })
	}
}

func TestKilledPeerProcess(t *testing.T) {
	checkLeaks(t)
	url, _ := startSignaling(t, signaling.Config{})
	c := dialJoin(t, url, "killed")
	cfg := testConfig()
	m, err := New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMeshPeer$", "-test.v")
	cmd.Env = append(os.Environ(), helperURLEnv+"="+url)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var peer netcode.PeerID
	deadline := time.After(40 * time.Second)
	for peer == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("helper exited before connecting")
			}
			if f := strings.Fields(l); len(f) == 2 && f[0] == "connected" {
				peer = netcode.PeerID(f[1])
			}
		case <-deadline:
			t.Fatal("helper did not connect")
		}
	}
	waitEvent[EventConnected](t, m, peer, 10*time.Second)
	// The peer is alive: it echoes.
	if err := m.Send(peer, netcode.Unreliable, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, m, 1, 5*time.Second); len(got) != 1 || string(got[0].data) != "ping" {
		t.Fatalf("no echo from helper: %v", got)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ev := waitEvent[EventDisconnected](t, m, peer, cfg.withDefaults().DisconnectAfter+10*time.Second)
	took := ev.At.Sub(killed) // when the mesh decided, not when the test read it
	t.Logf("killed peer disconnected (%s) after %v", ev.Reason, took)
	if ev.Reason != ReasonTimedOut {
		t.Fatalf("reason %s, want timed out", ev.Reason)
	}
	// The timeout counts from the last packet, which came before the kill;
	// the margin is for a loaded machine's scheduling (the race detector on
	// two shared cores has been seen 1.3 s late).
	if limit := cfg.withDefaults().DisconnectAfter + 2500*time.Millisecond; took > limit {
		t.Fatalf("disconnected after %v, limit %v", took, limit)
	}
	for range lines {
	}
}

// refusingSignaler refuses every signal to one peer, as a rendezvous
// point refuses signals to a peer that left the room.
type refusingSignaler struct {
	*memsignal.Signaler
	to       string
	refused  atomic.Int32
	firstAt  atomic.Int64 // unix nanoseconds of the first refusal
	refusals chan struct{}
}

func (s *refusingSignaler) SendSignal(ctx context.Context, to string, payload []byte) error {
	if to == s.to {
		s.firstAt.CompareAndSwap(0, time.Now().UnixNano())
		if s.refused.Add(1) == 1 {
			close(s.refusals)
		}
		return errors.New("not in the room")
	}
	return s.Signaler.SendSignal(ctx, to, payload)
}

// Signals to one peer that the rendezvous point refuses (it left the
// room while its connection still ran) are retried, but on their own:
// signals to the other peers go past them. Before, they waited behind
// the refused one for up to signalGiveUp, so a rejoining player's
// connection stalled behind the ICE restarts sent to the player it
// replaced.
func TestRefusedSignalsDoNotHoldUpOthers(t *testing.T) {
	checkLeaks(t)
	// p01 and p02 do not connect to each other: p02's only peer is p00.
	hub := &memsignal.Hub{Filter: func(from, to string, _ []byte) bool {
		return !(from == "p01" && to == "p02" || from == "p02" && to == "p01")
	}}
	join := func(id string) *memsignal.Signaler {
		s, err := hub.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Leave)
		return s
	}
	s0 := &refusingSignaler{Signaler: join("p00"), to: "p01", refusals: make(chan struct{})}
	m0, err := New(s0, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m0.Close() })
	s1 := join("p01")
	m1, err := New(s1, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m1.Close() })
	<-s0.refusals // p00's offer to p01 is refused and waits for a retry
	s2 := join("p02")
	m2, err := New(s2, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), signalGiveUp)
	defer cancel()
	if err := m2.WaitConnected(ctx, 1); err != nil { // to p00
		t.Fatalf("p02 did not connect to p00 while p00's signals to p01 were refused: %v", err)
	}
	if n := s0.refused.Load(); n < 2 {
		t.Fatalf("p00 tried its refused signal %d times, want retries", n)
	}
	if st := m0.Peers()["p01"]; st != PeerStateConnecting {
		t.Fatalf("p01 is %v to p00, want still connecting", st)
	}
	t.Logf("p02 connected %v after the first refusal; p00 tried p01 %d times meanwhile",
		time.Since(time.Unix(0, s0.firstAt.Load())).Round(time.Millisecond), s0.refused.Load())
}
