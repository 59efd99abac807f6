package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/signaling"
)

// nsNode is one `rallypoint serve` process of a cluster in network
// namespaces.
type nsNode struct {
	name string
	ns   *netns.NS
	ip   string
	cmd  *exec.Cmd
	logs *syncBuffer
	url  string // ws://IP:7000/ws
}

// routePort is the cluster (NATS route) port of every node.
const routePort = "6222"

// startNSCluster starts one `rallypoint serve` node in each namespace of
// ifcs (named a, b, c…), listening on its interface's address: signaling
// on port 7000, NATS routes on routePort, every node routed to every
// other. It waits until every node listens.
func startNSCluster(t *testing.T, ifcs []netns.Iface, extra ...string) []*nsNode {
	t.Helper()
	var routes []string
	for _, ifc := range ifcs {
		routes = append(routes, "nats://"+net.JoinHostPort(ifc.IPv4, routePort))
	}
	nodes := make([]*nsNode, len(ifcs))
	listening := make(chan int, len(ifcs))
	for i, ifc := range ifcs {
		nd := &nsNode{name: string(rune('a' + i)), ns: ifc.NS, ip: ifc.IPv4}
		args := append([]string{"serve", "-addr", net.JoinHostPort(ifc.IPv4, "7000"), "-log-format", "json",
			"-data-dir", t.TempDir(), "-nats-dir", t.TempDir(), "-node", nd.name, "-cluster-listen", net.JoinHostPort(ifc.IPv4, routePort),
			"-cluster-routes", strings.Join(routes, ",")}, extra...)
		nd.cmd = ifc.NS.Command(binary(t), args...)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		nd.cmd.Stderr = pw
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		nd.logs = &syncBuffer{done: make(chan struct{})}
		go func() {
			defer close(nd.logs.done)
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				nd.logs.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), `"msg":"listening"`) {
					listening <- i
				}
			}
		}()
		nd.url = "ws://" + net.JoinHostPort(ifc.IPv4, "7000") + "/ws"
		nodes[i] = nd
		t.Cleanup(func() {
			nd.cmd.Process.Signal(syscall.SIGKILL)
			nd.cmd.Wait()
			<-nd.logs.done
			if t.Failed() || os.Getenv("CLUSTER_LOGS") != "" {
				t.Logf("node %s logs:\n%s", nd.name, nd.logs.String())
			}
		})
	}
	deadline := time.After(90 * time.Second)
	for range nodes {
		select {
		case <-listening:
		case <-deadline:
			t.Fatal("cluster nodes did not start")
		}
	}
	return nodes
}

// nsDialer dials from inside ns.
func nsDialer(ns *netns.NS) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// nsHealth reads a node's /healthz fields from inside ns.
func nsHealth(ns *netns.NS, nd *nsNode) (map[string]string, error) {
	c := http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: nsDialer(ns), DisableKeepAlives: true}}
	resp, err := c.Get("http://" + net.JoinHostPort(nd.ip, "7000") + "/healthz")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			out[k] = v
		}
	}
	return out, nil
}

