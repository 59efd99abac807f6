package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rallypoint/rallypoint/signaling"
)

// Config configures a Node. The zero value is a valid single embedded
// node.
type Config struct {
	// Name is the node's name, unique in the cluster ([-_a-zA-Z0-9]).
	// Empty means a random one.
	Name string
	// NATSURL, when set, connects to an external NATS cluster (with
	// JetStream enabled) instead of embedding a NATS server; Listen,
	// Routes, ClientListen and StoreDir are then ignored.
	NATSURL string
	// Listen is the embedded server's cluster (route) address, host:port.
	// Empty means no cluster listener: a single node.
	Listen string
	// Routes are the other nodes' route URLs (nats://host:port). A node
	// may list itself; NATS ignores that route.
	Routes []string
	// ClientListen is the embedded server's client address, host:port,
	// for NATS tools and benchmarks; the node itself connects there too
	// (loopback for a wildcard host). Empty means a random port on
	// 127.0.0.1.
	ClientListen string
	// StoreDir is the embedded JetStream's directory. Empty means a fresh
	// temporary directory, removed by Close.
	StoreDir string
	// Replicas is the KV bucket's replica count. Zero means 3 for an
	// embedded cluster of at least three nodes (1 + len(Routes) without
	// self), the cluster's size below that, and 1 with NATSURL.
	Replicas int
	// Bucket names the KV bucket. Zero means "rallypoint".
	Bucket string
	// Heartbeat is how often the node announces itself; DeadAfter how long
	// a silent node is still taken for alive. Zero means 250 ms and 2 s.
	Heartbeat, DeadAfter time.Duration
	// StartTimeout bounds Start's wait for the cluster to agree on the KV
	// bucket (JetStream needs a quorum of its nodes up). Zero means 60 s.
	StartTimeout time.Duration
	// Logger receives logs. Nil means none.
	Logger *slog.Logger
}

// Node is this process's membership in a cluster; it implements
// signaling.Backplane. Create it with Start; Close releases it.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ns     *server.Server // nil with an external NATS
	nc     *nats.Conn
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	tmpDir string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	recv     func([]byte)
	onNode   func(string, bool)
	lastSeen map[string]time.Time
	up       map[string]bool
	closed   bool
	subs     []*nats.Subscription
	kicks    []chan struct{} // one per Watch: a node went down
}

// Route liveness of the embedded NATS server: a route that answers none
// of routePingsOut pings sent routePingInterval apart is closed and
// redialed.
const (
	routePingInterval = time.Second
	routePingsOut     = 4
)

// Subjects.
const (
	subjHeartbeat = "rp.hb"    // payload: node name
	subjNodePfx   = "rp.node." // + node name: node-addressed messages
	subjAll       = "rp.all"   // messages to every node
)

var _ signaling.Backplane = (*Node)(nil)

