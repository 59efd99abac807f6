package cluster_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// counter is a cluster-wide service for tests: "ctr.add" adds to a count
// that the leader saves, "ctr.get" reads it; it records the peers gone.
type counter struct {
	node string
	svc  *signaling.Service

	mu    sync.Mutex
	n     int
	leads int
	gone  []string
}

func newCounter(srv *signaling.Server, node string) *counter {
	c := &counter{node: node}
	c.svc = srv.Service("ctr", signaling.ServiceConfig{
		Lead: func(_ context.Context, st signaling.ServiceState) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.leads++
			c.n = 0
			if b, ok := st.Records["n"]; ok {
				c.n, _ = strconv.Atoi(string(b))
			}
			return nil
		},
		Follow: func() {
			c.mu.Lock()
			c.n = -1000
			c.mu.Unlock()
		},
		OnPeerGone: func(peer string) {
			c.mu.Lock()
			c.gone = append(c.gone, peer)
			c.mu.Unlock()
		},
	})
	c.svc.Handle("ctr.add", func(req *signaling.Request) {
		c.mu.Lock()
		c.n++
		n := c.n
		c.svc.Save("n", []byte(strconv.Itoa(n)))
		c.mu.Unlock()
		req.Reply(map[string]any{"n": n, "node": node, "peer": req.Peer})
	})
	c.svc.Handle("ctr.get", func(req *signaling.Request) {
		c.mu.Lock()
		n := c.n
		c.mu.Unlock()
		req.Reply(map[string]any{"n": n, "node": node})
	})
	c.svc.Start()
	return c
}

type ctrReply struct {
	N    int    `json:"n"`
	Node string `json:"node"`
	Peer string `json:"peer"`
}

