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
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/rallypoint/rallypoint/signaling"
)

// benchServerEnv marks the child process of bench signaling: it runs only
// the server, so that its memory and CPU are measured apart from the load.
const benchServerEnv = "RALLYPOINT_BENCH_SIGNALING_SERVER"

type benchSignalingResult struct {
	Sessions              int     `json:"sessions"`
	SessionsTarget        int     `json:"sessions_target"`
	ConnectSeconds        float64 `json:"connect_seconds"`
	ConnectsPerS          float64 `json:"connects_per_s"`
	SourceAddrs           int     `json:"source_addrs"`
	RSSBaselineBytes      int64   `json:"rss_baseline_bytes"`
	RSSLoadedBytes        int64   `json:"rss_loaded_bytes"`
	RSSBytesPerSession    float64 `json:"rss_bytes_per_session"`
	RelayPairs            int     `json:"relay_pairs"`
	RelayMsgsPerS         float64 `json:"relay_msgs_per_s"`
	RelaySamples          int     `json:"relay_samples"`
	RelayLost             int     `json:"relay_lost"`
	RelayP50Us            float64 `json:"relay_p50_us"`
	RelayP99Us            float64 `json:"relay_p99_us"`
	RelayMaxUs            float64 `json:"relay_max_us"`
	BaselineRelayMsgsPerS float64 `json:"baseline_relay_msgs_per_s"`
	BaselineRelayP50Us    float64 `json:"baseline_relay_p50_us"`
	BaselineRelayP99Us    float64 `json:"baseline_relay_p99_us"`
	RawRelayP50Us         float64 `json:"raw_ws_relay_p50_us"`
	RawRelayP99Us         float64 `json:"raw_ws_relay_p99_us"`
	RatioP50              float64 `json:"ratio_p50_loaded_to_baseline"`
	RatioP99              float64 `json:"ratio_p99_loaded_to_baseline"`
	TargetSessionsMet     bool    `json:"target_sessions_met"`
	TargetMemoryMet       bool    `json:"target_memory_met"`
	TargetRelayP99Met     bool    `json:"target_relay_p99_met"`
	Seconds               float64 `json:"seconds"`
	ProjectedRSSAt50k     int64   `json:"projected_rss_bytes_at_50k"`
	CappedByNoFile        bool    `json:"capped_by_nofile,omitempty"`
	NoFileLimit           int64   `json:"nofile_limit,omitempty"`
}

// SignalingConfig holds the flags of rallypoint bench signaling.
type SignalingConfig struct {
	Sessions        int           // -sessions: idle sessions to hold open
	Addrs           int           // -addrs: source addresses 127.0.0.2..127.0.0.(addrs+1) to spread the client sockets over
	DialConcurrency int           // -dial-concurrency: concurrent connection attempts
	RoomSize        int           // -room-size: idle sessions per room
	Pairs           int           // -pairs: relaying pairs of peers
	Rate            float64       // -rate: relayed messages per second, over all pairs
	RelayDuration   time.Duration // -relay-duration: length of each relay measurement
	JSON            bool          // -json: print one JSON object instead of a table
}

