package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rallypoint/rallypoint/signaling"
)

// ClusterConfig configures the cluster benchmark.
type ClusterConfig struct {
	Nodes           int           // -nodes: `rallypoint serve` node processes
	Sessions        int           // -sessions: idle sessions, spread over the nodes
	ClientProcs     int           // -client-procs: processes holding the idle sessions (0: one per 12,500)
	Addrs           int           // -addrs: source addresses 127.0.0.2.. for the client sockets
	DialConcurrency int           // -dial-concurrency: concurrent connection attempts per client process
	RoomSize        int           // -room-size: idle sessions per room (0: no rooms)
	Pairs           int           // -pairs: relaying pairs
	Rate            float64       // -rate: relayed messages per second, over all pairs
	RelayDuration   time.Duration // -relay-duration: each relay measurement
	Failover        int           // -failover: clients on the node that is killed
	IdleWindow      time.Duration // -idle-window: how long the CPU of the idle processes is measured before the relay (0: not measured)
	NodeProcs       int           // -node-gomaxprocs: GOMAXPROCS of each node (0: the runtime's default, all cores; -1: cores / nodes, at least 1)
	ClientGoProcs   int           // -client-gomaxprocs: GOMAXPROCS of each client process (0: the runtime's default)
	ClientNormal    bool          // -client-sched normal: the client processes run under the normal policy, not SCHED_IDLE
	PauseDAMON      bool          // -pause-damon: turn the kernel's DAMON monitors off during the relay measurements (root)
	Profile         string        // -profile: directory for heap profiles of the nodes with their sessions, CPU profiles of the nodes during the idle window, of two nodes during the relay and of the client processes
	JSON            bool          // -json
}

// ClusterNodeResult is one node process's figures.
type ClusterNodeResult struct {
	Name               string  `json:"name"`
	Sessions           int     `json:"sessions"`
	RSSBeforeBytes     int64   `json:"rss_before_bytes"`
	RSSAfterBytes      int64   `json:"rss_after_bytes"`
	RSSBytesPerSession float64 `json:"rss_bytes_per_session"`
	// From the node's /metrics after the relay measurements.
	MetricsNode     string  `json:"metrics_node"` // rallypoint_node_info's node label
	LiveNodes       float64 `json:"live_nodes"`
	Routes          float64 `json:"routes"`
	SignalsSent     float64 `json:"cluster_signals_sent"`
	SignalsReceived float64 `json:"cluster_signals_received"`
	// CPU the node used with only its idle sessions (IdleCPU, in cores:
	// seconds of CPU per second) and during the relay measurements
	// (RelayCPU), with its garbage collections during the relay.
	IdleCPU  float64 `json:"idle_cpu_cores"`
	RelayCPU float64 `json:"relay_cpu_cores"`
	RelayGCs int64   `json:"relay_gcs"`
}

// ClusterClientProcResult is one client process's CPU, as for the nodes.
type ClusterClientProcResult struct {
	Sessions int     `json:"sessions"`
	IdleCPU  float64 `json:"idle_cpu_cores"`
	RelayCPU float64 `json:"relay_cpu_cores"`
}

type benchClusterResult struct {
	Nodes              int                       `json:"nodes"`
	NodeGOMAXPROCS     int                       `json:"node_gomaxprocs"`   // 0: the runtime's default
	ClientGOMAXPROCS   int                       `json:"client_gomaxprocs"` // of the client processes; 0: the runtime's default
	ClientSched        string                    `json:"client_sched"`      // the client processes' scheduling policy: "idle" (SCHED_IDLE) or "normal"
	Sessions           int                       `json:"sessions"`
	SessionsTarget     int                       `json:"sessions_target"`
	ClientProcs        int                       `json:"client_procs"`
	ConnectSeconds     float64                   `json:"connect_seconds"`
	RSSBytesPerSession float64                   `json:"rss_bytes_per_session"`
	PerNode            []ClusterNodeResult       `json:"per_node"`
	PerClientProc      []ClusterClientProcResult `json:"per_client_proc"`
	// CPU (in cores) of the nodes and client processes together with
	// only the idle sessions, and of every process of the bench (this
	// one, which measures the relay, included) during the relay.
	IdleCPU float64 `json:"idle_cpu_cores"`
	// Context switches a second of the same processes with only the idle
	// sessions (their threads' sleeps and preemptions: a count that the
	// machine's load distorts less than CPU time).
	IdleSwitches          float64 `json:"idle_context_switches_per_s"`
	RelayCPU              float64 `json:"relay_cpu_cores"`
	CrossNodeRelayP50us   float64 `json:"cross_node_relay_p50_us"`
	CrossNodeRelayP99us   float64 `json:"cross_node_relay_p99_us"`
	CrossNodeRelayMaxus   float64 `json:"cross_node_relay_max_us"`
	CrossNodeRelayRate    float64 `json:"cross_node_relay_rate"`
	CrossNodeRelayLost    int     `json:"cross_node_relay_lost"`
	SingleNodeRelayP50us  float64 `json:"single_node_relay_p50_us"`
	SingleNodeRelayP99us  float64 `json:"single_node_relay_p99_us"`
	NATSRequestReplyP50us float64 `json:"nats_request_reply_p50_us"`
	NATSRequestReplyP99us float64 `json:"nats_request_reply_p99_us"`
	// The loopback floor: the same pairs and rate through two forwarder
	// processes over plain TCP (cluster_floor.go).
	LoopbackFloorP50us float64 `json:"loopback_floor_p50_us"`
	LoopbackFloorP99us float64 `json:"loopback_floor_p99_us"`
	// Fractions of the samples over 2 ms: of the relays across nodes end
	// to end, of the same relays from the sender's node reading them to
	// the target's node writing them (its relay histogram; of
	// CrossNodeInClusterCount relays), and of the floor's frames.
	CrossNodeRelayOver2ms     float64 `json:"cross_node_relay_over_2ms"`
	CrossNodeInClusterOver2ms float64 `json:"cross_node_relay_in_cluster_over_2ms"`
	CrossNodeInClusterCount   float64 `json:"cross_node_relay_in_cluster_count"`
	LoopbackFloorOver2ms      float64 `json:"loopback_floor_over_2ms"`
	RatioCrossSingleP50       float64 `json:"ratio_p50_cross_to_single_node"`
	RatioCrossNATSP50         float64 `json:"ratio_p50_cross_to_nats_request_reply"`
	RatioCrossSingleP99       float64 `json:"ratio_p99_cross_to_single_node"`
	RatioCrossNATSP99         float64 `json:"ratio_p99_cross_to_nats_request_reply"`
	RatioCrossFloorP99        float64 `json:"ratio_p99_cross_to_loopback_floor"`
	FailoverResumeP50ms       float64 `json:"failover_resume_p50_ms"`
	FailoverResumeMaxms       float64 `json:"failover_resume_max_ms"`
	// From each client's Disconnected (its socket closed, which for a
	// killed process with thousands of sockets comes well after the kill)
	// to its Reconnected.
	FailoverReconnectP50ms float64 `json:"failover_reconnect_p50_ms"`
	// From the SIGKILL to the killed process reaped.
	FailoverNodeExitms   float64 `json:"failover_node_exit_ms"`
	FailoverResumed      int     `json:"failover_resumed"`
	FailoverClients      int     `json:"failover_clients"`
	FailoverNewSessions  int     `json:"failover_new_sessions"` // reconnected without their session
	FailoverKilled       string  `json:"failover_killed_node"`
	FailoverKilledLeader bool    `json:"failover_killed_kv_leader"`
	// DAMON monitors running when the relay measurements began, and
	// those that -pause-damon turned off for them (damon.go).
	DAMONRunning      int     `json:"damon_running"`
	DAMONPaused       int     `json:"damon_paused"`
	TargetSessionsMet bool    `json:"target_sessions_met"`
	TargetMemoryMet   bool    `json:"target_memory_met"`
	TargetRelayP99Met bool    `json:"target_relay_p99_met"`
	LoadAvg           string  `json:"loadavg"`
	Seconds           float64 `json:"seconds"`
}

