package bench

import (
	"bufio"
	"context"
	"encoding/base64"
	binenc "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// transportChildEnv marks a child process of bench transport; its value is
// the role: "udp" (UDP echo), "pion" (bare pion answerer and echo) or
// "kit" (a mesh peer through the signaling server).
const transportChildEnv = "RALLYPOINT_BENCH_TRANSPORT_CHILD"

// TransportChildRole returns the role this process plays as a child of
// bench transport, or "" when it is not one. The command's main calls it
// first and, when it is not empty, RunTransportChild instead of its own
// work.
func TransportChildRole() string { return os.Getenv(transportChildEnv) }

// RunTransportChild runs the child role of bench transport over stdin and
// stdout.
func RunTransportChild(role string) error { return runTransportChild(role, os.Stdin, os.Stdout) }

// benchTransportResult is what -json prints. Times are medians (p50) and
// 99th percentiles of the samples taken in this run.
type benchTransportResult struct {
	Pings       int     `json:"pings"`
	Runs        int     `json:"runs"`
	UDPRTTP50Us float64 `json:"udp_rtt_p50_us"`
	UDPRTTP99Us float64 `json:"udp_rtt_p99_us"`
	// pion_* are the baseline: the faster of the two bare pion variants
	// (pion_baseline names it).
	PionSetupP50Ms         float64 `json:"pion_setup_p50_ms"`
	PionRTTP50Us           float64 `json:"pion_rtt_p50_us"`
	PionRTTP99Us           float64 `json:"pion_rtt_p99_us"`
	PionBaseline           string  `json:"pion_baseline"`
	PionCallbackSetupP50Ms float64 `json:"pion_callback_setup_p50_ms"`
	PionCallbackRTTP50Us   float64 `json:"pion_callback_rtt_p50_us"`
	PionCallbackRTTP99Us   float64 `json:"pion_callback_rtt_p99_us"`
	PionDetachedSetupP50Ms float64 `json:"pion_detached_setup_p50_ms"`
	PionDetachedRTTP50Us   float64 `json:"pion_detached_rtt_p50_us"`
	PionDetachedRTTP99Us   float64 `json:"pion_detached_rtt_p99_us"`
	KitRTTP50Us            float64 `json:"kit_rtt_p50_us"`
	KitRTTP99Us            float64 `json:"kit_rtt_p99_us"`
	RTTRatio               float64 `json:"rtt_ratio"`
	RTTRatioP99            float64 `json:"rtt_ratio_p99"`
	KitUDPRatio            float64 `json:"kit_udp_rtt_ratio"`
	Connect2P50Ms          float64 `json:"connect2_p50_ms"`
	Connect2P99Ms          float64 `json:"connect2_p99_ms"`
	Connect4P50Ms          float64 `json:"connect4_p50_ms"`
	Connect4P99Ms          float64 `json:"connect4_p99_ms"`
	Transfer1MiBMs         float64 `json:"transfer_1mib_ms"`
	Transfer1MiBMBps       float64 `json:"transfer_1mib_mb_per_s"`
	TargetRTTMet           bool    `json:"target_rtt_ratio_met"`
	TargetConnect2         bool    `json:"target_connect2_met"`
	TargetConnect4         bool    `json:"target_connect4_met"`
	TargetTransfer         bool    `json:"target_transfer_met"`
	natBenchResult
	rttResult
}

// TransportConfig holds the flags of rallypoint bench transport.
type TransportConfig struct {
	JSON  bool // -json: print one JSON object instead of a table
	Pings int  // -n: round trips per RTT measurement
	Runs  int  // -runs: connections per connect-time measurement and transfers
	// NoNAT (-nat=false) leaves out the connect times through NATs in
	// network namespaces with coturn (they need root, iptables and coturn,
	// and are skipped with a note without them).
	NoNAT bool
	// RTT50Only (-rtt50-only) measures only the connect times at 50 ms
	// RTT on the virtual network.
	RTT50Only bool
	// Trace (-trace) also prints the whole timeline of the traced
	// connections at 50 ms RTT (to stderr with -json).
	Trace bool
}

// Transport runs rallypoint bench transport and prints its report on stdout (one
// JSON object with JSON set, else a table).
func Transport(cfg TransportConfig) error {
	if cfg.Pings < 40 || cfg.Runs < 3 {
		return errors.New("-n must be at least 40 and -runs at least 3")
	}
	res := benchTransportResult{Pings: cfg.Pings, Runs: cfg.Runs}
	progress := func(f string, a ...any) {
		if !cfg.JSON {
			fmt.Fprintf(os.Stderr, "bench transport: "+f+"\n", a...)
		}
	}
	if cfg.RTT50Only {
		return transportRTT50(cfg, progress)
	}

	// Each path sets up in turn (the others idle) and then holds its
	// connection open; the round trips are measured last, in interleaved
	// batches, so that load from other processes on this machine weighs on
	// every path alike.
	var paths []*rttPath
	defer func() {
		for _, p := range paths {
			p.finish()
		}
	}()
	progress("raw UDP echo...")
	udp, err := startPath("udp", 64, benchUDP)
	if err != nil {
		return fmt.Errorf("udp: %w", err)
	}
	paths = append(paths, udp)
	progress("bare pion, OnMessage callbacks...")
	var setup, dsetup []float64
	pcb, err := startPath("pion callback", 32, func(reg func(pinger)) (err error) {
		setup, err = benchPion(cfg.Runs, false, reg)
		return err
	})
	if err != nil {
		return fmt.Errorf("pion: %w", err)
	}
	paths = append(paths, pcb)
	progress("bare pion, detached channels...")
	pdet, err := startPath("pion detached", 32, func(reg func(pinger)) (err error) {
		dsetup, err = benchPion(cfg.Runs, true, reg)
		return err
	})
	if err != nil {
		return fmt.Errorf("pion detached: %w", err)
	}
	paths = append(paths, pdet)
	progress("kit mesh through rallypoint serve...")
	kit := &kitResult{}
	kpath, err := startPath("kit", 32, func(reg func(pinger)) error { return benchKit(cfg.Runs, kit, reg) })
	if err != nil {
		return fmt.Errorf("kit: %w", err)
	}
	paths = append(paths, kpath)
	// Batches of ten: a burst of load elsewhere on the machine (a few
	// hundred milliseconds) then falls on every path rather than on one
	// path's long batch (batches of 50 let single runs swing to a ratio
	// of 1.5).
	batches := max(cfg.Pings/10, 1)
	progress("round trips, %d per path in %d interleaved batches...", cfg.Pings, batches)
	samples := map[*rttPath][]float64{}
	for r := 0; r < batches; r++ {
		for _, p := range paths {
			got, err := pingLoop(max(cfg.Pings/batches, 1), p.size, p.p)
			if err != nil {
				return fmt.Errorf("%s round trips: %w", p.name, err)
			}
			samples[p] = append(samples[p], got...)
		}
	}
	for _, p := range paths {
		if err := p.finish(); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	paths = nil
	res.UDPRTTP50Us, res.UDPRTTP99Us = tpPct(samples[udp], 50), tpPct(samples[udp], 99)
	res.PionCallbackSetupP50Ms = tpPct(setup, 50)
	res.PionCallbackRTTP50Us, res.PionCallbackRTTP99Us = tpPct(samples[pcb], 50), tpPct(samples[pcb], 99)
	res.PionDetachedSetupP50Ms = tpPct(dsetup, 50)
	res.PionDetachedRTTP50Us, res.PionDetachedRTTP99Us = tpPct(samples[pdet], 50), tpPct(samples[pdet], 99)
	// The baseline is the faster of the two ways to use bare pion.
	res.PionSetupP50Ms = min(res.PionCallbackSetupP50Ms, res.PionDetachedSetupP50Ms)
	if res.PionDetachedRTTP50Us < res.PionCallbackRTTP50Us {
		res.PionRTTP50Us, res.PionRTTP99Us, res.PionBaseline = res.PionDetachedRTTP50Us, res.PionDetachedRTTP99Us, "detached"
	} else {
		res.PionRTTP50Us, res.PionRTTP99Us, res.PionBaseline = res.PionCallbackRTTP50Us, res.PionCallbackRTTP99Us, "callback"
	}
	res.KitRTTP50Us, res.KitRTTP99Us = tpPct(samples[kpath], 50), tpPct(samples[kpath], 99)
	res.Connect2P50Ms, res.Connect2P99Ms = tpPct(kit.connect2, 50), tpPct(kit.connect2, 99)
	res.Connect4P50Ms, res.Connect4P99Ms = tpPct(kit.connect4, 50), tpPct(kit.connect4, 99)
	res.Transfer1MiBMs = tpPct(kit.transfer, 50)
	if res.Transfer1MiBMs > 0 {
		res.Transfer1MiBMBps = float64(1<<20) / 1e6 / (res.Transfer1MiBMs / 1000)
	}
	if res.PionRTTP50Us > 0 {
		res.RTTRatio = res.KitRTTP50Us / res.PionRTTP50Us
		res.RTTRatioP99 = res.KitRTTP99Us / res.PionRTTP99Us
	}
	if res.UDPRTTP50Us > 0 {
		res.KitUDPRatio = res.KitRTTP50Us / res.UDPRTTP50Us
	}
	res.TargetRTTMet = res.RTTRatio <= 1.2
	res.TargetConnect2 = res.Connect2P50Ms <= 25
	res.TargetConnect4 = res.Connect4P50Ms <= 60
	res.TargetTransfer = res.Transfer1MiBMs < 200

	progress("connect time at 50 ms RTT on pion's virtual network...")
	rtt, err := benchConnectRTT(cfg.Runs, progress)
	if err != nil {
		return fmt.Errorf("connect at 50 ms RTT: %w", err)
	}
	res.rttResult = rtt
	if cfg.Trace {
		printConnectTraces(os.Stderr, &res.rttResult)
	}

	if cfg.NoNAT {
		res.Skipped = "-nat=false"
	} else {
		progress("NAT pairs in network namespaces with coturn...")
		nat, err := benchNAT(cfg.Runs, progress)
		if err != nil {
			return fmt.Errorf("NAT lab: %w", err)
		}
		res.natBenchResult = nat
	}

	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		return enc.Encode(res)
	}
	printTransportTable(os.Stdout, &res)
	return nil
}

// pinger is one path's open connection: send a message, wait for the echo.
type pinger struct {
	send func([]byte) error
	recv func() ([]byte, error)
}

// rttPath is a path whose setup ran in its own goroutine, which now holds
// the connection open until finish.
type rttPath struct {
	name     string
	size     int
	p        pinger
	release  chan struct{}
	done     chan error
	finished bool
	err      error
}

// startPath runs fn until it hands over its pinger (fn's register blocks
// until finish), or returns fn's error.
func startPath(name string, size int, fn func(register func(pinger)) error) (*rttPath, error) {
	p := &rttPath{name: name, size: size, release: make(chan struct{}), done: make(chan error, 1)}
	got := make(chan pinger, 1)
	go func() {
		p.done <- fn(func(pg pinger) {
			got <- pg
			<-p.release
		})
	}()
	select {
	case p.p = <-got:
		return p, nil
	case err := <-p.done:
		if err == nil {
			err = errors.New("no connection to measure")
		}
		return nil, err
	}
}

// finish lets the path close its connection and returns its error.
func (p *rttPath) finish() error {
	if !p.finished {
		p.finished = true
		close(p.release)
		p.err = <-p.done
	}
	return p.err
}

func printTransportTable(w io.Writer, r *benchTransportResult) {
	ok := func(b bool) string {
		if b {
			return "met"
		}
		return "MISSED"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "path\tmeasure\tp50\tp99\t\n")
	fmt.Fprintf(tw, "raw UDP\tRTT 64 B\t%.1f µs\t%.1f µs\t\n", r.UDPRTTP50Us, r.UDPRTTP99Us)
	fmt.Fprintf(tw, "bare pion, OnMessage\tsetup to channel open\t%.2f ms\t\t\n", r.PionCallbackSetupP50Ms)
	fmt.Fprintf(tw, "bare pion, OnMessage\tRTT 32 B unreliable\t%.1f µs\t%.1f µs\t\n", r.PionCallbackRTTP50Us, r.PionCallbackRTTP99Us)
	fmt.Fprintf(tw, "bare pion, detached\tsetup to channel open\t%.2f ms\t\t\n", r.PionDetachedSetupP50Ms)
	fmt.Fprintf(tw, "bare pion, detached\tRTT 32 B unreliable\t%.1f µs\t%.1f µs\t\n", r.PionDetachedRTTP50Us, r.PionDetachedRTTP99Us)
	fmt.Fprintf(tw, "kit\tRTT 32 B unreliable\t%.1f µs\t%.1f µs\t\n", r.KitRTTP50Us, r.KitRTTP99Us)
	fmt.Fprintf(tw, "kit\tconnect 2 peers\t%.2f ms\t%.2f ms\t\n", r.Connect2P50Ms, r.Connect2P99Ms)
	fmt.Fprintf(tw, "kit\tconnect 4 peers\t%.2f ms\t%.2f ms\t\n", r.Connect4P50Ms, r.Connect4P99Ms)
	fmt.Fprintf(tw, "kit\t1 MiB reliable\t%.2f ms\t\t\n", r.Transfer1MiBMs)
	fmt.Fprintf(tw, "bare pion (defaults)\tconnect 2 peers, 50 ms RTT (pion_connect2_rtt50_ms)\t%.1f ms\t\t\n", r.PionConnect2RTT50Ms)
	fmt.Fprintf(tw, "kit\tconnect 2 peers, 50 ms RTT (connect2_rtt50_ms)\t%.1f ms\t\t\n", r.Connect2RTT50Ms)
	fmt.Fprintf(tw, "kit\tconnect 4 peers, 50 ms RTT (connect4_rtt50_ms)\t%.1f ms\t\t\n", r.Connect4RTT50Ms)
	if r.Skipped == "" {
		fmt.Fprintf(tw, "bare pion\tconnect, cone/cone NATs\t%.1f ms\t\t\n", r.ConePionP50Ms)
		fmt.Fprintf(tw, "kit\tconnect, cone/cone NATs\t%.1f ms\t\t\n", r.ConeKitP50Ms)
		fmt.Fprintf(tw, "bare pion\tconnect, symmetric NATs (coturn)\t%.1f ms\t\t\n", r.SymPionP50Ms)
		fmt.Fprintf(tw, "kit\tconnect, symmetric NATs (coturn)\t%.1f ms\t\t\n", r.SymmetricKitP50Ms)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d round trips per RTT figure (paths interleaved in batches of 10), %d runs per connect and transfer figure;\n", r.Pings, r.Runs)
	fmt.Fprintf(w, "peers in separate processes; the kit signals through a rallypoint serve child;\n")
	fmt.Fprintf(w, "the measuring side waits and reads as a game would (kit: Ready+Poll), the echo side echoes from its receive callback\n")
	fmt.Fprintf(w, "rtt_ratio kit/pion (%s, the faster) p50 %.2f (target <= 1.2: %s), p99 %.2f; kit/UDP p50 %.1f\n", r.PionBaseline, r.RTTRatio, ok(r.TargetRTTMet), r.RTTRatioP99, r.KitUDPRatio)
	fmt.Fprintf(w, "connect2 p50 %.2f ms (target <= 25: %s); connect4 p50 %.2f ms (target <= 60: %s)\n", r.Connect2P50Ms, ok(r.TargetConnect2), r.Connect4P50Ms, ok(r.TargetConnect4))
	fmt.Fprintf(w, "at 50 ms RTT (vnet, 25 ms each way, signals too; from match found to every channel open): connect2 %.1f ms = %.1f RTT (target <= 4: %s), connect4 %.1f ms = %.1f RTT (target <= 5: %s); bare pion's defaults, 2 peers: %.1f ms = %.1f RTT\n",
		r.Connect2RTT50Ms, r.Connect2RTTs, ok(r.TargetConnect2RTT50), r.Connect4RTT50Ms, r.Connect4RTTs, ok(r.TargetConnect4RTT50), r.PionConnect2RTT50Ms, r.PionConnect2RTTs)
	fmt.Fprintf(w, "1 MiB transfer p50 %.2f ms, %.1f MB/s (target < 200 ms: %s)\n", r.Transfer1MiBMs, r.Transfer1MiBMBps, ok(r.TargetTransfer))
	printConnectSteps(w, &r.rttResult)
	if r.Skipped != "" {
		fmt.Fprintf(w, "NAT connect times skipped: %s\n", r.Skipped)
	} else {
		fmt.Fprintf(w, "NAT pairs: namespaces behind iptables NATs, coturn as STUN/TURN server, peers in this process; from New/NewPeerConnection to open channels;\n")
		fmt.Fprintf(w, "the kit with its defaults (srflx pairs accepted at once, TURN fallback after 1.5 s), bare pion with its own (srflx wait 500 ms, relay 2 s, TURN from the start)\n")
	}
}

// tpPct returns the p-th percentile of samples (nearest rank).
func tpPct(samples []float64, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// child is a child process of the benchmark, talking line by line over its
// stdin and stdout.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

func startChild(role string, extraEnv ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(append(os.Environ(), transportChildEnv+"="+role), extraEnv...)
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
	c := &child{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c, nil
}

func (c *child) send(line string) error {
	_, err := io.WriteString(c.in, line+"\n")
	return err
}

// expect waits for a line starting with word and returns its fields.
func (c *child) expect(word string, d time.Duration) ([]string, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return nil, fmt.Errorf("child exited waiting for %q", word)
			}
			f := strings.Fields(l)
			if len(f) > 0 && f[0] == word {
				return f, nil
			}
		case <-timer.C:
			return nil, fmt.Errorf("no %q from child within %v", word, d)
		}
	}
}

func (c *child) stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// benchUDP connects to a UDP echo child and registers the connection.
func benchUDP(register func(pinger)) error {
	c, err := startChild("udp")
	if err != nil {
		return err
	}
	defer c.stop()
	f, err := c.expect("addr", 10*time.Second)
	if err != nil {
		return err
	}
	raddr, err := net.ResolveUDPAddr("udp4", f[1])
	if err != nil {
		return err
	}
	conn, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 2048)
	register(pinger{
		send: func(b []byte) error { _, err := conn.Write(b); return err },
		recv: func() ([]byte, error) {
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			k, err := conn.Read(buf)
			return buf[:k], err
		},
	})
	return nil
}