// Signaling runs rallypoint bench signaling and prints its report on stdout (one
// JSON object with JSON set, else a table).
func Signaling(cfg SignalingConfig) error {
	if os.Getenv(benchServerEnv) == "1" {
		return benchSignalingChild()
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	// Every session is one socket in the server process and one in this
	// one: both must fit under RLIMIT_NOFILE. Raising the hard limit needs
	// CAP_SYS_RESOURCE; without it the run is capped, and says so.
	limit := raiseNoFile(uint64(cfg.Sessions) + 10_000)
	res0 := benchSignalingResult{SessionsTarget: cfg.Sessions}
	if room := int(limit) - 2*(cfg.Pairs) - 500; cfg.Sessions > room {
		logf("RLIMIT_NOFILE is %d and cannot be raised here (no CAP_SYS_RESOURCE): capping sessions at %d instead of %d", limit, room, cfg.Sessions)
		res0.CappedByNoFile = true
		res0.NoFileLimit = int64(limit)
		cfg.Sessions = room
	}

	child, err := startBenchChild()
	if err != nil {
		return err
	}
	defer child.stop()
	url := "ws://" + child.addr + "/ws"
	logf("server child pid %d at %s", child.cmd.Process.Pid, url)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res := res0
	res.SourceAddrs, res.RelayPairs = cfg.Addrs, cfg.Pairs

	// Relay pairs, used for both measurements.
	var relayClients []*signaling.Client
	defer func() {
		for _, c := range relayClients {
			c.Close()
		}
	}()
	dialAt := func(i int) (*signaling.Client, error) {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%cfg.Addrs))}
		d := &net.Dialer{LocalAddr: src, Timeout: 30 * time.Second}
		return signaling.Dial(ctx, url, &signaling.ClientConfig{NetDialContext: d.DialContext, DisableReconnect: true, HandshakeTimeout: 60 * time.Second})
	}
	var senders, receivers []*signaling.Client
	for i := range cfg.Pairs {
		a, err := dialAt(i)
		if err != nil {
			return fmt.Errorf("relay client: %w", err)
		}
		b, err := dialAt(i + 1)
		if err != nil {
			return fmt.Errorf("relay client: %w", err)
		}
		relayClients = append(relayClients, a, b)
		room := "relay-" + strconv.Itoa(i)
		if _, err := a.Join(ctx, room); err != nil {
			return err
		}
		if _, err := b.Join(ctx, room); err != nil {
			return err
		}
		senders, receivers = append(senders, a), append(receivers, b)
	}
	lat := newRelayMeter(receivers)

	if _, err := child.gc(); err != nil {
		return err
	}
	res.RSSBaselineBytes, _ = procRSS(child.cmd.Process.Pid)
	logf("baseline: server RSS %.1f MiB; measuring relay latency at %.0f msg/s for %v", mib(res.RSSBaselineBytes), cfg.Rate, cfg.RelayDuration)
	base := lat.run(ctx, senders, receivers, cfg.Rate, cfg.RelayDuration)
	res.BaselineRelayMsgsPerS, res.BaselineRelayP50Us, res.BaselineRelayP99Us = base.rate, base.p50, base.p99
	logf("baseline relay: %d samples, p50 %.0f µs, p99 %.0f µs", base.n, base.p50, base.p99)
	raw, err := rawRelay(ctx, child.addr, cfg.Pairs, cfg.Rate, cfg.RelayDuration)
	if err != nil {
		return fmt.Errorf("raw WebSocket relay: %w", err)
	}
	res.RawRelayP50Us, res.RawRelayP99Us = raw.p50, raw.p99
	logf("floor, a bare WebSocket forwarder in the same server process: %d samples, p50 %.0f µs, p99 %.0f µs", raw.n, raw.p50, raw.p99)

	// Idle sessions.
	logf("connecting %d idle sessions from %d source addresses", cfg.Sessions, cfg.Addrs)
	idle := make([]*signaling.Client, cfg.Sessions)
	var next, failed atomic.Int64
	var firstErr atomic.Value
	t0 := time.Now()
	var wg sync.WaitGroup
	for range cfg.DialConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Sessions || ctx.Err() != nil {
					return
				}
				c, err := dialAt(i)
				if err == nil {
					_, err = c.Join(ctx, "idle-"+strconv.Itoa(i/cfg.RoomSize))
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				idle[i] = c
				if i > 0 && i%10_000 == 0 {
					logf("  %d sessions", i)
				}
			}
		}()
	}
	wg.Wait()
	res.ConnectSeconds = time.Since(t0).Seconds()
	for _, c := range idle {
		if c != nil {
			res.Sessions++
		}
	}
	res.ConnectsPerS = float64(res.Sessions) / res.ConnectSeconds
	if n := failed.Load(); n > 0 {
		logf("%d sessions failed; first error: %v", n, firstErr.Load())
	}
	logf("%d idle sessions in %.1fs (%.0f/s)", res.Sessions, res.ConnectSeconds, res.ConnectsPerS)
	defer func() {
		// Stop the server first so that closing the clients does not wait
		// for close handshakes.
		child.stop()
		var cw sync.WaitGroup
		ch := make(chan *signaling.Client, 1024)
		for range 64 {
			cw.Add(1)
			go func() {
				defer cw.Done()
				for c := range ch {
					c.Close()
				}
			}()
		}
		for _, c := range idle {
			if c != nil {
				ch <- c
			}
		}
		close(ch)
		cw.Wait()
	}()

	rawRSS, _ := procRSS(child.cmd.Process.Pid)
	if _, err := child.gc(); err != nil {
		return err
	}
	res.RSSLoadedBytes, _ = procRSS(child.cmd.Process.Pid)
	if res.Sessions > 0 {
		res.RSSBytesPerSession = float64(res.RSSLoadedBytes-res.RSSBaselineBytes) / float64(res.Sessions)
		res.ProjectedRSSAt50k = res.RSSBaselineBytes + int64(res.RSSBytesPerSession*50_000)
	}
	logf("server RSS %.1f MiB (%.1f MiB before GC): %.0f bytes per idle session", mib(res.RSSLoadedBytes), mib(rawRSS), res.RSSBytesPerSession)

	logf("measuring relay latency at %.0f msg/s for %v with the sessions idle", cfg.Rate, cfg.RelayDuration)
	loaded := lat.run(ctx, senders, receivers, cfg.Rate, cfg.RelayDuration)
	res.RelayMsgsPerS, res.RelaySamples, res.RelayLost = loaded.rate, loaded.n, loaded.lost
	res.RelayP50Us, res.RelayP99Us, res.RelayMaxUs = loaded.p50, loaded.p99, loaded.max
	if base.p50 > 0 {
		res.RatioP50 = loaded.p50 / base.p50
	}
	if base.p99 > 0 {
		res.RatioP99 = loaded.p99 / base.p99
	}
	res.TargetSessionsMet = res.Sessions >= 50_000
	res.TargetMemoryMet = res.RSSBytesPerSession > 0 && res.RSSBytesPerSession <= 32*1024
	res.TargetRelayP99Met = res.RelayP99Us > 0 && res.RelayP99Us <= 2000 && res.RelayMsgsPerS >= 0.95*1000
	res.Seconds = time.Since(start).Seconds()

	if cfg.JSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
	} else {
		printSignalingTable(os.Stdout, res)
	}
	return nil
}

