package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rallypoint/rallypoint/internal/browser"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
	"github.com/rallypoint/rallypoint/web/meshjs"
)

// BrowserConfig configures the browser bench.
type BrowserConfig struct {
	JSON bool
	// Runs is the number of connections per connect-time measurement
	// (zero: 10).
	Runs int
	// Pings is the number of round trips per RTT measurement (zero: 500).
	Pings int
	// Out receives the report (nil: stdout).
	Out io.Writer
}

// BrowserResult is the JSON object printed by -json. Times are in
// milliseconds. Connect times run from the moment the second peer of a
// pair has joined the signaling room to both sides reporting every channel
// open; "native_offers" and "browser_offers" say which side made the
// offer (the smaller peer id). RTTs are 32-byte messages echoed on the
// Unreliable channel: native↔browser and the native↔native baseline are
// measured by the native side (time.Now); browser↔browser by a page
// (performance.now, whose resolution in Chromium is 0.1 ms on a page that
// is not cross-origin isolated).
type BrowserResult struct {
	Runs  int `json:"runs"`
	Pings int `json:"pings"`

	NativeOffersConnectP50Ms  float64 `json:"browser_native_connect_native_offers_p50_ms"`
	NativeOffersConnectP99Ms  float64 `json:"browser_native_connect_native_offers_p99_ms"`
	BrowserOffersConnectP50Ms float64 `json:"browser_native_connect_browser_offers_p50_ms"`
	BrowserOffersConnectP99Ms float64 `json:"browser_native_connect_browser_offers_p99_ms"`
	BrowserBrowserConnectP50  float64 `json:"browser_browser_connect_p50_ms"`
	BrowserBrowserConnectP99  float64 `json:"browser_browser_connect_p99_ms"`
	NativeNativeConnectP50Ms  float64 `json:"baseline_native_native_connect_p50_ms"`
	NativeNativeConnectP99Ms  float64 `json:"baseline_native_native_connect_p99_ms"`

	BrowserNativeRTTP50Ms  float64 `json:"browser_native_rtt_p50_ms"`
	BrowserNativeRTTP99Ms  float64 `json:"browser_native_rtt_p99_ms"`
	BrowserBrowserRTTP50Ms float64 `json:"browser_browser_rtt_p50_ms"`
	BrowserBrowserRTTP99Ms float64 `json:"browser_browser_rtt_p99_ms"`
	NativeNativeRTTP50Ms   float64 `json:"baseline_native_native_rtt_p50_ms"`
	NativeNativeRTTP99Ms   float64 `json:"baseline_native_native_rtt_p99_ms"`
	BrowserNativeRTTRatio  float64 `json:"browser_native_over_native_rtt_p50"`
	BrowserBrowserRTTRatio float64 `json:"browser_browser_over_native_rtt_p50"`
	LoadAvg                string  `json:"loadavg"`
}