// bareEngine is the setting engine of the bare pion path: the minimum to
// connect quickly on loopback (no mDNS, loopback candidates, UDP over
// IPv4), nothing from the kit.
func bareEngine(detach bool) webrtc.SettingEngine {
	var se webrtc.SettingEngine
	if detach {
		se.DetachDataChannels()
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return se
}

// benchPion measures bare pion: setup from NewPeerConnection to an open
// unordered maxRetransmits-0 channel with a child answerer (non-trickle
// offer and answer over the child's stdin and stdout), and 32-byte round
// trips on that channel. With detach, both sides read detached channels
// (as the kit does) instead of OnMessage callbacks.
func benchPion(runs int, detach bool, register func(pinger)) (setup []float64, err error) {
	c, err := startChild("pion")
	if err != nil {
		return nil, err
	}
	defer c.stop()
	mode := "callback"
	if detach {
		mode = "detach"
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(bareEngine(detach)))
	for r := 0; r < runs+1; r++ {
		last := r == runs
		start := time.Now()
		pc, err := api.NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return nil, err
		}
		ordered := false
		zero := uint16(0)
		dc, err := pc.CreateDataChannel("bench", &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &zero})
		if err != nil {
			pc.Close()
			return nil, err
		}
		opened := make(chan struct{})
		echo := make(chan []byte, 1)
		var send func([]byte) error
		if detach {
			dc.OnOpen(func() {
				rw, err := dc.Detach()
				if err != nil {
					return
				}
				send = func(b []byte) error { _, err := rw.Write(b); return err }
				close(opened)
				go func() {
					buf := make([]byte, 2048)
					for {
						k, err := rw.Read(buf)
						if err != nil {
							return
						}
						select {
						case echo <- append([]byte(nil), buf[:k]...):
						default:
						}
					}
				}()
			})
		} else {
			send = func(b []byte) error { return dc.Send(b) }
			dc.OnOpen(func() { close(opened) })
			dc.OnMessage(func(m webrtc.DataChannelMessage) {
				select {
				case echo <- m.Data:
				default:
				}
			})
		}
		offer, err := pc.CreateOffer(nil)
		if err == nil {
			gathered := webrtc.GatheringCompletePromise(pc)
			err = pc.SetLocalDescription(offer)
			<-gathered
		}
		if err == nil {
			b, _ := json.Marshal(pc.LocalDescription())
			err = c.send("offer " + mode + " " + base64.StdEncoding.EncodeToString(b))
		}
		var f []string
		if err == nil {
			f, err = c.expect("answer", 10*time.Second)
		}
		var answer webrtc.SessionDescription
		if err == nil {
			var raw []byte
			if raw, err = base64.StdEncoding.DecodeString(f[1]); err == nil {
				err = json.Unmarshal(raw, &answer)
			}
		}
		if err == nil {
			err = pc.SetRemoteDescription(answer)
		}
		if err == nil {
			select {
			case <-opened:
				setup = append(setup, float64(time.Since(start).Nanoseconds())/1e6)
			case <-time.After(10 * time.Second):
				err = errors.New("channel did not open")
			}
		}
		if err == nil && last {
			register(pinger{send: send, recv: func() ([]byte, error) {
				select {
				case m := <-echo:
					return m, nil
				case <-time.After(time.Second):
					return nil, errors.New("echo lost")
				}
			}})
		}
		pc.Close()
		if err != nil {
			return nil, err
		}
		if err := c.send("close"); err != nil {
			return nil, err
		}
		if _, err := c.expect("closed", 10*time.Second); err != nil {
			return nil, err
		}
	}
	return setup, nil
}