// ask sends a request; the client retries it while the service has no
// leader.
func ask(t *testing.T, c *signaling.Client, typ string) ctrReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := c.Request(ctx, typ, nil)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	var r ctrReply
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestClusterService checks Server.Service on three nodes in this process:
// requests reach the one leader from any node, the leader learns of peers
// gone on other nodes, a rejoin ticket works across nodes, and when the
// leader stops another node takes over with the saved records.
func TestClusterService(t *testing.T) {
	nodes := startCluster(t, 3, signaling.Config{ResumeGrace: 5 * time.Second, RatePerSec: 10000, RateBurst: 10000})
	ctrs := make([]*counter, len(nodes))
	for i, n := range nodes {
		ctrs[i] = newCounter(n.srv, n.node.Node())
	}
	clients := make([]*signaling.Client, len(nodes))
	for i, n := range nodes {
		clients[i] = dial(t, n.url)
	}
	// Every node's request lands on the same leader, in order.
	var leader string
	for i, c := range clients {
		r := ask(t, c, "ctr.add")
		if i == 0 {
			leader = r.Node
		}
		if r.Node != leader || r.N != i+1 || r.Peer != c.ID() {
			t.Fatalf("reply %+v from client %d, want n=%d from leader %s for %s", r, i, i+1, leader, c.ID())
		}
	}
	li := slices.IndexFunc(nodes, func(n *testNode) bool { return n.node.Node() == leader })
	for i, c := range ctrs {
		if got := c.svc.Leading(); got != (i == li) {
			t.Fatalf("node %d leading %v", i, got)
		}
		if c.svc.Leader() != leader {
			t.Fatalf("node %d names leader %q, want %q", i, c.svc.Leader(), leader)
		}
	}

	// The cost of forwarding, for the record: round trips of a request
	// from the leader's node and from another.
	for _, i := range []int{li, (li + 1) % 3} {
		const n = 200
		d := make([]time.Duration, n)
		for k := range d {
			start := time.Now()
			ask(t, clients[i], "ctr.get")
			d[k] = time.Since(start)
		}
		slices.Sort(d)
		t.Logf("request from node %d (leader %v): p50 %v p99 %v", i, i == li, d[n/2], d[n*99/100])
	}

	t.Run("PeerGoneOnAnotherNode", func(t *testing.T) {
		other := (li + 1) % len(nodes)
		p := dial(t, nodes[other].url)
		ask(t, p, "ctr.get")
		id := p.ID()
		p.Close() // a normal close ends the session for good
		deadline := time.Now().Add(10 * time.Second)
		for {
			ctrs[li].mu.Lock()
			got := slices.Contains(ctrs[li].gone, id)
			ctrs[li].mu.Unlock()
			if got {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the leader was not told that %s on node %d is gone", id, other)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("RejoinAcrossNodes", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		a := dial(t, nodes[0].url)
		b := dial(t, nodes[1].url)
		ri, err := a.JoinNext(ctx, "rj", 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.JoinNext(ctx, "rj", 2); err != nil {
			t.Fatal(err)
		}
		ticket := a.RejoinTicket()
		if ticket == "" {
			t.Fatal("no rejoin ticket on a cluster node")
		}
		// A fresh client on a third node takes a's seat back while a
		// still holds it (a killed process's session waiting to resume).
		a2 := dial(t, nodes[2].url)
		info, err := a2.Rejoin(ctx, ticket)
		if err != nil {
			t.Fatal(err)
		}
		if info.Name != ri.Name || !slices.Equal(info.Seats, []string{a2.ID(), b.ID()}) || !slices.Equal(info.Peers, []string{b.ID()}) {
			t.Fatalf("rejoined %+v, want room %s seats [%s %s]", info, ri.Name, a2.ID(), b.ID())
		}
		ev := waitEvent(t, b, "peer_joined replacing a", func(e signaling.Event) bool {
			j, ok := e.(signaling.PeerJoined)
			return ok && j.Peer == a2.ID()
		}).(signaling.PeerJoined)
		if ev.Replaces != a.ID() {
			t.Fatalf("peer_joined %+v, want replaces %s", ev, a.ID())
		}
		waitEvent(t, a, "a left the room", func(e signaling.Event) bool {
			l, ok := e.(signaling.Left)
			return ok && l.Room == ri.Name
		})
		if err := b.Signal(ctx, a2.ID(), json.RawMessage(`"back"`)); err != nil {
			t.Fatal(err)
		}
		// The first ticket works again (a process that rejoins twice).
		a3 := dial(t, nodes[1].url)
		if _, err := a3.Rejoin(ctx, ticket); err != nil {
			t.Fatalf("second rejoin with the first ticket: %v", err)
		}
		// A forged ticket is refused.
		if _, err := dial(t, nodes[0].url).Rejoin(ctx, ticket[:len(ticket)-2]+"AA"); err == nil {
			t.Fatal("forged ticket accepted")
		}
	})

	t.Run("LeaderStops", func(t *testing.T) {
		before := ask(t, clients[(li+1)%3], "ctr.get").N
		nodes[li].close() // a node that closes gives the leadership up at once
		start := time.Now()
		c := clients[(li+2)%3]
		r := ask(t, c, "ctr.get")
		t.Logf("new leader %s after %v", r.Node, time.Since(start))
		if r.Node == leader || r.N != before {
			t.Fatalf("after the leader stopped: %+v, want another node with n=%d", r, before)
		}
		if r := ask(t, c, "ctr.add"); r.N != before+1 {
			t.Fatalf("add after failover: %+v, want n=%d", r, before+1)
		}
	})
}

// TestClusterServiceLeaderDiesInFlight: a request forwarded to the leader
// that dies before answering it is answered with CodeUnavailable by the
// forwarding node once it sees the leader down, and Client.Request sends
// it again to the next leader, instead of waiting for ever.
func TestClusterServiceLeaderDiesInFlight(t *testing.T) {
	nodes := startCluster(t, 3, signaling.Config{ResumeGrace: 5 * time.Second})
	started := make(chan string, 1)
	var first sync.Once
	svcs := make([]*signaling.Service, len(nodes))
	for i, n := range nodes {
		name := n.node.Node()
		v := n.srv.Service("slow", signaling.ServiceConfig{})
		v.Handle("slow.op", func(req *signaling.Request) {
			blocked := false
			first.Do(func() { blocked = true })
			if blocked {
				// The leader takes the request and dies before it
				// answers: no reply ever comes from here.
				started <- name
				<-req.Context().Done()
				return
			}
			req.Reply(map[string]string{"node": name})
		})
		v.Start()
		svcs[i] = v
	}
	li := -1
	for deadline := time.Now().Add(30 * time.Second); li < 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		li = slices.IndexFunc(svcs, func(v *signaling.Service) bool { return v.Leading() })
	}
	c := dial(t, nodes[(li+1)%3].url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type result struct {
		raw json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := c.Request(ctx, "slow.op", nil)
		done <- result{raw, err}
	}()
	if got := <-started; got != nodes[li].node.Node() {
		t.Fatalf("request served by %s, want the leader %s", got, nodes[li].node.Node())
	}
	killed := time.Now()
	nodes[li].close()
	r := <-done
	if r.err != nil {
		t.Fatalf("request whose leader died: %v", r.err)
	}
	var rep struct{ Node string }
	json.Unmarshal(r.raw, &rep)
	if rep.Node == "" || rep.Node == nodes[li].node.Node() {
		t.Fatalf("answered by %q, want the next leader", rep.Node)
	}
	t.Logf("the request in flight was answered by the next leader %s %v after the leader closed", rep.Node, time.Since(killed).Round(time.Millisecond))
}