// Browser measures connect time and RTT between a page running
// web/meshjs/rallypoint-mesh.js in headless Chromium and a native mesh
// (each side offering), between two pages, and between two native meshes
// (the baseline), on loopback through a real signaling server.
func Browser(cfg BrowserConfig) error {
	r, err := RunBrowserBench(cfg)
	if err != nil {
		return err
	}
	out := cfg.Out
	if out == nil {
		out = os.Stdout
	}
	if cfg.JSON {
		return json.NewEncoder(out).Encode(r)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "loopback, %d connections, %d pings each\tp50 ms\tp99 ms\n", r.Runs, r.Pings)
	fmt.Fprintf(tw, "connect browser-native (native offers)\t%.2f\t%.2f\n", r.NativeOffersConnectP50Ms, r.NativeOffersConnectP99Ms)
	fmt.Fprintf(tw, "connect browser-native (browser offers)\t%.2f\t%.2f\n", r.BrowserOffersConnectP50Ms, r.BrowserOffersConnectP99Ms)
	fmt.Fprintf(tw, "connect browser-browser\t%.2f\t%.2f\n", r.BrowserBrowserConnectP50, r.BrowserBrowserConnectP99)
	fmt.Fprintf(tw, "connect native-native (baseline)\t%.2f\t%.2f\n", r.NativeNativeConnectP50Ms, r.NativeNativeConnectP99Ms)
	fmt.Fprintf(tw, "RTT browser-native\t%.3f\t%.3f\n", r.BrowserNativeRTTP50Ms, r.BrowserNativeRTTP99Ms)
	fmt.Fprintf(tw, "RTT browser-browser\t%.3f\t%.3f\n", r.BrowserBrowserRTTP50Ms, r.BrowserBrowserRTTP99Ms)
	fmt.Fprintf(tw, "RTT native-native (baseline)\t%.3f\t%.3f\n", r.NativeNativeRTTP50Ms, r.NativeNativeRTTP99Ms)
	fmt.Fprintf(tw, "RTT p50 over baseline: browser-native %.1fx, browser-browser %.1fx\t\t\n", r.BrowserNativeRTTRatio, r.BrowserBrowserRTTRatio)
	fmt.Fprintf(tw, "loadavg %s\t\t\n", r.LoadAvg)
	return tw.Flush()
}

// browserLab is a signaling server and rallypoint-mesh.js on one origin,
// and a browser.
type browserLab struct {
	srv   *http.Server
	sig   *signaling.Server
	base  string
	wsURL string
	b     *browser.Browser
	room  int
}

func newBrowserLab(ctx context.Context) (*browserLab, error) {
	b, err := browser.Launch(ctx, browser.Options{})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		return nil, err
	}
	sig := signaling.NewServer(signaling.Config{})
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	mux.Handle("/", meshjs.Handler())
	l := &browserLab{srv: &http.Server{Handler: mux}, sig: sig, b: b}
	l.base = "http://" + ln.Addr().String()
	l.wsURL = "ws://" + ln.Addr().String() + "/ws"
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

func (l *browserLab) close() {
	l.b.Close()
	_ = l.sig.Close()
	_ = l.srv.Close()
}

func (l *browserLab) nextRoom() string {
	l.room++
	return fmt.Sprintf("bench-%d", l.room)
}

// benchPage is a page with peer.html loaded.
func (l *browserLab) page(ctx context.Context) (*browser.Page, error) {
	p, err := l.b.NewPage(ctx, l.base+"/peer.html")
	if err != nil {
		return nil, err
	}
	if err := p.Wait(ctx, `window.rpReady`); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// startPage joins room from a fresh page and returns its id.
func startPage(ctx context.Context, p *browser.Page, wsURL, room string) (string, error) {
	var id string
	err := p.Eval(ctx, fmt.Sprintf(`rp.start(%q, %q)`, wsURL, room), &id)
	return id, err
}

// echoMesh is a native mesh that either echoes RTT probes (first byte 1)
// or, as the prober, sends them and hands their echoes to probes.
type echoMesh struct {
	c      *signaling.Client
	m      *mesh.Mesh
	probes chan uint32
}

// dialOrdered dials signaling clients until one's id satisfies ok.
func dialOrdered(ctx context.Context, url string, ok func(string) bool) (*signaling.Client, error) {
	for range 200 {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			return nil, err
		}
		if ok(c.ID()) {
			return c, nil
		}
		_ = c.Close()
	}
	return nil, errors.New("bench browser: no signaling id in the wanted order after 200 dials")
}