// pingLoop sends n numbered messages of size bytes one at a time and
// measures each round trip, after a tenth as many to warm up; a lost
// message is resent under a new number.
func pingLoop(n, size int, p pinger) ([]float64, error) {
	send, recv := p.send, p.recv
	msg := make([]byte, size)
	var out []float64
	lost := 0
	for i := -n / 10; i < n; i++ {
		binenc.BigEndian.PutUint32(msg, uint32(i))
		start := time.Now()
		if err := send(msg); err != nil {
			return nil, err
		}
		for {
			b, err := recv()
			if err != nil {
				lost++
				if lost > n/10+5 {
					return nil, fmt.Errorf("%d echoes lost", lost)
				}
				break
			}
			if len(b) == size && binenc.BigEndian.Uint32(b) == uint32(i) {
				if i >= 0 {
					out = append(out, float64(time.Since(start).Nanoseconds())/1e3)
				}
				break
			}
		}
	}
	return out, nil
}

type kitResult struct {
	connect2, connect4, transfer []float64
}

// startServeChild runs "rallypoint serve" on a free loopback port as a child
// process and returns its signaling URL. Its rate limit is raised: rooms
// are joined back to back here, and the figure measured is the transport,
// not the limiter (50 messages per second by default).
func startServeChild() (url string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-rate", "100000", "-burst", "100000", "-log-level", "info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			for _, f := range strings.Fields(sc.Text()) {
				if v, ok := strings.CutPrefix(f, "signaling="); ok {
					select {
					case found <- v:
					default:
					}
				}
			}
		}
	}()
	select {
	case url = <-found:
		return url, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, errors.New("no listening line from rallypoint serve")
	}
}