// Cluster runs rallypoint bench cluster: Nodes `rallypoint serve`
// processes (copies of this binary) form a cluster over embedded NATS;
// client processes (more copies) hold the idle sessions, spread over the
// nodes and over several source addresses; this process measures each
// node's RSS (from /proc, after a GC through the node's -debug-addr)
// before and after the sessions, relay latency between peers on two nodes
// against peers on one node, a bare NATS request/reply across the route
// and a loopback floor (cluster_floor.go), and finally SIGKILLs a node and
// times its clients' resume on another.
func Cluster(cfg ClusterConfig) error {
	if os.Getenv(clusterClientsEnv) != "" {
		return clusterClientsChild()
	}
	if next := os.Getenv(clusterForwarderEnv); next != "" {
		return clusterForwarderChild(next)
	}
	cfg.Nodes = max(cfg.Nodes, 2)
	cfg.Addrs = max(cfg.Addrs, 1)
	cfg.DialConcurrency = max(cfg.DialConcurrency, 1)
	cfg.Pairs = max(cfg.Pairs, 1)
	if cfg.ClientProcs <= 0 {
		cfg.ClientProcs = max(1, (cfg.Sessions+12_499)/12_500)
	}
	// One socket per session in its node and in its client process, under
	// an open-file limit that may be 20,000 per process.
	if lim := raiseNoFile(1 << 20); lim > 0 {
		room := int(lim) - 1_000
		if per := (cfg.Sessions + cfg.Nodes - 1) / cfg.Nodes; per > room {
			return fmt.Errorf("%d sessions per node exceed the open-file limit %d: use more -nodes", per, lim)
		}
		if per := (cfg.Sessions + cfg.ClientProcs - 1) / cfg.ClientProcs; per > room {
			return fmt.Errorf("%d sessions per client process exceed the open-file limit %d: use more -client-procs", per, lim)
		}
	}
	if cfg.Profile != "" {
		if err := os.MkdirAll(cfg.Profile, 0o755); err != nil {
			return err
		}
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "rallypoint-bench-cluster-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	res := benchClusterResult{Nodes: cfg.Nodes, SessionsTarget: cfg.Sessions, ClientProcs: cfg.ClientProcs, FailoverClients: cfg.Failover}
	if cfg.NodeProcs < 0 {
		cfg.NodeProcs = max(1, runtime.NumCPU()/cfg.Nodes)
	}
	res.NodeGOMAXPROCS, res.ClientGOMAXPROCS = cfg.NodeProcs, cfg.ClientGoProcs
	res.ClientSched = "idle"
	if cfg.ClientNormal {
		res.ClientSched = "normal"
	}
	nodes, err := startClusterNodes(ctx, cfg.Nodes, cfg.NodeProcs, dir, logf)
	defer func() {
		for _, n := range nodes {
			n.kill()
		}
	}()
	if err != nil {
		return err
	}
	urls := make([]string, len(nodes))
	for i, n := range nodes {
		urls[i] = n.url
		logf("node %s: pid %d, %s, nats %s, debug %s", n.name, n.cmd.Process.Pid, n.url, n.natsURL, n.debugAddr)
	}

	// Memory before the sessions.
	for _, n := range nodes {
		mem, err := n.gc()
		if err != nil {
			return err
		}
		n.rssBefore, _ = procRSS(n.cmd.Process.Pid)
		n.memBefore = mem
	}

	// Idle sessions from the client processes.
	t0 := time.Now()
	procs := make([]*clusterClientProc, cfg.ClientProcs)
	defer func() {
		for _, p := range procs {
			if p != nil {
				p.stop()
			}
		}
	}()
	per := (cfg.Sessions + cfg.ClientProcs - 1) / cfg.ClientProcs
	var wg sync.WaitGroup
	perrs := make([]error, len(procs))
	for i := range procs {
		first := i * per
		count := min(per, cfg.Sessions-first)
		if count <= 0 {
			continue
		}
		p, err := startClusterClients(clusterClientsSpec{URLs: urls, First: first, Count: count, Addrs: cfg.Addrs,
			DialConcurrency: cfg.DialConcurrency, RoomSize: cfg.RoomSize, Profile: cfg.Profile, GoProcs: cfg.ClientGoProcs, Idle: !cfg.ClientNormal})
		if err != nil {
			return err
		}
		procs[i] = p
		wg.Add(1)
		go func() {
			defer wg.Done()
			perrs[i] = p.waitReady()
		}()
	}
	logf("%d client processes connecting %d idle sessions (rooms of %d) from %d source addresses", cfg.ClientProcs, cfg.Sessions, cfg.RoomSize, cfg.Addrs)
	wg.Wait()
	if err := errors.Join(perrs...); err != nil {
		return err
	}
	res.ConnectSeconds = time.Since(t0).Seconds()
	failed := 0
	for _, p := range procs {
		if p != nil {
			failed += p.ready.Failed
			if p.ready.Failed > 0 {
				logf("client process %d: %d sessions failed; first error: %s", p.cmd.Process.Pid, p.ready.Failed, p.ready.FirstErr)
			}
		}
	}
	logf("idle sessions connected in %.1f s (%d failed)", res.ConnectSeconds, failed)

	// Memory after the sessions.
	var delta int64
	for _, n := range nodes {
		mem, err := n.gc()
		if err != nil {
			return err
		}
		n.rssAfter, _ = procRSS(n.cmd.Process.Pid)
		h, err := n.health()
		if err != nil {
			return err
		}
		n.sessions, _ = strconv.Atoi(h["sessions"])
		r := ClusterNodeResult{Name: n.name, Sessions: n.sessions, RSSBeforeBytes: n.rssBefore, RSSAfterBytes: n.rssAfter}
		if n.sessions > 0 {
			r.RSSBytesPerSession = float64(n.rssAfter-n.rssBefore) / float64(n.sessions)
		}
		res.PerNode = append(res.PerNode, r)
		res.Sessions += n.sessions
		delta += n.rssAfter - n.rssBefore
		d := func(k string) float64 { return float64(mem[k]-n.memBefore[k]) / float64(max(n.sessions, 1)) }
		logf("node %s: %d sessions, RSS %.1f -> %.1f MiB (%.0f B per session); per session: heap alloc %.0f B, heap in use %.0f B, stacks %.0f B, other %.0f B, gc %.0f B, goroutines %.2f",
			n.name, n.sessions, mib(n.rssBefore), mib(n.rssAfter), r.RSSBytesPerSession,
			d("heap_alloc"), d("heap_inuse"), d("stack_inuse"), d("other_sys"), d("gc_sys"), d("goroutines"))
	}
	if res.Sessions > 0 {
		res.RSSBytesPerSession = float64(delta) / float64(res.Sessions)
	}
	if cfg.Profile != "" {
		for _, n := range nodes {
			if b, err := n.get("http://"+n.debugAddr+"/debug/pprof/heap", time.Minute); err == nil {
				os.WriteFile(filepath.Join(cfg.Profile, "heap-"+n.name+".pprof"), b, 0o644)
			}
		}
	}

	// CPU with only the idle sessions: what the machine spends on them
	// (pings, timers, the runtime) before any relay.
	var pids []int // nodes, then client processes
	for _, n := range nodes {
		pids = append(pids, n.cmd.Process.Pid)
	}
	var live []*clusterClientProc
	for _, p := range procs {
		if p != nil {
			pids = append(pids, p.cmd.Process.Pid)
			live = append(live, p)
			res.PerClientProc = append(res.PerClientProc, ClusterClientProcResult{Sessions: p.ready.Sessions})
		}
	}
	cpuOf := func(i int) *float64 {
		if i < len(nodes) {
			return &res.PerNode[i].IdleCPU
		}
		return &res.PerClientProc[i-len(nodes)].IdleCPU
	}
	if cfg.IdleWindow > 0 {
		var iwg sync.WaitGroup
		if cfg.Profile != "" {
			for _, n := range nodes {
				iwg.Add(1)
				go func() {
					defer iwg.Done()
					if err := n.cpuProfile(filepath.Join(cfg.Profile, "cpu-idle-"+n.name+".pprof"), max(1, int(cfg.IdleWindow.Seconds()))); err != nil {
						logf("profile of %s: %v", n.name, err)
					}
				}()
			}
		}
		c0, w0, t0 := procsCPU(pids), procsSwitches(pids), time.Now()
		time.Sleep(cfg.IdleWindow)
		c1, w1, el := procsCPU(pids), procsSwitches(pids), time.Since(t0).Seconds()
		iwg.Wait()
		for i := range pids {
			*cpuOf(i) = (c1[i] - c0[i]) / el
			res.IdleCPU += *cpuOf(i)
			res.IdleSwitches += float64(w1[i]-w0[i]) / el
		}
		logf("CPU with %d idle sessions, over %v: %.3f cores in all (nodes %s; client processes %s); %.0f context switches a second", res.Sessions, cfg.IdleWindow, res.IdleCPU,
			fmtFigs(res.PerNode, 3, func(r ClusterNodeResult) float64 { return r.IdleCPU }),
			fmtFigs(res.PerClientProc, 3, func(r ClusterClientProcResult) float64 { return r.IdleCPU }), res.IdleSwitches)
	}

	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func(url string, more ...string) (*signaling.Client, error) {
		dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
		defer dcancel()
		c, err := signaling.Dial(dctx, url, &signaling.ClientConfig{URLs: more, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
		if err == nil {
			clients = append(clients, c)
		}
		return c, err
	}
	pairs := func(recvNode int, tag string) (senders, receivers []*signaling.Client, err error) {
		for i := range cfg.Pairs {
			a, err := dial(urls[0])
			if err != nil {
				return nil, nil, err
			}
			b, err := dial(urls[recvNode])
			if err != nil {
				return nil, nil, err
			}
			room := fmt.Sprintf("%s-%d", tag, i)
			if _, err := a.Join(ctx, room); err != nil {
				return nil, nil, err
			}
			if _, err := b.Join(ctx, room); err != nil {
				return nil, nil, err
			}
			senders, receivers = append(senders, a), append(receivers, b)
		}
		// Every node's replica shows the rooms once a signal goes through.
		for i, a := range senders {
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			for a.Signal(wctx, receivers[i].ID(), json.RawMessage(`{}`)) != nil && wctx.Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			wcancel()
		}
		return senders, receivers, nil
	}
	xS, xR, err := pairs(1, "x")
	if err != nil {
		return err
	}
	sS, sR, err := pairs(0, "s")
	if err != nil {
		return err
	}
	xm, sm := newRelayMeter(xR), newRelayMeter(sR)
	defer func() {
		for _, cancel := range append(xm.cancels, sm.cancels...) {
			cancel()
		}
	}()
	echo, err := newNATSEcho(ctx, nodes[0].natsURL, nodes[1].natsURL)
	if err != nil {
		return fmt.Errorf("nats request/reply: %w", err)
	}
	defer echo.close()
	floor, err := newLoopbackFloor(ctx, cfg.Pairs, cfg.NodeProcs)
	if err != nil {
		return err
	}
	defer floor.close()

	// The four measurements take turns, two seconds each, so that the
	// machine's load weighs on them alike and their ratios mean something.
	var pwg sync.WaitGroup
	if cfg.Profile != "" {
		secs := max(1, int(3*cfg.RelayDuration.Seconds()))
		for _, n := range []*clusterNode{nodes[0], nodes[1]} {
			pwg.Add(1)
			go func() {
				defer pwg.Done()
				if err := n.cpuProfile(filepath.Join(cfg.Profile, "cpu-"+n.name+".pprof"), secs); err != nil {
					logf("profile of %s: %v", n.name, err)
				}
			}()
		}
	}
	turns := max(1, int(cfg.RelayDuration/(2*time.Second)))
	turn := cfg.RelayDuration / time.Duration(turns)
	type acc struct {
		s       []float64
		sent    int
		elapsed time.Duration
	}
	var xa, sa, ra, fa acc
	add := func(a *acc) func([]float64, int, time.Duration) {
		return func(s []float64, sent int, el time.Duration) {
			a.s, a.sent, a.elapsed = append(a.s, s...), a.sent+sent, a.elapsed+el
		}
	}
	gcs := func() []int64 {
		out := make([]int64, len(nodes))
		for i, n := range nodes {
			if m, err := n.metrics(); err == nil {
				out[i] = int64(m["go_gc_duration_seconds_count"])
			}
		}
		return out
	}
	allPids := append(slices.Clone(pids), os.Getpid())
	g0 := gcs()
	stopProfile := func() {}
	if cfg.Profile != "" {
		// This process: the relaying clients and the NATS baseline's.
		if f, err := os.Create(filepath.Join(cfg.Profile, "cpu-relay-clients.pprof")); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
			} else {
				f.Close()
			}
		}
	}
	// The target's node times each relay it writes from the sender's node
	// reading it (its relay histogram): the part of a cross-node relay
	// that the cluster's two processes take.
	inCluster := func() (count, within float64, ok bool) {
		m, err := nodes[1].metrics()
		if err != nil {
			return 0, 0, false
		}
		return m["rallypoint_signaling_relay_seconds_count"], m[`rallypoint_signaling_relay_seconds_bucket{le="0.002"}`], true
	}
	ic0, iw0, ok0 := inCluster()
	// DAMON, when it runs and -pause-damon asks, is off for the relay
	// measurements only; it is on again before the failover, and if this
	// returns early.
	res.DAMONRunning = len(damonRunning())
	resumeDAMON := func() {}
	if cfg.PauseDAMON && res.DAMONRunning > 0 {
		n, resume, err := pauseDAMON()
		if err != nil {
			return err
		}
		res.DAMONPaused = n
		logf("paused %d DAMON monitor(s) for the relay measurements", n)
		var once sync.Once
		resumeDAMON = func() {
			once.Do(func() {
				if err := resume(); err != nil {
					logf("%v", err)
				}
			})
		}
		defer resumeDAMON()
	}
	// This process holds the relaying clients, the players' side of the
	// relay: it runs on one P and without collections while it measures
	// (a collection only past 1 GiB of heap), so that it adds as few
	// thread wake-ups and as little CPU to the machine as it can.
	runtime.GC()
	memLimit, gcPercent, goProcs := debug.SetMemoryLimit(1<<30), debug.SetGCPercent(-1), runtime.GOMAXPROCS(1)
	c0, rt0 := procsCPU(allPids), time.Now()
	for range turns {
		add(&xa)(xm.runSamples(ctx, xS, xR, cfg.Rate, turn))
		add(&sa)(sm.runSamples(ctx, sS, sR, cfg.Rate, turn))
		add(&ra)(echo.run(ctx, cfg.Rate, turn))
		add(&fa)(floor.run(ctx, cfg.Rate, turn))
	}
	c1, rel := procsCPU(allPids), time.Since(rt0).Seconds()
	resumeDAMON()
	runtime.GOMAXPROCS(goProcs)
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memLimit)
	stopProfile()
	g1 := gcs()
	// Left at 0 (count 0) when either reading failed.
	if ic1, iw1, ok1 := inCluster(); ok0 && ok1 && ic1 > ic0 {
		res.CrossNodeInClusterCount = ic1 - ic0
		res.CrossNodeInClusterOver2ms = 1 - (iw1-iw0)/(ic1-ic0)
	}
	for i := range allPids {
		d := (c1[i] - c0[i]) / rel
		res.RelayCPU += d
		switch {
		case i < len(nodes):
			res.PerNode[i].RelayCPU, res.PerNode[i].RelayGCs = d, g1[i]-g0[i]
		case i < len(pids):
			res.PerClientProc[i-len(nodes)].RelayCPU = d
		}
	}
	pwg.Wait()
	x, s1, rr, fl := statsOf(xa.s, xa.sent, xa.elapsed), statsOf(sa.s, sa.sent, sa.elapsed), statsOf(ra.s, ra.sent, ra.elapsed), statsOf(fa.s, fa.sent, fa.elapsed)
	res.LoopbackFloorP50us, res.LoopbackFloorP99us = fl.p50, fl.p99
	res.CrossNodeRelayOver2ms, res.LoopbackFloorOver2ms = overFrac(xa.s, 2000), overFrac(fa.s, 2000)
	if fl.p99 > 0 {
		res.RatioCrossFloorP99 = x.p99 / fl.p99
	}
	res.CrossNodeRelayP50us, res.CrossNodeRelayP99us, res.CrossNodeRelayMaxus, res.CrossNodeRelayRate, res.CrossNodeRelayLost = x.p50, x.p99, x.max, x.rate, x.lost
	res.SingleNodeRelayP50us, res.SingleNodeRelayP99us = s1.p50, s1.p99
	res.NATSRequestReplyP50us, res.NATSRequestReplyP99us = rr.p50, rr.p99
	logf("%d turns of %v each:", turns, turn)
	logf("  relay across nodes %s -> %s: %d samples (%.0f/s), p50 %.0f µs, p99 %.0f µs, max %.0f µs, lost %d", nodes[0].name, nodes[1].name, x.n, x.rate, x.p50, x.p99, x.max, x.lost)
	logf("  relay within node %s: %d samples, p50 %.0f µs, p99 %.0f µs", nodes[0].name, s1.n, s1.p50, s1.p99)
	logf("  bare NATS request/reply node %s -> %s: %d samples, p50 %.0f µs, p99 %.0f µs", nodes[0].name, nodes[1].name, rr.n, rr.p50, rr.p99)
	logf("  loopback floor (two forwarder processes): %d samples, p50 %.0f µs, p99 %.0f µs, max %.0f µs", fl.n, fl.p50, fl.p99, fl.max)
	logf("  over 2 ms: %.2f%% of the relays across nodes (%.2f%% between the sender's node reading and the target's node writing, of %.0f), %.2f%% of the floor's frames",
		100*res.CrossNodeRelayOver2ms, 100*res.CrossNodeInClusterOver2ms, res.CrossNodeInClusterCount, 100*res.LoopbackFloorOver2ms)
	logf("  CPU during the relay: %.3f cores in all (nodes %s, with %s garbage collections; client processes %s; this process %.3f)", res.RelayCPU,
		fmtFigs(res.PerNode, 3, func(r ClusterNodeResult) float64 { return r.RelayCPU }),
		fmtFigs(res.PerNode, 0, func(r ClusterNodeResult) float64 { return float64(r.RelayGCs) }),
		fmtFigs(res.PerClientProc, 3, func(r ClusterClientProcResult) float64 { return r.RelayCPU }),
		(c1[len(allPids)-1]-c0[len(allPids)-1])/rel)
	if s1.p50 > 0 && s1.p99 > 0 {
		res.RatioCrossSingleP50, res.RatioCrossSingleP99 = x.p50/s1.p50, x.p99/s1.p99
	}
	if rr.p50 > 0 {
		res.RatioCrossNATSP50 = x.p50 / rr.p50
	}
	if rr.p99 > 0 {
		res.RatioCrossNATSP99 = x.p99 / rr.p99
	}

	for i, n := range nodes {
		m, err := n.metrics()
		if err != nil {
			return err
		}
		r := &res.PerNode[i]
		r.LiveNodes, r.Routes = m["rallypoint_cluster_live_nodes"], m["rallypoint_cluster_routes"]
		r.SignalsSent, r.SignalsReceived = m["rallypoint_cluster_signals_sent_total"], m["rallypoint_cluster_signals_received_total"]
		for k := range m {
			if v, ok := strings.CutPrefix(k, `rallypoint_node_info{node="`); ok {
				r.MetricsNode = strings.TrimSuffix(v, `"}`)
			}
		}
	}

	// Failover: SIGKILL a node that does not lead the KV bucket (when one
	// can be told), with Failover clients on it that know the others.
	if cfg.Failover > 0 {
		victim := nodes[len(nodes)-1]
		if h, err := nodes[0].health(); err == nil {
			if victim.name == h["kv_leader"] {
				victim = nodes[len(nodes)-2]
			}
			res.FailoverKilledLeader = victim.name == h["kv_leader"]
		}
		res.FailoverKilled = victim.name
		var others []string
		for _, n := range nodes {
			if n != victim {
				others = append(others, n.url)
			}
		}
		var movers []*signaling.Client
		for i := range cfg.Failover {
			c, err := dial(victim.url, others...)
			if err != nil {
				return err
			}
			if _, err := c.Join(ctx, fmt.Sprintf("f-%d", i)); err != nil {
				return err
			}
			c.Events() // queue events from now on: the Reconnected may come before the wait below starts
			movers = append(movers, c)
		}
		times := make([]float64, len(movers))
		since := make([]float64, len(movers)) // from the client's Disconnected
		var fresh atomic.Int64
		// SIGKILL, and wait for the clients' events while the kernel tears
		// the process down (seconds for thousands of sockets).
		killed := time.Now()
		victim.cmd.Process.Signal(syscall.SIGKILL)
		wg.Add(1)
		go func() {
			defer wg.Done()
			victim.kill() // reaps it
			res.FailoverNodeExitms = float64(time.Since(killed).Microseconds()) / 1e3
		}()
		for i, c := range movers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.After(30 * time.Second)
				var dropped time.Time
				for {
					select {
					case ev := <-c.Events():
						if _, ok := ev.(signaling.Disconnected); ok && dropped.IsZero() {
							dropped = time.Now()
						}
						if r, ok := ev.(signaling.Reconnected); ok {
							if !r.Resumed {
								fresh.Add(1) // a new session: the old one could not be resumed
								return
							}
							times[i] = float64(time.Since(killed).Microseconds()) / 1e3
							if !dropped.IsZero() {
								since[i] = float64(time.Since(dropped).Microseconds()) / 1e3
							}
							return
						}
					case <-deadline:
						return
					}
				}
			}()
		}
		logf("killed node %s (SIGKILL) with %d bench clients and %d idle sessions on it", victim.name, len(movers), victim.sessions)
		wg.Wait()
		var ok []float64
		for _, t := range times {
			if t > 0 {
				ok = append(ok, t)
			}
		}
		var fromDrop []float64
		for _, t := range since {
			if t > 0 {
				fromDrop = append(fromDrop, t)
			}
		}
		res.FailoverReconnectP50ms = pct(fromDrop, 50)
		res.FailoverResumed = len(ok)
		res.FailoverNewSessions = int(fresh.Load())
		res.FailoverResumeP50ms, res.FailoverResumeMaxms = pct(ok, 50), pct(ok, 100)
		logf("failover: %d/%d resumed, p50 %.1f ms, max %.1f ms after the kill, p50 %.1f ms after the client saw its connection drop; %d reconnected with a new session; the killed process was reaped %.1f ms after the kill",
			len(ok), len(movers), res.FailoverResumeP50ms, res.FailoverResumeMaxms, res.FailoverReconnectP50ms, res.FailoverNewSessions, res.FailoverNodeExitms)
	}

	res.TargetSessionsMet = res.Sessions >= 50_000
	res.TargetMemoryMet = res.RSSBytesPerSession > 0 && res.RSSBytesPerSession <= 16*1024
	res.TargetRelayP99Met = res.CrossNodeRelayP99us > 0 && res.CrossNodeRelayP99us <= 2000 && res.CrossNodeRelayRate >= 0.95*cfg.Rate
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAvg = strings.TrimSpace(string(b))
	}
	res.Seconds = time.Since(start).Seconds()
	if cfg.JSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return nil
	}
	printClusterTable(os.Stdout, res)
	return nil
}