func startEchoMesh(ctx context.Context, c *signaling.Client, room string, prober bool) (*echoMesh, error) {
	if _, err := c.Join(ctx, room); err != nil {
		return nil, err
	}
	e := &echoMesh{c: c, probes: make(chan uint32, 16)}
	var mu sync.Mutex
	var m *mesh.Mesh
	cfg := mesh.Config{ConnectTimeout: 20 * time.Second, OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		if len(data) < 5 || data[0] != 1 {
			return
		}
		if prober {
			id := binary.BigEndian.Uint32(data[1:])
			select {
			case e.probes <- id:
			default:
			}
			return
		}
		mu.Lock()
		mm := m
		mu.Unlock()
		_ = mm.Send(from, ch, data)
	}}
	mu.Lock()
	m, err := mesh.New(c, cfg)
	mu.Unlock()
	if err != nil {
		return nil, err
	}
	e.m = m
	return e, nil
}

func (e *echoMesh) close() {
	e.m.Close()
	_ = e.c.Close()
}

// rtt sends n probes to peer, one at a time, and returns the round trips
// in ms (a probe lost for 1 s is skipped).
func (e *echoMesh) rtt(peer netcode.PeerID, n int) ([]float64, error) {
	out := make([]float64, 0, n)
	buf := make([]byte, 32)
	buf[0] = 1
	for i := range n {
		id := uint32(i)
		binary.BigEndian.PutUint32(buf[1:], id)
		t0 := time.Now()
		if err := e.m.Send(peer, netcode.Unreliable, buf); err != nil {
			return nil, err
		}
		timer := time.NewTimer(time.Second)
	wait:
		for {
			select {
			case got := <-e.probes:
				if got == id {
					out = append(out, float64(time.Since(t0))/1e6)
					break wait
				}
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
	}
	if len(out) == 0 {
		return nil, errors.New("bench browser: no probe came back")
	}
	return out, nil
}

// waitPageConnected waits until the page reports n connected peers.
func waitPageConnected(ctx context.Context, p *browser.Page, n int) error {
	return p.Wait(ctx, fmt.Sprintf(`rp.connected().length === %d`, n))
}

// RunBrowserBench runs the browser bench and returns its figures.
func RunBrowserBench(cfg BrowserConfig) (*BrowserResult, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = 10
	}
	if cfg.Pings <= 0 {
		cfg.Pings = 500
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := newBrowserLab(ctx)
	if err != nil {
		return nil, err
	}
	defer l.close()
	r := &BrowserResult{Runs: cfg.Runs, Pings: cfg.Pings, LoadAvg: loadAvg()}

	// Browser-native, each side offering in turn; RTT on the last pair.
	var nativeOffers, browserOffers, bnRTT []float64
	for i := range 2 * cfg.Runs {
		browserOffer := i%2 == 1
		p, err := l.page(ctx)
		if err != nil {
			return nil, err
		}
		room := l.nextRoom()
		pid, err := startPage(ctx, p, l.wsURL, room)
		if err != nil {
			p.Close()
			return nil, err
		}
		c, err := dialOrdered(ctx, l.wsURL, func(id string) bool { return (id > pid) == browserOffer })
		if err != nil {
			p.Close()
			return nil, err
		}
		t0 := time.Now()
		e, err := startEchoMesh(ctx, c, room, true)
		if err == nil {
			err = e.m.WaitConnected(ctx, 1)
		}
		if err == nil {
			err = waitPageConnected(ctx, p, 1)
		}
		d := float64(time.Since(t0)) / 1e6
		if err == nil && i >= 2*cfg.Runs-2 && bnRTT == nil {
			bnRTT, err = e.rtt(netcode.PeerID(pid), cfg.Pings)
		}
		if e != nil {
			e.close()
		} else {
			_ = c.Close()
		}
		p.Close()
		if err != nil {
			return nil, fmt.Errorf("bench browser: browser-native: %w", err)
		}
		if browserOffer {
			browserOffers = append(browserOffers, d)
		} else {
			nativeOffers = append(nativeOffers, d)
		}
	}
	r.NativeOffersConnectP50Ms, r.NativeOffersConnectP99Ms = lobbyPct(nativeOffers, 0.5), lobbyPct(nativeOffers, 0.99)
	r.BrowserOffersConnectP50Ms, r.BrowserOffersConnectP99Ms = lobbyPct(browserOffers, 0.5), lobbyPct(browserOffers, 0.99)
	r.BrowserNativeRTTP50Ms, r.BrowserNativeRTTP99Ms = lobbyPct(bnRTT, 0.5), lobbyPct(bnRTT, 0.99)

	// Browser-browser.
	var bbConnect, bbRTT []float64
	for i := range cfg.Runs {
		pa, err := l.page(ctx)
		if err != nil {
			return nil, err
		}
		pb, err := l.page(ctx)
		if err != nil {
			pa.Close()
			return nil, err
		}
		room := l.nextRoom()
		_, err = startPage(ctx, pa, l.wsURL, room)
		var bid string
		t0 := time.Now()
		if err == nil {
			bid, err = startPage(ctx, pb, l.wsURL, room)
		}
		if err == nil {
			err = waitPageConnected(ctx, pa, 1)
		}
		if err == nil {
			err = waitPageConnected(ctx, pb, 1)
		}
		d := float64(time.Since(t0)) / 1e6
		if err == nil && i == cfg.Runs-1 {
			err = pa.Eval(ctx, fmt.Sprintf(`rp.rtt(%q, %d)`, bid, cfg.Pings), &bbRTT)
		}
		pa.Close()
		pb.Close()
		if err != nil {
			return nil, fmt.Errorf("bench browser: browser-browser: %w", err)
		}
		bbConnect = append(bbConnect, d)
	}
	if len(bbRTT) == 0 {
		return nil, errors.New("bench browser: browser-browser: no probe came back")
	}
	r.BrowserBrowserConnectP50, r.BrowserBrowserConnectP99 = lobbyPct(bbConnect, 0.5), lobbyPct(bbConnect, 0.99)
	r.BrowserBrowserRTTP50Ms, r.BrowserBrowserRTTP99Ms = lobbyPct(bbRTT, 0.5), lobbyPct(bbRTT, 0.99)

	// Baseline: two native meshes through the same server.
	var nnConnect, nnRTT []float64
	for i := range cfg.Runs {
		room := l.nextRoom()
		ca, err := signaling.Dial(ctx, l.wsURL, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			return nil, err
		}
		a, err := startEchoMesh(ctx, ca, room, true)
		if err != nil {
			_ = ca.Close()
			return nil, err
		}
		cb, err := signaling.Dial(ctx, l.wsURL, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			a.close()
			return nil, err
		}
		t0 := time.Now()
		b, err := startEchoMesh(ctx, cb, room, false)
		if err == nil {
			err = a.m.WaitConnected(ctx, 1)
		}
		if err == nil {
			err = b.m.WaitConnected(ctx, 1)
		}
		d := float64(time.Since(t0)) / 1e6
		if err == nil && i == cfg.Runs-1 {
			nnRTT, err = a.rtt(netcode.PeerID(cb.ID()), cfg.Pings)
		}
		a.close()
		if b != nil {
			b.close()
		} else {
			_ = cb.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("bench browser: native-native: %w", err)
		}
		nnConnect = append(nnConnect, d)
	}
	r.NativeNativeConnectP50Ms, r.NativeNativeConnectP99Ms = lobbyPct(nnConnect, 0.5), lobbyPct(nnConnect, 0.99)
	r.NativeNativeRTTP50Ms, r.NativeNativeRTTP99Ms = lobbyPct(nnRTT, 0.5), lobbyPct(nnRTT, 0.99)
	if r.NativeNativeRTTP50Ms > 0 {
		r.BrowserNativeRTTRatio = r.BrowserNativeRTTP50Ms / r.NativeNativeRTTP50Ms
		r.BrowserBrowserRTTRatio = r.BrowserBrowserRTTP50Ms / r.NativeNativeRTTP50Ms
	}
	return r, nil
}

// loadAvg returns /proc/loadavg's first three fields, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