// Start joins (or forms) the cluster: it starts the embedded NATS server
// or connects to NATSURL, then creates or opens the KV bucket, retrying
// until the cluster has a JetStream quorum or ctx / StartTimeout ends.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Name == "" {
		b := make([]byte, 4)
		rand.Read(b)
		cfg.Name = "n" + hex.EncodeToString(b)
	}
	if !validName(cfg.Name) {
		return nil, fmt.Errorf("cluster: node name %q: use letters, digits, - and _", cfg.Name)
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "rallypoint"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 250 * time.Millisecond
	}
	if cfg.DeadAfter <= 0 {
		cfg.DeadAfter = 2 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	n := &Node{cfg: cfg, log: cfg.Logger, lastSeen: map[string]time.Time{}, up: map[string]bool{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	replicas := cfg.Replicas
	if cfg.NATSURL != "" {
		nc, err := nats.Connect(cfg.NATSURL, nats.Name("rallypoint-"+cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
		if err != nil {
			return nil, fmt.Errorf("cluster: connect %s: %w", cfg.NATSURL, err)
		}
		n.nc = nc
		if replicas <= 0 {
			replicas = 1
		}
	} else {
		if err := n.embed(); err != nil {
			return nil, err
		}
		if replicas <= 0 {
			replicas = min(3, 1+n.otherRoutes())
		}
	}
	js, err := jetstream.New(n.nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	n.js = js
	sctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(sctx, 3*time.Second)
		kv, err := js.CreateOrUpdateKeyValue(actx, jetstream.KeyValueConfig{
			Bucket:   cfg.Bucket,
			History:  1,
			Storage:  jetstream.MemoryStorage,
			Replicas: replicas,
		})
		acancel()
		if err == nil {
			n.kv = kv
			break
		}
		n.log.Debug("waiting for the KV bucket", "err", err)
		select {
		case <-sctx.Done():
			return nil, fmt.Errorf("cluster: KV bucket %q (replicas %d): %w (last error: %v)", cfg.Bucket, replicas, sctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	sub, err := n.nc.Subscribe(subjNodePfx+cfg.Name, func(m *nats.Msg) {
		n.mu.Lock()
		fn := n.recv
		n.mu.Unlock()
		if fn != nil {
			fn(m.Data)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	sub.SetPendingLimits(1<<20, 256<<20)
	all, err := n.nc.Subscribe(subjAll, func(m *nats.Msg) {
		n.mu.Lock()
		fn := n.recv
		n.mu.Unlock()
		if fn != nil {
			fn(m.Data)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	n.subs = append(n.subs, all)
	hb, err := n.nc.Subscribe(subjHeartbeat, func(m *nats.Msg) { n.heard(string(m.Data)) })
	if err != nil {
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	n.subs = append(n.subs, sub, hb)
	if err := n.nc.Flush(); err != nil {
		return nil, fmt.Errorf("cluster: flush: %w", err)
	}
	n.wg.Add(1)
	go n.liveness()
	ok = true
	n.log.Info("cluster node up", "node", cfg.Name, "replicas", replicas, "embedded", n.ns != nil)
	return n, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// otherRoutes counts the routes that do not point at this node's own
// cluster listener.
func (n *Node) otherRoutes() int {
	k := 0
	for _, r := range n.cfg.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == n.cfg.Listen {
			continue
		}
		k++
	}
	return k
}

func (n *Node) embed() error {
	cfg := n.cfg
	dir := cfg.StoreDir
	if dir == "" {
		d, err := os.MkdirTemp("", "rallypoint-nats-")
		if err != nil {
			return fmt.Errorf("cluster: store dir: %w", err)
		}
		dir, n.tmpDir = d, d
	}
	opts := &server.Options{
		ServerName:         cfg.Name,
		JetStream:          true,
		StoreDir:           dir,
		NoSigs:             true,
		NoLog:              true,
		Host:               "127.0.0.1",
		Port:               -1,
		JetStreamMaxMemory: 1 << 30,
	}
	if cfg.ClientListen != "" {
		host, port, err := splitHostPort(cfg.ClientListen)
		if err != nil {
			return fmt.Errorf("cluster: client listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.Listen != "" {
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return fmt.Errorf("cluster: listen: %w", err)
		}
		// Routes ping every second and close after RoutePingsOut
		// unanswered pings, to be redialed every second: a healed cut
		// reconnects in about a second instead of waiting for TCP's
		// retransmission backoff (tens of seconds after a long cut;
		// NATS's own route pings default to 30 s).
		opts.Cluster = server.ClusterOpts{Name: "rallypoint", Host: host, Port: port,
			PingInterval: routePingInterval, MaxPingsOut: routePingsOut}
		if len(cfg.Routes) > 0 {
			opts.Routes = server.RoutesFromStr(strings.Join(cfg.Routes, ","))
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("cluster: nats server: %w", err)
	}
	n.ns = ns
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		return errors.New("cluster: embedded nats server did not start")
	}
	// The node's own connection is in-process, without a socket: no
	// system call and no network poller wake-up for the messages between
	// the node and its server, which on a machine with busy cores each
	// risk a wait for a thread. nats.go writes while holding its
	// connection's lock and a bare net.Pipe write waits for the server to
	// read it, so the node's end buffers its writes (inprocConn) and
	// a publish returns at once as on a socket. Since such a write costs
	// no system call, nats.go's write buffer is one byte: a publish writes
	// on the publishing goroutine (a session's reader relaying a signal, a
	// node message's handler sending its ack) rather than waking nats.go's
	// flusher goroutine to do it, one hand-off less per message.
	nc, err := nats.Connect(ns.ClientURL(), nats.InProcessServer(inprocProvider{ns}), nats.WriteBufferSize(1),
		nats.Name("rallypoint-"+cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("cluster: connect to the embedded server: %w", err)
	}
	n.nc = nc
	return nil
}

func splitHostPort(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// Name is the node's name.
func (n *Node) Node() string { return n.cfg.Name }

// Conn is the node's NATS connection, for benchmarks and tools.
func (n *Node) Conn() *nats.Conn { return n.nc }

// ClientURL is the embedded server's client URL, or "" when NATS is
// external.
func (n *Node) ClientURL() string {
	if n.ns == nil {
		return ""
	}
	return n.ns.ClientURL()
}

// Routes is the number of routes the embedded server holds now (0 with an
// external NATS).
func (n *Node) Routes() int {
	if n.ns == nil {
		return 0
	}
	return n.ns.NumRoutes()
}

// KVLeader names the node that leads the KV bucket's stream now, or ""
// when it has none (an election, no quorum) or cannot be asked.
func (n *Node) KVLeader(ctx context.Context) string {
	st, err := n.js.Stream(ctx, "KV_"+n.cfg.Bucket)
	if err != nil {
		return ""
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		return ""
	}
	return info.Cluster.Leader
}

// LiveNodes returns the nodes heard from within the failure-detection
// delay, this one included.
func (n *Node) LiveNodes() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := []string{n.cfg.Name}
	for node, up := range n.up {
		if up && node != n.cfg.Name {
			out = append(out, node)
		}
	}
	return out
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return fmt.Errorf("%w: %w", signaling.ErrBackplaneNotFound, err)
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return fmt.Errorf("%w: %w", signaling.ErrBackplaneConflict, err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return fmt.Errorf("%w: %w", signaling.ErrBackplaneConflict, err)
	}
	return fmt.Errorf("cluster: %w", err)
}

// Get implements signaling.Backplane.
func (n *Node) Get(ctx context.Context, key string) (signaling.BackplaneEntry, error) {
	e, err := n.kv.Get(ctx, key)
	if err != nil {
		return signaling.BackplaneEntry{}, mapErr(err)
	}
	return signaling.BackplaneEntry{Key: key, Value: e.Value(), Rev: e.Revision()}, nil
}

// Create implements signaling.Backplane.
func (n *Node) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := n.kv.Create(ctx, key, value)
	return rev, mapErr(err)
}

// Update implements signaling.Backplane.
func (n *Node) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	r, err := n.kv.Update(ctx, key, value, rev)
	return r, mapErr(err)
}

// Delete implements signaling.Backplane.
func (n *Node) Delete(ctx context.Context, key string, rev uint64) error {
	var opts []jetstream.KVDeleteOpt
	if rev != 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	return mapErr(n.kv.Delete(ctx, key, opts...))
}

// Keys implements signaling.Backplane.
func (n *Node) Keys(ctx context.Context, prefix string) ([]string, error) {
	l, err := n.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, mapErr(err)
	}
	defer l.Stop()
	var out []string
	for k := range l.Keys() {
		out = append(out, k)
	}
	return out, nil
}

// Watch implements signaling.Backplane.
func (n *Node) Watch(ctx context.Context, prefix string, fn func(signaling.BackplaneEntry)) error {
	w, err := n.kv.Watch(ctx, prefix+">")
	if err != nil {
		return mapErr(err)
	}
	kick := make(chan struct{}, 1)
	n.mu.Lock()
	n.kicks = append(n.kicks, kick)
	n.mu.Unlock()
	ready := make(chan struct{})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() { w.Stop() }()
		quit := make(chan struct{})
		defer close(quit)
		initial := true
		var last uint64
		var fresh chan jetstream.KeyWatcher // a rewatch under way, or nil
		updates := w.Updates()              // nil once closed, until the rewatch
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.ctx.Done():
				return
			case <-kick:
				// A node died: it may have held the watch's consumer,
				// which would stall until the client library notices.
				// Watch again from the next revision, reading the old
				// watch until the new one is there: creating a consumer
				// waits for the cluster's JetStream meta leader, which
				// takes seconds to elect when the dead node held it (or
				// for ever on the small side of a network cut), while
				// the old watch may well be alive.
				if fresh == nil {
					fresh = make(chan jetstream.KeyWatcher)
					n.wg.Add(1)
					go n.rewatch(ctx, prefix, last+1, fresh, quit)
				}
				continue
			case nw := <-fresh:
				w.Stop()
				w, fresh, updates = nw, nil, nw.Updates()
				continue
			case e, ok := <-updates:
				if !ok {
					// The client library gave the watch up: watch again.
					updates = nil
					if fresh == nil {
						fresh = make(chan jetstream.KeyWatcher)
						n.wg.Add(1)
						go n.rewatch(ctx, prefix, last+1, fresh, quit)
					}
					continue
				}
				if e == nil {
					if initial {
						initial = false
						close(ready)
					}
					continue
				}
				if e.Revision() <= last {
					continue
				}
				last = e.Revision()
				op := e.Operation()
				fn(signaling.BackplaneEntry{Key: e.Key(), Value: e.Value(), Rev: e.Revision(),
					Deleted: op == jetstream.KeyValueDelete || op == jetstream.KeyValuePurge})
			}
		}
	}()
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(n.cfg.StartTimeout):
		return errors.New("cluster: watch: initial values did not arrive")
	}
}

// rewatch watches prefix again from revision from until it succeeds, and
// hands the new watcher to out, or stops it when quit closes first.
func (n *Node) rewatch(ctx context.Context, prefix string, from uint64, out chan<- jetstream.KeyWatcher, quit <-chan struct{}) {
	defer n.wg.Done()
	for {
		nw, err := n.kv.Watch(ctx, prefix+">", jetstream.ResumeFromRevision(from))
		if err == nil {
			select {
			case out <- nw:
			case <-quit:
				nw.Stop()
			}
			return
		}
		n.log.Debug("rewatch failed", "err", err)
		select {
		case <-quit:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Send implements signaling.Backplane.
func (n *Node) Send(node string, msg []byte) error {
	return n.nc.Publish(subjNodePfx+node, msg)
}

// Broadcast implements signaling.Backplane.
func (n *Node) Broadcast(msg []byte) error {
	return n.nc.Publish(subjAll, msg)
}

// Receive implements signaling.Backplane.
func (n *Node) Receive(fn func([]byte)) {
	n.mu.Lock()
	n.recv = fn
	n.mu.Unlock()
}

// OnNode implements signaling.Backplane.
func (n *Node) OnNode(fn func(string, bool)) {
	n.mu.Lock()
	n.onNode = fn
	n.mu.Unlock()
}

func (n *Node) heard(node string) {
	if node == n.cfg.Name || !validName(node) {
		return
	}
	n.mu.Lock()
	n.lastSeen[node] = time.Now()
	was := n.up[node]
	n.up[node] = true
	fn := n.onNode
	n.mu.Unlock()
	if !was {
		n.log.Info("node up", "node", node)
		if fn != nil {
			fn(node, true)
		}
	}
}

// liveness publishes heartbeats and declares silent nodes down.
func (n *Node) liveness() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		n.nc.Publish(subjHeartbeat, []byte(n.cfg.Name))
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var down []string
		n.mu.Lock()
		for node, at := range n.lastSeen {
			if n.up[node] && now.Sub(at) > n.cfg.DeadAfter {
				n.up[node] = false
				down = append(down, node)
			}
			if now.Sub(at) > time.Hour {
				delete(n.lastSeen, node)
				delete(n.up, node)
			}
		}
		fn := n.onNode
		if len(down) > 0 {
			for _, k := range n.kicks {
				select {
				case k <- struct{}{}:
				default:
				}
			}
		}
		n.mu.Unlock()
		for _, node := range down {
			n.log.Info("node down", "node", node)
			if fn != nil {
				fn(node, false)
			}
		}
	}
}

// Close leaves the cluster: it stops the node's goroutines, closes its
// NATS connection and shuts the embedded server down. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	n.cancel()
	n.wg.Wait()
	if n.nc != nil {
		n.nc.Close()
	}
	if n.ns != nil {
		n.ns.Shutdown()
		n.ns.WaitForShutdown()
	}
	if n.tmpDir != "" {
		os.RemoveAll(n.tmpDir)
	}
	return nil
}