// procsCPU returns the CPU seconds (user and system) each process has
// used, from /proc/PID/stat; 0 for one that cannot be read.
func procsCPU(pids []int) []float64 {
	out := make([]float64, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces):
		// state is field 3, utime 14 and stime 15.
		j := strings.LastIndexByte(string(b), ')')
		if j < 0 {
			continue
		}
		f := strings.Fields(string(b[j+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		out[i] = (u + st) / clockTicks
	}
	return out
}

// procsSwitches returns the context switches (voluntary and not) of
// every thread of each process so far; 0 for one that cannot be read.
func procsSwitches(pids []int) []int64 {
	out := make([]int64, len(pids))
	for i, pid := range pids {
		tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/status")
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
					n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
					out[i] += n
				}
			}
		}
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on
// Linux's every architecture that Go supports.
const clockTicks = 100

// fmtFigs formats f of each of rs with prec decimals, separated by spaces.
func fmtFigs[T any](rs []T, prec int, f func(T) float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = strconv.FormatFloat(f(r), 'f', prec, 64)
	}
	return strings.Join(parts, " ")
}

// overFrac is the fraction of s over limit.
func overFrac(s []float64, limit float64) float64 {
	if len(s) == 0 {
		return 0
	}
	n := 0
	for _, v := range s {
		if v > limit {
			n++
		}
	}
	return float64(n) / float64(len(s))
}