func printSignalingTable(w io.Writer, r benchSignalingResult) {
	yes := map[bool]string{true: "met", false: "MISSED"}
	fmt.Fprintf(w, "rallypoint bench signaling (server in a child process, %d source addresses)\n\n", r.SourceAddrs)
	fmt.Fprintf(w, "%-34s %14s %14s %8s\n", "metric", "baseline", "loaded", "ratio")
	fmt.Fprintf(w, "%-34s %14d %14d %8s\n", "idle sessions", 0, r.Sessions, "")
	fmt.Fprintf(w, "%-34s %14.1f %14.1f %8.2f\n", "server RSS (MiB, after GC)", mib(r.RSSBaselineBytes), mib(r.RSSLoadedBytes), float64(r.RSSLoadedBytes)/float64(max(r.RSSBaselineBytes, 1)))
	fmt.Fprintf(w, "%-34s %14s %14.0f %8s\n", "RSS per idle session (bytes)", "", r.RSSBytesPerSession, "")
	fmt.Fprintf(w, "%-34s %14.0f %14.0f %8s\n", "relayed msgs/s", r.BaselineRelayMsgsPerS, r.RelayMsgsPerS, "")
	fmt.Fprintf(w, "%-34s %14.0f %14.0f %8.2f\n", "relay p50 (µs)", r.BaselineRelayP50Us, r.RelayP50Us, r.RatioP50)
	fmt.Fprintf(w, "%-34s %14.0f %14.0f %8.2f\n", "relay p99 (µs)", r.BaselineRelayP99Us, r.RelayP99Us, r.RatioP99)
	fmt.Fprintf(w, "%-34s %14.0f %14s %8.2f\n", "floor: bare WebSocket relay p50", r.RawRelayP50Us, "", r.RelayP50Us/max(r.RawRelayP50Us, 1))
	fmt.Fprintf(w, "%-34s %14.0f %14s %8.2f\n", "floor: bare WebSocket relay p99", r.RawRelayP99Us, "", r.RelayP99Us/max(r.RawRelayP99Us, 1))
	fmt.Fprintf(w, "\nconnect: %d sessions in %.1f s (%.0f/s); relay samples %d, lost %d, max %.0f µs; total %.1f s\n",
		r.Sessions, r.ConnectSeconds, r.ConnectsPerS, r.RelaySamples, r.RelayLost, r.RelayMaxUs, r.Seconds)
	if r.CappedByNoFile {
		fmt.Fprintf(w, "sessions capped by RLIMIT_NOFILE %d (hard limit; raising it needs CAP_SYS_RESOURCE); projected server RSS at 50,000 sessions: %.0f MiB\n",
			r.NoFileLimit, mib(r.ProjectedRSSAt50k))
	}
	fmt.Fprintf(w, "targets: >=50,000 sessions %s; <=32 KiB per idle session %s; relay p99 <=2 ms at 1,000 msg/s %s\n",
		yes[r.TargetSessionsMet], yes[r.TargetMemoryMet], yes[r.TargetRelayP99Met])
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// relayMeter measures one-way relay latency: each payload carries its send
// time, and receivers (in this process, same clock) subtract it on arrival.
type relayMeter struct {
	mu      sync.Mutex
	samples []float64 // µs
	cancels []func()
}

type relayStats struct {
	n, lost       int
	rate          float64
	p50, p99, max float64
}

func newRelayMeter(receivers []*signaling.Client) *relayMeter {
	m := &relayMeter{}
	for _, r := range receivers {
		m.cancels = append(m.cancels, r.SubscribeSignals(func(from string, payload []byte) {
			now := time.Now().UnixNano()
			var p struct {
				T int64 `json:"t"`
			}
			if json.Unmarshal(payload, &p) != nil || p.T == 0 {
				return
			}
			m.mu.Lock()
			m.samples = append(m.samples, float64(now-p.T)/1e3)
			m.mu.Unlock()
		}, nil))
	}
	return m
}

func (m *relayMeter) run(ctx context.Context, senders, receivers []*signaling.Client, rate float64, dur time.Duration) relayStats {
	s, sent, elapsed := m.runSamples(ctx, senders, receivers, rate, dur)
	return statsOf(s, sent, elapsed)
}

// runSamples is run returning the samples (µs), the signals sent and the
// time taken.
func (m *relayMeter) runSamples(ctx context.Context, senders, receivers []*signaling.Client, rate float64, dur time.Duration) ([]float64, int, time.Duration) {
	m.mu.Lock()
	m.samples = m.samples[:0]
	m.mu.Unlock()
	sent, elapsed := pace(ctx, len(senders), rate, dur, func(i int) bool {
		payload := `{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`
		return senders[i].Signal(ctx, receivers[i].ID(), json.RawMessage(payload)) == nil
	})
	time.Sleep(200 * time.Millisecond) // let the last relays land
	m.mu.Lock()
	s := slices.Clone(m.samples)
	m.mu.Unlock()
	return s, sent, elapsed
}

// pace calls send(i) for each of n senders from its own goroutine, at rate
// calls a second over all of them, for dur: the senders are staggered over
// one interval, then each is paced by absolute deadlines so that a slow
// call does not lower the rate. It returns the calls that reported
// success and the time taken.
func pace(ctx context.Context, n int, rate float64, dur time.Duration, send func(i int) bool) (int, time.Duration) {
	interval := time.Duration(float64(time.Second) * float64(n) / rate)
	var sent atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	stop := start.Add(dur)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(interval * time.Duration(i) / time.Duration(n))
			for {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(stop) || ctx.Err() != nil {
					return
				}
				if send(i) {
					sent.Add(1)
				}
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	return int(sent.Load()), time.Since(start)
}

// statsOf summarizes samples (µs) of sent signals taken over elapsed.
func statsOf(s []float64, sent int, elapsed time.Duration) relayStats {
	s = slices.Clone(s)
	slices.Sort(s)
	st := relayStats{n: len(s), lost: sent - len(s), rate: float64(len(s)) / elapsed.Seconds()}
	if len(s) > 0 {
		st.p50 = s[len(s)*50/100]
		st.p99 = s[min(len(s)-1, len(s)*99/100)]
		st.max = s[len(s)-1]
	}
	return st
}

// benchChild is the server process of the benchmark.
type benchChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	addr string
	once sync.Once
}

func startBenchChild() (*benchChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "bench", "signaling")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &benchChild{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	line, err := c.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		c.stop()
		return nil, fmt.Errorf("bench server child did not start: %q %v", line, err)
	}
	c.addr = strings.TrimSpace(strings.TrimPrefix(line, "addr "))
	return c, nil
}

