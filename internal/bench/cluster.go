package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rallypoint/rallypoint/cluster"
	"github.com/rallypoint/rallypoint/signaling"
)

// ClusterConfig configures the cluster benchmark.
type ClusterConfig struct {
	Nodes         int           // cluster nodes, in this process
	Sessions      int           // idle sessions, spread over the nodes
	Pairs         int           // relaying pairs
	Rate          float64       // relayed messages per second, over all pairs
	RelayDuration time.Duration // each relay measurement
	Failover      int           // clients whose node is stopped
	JSON          bool
}

type benchClusterResult struct {
	Nodes                 int     `json:"nodes"`
	Sessions              int     `json:"sessions"`
	InProcess             bool    `json:"in_process"`
	RSSBytesPerSession    float64 `json:"rss_bytes_per_session"`
	CrossNodeRelayP50us   float64 `json:"cross_node_relay_p50_us"`
	CrossNodeRelayP99us   float64 `json:"cross_node_relay_p99_us"`
	CrossNodeRelayRate    float64 `json:"cross_node_relay_rate"`
	SingleNodeRelayP50us  float64 `json:"single_node_relay_p50_us"`
	SingleNodeRelayP99us  float64 `json:"single_node_relay_p99_us"`
	NATSRequestReplyP50us float64 `json:"nats_request_reply_p50_us"`
	NATSRequestReplyP99us float64 `json:"nats_request_reply_p99_us"`
	FailoverResumeP50ms   float64 `json:"failover_resume_p50_ms"`
	FailoverResumeMaxms   float64 `json:"failover_resume_max_ms"`
	FailoverResumed       int     `json:"failover_resumed"`
	FailoverClients       int     `json:"failover_clients"`
}

type benchNode struct {
	node *cluster.Node
	srv  *signaling.Server
	hs   *httptest.Server
	url  string
}