func pct(s []float64, p int) float64 {
	if len(s) == 0 {
		return 0
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func printClusterTable(w io.Writer, r benchClusterResult) {
	yes := map[bool]string{true: "met", false: "MISSED"}
	fmt.Fprintf(w, "rallypoint bench cluster: %d node processes, %d idle sessions from %d client processes (connected in %.1f s)\n\n", r.Nodes, r.Sessions, r.ClientProcs, r.ConnectSeconds)
	fmt.Fprintf(w, "%-8s %9s %14s %14s %12s\n", "node", "sessions", "RSS before MiB", "RSS after MiB", "B/session")
	for _, n := range r.PerNode {
		fmt.Fprintf(w, "%-8s %9d %14.1f %14.1f %12.0f\n", n.Name, n.Sessions, mib(n.RSSBeforeBytes), mib(n.RSSAfterBytes), n.RSSBytesPerSession)
	}
	fmt.Fprintf(w, "%-8s %9d %14s %14s %12.0f\n\n", "all", r.Sessions, "", "", r.RSSBytesPerSession)
	fmt.Fprintf(w, "%-36s %10s %10s %14s %14s\n", "", "p50 µs", "p99 µs", "across/it p50", "across/it p99")
	fmt.Fprintf(w, "%-36s %10.0f %10.0f %14s %14s  (%.0f msg/s, lost %d)\n", "relay across nodes", r.CrossNodeRelayP50us, r.CrossNodeRelayP99us, "", "", r.CrossNodeRelayRate, r.CrossNodeRelayLost)
	fmt.Fprintf(w, "%-36s %10.0f %10.0f %14.2f %14.2f\n", "relay within one node (baseline)", r.SingleNodeRelayP50us, r.SingleNodeRelayP99us, r.RatioCrossSingleP50, r.RatioCrossSingleP99)
	fmt.Fprintf(w, "%-36s %10.0f %10.0f %14.2f %14.2f\n", "bare NATS request/reply (baseline)", r.NATSRequestReplyP50us, r.NATSRequestReplyP99us, r.RatioCrossNATSP50, r.RatioCrossNATSP99)
	fmt.Fprintf(w, "%-36s %10.0f %10.0f %14s %14.2f\n", "loopback floor (baseline)", r.LoopbackFloorP50us, r.LoopbackFloorP99us, "", r.RatioCrossFloorP99)
	fmt.Fprintf(w, "over 2 ms: %.2f%% of the relays across nodes (%.2f%% within the cluster's two nodes), %.2f%% of the floor's frames\n",
		100*r.CrossNodeRelayOver2ms, 100*r.CrossNodeInClusterOver2ms, 100*r.LoopbackFloorOver2ms)
	fmt.Fprintf(w, "\nfailover: node %s SIGKILLed (KV leader: %v); %d/%d clients resumed on another node, p50 %.1f ms, max %.1f ms after the kill (p50 %.1f ms after their connection dropped)\n",
		r.FailoverKilled, r.FailoverKilledLeader, r.FailoverResumed, r.FailoverClients, r.FailoverResumeP50ms, r.FailoverResumeMaxms, r.FailoverReconnectP50ms)
	fmt.Fprintf(w, "targets: >=50,000 sessions %s; <=16 KiB per idle session %s; cross-node relay p99 <=2 ms at the rate %s\n",
		yes[r.TargetSessionsMet], yes[r.TargetMemoryMet], yes[r.TargetRelayP99Met])
	fmt.Fprintf(w, "DAMON monitors running: %d, paused for the relay: %d; load average: %s; total %.1f s\n", r.DAMONRunning, r.DAMONPaused, r.LoadAvg, r.Seconds)
}

// clusterNode is one `rallypoint serve` process of the bench.
type clusterNode struct {
	name                    string
	cmd                     *exec.Cmd
	url, natsURL, debugAddr string
	rssBefore, rssAfter     int64
	sessions                int
	memBefore               map[string]int64
	done                    chan struct{}
	once                    sync.Once
	tailMu                  sync.Mutex
	tail                    []string // the last log lines, for errors
}

// startClusterNodes starts n serve processes routed to each other and
// waits until each listens.
func startClusterNodes(ctx context.Context, n, procs int, dir string, logf func(string, ...any)) ([]*clusterNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addrs := make([]string, n)
	routes := make([]string, n)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs[i], routes[i] = l.Addr().String(), "nats://"+l.Addr().String()
		l.Close()
	}
	nodes := make([]*clusterNode, n)
	ready := make(chan error, n)
	for i := range nodes {
		nd := &clusterNode{name: fmt.Sprintf("b%d", i), done: make(chan struct{})}
		ndir := filepath.Join(dir, nd.name)
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			return nodes, err
		}
		nd.cmd = exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-node", nd.name,
			"-cluster-listen", addrs[i], "-cluster-routes", strings.Join(routes, ","),
			"-data-dir", ndir, "-nats-dir", filepath.Join(ndir, "nats"), "-debug-addr", "127.0.0.1:0",
			"-log-format", "json", "-max-conns-per-ip", "-1", "-max-sessions-per-ip", "-1",
			"-rate", "10000", "-burst", "10000", "-max-rooms", "1000000")
		if procs > 0 {
			nd.cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(procs))
		}
		dieWithParent(nd.cmd)
		stderr, err := nd.cmd.StderrPipe()
		if err != nil {
			return nodes, err
		}
		if err := nd.cmd.Start(); err != nil {
			return nodes, err
		}
		nodes[i] = nd
		go func() {
			defer close(nd.done)
			sc := bufio.NewScanner(stderr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			sent := false
			for sc.Scan() {
				line := sc.Text()
				nd.tailMu.Lock()
				nd.tail = append(nd.tail, line)
				if len(nd.tail) > 20 {
					nd.tail = nd.tail[1:]
				}
				nd.tailMu.Unlock()
				var rec struct {
					Msg       string `json:"msg"`
					Signaling string `json:"signaling"`
					NATS      string `json:"nats"`
					Addr      string `json:"addr"`
				}
				if json.Unmarshal([]byte(line), &rec) != nil {
					// Not the node's log: the runtime's (GODEBUG=gctrace=1
					// traces, a panic).
					fmt.Fprintf(os.Stderr, "%s: %s\n", nd.name, line)
					continue
				}
				switch rec.Msg {
				case "debug listening":
					nd.debugAddr = rec.Addr
				case "cluster joined":
					nd.natsURL = rec.NATS
				case "listening":
					nd.url = rec.Signaling
					if !sent {
						sent = true
						ready <- nil
					}
				}
			}
			nd.cmd.Wait()
			if !sent {
				ready <- fmt.Errorf("node %s exited before listening:\n%s", nd.name, nd.lastLines())
			}
		}()
	}
	for range nodes {
		select {
		case err := <-ready:
			if err != nil {
				return nodes, err
			}
		case <-ctx.Done():
			return nodes, ctx.Err()
		case <-time.After(90 * time.Second):
			return nodes, errors.New("cluster nodes did not start within 90 s")
		}
	}
	return nodes, nil
}