// TestServeClusterRouteCut runs three `rallypoint serve` nodes in network
// namespaces on one bridge and cuts one node's NATS routes with iptables
// (every TCP packet to or from the route port dropped in its namespace,
// while its clients stay connected), then heals the cut. During the cut
// the other two see the node down (live_nodes 2) and mark its room members
// away (peer_interrupted), and a join through the cut node is answered
// with unavailable and a retry hint; after the heal every node sees three again, the cut node's
// members come back (peer_resumed), signals cross the healed routes both
// ways and joins through the node work.
func TestServeClusterRouteCut(t *testing.T) {
	if testing.Short() {
		t.Skip("three server processes in namespaces: skipped in -short")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables not found (scripts/setup.sh installs it)")
	}
	lab := netns.New(t)
	spaces := []*netns.NS{lab.NS("clfa"), lab.NS("clfb"), lab.NS("clfc"), lab.NS("clfx")}
	ifcs := lab.Bridge(netns.LinkOptions{}, spaces...)
	cli := spaces[3] // the clients' namespace
	nodes := startNSCluster(t, ifcs[:3], "-log-level", "debug")

	cc := &cutCluster{t: t, cli: cli, nodes: nodes}
	waitHealth := cc.waitHealth
	cut := cc.pickCut()
	cn := nodes[cut]
	others := []*nsNode{nodes[(cut+1)%3], nodes[(cut+2)%3]}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dial := func(nd *nsNode) *signaling.Client { return cc.dial(ctx, nd) }
	p := dial(others[0]) // on a node that stays with the majority
	q := dial(cn)        // on the node to cut
	q2 := dial(cn)       // joins there during the cut
	for _, c := range []*signaling.Client{p, q} {
		if _, err := c.Join(ctx, "cut"); err != nil {
			t.Fatal(err)
		}
	}
	nextEvent(t, p, 10*time.Second, func(e signaling.PeerJoined) bool { return e.Peer == q.ID() })
	gp, gq := signalSink(p), signalSink(q)
	signalOnce(t, q, p, gp, `"before"`)

	rule := func(op string) { cc.cutRoutes(cn, op) }
	rule("-I")
	cutAt := time.Now()
	t.Logf("routes of node %s cut", cn.name)
	var seenDown []time.Duration
	for _, nd := range others {
		seenDown = append(seenDown, waitHealth(nd, "live_nodes", "2", 20*time.Second).Sub(cutAt))
	}
	waitHealth(cn, "live_nodes", "1", 20*time.Second)
	nextEvent(t, p, 30*time.Second, func(e signaling.PeerInterrupted) bool { return e.Peer == q.ID() })
	awayAfter := time.Since(cutAt)
	// A join through the cut node needs the bucket's quorum: it is
	// answered with the retryable code unavailable and a retry hint (the
	// client retries it until its context ends), never internal.
	jctx, jcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := q2.Join(jctx, "during-cut")
	jcancel()
	var se *signaling.Error
	if !errors.As(err, &se) || se.Code != signaling.CodeUnavailable || se.RetryAfter <= 0 {
		t.Fatalf("join on the cut node: %v, want code %s with a retry hint", err, signaling.CodeUnavailable)
	}
	t.Logf("join on the cut node: %v (retry after %v)", err, se.RetryAfter)

	rule("-D")
	healAt := time.Now()
	var seenUp []time.Duration
	for _, nd := range nodes {
		seenUp = append(seenUp, waitHealth(nd, "live_nodes", "3", 30*time.Second).Sub(healAt))
	}
	nextEvent(t, p, 30*time.Second, func(e signaling.PeerResumed) bool { return e.Peer == q.ID() })
	resumedAfter := time.Since(healAt)
	signalOnce(t, q, p, gp, `"after"`)
	signalOnce(t, p, q, gq, `"back"`)
	// Joins through the healed node work again once its store has caught
	// up (they fail with a coded error until then), and see both members.
	var ri signaling.RoomInfo
	for {
		jctx, jcancel := context.WithTimeout(ctx, 10*time.Second)
		ri, err = q2.Join(jctx, "cut")
		jcancel()
		if err == nil {
			break
		}
		if !errors.As(err, &se) || time.Since(healAt) > 30*time.Second {
			t.Fatalf("join on the healed node %v after the heal: %v", time.Since(healAt), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	joinAfter := time.Since(healAt)
	if len(ri.Peers) != 2 {
		t.Fatalf("join on the healed node sees peers %v, want %s and %s", ri.Peers, p.ID(), q.ID())
	}
	t.Logf("cut %s: the others saw it down after %v, its member away after %v; healed: live_nodes 3 everywhere after %v, its member resumed after %v, joins there work after %v",
		cn.name, durs(seenDown), awayAfter.Round(time.Millisecond), durs(seenUp), resumedAfter.Round(time.Millisecond), joinAfter.Round(time.Millisecond))
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, d.Round(time.Millisecond).String())
	}
	return strings.Join(s, ", ")
}

// TestServeClusterLongCut cuts one node's routes for longer than the
// resume grace (6 s here). Half a grace into the cut, the cut node closes
// its clients' connections and refuses hellos: a client that knows
// another node resumes there with its id and room (its peers see
// peer_resumed) and signals its peers; a client that knows only the cut
// node cannot, the majority removes it when the grace ends (peer_left),
// and after the heal its resume fails with resume_expired: it starts a
// new session and joins again. The cut node keeps no stale copy of
// either session.
func TestServeClusterLongCut(t *testing.T) {
	if testing.Short() {
		t.Skip("three server processes in namespaces: skipped in -short")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables not found (scripts/setup.sh installs it)")
	}
	lab := netns.New(t)
	spaces := []*netns.NS{lab.NS("cgla"), lab.NS("cglb"), lab.NS("cglc"), lab.NS("cglx")}
	ifcs := lab.Bridge(netns.LinkOptions{}, spaces...)
	cli := spaces[3]
	const grace = 6 * time.Second
	nodes := startNSCluster(t, ifcs[:3], "-resume-grace", grace.String())
	cc := &cutCluster{t: t, cli: cli, nodes: nodes}
	waitHealth := cc.waitHealth
	cut := cc.pickCut()
	cn := nodes[cut]
	others := []*nsNode{nodes[(cut+1)%3], nodes[(cut+2)%3]}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dial := func(nd *nsNode, more ...string) *signaling.Client { return cc.dial(ctx, nd, more...) }
	p := dial(others[0])
	q := dial(cn, others[1].url) // knows another node
	r := dial(cn)                // knows only the cut node
	for _, c := range []*signaling.Client{p, q, r} {
		if _, err := c.Join(ctx, "long"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*signaling.Client{q, r} {
		nextEvent(t, p, 10*time.Second, func(e signaling.PeerJoined) bool { return e.Peer == c.ID() })
	}
	qid, rid := q.ID(), r.ID()
	gq := signalSink(q)

	rule := func(op string) { cc.cutRoutes(cn, op) }
	rule("-I")
	cutAt := time.Now()
	healed := false
	defer func() {
		if !healed {
			rule("-D")
		}
	}()
	// q moves to the other node it knows and resumes there.
	rc := nextEvent(t, q, 30*time.Second, func(e signaling.Reconnected) bool { return true })
	movedAfter := time.Since(cutAt)
	if !rc.Resumed || rc.ID != qid || rc.URL != others[1].url {
		t.Fatalf("q reconnected %+v, want resumed as %s on %s", rc, qid, others[1].url)
	}
	if q.Room() != "long" {
		t.Fatalf("q in room %q after moving", q.Room())
	}
	nextEvent(t, p, 30*time.Second, func(e signaling.PeerResumed) bool { return e.Peer == qid })
	signalOnce(t, p, q, gq, `"moved"`)
	// r cannot move: the majority removes it once the grace has passed.
	nextEvent(t, p, 40*time.Second, func(e signaling.PeerLeft) bool { return e.Peer == rid })
	leftAfter := time.Since(cutAt)
	if leftAfter < grace {
		t.Errorf("r removed %v after the cut, within the resume grace %v", leftAfter, grace)
	}

	rule("-D")
	healed = true
	healAt := time.Now()
	// r comes back to the healed node: its session is gone, it starts
	// a new one and joins again.
	rr := nextEvent(t, r, 40*time.Second, func(e signaling.Reconnected) bool { return !e.Resumed })
	if rr.ID == rid || r.Room() != "" {
		t.Fatalf("r after the heal: %+v in room %q, want a new session outside the room", rr, r.Room())
	}
	backAfter := time.Since(healAt)
	if _, err := r.Join(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, p, 20*time.Second, func(e signaling.PeerJoined) bool { return e.Peer == rr.ID })
	// The cut node holds r's new session only: q's copy went when the
	// store showed q on the other node, r's old one expired.
	waitHealth(cn, "sessions", "1", 30*time.Second)
	t.Logf("cut %s for %v (grace %v): q resumed on %s %v after the cut; r removed after %v, back as a new session %v after the heal",
		cn.name, healAt.Sub(cutAt).Round(time.Millisecond), grace, others[1].name, movedAfter.Round(time.Millisecond),
		leftAfter.Round(time.Millisecond), backAfter.Round(time.Millisecond))
}

// cutCluster is a three-node cluster in namespaces whose NATS routes a
// test cuts, seen from the clients' namespace cli.
type cutCluster struct {
	t     *testing.T
	cli   *netns.NS
	nodes []*nsNode
}

// health returns a node's /healthz fields.
func (c *cutCluster) health(nd *nsNode) map[string]string {
	c.t.Helper()
	h, err := nsHealth(c.cli, nd)
	if err != nil {
		c.t.Fatalf("node %s: %v", nd.name, err)
	}
	return h
}

// waitHealth polls a node's /healthz until field has the value want, and
// returns when it did.
func (c *cutCluster) waitHealth(nd *nsNode, field, want string, within time.Duration) time.Time {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		h := c.health(nd)
		if h[field] == want {
			return time.Now()
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s: %s %q after %v, want %q (healthz %v)", nd.name, field, h[field], within, want, h)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pickCut waits until every node sees the three, and returns the index of
// a node to cut: one that does not lead the KV bucket's stream, since the
// other two would first elect a new leader (4 to 9 s without writes),
// which is not what the tests measure.
func (c *cutCluster) pickCut() int {
	c.t.Helper()
	for _, nd := range c.nodes {
		c.waitHealth(nd, "live_nodes", "3", 30*time.Second)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		leader := c.health(c.nodes[0])["kv_leader"]
		for i := len(c.nodes) - 1; i >= 0 && leader != ""; i-- {
			if c.nodes[i].name != leader {
				return i
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the bucket has no leader")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dial connects a client from the clients' namespace to nd (and to the
// nodes of more when nd fails), closed at the test's end.
func (c *cutCluster) dial(ctx context.Context, nd *nsNode, more ...string) *signaling.Client {
	c.t.Helper()
	cl, err := signaling.Dial(ctx, nd.url, &signaling.ClientConfig{NetDialContext: nsDialer(c.cli), URLs: more,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		c.t.Fatal(err)
	}
	cl.Events()
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// cutRoutes inserts (op "-I") or deletes ("-D") the rules that drop every
// TCP packet to or from the route port in nd's namespace, while its
// clients stay connected.
func (c *cutCluster) cutRoutes(nd *nsNode, op string) {
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		for _, port := range []string{"--dport", "--sport"} {
			nd.ns.IPTables(op, chain, "-p", "tcp", port, routePort, "-j", "DROP")
		}
	}
}
