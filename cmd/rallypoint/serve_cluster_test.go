package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// clusterNode is one `rallypoint serve` process of a test cluster.
type clusterNode struct {
	name string
	cmd  *exec.Cmd
	url  string
	logs *syncBuffer
	wait func() error
}

// startClusterProcs starts n `rallypoint serve` processes that form a
// cluster over embedded NATS, and waits until every one listens.
func startClusterProcs(t *testing.T, n int, extra ...string) []*clusterNode {
	t.Helper()
	routes := make([]string, n)
	addrs := make([]string, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		routes[i] = "nats://" + addrs[i]
		l.Close()
	}
	nodes := make([]*clusterNode, n)
	found := make(chan int, n)
	for i := range n {
		nd := &clusterNode{name: fmt.Sprintf("n%d", i)}
		args := append([]string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json", "-data-dir", t.TempDir(), "-nats-dir", t.TempDir(),
			"-node", nd.name, "-cluster-listen", addrs[i], "-cluster-routes", strings.Join(routes, ",")}, extra...)
		nd.cmd = exec.Command(binary(t), args...)
		stderr, pw := io.Pipe()
		nd.cmd.Stderr = pw
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		nd.logs = &syncBuffer{done: make(chan struct{})}
		go func() {
			defer close(nd.logs.done)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				line := sc.Text()
				nd.logs.WriteString(line + "\n")
				var rec struct {
					Msg       string `json:"msg"`
					Signaling string `json:"signaling"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
					nd.url = rec.Signaling
					found <- i
				}
			}
		}()
		var once sync.Once
		var werr error
		nd.wait = func() error {
			once.Do(func() { werr = nd.cmd.Wait(); pw.Close(); <-nd.logs.done })
			return werr
		}
		nodes[i] = nd
		t.Cleanup(func() {
			nd.cmd.Process.Signal(syscall.SIGTERM)
			nd.wait()
			if t.Failed() {
				t.Logf("%s logs:\n%s", nd.name, nd.logs.String())
			}
			if os.Getenv("CLUSTER_LOGS") != "" {
				t.Logf("%s logs:\n%s", nd.name, nd.logs.String())
			}
		})
	}
	deadline := time.After(90 * time.Second)
	for range n {
		select {
		case <-found:
		case <-deadline:
			t.Fatal("cluster nodes did not start")
		}
	}
	return nodes
}

func dialCluster(t *testing.T, url string, more ...string) *signaling.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{URLs: more, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.Events()
	t.Cleanup(func() { c.Close() })
	return c
}

func nextEvent[T signaling.Event](t *testing.T, c *signaling.Client, within time.Duration, ok func(T) bool) T {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-c.Events():
			if e, is := ev.(T); is && (ok == nil || ok(e)) {
				return e
			}
		case <-deadline:
			var zero T
			t.Fatalf("no %T within %v", zero, within)
			return zero
		}
	}
}

// signalOnce sends one signal from a to b and waits for it.
func signalOnce(t *testing.T, a, b *signaling.Client, got <-chan string, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Signal(ctx, b.ID(), json.RawMessage(payload)); err != nil {
		t.Fatalf("signal %s -> %s: %v", a.ID(), b.ID(), err)
	}
	select {
	case s := <-got:
		if want := a.ID() + " " + payload; s != want {
			t.Fatalf("got %q, want %q", s, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("signal %s -> %s not delivered", a.ID(), b.ID())
	}
}

func signalSink(c *signaling.Client) <-chan string {
	ch := make(chan string, 16)
	c.SubscribeSignals(func(from string, p []byte) { ch <- from + " " + string(p) }, nil)
	return ch
}

// TestServeCluster runs three `rallypoint serve` processes as one cluster
// over embedded NATS: peers on different nodes share rooms and next=N
// groups and signal each other, and when a node is SIGKILLed its clients
// resume on another node with the same peer id and room within 3 s.
func TestServeCluster(t *testing.T) {
	nodes := startClusterProcs(t, 3, "-resume-grace", "20s", "-log-level", "debug")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("CrossNodeSignaling", func(t *testing.T) {
		a := dialCluster(t, nodes[0].url)
		b := dialCluster(t, nodes[1].url)
		c := dialCluster(t, nodes[2].url)
		for _, cl := range []*signaling.Client{a, b, c} {
			if _, err := cl.Join(ctx, "lounge"); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.Peers(); len(got) != 2 {
			t.Fatalf("third joiner sees peers %v", got)
		}
		nextEvent(t, a, 10*time.Second, func(e signaling.PeerJoined) bool { return e.Peer == c.ID() })
		ga, gb, gc := signalSink(a), signalSink(b), signalSink(c)
		signalOnce(t, a, b, gb, `{"sdp":"a<b"}`)
		signalOnce(t, b, c, gc, `{"ice":1}`)
		signalOnce(t, c, a, ga, `"x"`)
		// The sender is stamped by the server: a forged from is refused.
		if _, err := a.Request(ctx, "signal", nil); err == nil {
			t.Fatal("signal as a request accepted")
		}
	})

	t.Run("NextGroupAcrossNodes", func(t *testing.T) {
		cs := []*signaling.Client{dialCluster(t, nodes[0].url), dialCluster(t, nodes[1].url), dialCluster(t, nodes[2].url)}
		rooms := make([]signaling.RoomInfo, 3)
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ri, err := c.JoinNext(ctx, "trio", 3)
				if err != nil {
					t.Error(err)
				}
				rooms[i] = ri
			}()
		}
		wg.Wait()
		if rooms[0].Name == "" || rooms[0].Name != rooms[1].Name || rooms[1].Name != rooms[2].Name {
			t.Fatalf("next=3 across nodes made rooms %q %q %q", rooms[0].Name, rooms[1].Name, rooms[2].Name)
		}
		most := 0
		for _, r := range rooms {
			most = max(most, len(r.Seats))
		}
		if most != 3 {
			t.Fatalf("the last joiner of a next=3 group saw %d seats", most)
		}
	})

	// The node to kill and the node to drain are not the bucket's leader:
	// a leader's death costs a JetStream election (4 to 9 s, longer on a
	// loaded machine) during which joins fail, which is not what these
	// tests measure (resumes and signals do not wait for it).
	leader := -1
	for deadline := time.Now().Add(20 * time.Second); leader < 0 && time.Now().Before(deadline); {
		name := healthField(t, nodes[0], "kv_leader")
		for i, n := range nodes {
			if n.name == name {
				leader = i
			}
		}
		if leader < 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if leader < 0 {
		t.Fatal("the bucket has no leader")
	}
	kill, drain := (leader+1)%3, (leader+2)%3

	t.Run("NodeKilledClientsResume", func(t *testing.T) {
		// p is on the node to kill and knows the leader's; q is on the
		// leader's.
		p := dialCluster(t, nodes[kill].url, nodes[leader].url)
		q := dialCluster(t, nodes[leader].url)
		ri, err := p.JoinNext(ctx, "duel", 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.JoinNext(ctx, "duel", 2); err != nil {
			t.Fatal(err)
		}
		id := p.ID()
		gp, gq := signalSink(p), signalSink(q)
		signalOnce(t, p, q, gq, `1`)
		killed := time.Now()
		if err := nodes[kill].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		r := nextEvent[signaling.Reconnected](t, p, 10*time.Second, nil)
		took := time.Since(killed)
		t.Logf("resumed on another node %v after SIGKILL", took)
		if !r.Resumed || r.ID != id {
			t.Fatalf("reconnected %+v, want resumed as %s", r, id)
		}
		if took > 3*time.Second {
			t.Fatalf("resume took %v, want at most 3 s", took)
		}
		if p.Room() != ri.Name {
			t.Fatalf("room after resume %q, want %q", p.Room(), ri.Name)
		}
		signalOnce(t, p, q, gq, `2`)
		signalOnce(t, q, p, gp, `3`)
	})
	t.Run("DrainMovesClients", func(t *testing.T) {
		// One node is dead; draining another leaves the leader's alone,
		// without a quorum for the bucket: the resume must still go through.
		d := dialCluster(t, nodes[drain].url, nodes[leader].url)
		e := dialCluster(t, nodes[leader].url)
		// If the killed node led the bucket's stream, joins fail until
		// JetStream has elected another leader (4 to 9 s).
		for _, c := range []*signaling.Client{d, e} {
			for {
				_, err := c.Join(ctx, "drain")
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					t.Fatal(err)
				}
				t.Logf("join while the bucket elects a leader: %v", err)
				time.Sleep(250 * time.Millisecond)
			}
		}
		t.Log("joined")
		id := d.ID()
		gd, ge := signalSink(d), signalSink(e)
		signalOnce(t, d, e, ge, `4`)
		if err := nodes[drain].cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		t.Log("drain")
		r := nextEvent[signaling.Reconnected](t, d, 15*time.Second, nil)
		t.Log("resumed")
		if !r.Resumed || r.ID != id {
			t.Fatalf("reconnected %+v, want resumed as %s", r, id)
		}
		if err := nodes[drain].wait(); err != nil {
			t.Fatalf("drained node exited with %v", err)
		}
		signalOnce(t, e, d, gd, `5`)
		signalOnce(t, d, e, ge, `6`)
	})
}

// healthField reads one field of a node's /healthz.
func healthField(t *testing.T, n *clusterNode, field string) string {
	t.Helper()
	u := "http" + strings.TrimPrefix(strings.TrimSuffix(n.url, "/ws"), "ws") + "/healthz"
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+" "); ok {
			return v
		}
	}
	return ""
}