func (n *clusterNode) lastLines() string {
	n.tailMu.Lock()
	defer n.tailMu.Unlock()
	return strings.Join(n.tail, "\n")
}

// kill SIGKILLs the node and waits for it to exit.
func (n *clusterNode) kill() {
	if n == nil || n.cmd.Process == nil {
		return
	}
	n.once.Do(func() {
		n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.done
	})
}

func (n *clusterNode) get(path string, timeout time.Duration) ([]byte, error) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get(path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return b, err
}

// gc asks the node to collect garbage and return freed memory to the OS;
// it returns the node's memory figures after that (heap_alloc,
// stack_inuse, goroutines, ...).
func (n *clusterNode) gc() (map[string]int64, error) {
	b, err := n.get("http://"+n.debugAddr+"/debug/gc", time.Minute)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out, nil
}

// health reads the node's /healthz lines as key/value pairs.
func (n *clusterNode) health() (map[string]string, error) {
	b, err := n.get("http"+strings.TrimSuffix(strings.TrimPrefix(n.url, "ws"), "/ws")+"/healthz", 10*time.Second)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		out[k] = v
	}
	return out, nil
}

// metrics reads the node's /metrics: the value of each series, by its
// name and labels as written there.
func (n *clusterNode) metrics() (map[string]float64, error) {
	b, err := n.get("http"+strings.TrimSuffix(strings.TrimPrefix(n.url, "ws"), "/ws")+"/metrics", 10*time.Second)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

func (n *clusterNode) cpuProfile(path string, secs int) error {
	b, err := n.get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", n.debugAddr, secs), time.Duration(secs+30)*time.Second)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// natsEcho is the bare NATS baseline: a client of one node's embedded
// server requests, a client of another's echoes.
type natsEcho struct {
	from, to *nats.Conn
}

func newNATSEcho(ctx context.Context, fromURL, toURL string) (*natsEcho, error) {
	e := &natsEcho{}
	var err error
	if e.to, err = nats.Connect(toURL); err != nil {
		return nil, err
	}
	if e.from, err = nats.Connect(fromURL); err != nil {
		e.close()
		return nil, err
	}
	if _, err := e.to.Subscribe("bench.echo", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		e.close()
		return nil, err
	}
	e.to.Flush()
	// Wait until the interest has crossed the route.
	for i := 0; ; i++ {
		if _, err := e.from.Request("bench.echo", []byte("x"), 200*time.Millisecond); err == nil {
			return e, nil
		}
		if i > 50 || ctx.Err() != nil {
			e.close()
			return nil, errors.New("no echo across the route")
		}
	}
}

func (e *natsEcho) close() {
	if e.from != nil {
		e.from.Close()
	}
	if e.to != nil {
		e.to.Close()
	}
}

// run sends requests paced at rate for dur, one at a time, and returns
// their round trips (µs), the requests sent and the time taken.
func (e *natsEcho) run(ctx context.Context, rate float64, dur time.Duration) ([]float64, int, time.Duration) {
	interval := time.Duration(float64(time.Second) / rate)
	var s []float64
	sent := 0
	start := time.Now()
	next := start
	for time.Since(start) < dur && ctx.Err() == nil {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		t := time.Now()
		sent++
		if _, err := e.from.Request("bench.echo", []byte("x"), time.Second); err == nil {
			s = append(s, float64(time.Since(t).Nanoseconds())/1e3)
		}
		next = next.Add(interval)
	}
	return s, sent, time.Since(start)
}

// The client processes of bench cluster: a copy of this binary with
// clusterClientsEnv set to a JSON clusterClientsSpec dials its sessions,
// prints one JSON clusterClientsReady line on stdout and holds them until
// its stdin closes.
const clusterClientsEnv = "RALLYPOINT_BENCH_CLUSTER_CLIENTS"

type clusterClientsSpec struct {
	URLs            []string `json:"urls"`
	First           int      `json:"first"` // global indices [First, First+Count)
	Count           int      `json:"count"`
	Addrs           int      `json:"addrs"`
	DialConcurrency int      `json:"dial_concurrency"`
	RoomSize        int      `json:"room_size"`
	Profile         string   `json:"profile,omitempty"` // a directory: profile the CPU while the sessions are held
	GoProcs         int      `json:"-"`                 // GOMAXPROCS of the process; 0: the runtime's default
	Idle            bool     `json:"idle,omitempty"`    // run under SCHED_IDLE (idleSchedule)
}

type clusterClientsReady struct {
	Sessions int    `json:"sessions"`
	Failed   int    `json:"failed"`
	FirstErr string `json:"first_err,omitempty"`
}

type clusterClientProc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	ready clusterClientsReady
	once  sync.Once
}

func startClusterClients(spec clusterClientsSpec) (*clusterClientProc, error) {
	b, _ := json.Marshal(spec)
	return startClusterChild(spec.GoProcs, clusterClientsEnv+"="+string(b))
}

// startClusterChild starts a copy of this binary as `bench cluster` with
// env added to the environment and GOMAXPROCS goProcs (0: the runtime's
// default), its stdin and stdout piped; it dies with this process.
func startClusterChild(goProcs int, env ...string) (*clusterClientProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "bench", "cluster")
	cmd.Env = append(os.Environ(), env...)
	if goProcs > 0 {
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(goProcs))
	}
	dieWithParent(cmd)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &clusterClientProc{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

func (p *clusterClientProc) waitReady() error {
	line, err := p.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("client process %d: %w", p.cmd.Process.Pid, err)
	}
	return json.Unmarshal([]byte(line), &p.ready)
}