// benchKit runs the mesh: "rallypoint serve" in a child process, this
// process as one peer and up to three children as the others.
func benchKit(runs int, res *kitResult, register func(pinger)) error {
	url, stopServer, err := startServeChild()
	if err != nil {
		return fmt.Errorf("rallypoint serve: %w", err)
	}
	defer stopServer()

	var kids []*child
	defer func() {
		for _, k := range kids {
			k.stop()
		}
	}()
	for i := 0; i < 3; i++ {
		k, err := startChild("kit", "RALLYPOINT_BENCH_SIGNALING_URL="+url)
		if err != nil {
			return err
		}
		kids = append(kids, k)
		if _, err := k.expect("ready", 10*time.Second); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer cl.Close()

	room := 0
	// session joins size-1 children and this process to a fresh room,
	// returns the connect time (from the last join to the last peer with
	// all channels open) and leaves the mesh open for use.
	session := func(size int) (*mesh.Mesh, float64, error) {
		room++
		name := fmt.Sprintf("bench-%d-%d", size, room)
		for _, k := range kids[:size-1] {
			if err := k.send("join " + name + " " + strconv.Itoa(size)); err != nil {
				return nil, 0, err
			}
		}
		if _, err := cl.Join(ctx, name); err != nil {
			return nil, 0, err
		}
		joined := time.Now().UnixNano()
		m, err := mesh.New(cl, mesh.Config{Loopback: true})
		if err != nil {
			return nil, 0, err
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err = m.WaitConnected(wctx, size-1)
		wcancel()
		open := time.Now().UnixNano()
		if err != nil {
			m.Close()
			return nil, 0, err
		}
		lastJoin, lastOpen := joined, open
		for _, k := range kids[:size-1] {
			f, err := k.expect("open", 30*time.Second)
			if err != nil {
				m.Close()
				return nil, 0, err
			}
			j, _ := strconv.ParseInt(f[1], 10, 64)
			o, _ := strconv.ParseInt(f[2], 10, 64)
			lastJoin, lastOpen = max(lastJoin, j), max(lastOpen, o)
		}
		return m, float64(lastOpen-lastJoin) / 1e6, nil
	}
	end := func(m *mesh.Mesh, size int) error {
		m.Close()
		for _, k := range kids[:size-1] {
			if err := k.send("leave"); err != nil {
				return err
			}
		}
		for _, k := range kids[:size-1] {
			if _, err := k.expect("left", 10*time.Second); err != nil {
				return err
			}
		}
		return cl.Leave(ctx)
	}

	for _, size := range []int{2, 4} {
		for r := 0; r < runs+1; r++ { // the first run warms up
			m, d, err := session(size)
			if err != nil {
				return fmt.Errorf("connect %d: %w", size, err)
			}
			if r > 0 {
				if size == 2 {
					res.connect2 = append(res.connect2, d)
				} else {
					res.connect4 = append(res.connect4, d)
				}
			}
			if err := end(m, size); err != nil {
				return err
			}
		}
	}

	m, _, err := session(2)
	if err != nil {
		return err
	}
	peer := m.Connected()[0]
	// recv waits for the next message on ch, discarding others.
	recv := func(ch netcode.Channel, d time.Duration) ([]byte, error) {
		timer := time.NewTimer(d)
		defer timer.Stop()
		var got []byte
		for got == nil {
			m.Poll(func(_ netcode.PeerID, c netcode.Channel, data []byte) {
				if c == ch && got == nil {
					got = append([]byte{}, data...)
				}
			})
			if got != nil {
				break
			}
			select {
			case <-m.Ready():
			case <-timer.C:
				return nil, errors.New("timed out")
			}
		}
		return got, nil
	}
	big := make([]byte, 1<<20)
	for r := 0; r < runs+1; r++ {
		start := time.Now()
		if err := m.Send(peer, netcode.Reliable, big); err != nil {
			return err
		}
		if _, err := recv(netcode.Reliable, 20*time.Second); err != nil {
			return fmt.Errorf("1 MiB transfer: %w", err)
		}
		if r > 0 {
			res.transfer = append(res.transfer, float64(time.Since(start).Nanoseconds())/1e6)
		}
	}
	register(pinger{
		send: func(b []byte) error { return m.Send(peer, netcode.Unreliable, b) },
		recv: func() ([]byte, error) { return recv(netcode.Unreliable, time.Second) },
	})
	return end(m, 2)
}

// runTransportChild runs one child role until its stdin closes.
func runTransportChild(role string, in io.Reader, out io.Writer) error {
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var mu sync.Mutex
	say := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, f+"\n", a...)
	}
	switch role {
	case "udp":
		return udpEchoChild(lines, say)
	case "pion":
		return pionEchoChild(lines, say)
	case "kit":
		return kitEchoChild(lines, say)
	default:
		return fmt.Errorf("unknown role %q", role)
	}
}

