package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/cluster"
	"github.com/rallypoint/rallypoint/signaling"
)

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type testNode struct {
	node *cluster.Node
	srv  *signaling.Server
	http *httptest.Server
	url  string
}

func (n *testNode) close() {
	n.http.Close()
	n.srv.Close()
	n.node.Close()
}

// startCluster starts k nodes in this process, routed to each other.
func startCluster(t *testing.T, k int, cfg signaling.Config) []*testNode {
	t.Helper()
	return startClusterWith(t, k, cfg, nil)
}

// startClusterWith is startCluster with each node's backplane passed
// through wrap (when not nil) before its server uses it.
func startClusterWith(t testing.TB, k int, cfg signaling.Config, wrap func(i int, bp signaling.Backplane) signaling.Backplane) []*testNode {
	t.Helper()
	addrs := make([]string, k)
	routes := make([]string, k)
	for i := range addrs {
		addrs[i] = freeAddr(t)
		routes[i] = "nats://" + addrs[i]
	}
	nodes := make([]*testNode, k)
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			n, err := cluster.Start(ctx, cluster.Config{Name: fmt.Sprintf("node%d", i), Listen: addrs[i], Routes: routes, Heartbeat: 100 * time.Millisecond, DeadAfter: time.Second, Logger: testLogger()})
			if err != nil {
				t.Logf("node %d: %v", i, err)
				errs[i] = err
				return
			}
			cfg := cfg
			cfg.Logger = testLogger()
			if cfg.Logger != nil {
				cfg.Logger = cfg.Logger.With("node", i)
			}
			var bp signaling.Backplane = n
			if wrap != nil {
				bp = wrap(i, n)
			}
			srv, err := signaling.NewClusterServer(ctx, cfg, bp)
			if err != nil {
				n.Close()
				errs[i] = err
				return
			}
			hs := httptest.NewServer(srv)
			nodes[i] = &testNode{node: n, srv: srv, http: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, n := range nodes {
				if n != nil {
					n.close()
				}
			}
			t.Fatalf("node %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.close()
		}
	})
	return nodes
}

func dial(t testing.TB, url string, more ...string) *signaling.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{URLs: more, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Events() // from now on
	return c
}

// waitEvent waits for an event matching fn.
func waitEvent(t *testing.T, c *signaling.Client, what string, fn func(signaling.Event) bool) signaling.Event {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-c.Events():
			if fn(ev) {
				return ev
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCluster runs two nodes in this process (the tests of real node
// processes are cmd/rallypoint's) and checks the cluster semantics on them;
// the last subtest stops node 0.
func TestCluster(t *testing.T) {
	nodes := startCluster(t, 2, signaling.Config{ResumeGrace: 10 * time.Second})
	t.Run("RoomAndSignal", func(t *testing.T) { testRoomAndSignal(t, nodes) })
	t.Run("NextGroup", func(t *testing.T) { testNextGroup(t, nodes) })
	t.Run("ResumeOnAnotherNode", func(t *testing.T) { testResumeOnAnotherNode(t, nodes) })
}

func testRoomAndSignal(t *testing.T, nodes []*testNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := dial(t, nodes[0].url)
	b := dial(t, nodes[1].url)
	if _, err := a.Join(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	info, err := b.Join(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Peers) != 1 || info.Peers[0] != a.ID() {
		t.Fatalf("b joined with peers %v, want [%s]", info.Peers, a.ID())
	}
	waitEvent(t, a, "peer_joined", func(ev signaling.Event) bool {
		pj, ok := ev.(signaling.PeerJoined)
		return ok && pj.Peer == b.ID()
	})
	got := make(chan string, 4)
	b.SubscribeSignals(func(from string, p []byte) { got <- from + " " + string(p) }, nil)
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`{"x":"<&>"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if want := a.ID() + ` {"x":"<&>"}`; s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("signal not relayed across nodes")
	}
	// A peer that is not in the room is refused by the sender's node.
	if err := a.Signal(ctx, "nobody", json.RawMessage(`1`)); err == nil {
		t.Fatal("signal to an unknown peer accepted")
	}
	// Leaving is seen on the other node.
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, a, "peer_left", func(ev signaling.Event) bool {
		pl, ok := ev.(signaling.PeerLeft)
		return ok && pl.Peer == b.ID()
	})
}

func testNextGroup(t *testing.T, nodes []*testNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := []*signaling.Client{dial(t, nodes[0].url), dial(t, nodes[1].url), dial(t, nodes[0].url), dial(t, nodes[1].url)}
	rooms := make([]signaling.RoomInfo, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ri, err := c.JoinNext(ctx, "duel", 2)
			if err != nil {
				t.Error(err)
			}
			rooms[i] = ri
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range rooms {
		count[r.Name]++
		if len(r.Seats) == 0 {
			t.Errorf("no seats in %+v", r)
		}
	}
	if len(count) != 2 {
		t.Fatalf("4 peers in next=2 groups made rooms %v", count)
	}
	for name, n := range count {
		if n != 2 {
			t.Fatalf("room %s has %d peers", name, n)
		}
	}
}

func testResumeOnAnotherNode(t *testing.T, nodes []*testNode) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := dial(t, nodes[0].url, nodes[1].url)
	b := dial(t, nodes[1].url)
	if _, err := a.Join(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	id := a.ID()
	// Node 0 stops: a moves to node 1 and keeps its id and room.
	nodes[0].http.CloseClientConnections()
	nodes[0].http.Close()
	nodes[0].srv.Close()
	ev := waitEvent(t, a, "reconnected", func(ev signaling.Event) bool { _, ok := ev.(signaling.Reconnected); return ok })
	if r := ev.(signaling.Reconnected); !r.Resumed || r.ID != id {
		t.Fatalf("reconnected %+v, want resumed as %s", r, id)
	}
	if a.Room() != "m" {
		t.Fatalf("room after resume %q", a.Room())
	}
	got := make(chan string, 4)
	b.SubscribeSignals(func(from string, p []byte) { got <- from }, nil)
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`2`)); err != nil {
		t.Fatal(err)
	}
	if from := <-got; from != id {
		t.Fatalf("from %q", from)
	}
}

func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