// stop closes the process's stdin and waits; it kills it after 10 s.
func (p *clusterClientProc) stop() {
	p.once.Do(func() { closeAndWait(p.in, p.cmd, 10*time.Second) })
}

// clusterClientsChild is the client process: session i (global index)
// goes to node i mod len(URLs), from source address 127.0.0.(2 + i mod
// Addrs), and joins room "idle-(i / RoomSize)", so rooms span nodes.
// Clients do not reconnect: when a node dies its idle sessions end.
func clusterClientsChild() error {
	var spec clusterClientsSpec
	if err := json.Unmarshal([]byte(os.Getenv(clusterClientsEnv)), &spec); err != nil {
		return fmt.Errorf("bench cluster clients: %w", err)
	}
	raiseNoFile(uint64(spec.Count) + 1000)
	if spec.Idle {
		if err := idleSchedule(); err != nil {
			return fmt.Errorf("bench cluster clients: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clients := make([]*signaling.Client, spec.Count)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range spec.DialConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= spec.Count {
					return
				}
				i := spec.First + k
				src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%spec.Addrs))}
				d := &net.Dialer{LocalAddr: src, Timeout: 60 * time.Second}
				dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute)
				c, err := signaling.Dial(dctx, spec.URLs[i%len(spec.URLs)], &signaling.ClientConfig{NetDialContext: d.DialContext, DisableReconnect: true, HandshakeTimeout: 60 * time.Second})
				if err == nil && spec.RoomSize > 0 {
					if _, err = c.Join(dctx, "idle-"+strconv.Itoa(i/spec.RoomSize)); err != nil {
						c.Close()
					}
				}
				dcancel()
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				clients[k] = c
			}
		}()
	}
	wg.Wait()
	r := clusterClientsReady{Failed: int(failed.Load())}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstErr = e
	}
	for _, c := range clients {
		if c != nil {
			r.Sessions++
		}
	}
	if spec.Profile != "" {
		if f, err := os.Create(filepath.Join(spec.Profile, fmt.Sprintf("cpu-clients-%d.pprof", spec.First))); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	io.Copy(io.Discard, os.Stdin) // hold the sessions until the bench is done
	// Exit without closing each client: the nodes are gone or going.
	return nil
}