// gc asks the child to collect garbage and return freed memory to the OS,
// so that RSS reflects live memory.
func (c *benchChild) gc() (string, error) {
	if _, err := io.WriteString(c.in, "gc\n"); err != nil {
		return "", err
	}
	line, err := c.out.ReadString('\n')
	return strings.TrimSpace(line), err
}

func (c *benchChild) stop() {
	c.once.Do(func() { closeAndWait(c.in, c.cmd, 15*time.Second) })
}

// closeAndWait closes a child's stdin, on which it shuts down, and waits
// for it to exit; it kills the child after grace.
func closeAndWait(stdin io.Closer, cmd *exec.Cmd, grace time.Duration) {
	stdin.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}

// benchSignalingChild runs the server with limits opened up for the load,
// on 127.0.0.1:0; it prints "addr HOST:PORT", answers "gc" lines on stdin,
// and exits when stdin closes.
func benchSignalingChild() error {
	raiseNoFile(200_000)
	signal.Ignore(os.Interrupt)
	srv := signaling.NewServer(signaling.Config{
		MaxConnsPerIP: -1,
		MaxRooms:      1_000_000,
		RatePerSec:    10_000,
		RateBurst:     10_000,
		HelloTimeout:  60 * time.Second,
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/raw", newRawForwarder())
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go hs.Serve(ln)
	fmt.Printf("addr %s\n", ln.Addr())
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "gc":
			runtime.GC()
			debug.FreeOSMemory()
			fmt.Println("gc done")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hs.Close()
	srv.Close()
	_ = ctx
	return nil
}

// procRSS returns the resident set size of process pid from /proc.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// raiseNoFile raises RLIMIT_NOFILE to at least n (the hard limit too, when
// privileged), or else as far as the hard limit allows, so that tens of
// thousands of sockets fit. It returns the soft limit in force.
func raiseNoFile(n uint64) uint64 {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return 0
	}
	if lim.Cur >= n {
		return lim.Cur
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return n
	}
	lim.Cur = lim.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// rawForwarder is the floor the relay is compared with: a bare gorilla
// WebSocket forwarder in the same server process, with no protocol, no
// rooms and no queues. A "recv" connection registers for a pair; frames
// from that pair's "send" connection are written to it as they come.
type rawForwarder struct {
	up   websocket.Upgrader
	mu   sync.Mutex
	recv map[string]*websocket.Conn
}

func newRawForwarder() *rawForwarder {
	return &rawForwarder{up: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024}, recv: map[string]*websocket.Conn{}}
}

func (f *rawForwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pair, role := r.URL.Query().Get("pair"), r.URL.Query().Get("role")
	ws, err := f.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	if role == "recv" {
		f.mu.Lock()
		f.recv[pair] = ws
		f.mu.Unlock()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}
	f.mu.Lock()
	to := f.recv[pair]
	f.mu.Unlock()
	if to == nil {
		return
	}
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			return
		}
		if to.WriteMessage(websocket.TextMessage, b) != nil {
			return
		}
	}
}