func udpEchoChild(lines <-chan string, say func(string, ...any)) error {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = conn.WriteToUDP(buf[:n], from)
		}
	}()
	say("addr %s", conn.LocalAddr())
	for range lines {
	}
	return conn.Close()
}

func pionEchoChild(lines <-chan string, say func(string, ...any)) error {
	apis := map[string]*webrtc.API{
		"callback": webrtc.NewAPI(webrtc.WithSettingEngine(bareEngine(false))),
		"detach":   webrtc.NewAPI(webrtc.WithSettingEngine(bareEngine(true))),
	}
	var pc *webrtc.PeerConnection
	closePC := func() {
		if pc != nil {
			pc.Close()
			pc = nil
		}
	}
	defer closePC()
	for l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "offer" && apis[f[1]] != nil:
			closePC()
			raw, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil {
				return err
			}
			var offer webrtc.SessionDescription
			if err := json.Unmarshal(raw, &offer); err != nil {
				return err
			}
			if pc, err = apis[f[1]].NewPeerConnection(webrtc.Configuration{}); err != nil {
				return err
			}
			if f[1] == "detach" {
				pc.OnDataChannel(func(dc *webrtc.DataChannel) {
					dc.OnOpen(func() {
						rw, err := dc.Detach()
						if err != nil {
							return
						}
						go func() {
							buf := make([]byte, 2048)
							for {
								k, err := rw.Read(buf)
								if err != nil {
									return
								}
								_, _ = rw.Write(buf[:k])
							}
						}()
					})
				})
			} else {
				pc.OnDataChannel(func(dc *webrtc.DataChannel) {
					dc.OnMessage(func(m webrtc.DataChannelMessage) { _ = dc.Send(m.Data) })
				})
			}
			if err := pc.SetRemoteDescription(offer); err != nil {
				return err
			}
			answer, err := pc.CreateAnswer(nil)
			if err != nil {
				return err
			}
			gathered := webrtc.GatheringCompletePromise(pc)
			if err := pc.SetLocalDescription(answer); err != nil {
				return err
			}
			<-gathered
			b, _ := json.Marshal(pc.LocalDescription())
			say("answer %s", base64.StdEncoding.EncodeToString(b))
		case len(f) == 1 && f[0] == "close":
			closePC()
			say("closed")
		}
	}
	return nil
}