// Cluster measures a cluster of signaling nodes over embedded NATS, all
// in this process: idle sessions, relay between peers on two nodes
// against relay within one node and a bare NATS request/reply across the
// route, and how fast clients resume on another node when theirs stops.
// Client and server memory are counted together (one process).
func Cluster(cfg ClusterConfig) error {
	cfg.Nodes = max(cfg.Nodes, 2)
	raiseNoFile(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	addrs := make([]string, cfg.Nodes)
	routes := make([]string, cfg.Nodes)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		addrs[i], routes[i] = l.Addr().String(), "nats://"+l.Addr().String()
		l.Close()
	}
	nodes := make([]*benchNode, cfg.Nodes)
	errs := make([]error, cfg.Nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := cluster.Start(ctx, cluster.Config{Name: fmt.Sprintf("b%d", i), Listen: addrs[i], Routes: routes})
			if err != nil {
				errs[i] = err
				return
			}
			srv, err := signaling.NewClusterServer(ctx, signaling.Config{MaxConnsPerIP: -1, MaxSessionsPerIP: -1, RatePerSec: 1e6, RateBurst: 1e6}, n)
			if err != nil {
				n.Close()
				errs[i] = err
				return
			}
			hs := httptest.NewServer(srv)
			nodes[i] = &benchNode{node: n, srv: srv, hs: hs, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
		}()
	}
	wg.Wait()
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.hs.Close()
				n.srv.Close()
				n.node.Close()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	res := benchClusterResult{Nodes: cfg.Nodes, InProcess: true, FailoverClients: cfg.Failover}

	// Bare NATS request/reply across the route.
	sub, err := nodes[1].node.Conn().Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) })
	if err != nil {
		return err
	}
	nodes[1].node.Conn().Flush()
	time.Sleep(200 * time.Millisecond) // interest reaches node 0
	var rr []float64
	for range 2000 {
		t0 := time.Now()
		if _, err := nodes[0].node.Conn().Request("bench.echo", []byte("x"), time.Second); err == nil {
			rr = append(rr, float64(time.Since(t0).Nanoseconds())/1e3)
		}
	}
	sub.Unsubscribe()
	res.NATSRequestReplyP50us, res.NATSRequestReplyP99us = pct(rr, 50), pct(rr, 99)

	dial := func(url string, more ...string) (*signaling.Client, error) {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		return signaling.Dial(dctx, url, &signaling.ClientConfig{URLs: more, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	}
	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	// Idle sessions.
	before := selfRSS()
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	for i := range cfg.Sessions {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dial(nodes[i%cfg.Nodes].url)
			if err != nil {
				return
			}
			mu.Lock()
			clients = append(clients, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Sessions = len(clients)
	if res.Sessions > 0 {
		res.RSSBytesPerSession = float64(selfRSS()-before) / float64(res.Sessions)
	}

	// Relay: pairs across nodes 0 and 1, then within node 0.
	relay := func(recvNode int, tag string) (relayStats, error) {
		var senders, receivers []*signaling.Client
		for i := range cfg.Pairs {
			a, err := dial(nodes[0].url)
			if err != nil {
				return relayStats{}, err
			}
			b, err := dial(nodes[recvNode].url)
			if err != nil {
				return relayStats{}, err
			}
			clients = append(clients, a, b)
			room := fmt.Sprintf("%s-%d", tag, i)
			if _, err := a.Join(ctx, room); err != nil {
				return relayStats{}, err
			}
			if _, err := b.Join(ctx, room); err != nil {
				return relayStats{}, err
			}
			senders, receivers = append(senders, a), append(receivers, b)
		}
		time.Sleep(200 * time.Millisecond) // every replica shows the rooms
		m := newRelayMeter(receivers)
		return m.run(ctx, senders, receivers, cfg.Rate, cfg.RelayDuration), nil
	}
	x, err := relay(1, "x")
	if err != nil {
		return err
	}
	res.CrossNodeRelayP50us, res.CrossNodeRelayP99us, res.CrossNodeRelayRate = x.p50, x.p99, x.rate
	s1, err := relay(0, "s")
	if err != nil {
		return err
	}
	res.SingleNodeRelayP50us, res.SingleNodeRelayP99us = s1.p50, s1.p99

	// Failover: the last node stops; its clients resume on node 0.
	last := nodes[cfg.Nodes-1]
	var movers []*signaling.Client
	for i := range cfg.Failover {
		c, err := dial(last.url, nodes[0].url)
		if err != nil {
			return err
		}
		clients = append(clients, c)
		if _, err := c.Join(ctx, fmt.Sprintf("f-%d", i)); err != nil {
			return err
		}
		c.Events()
		movers = append(movers, c)
	}
	times := make([]float64, len(movers))
	last.hs.Listener.Close() // no new connections, as with a dead process
	stopped := time.Now()
	go last.srv.Close() // closes the WebSockets; a cluster node's sessions live on
	for i, c := range movers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case ev := <-c.Events():
					if r, ok := ev.(signaling.Reconnected); ok && r.Resumed {
						times[i] = float64(time.Since(stopped).Microseconds()) / 1e3
						return
					}
				case <-deadline:
					return
				}
			}
		}()
	}
	wg.Wait()
	var ok []float64
	for _, t := range times {
		if t > 0 {
			ok = append(ok, t)
		}
	}
	res.FailoverResumed = len(ok)
	res.FailoverResumeP50ms = pct(ok, 50)
	res.FailoverResumeMaxms = pct(ok, 100)

	if cfg.JSON {
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	printClusterTable(os.Stdout, res)
	return nil
}

func pct(s []float64, p int) float64 {
	if len(s) == 0 {
		return 0
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func selfRSS() int64 {
	r, _ := procRSS(os.Getpid())
	return r
}

func printClusterTable(w io.Writer, r benchClusterResult) {
	fmt.Fprintf(w, "cluster of %d nodes in one process, %d idle sessions (%.0f B RSS per session, clients included)\n", r.Nodes, r.Sessions, r.RSSBytesPerSession)
	fmt.Fprintf(w, "%-34s %10s %10s\n", "", "p50 µs", "p99 µs")
	fmt.Fprintf(w, "%-34s %10.0f %10.0f  (%.0f msg/s)\n", "relay across nodes", r.CrossNodeRelayP50us, r.CrossNodeRelayP99us, r.CrossNodeRelayRate)
	fmt.Fprintf(w, "%-34s %10.0f %10.0f\n", "relay within one node (baseline)", r.SingleNodeRelayP50us, r.SingleNodeRelayP99us)
	fmt.Fprintf(w, "%-34s %10.0f %10.0f\n", "bare NATS request/reply (baseline)", r.NATSRequestReplyP50us, r.NATSRequestReplyP99us)
	fmt.Fprintf(w, "failover: %d/%d clients resumed on another node, p50 %.1f ms, max %.1f ms\n", r.FailoverResumed, r.FailoverClients, r.FailoverResumeP50ms, r.FailoverResumeMaxms)
}