// rawRelay measures the floor: one-way latency through rawForwarder at the
// same rate and over the same number of pairs as the signaling relay.
func rawRelay(ctx context.Context, addr string, pairs int, rate float64, dur time.Duration) (relayStats, error) {
	var mu sync.Mutex
	var samples []float64
	var conns []*websocket.Conn
	var readers sync.WaitGroup
	defer func() {
		for _, c := range conns {
			c.Close()
		}
		readers.Wait()
	}()
	var senders []*websocket.Conn
	for i := range pairs {
		base := fmt.Sprintf("ws://%s/raw?pair=%d&role=", addr, i)
		recv, _, err := websocket.DefaultDialer.DialContext(ctx, base+"recv", nil)
		if err != nil {
			return relayStats{}, err
		}
		conns = append(conns, recv)
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				_, b, err := recv.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now().UnixNano()
				var p struct {
					T int64 `json:"t"`
				}
				if json.Unmarshal(b, &p) == nil && p.T != 0 {
					mu.Lock()
					samples = append(samples, float64(now-p.T)/1e3)
					mu.Unlock()
				}
			}
		}()
		// The forwarder registers the receiver right after the upgrade;
		// give it a moment before the sender arrives.
		time.Sleep(2 * time.Millisecond)
		send, _, err := websocket.DefaultDialer.DialContext(ctx, base+"send", nil)
		if err != nil {
			return relayStats{}, err
		}
		conns = append(conns, send)
		senders = append(senders, send)
	}
	interval := time.Duration(float64(time.Second) * float64(pairs) / rate)
	start := time.Now()
	stop := start.Add(dur)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for i, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(interval * time.Duration(i) / time.Duration(len(senders)))
			for {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(stop) || ctx.Err() != nil {
					return
				}
				payload := `{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}`
				if s.WriteMessage(websocket.TextMessage, []byte(payload)) == nil {
					sent.Add(1)
				}
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	sm := slices.Clone(samples)
	mu.Unlock()
	slices.Sort(sm)
	st := relayStats{n: len(sm), lost: int(sent.Load()) - len(sm), rate: float64(len(sm)) / elapsed.Seconds()}
	if len(sm) > 0 {
		st.p50 = sm[len(sm)*50/100]
		st.p99 = sm[min(len(sm)-1, len(sm)*99/100)]
		st.max = sm[len(sm)-1]
	}
	return st, nil
}