func kitEchoChild(lines <-chan string, say func(string, ...any)) error {
	url := os.Getenv("RALLYPOINT_BENCH_SIGNALING_URL")
	ctx := context.Background()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cl, err := signaling.Dial(dctx, url, nil)
	cancel()
	if err != nil {
		return err
	}
	defer cl.Close()
	say("ready")
	for l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "join" {
			continue
		}
		size, _ := strconv.Atoi(f[2])
		if _, err := cl.Join(ctx, f[1]); err != nil {
			return err
		}
		joined := time.Now().UnixNano()
		// Like the bare pion child, echo from the receive callback.
		var m *mesh.Mesh
		ack := []byte{'k'}
		ready := make(chan struct{})
		echo := func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			<-ready
			if ch == netcode.Reliable && len(data) > 1024 {
				_ = m.Send(from, ch, ack)
				return
			}
			_ = m.Send(from, ch, data)
		}
		m, err := mesh.New(cl, mesh.Config{Loopback: true, OnMessage: echo})
		if err != nil {
			return err
		}
		close(ready)
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err = m.WaitConnected(wctx, size-1)
		wcancel()
		if err != nil {
			m.Close()
			return err
		}
		say("open %d %d", joined, time.Now().UnixNano())
		for l := range lines {
			if l == "leave" {
				break
			}
		}
		m.Close()
		if err := cl.Leave(ctx); err != nil {
			return err
		}
		say("left")
	}
	return nil
}

// transportRTT50 runs -rtt50-only: the connect times at 50 ms RTT alone.
func transportRTT50(cfg TransportConfig, progress func(string, ...any)) error {
	r, err := benchConnectRTT(cfg.Runs, progress)
	if err != nil {
		return fmt.Errorf("connect at 50 ms RTT: %w", err)
	}
	if cfg.Trace {
		printConnectTraces(os.Stderr, &r)
	}
	if cfg.JSON {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	ok := map[bool]string{true: "met", false: "MISSED"}
	fmt.Printf("at 50 ms RTT (vnet, 25 ms each way, signals too; from match found to every channel open; medians of %d runs):\n", cfg.Runs)
	fmt.Printf("connect2 %.1f ms = %.1f RTT (target <= 4: %s), connect4 %.1f ms = %.1f RTT (target <= 5: %s); bare pion's defaults, 2 peers: %.1f ms = %.1f RTT\n",
		r.Connect2RTT50Ms, r.Connect2RTTs, ok[r.TargetConnect2RTT50], r.Connect4RTT50Ms, r.Connect4RTTs, ok[r.TargetConnect4RTT50], r.PionConnect2RTT50Ms, r.PionConnect2RTTs)
	printConnectSteps(os.Stdout, &r)
	return nil
}
