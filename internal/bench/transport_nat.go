package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// natBenchResult is the NAT part of bench transport: connect times (p50,
// ms) of a pair behind two cone NATs and of a pair behind two symmetric
// NATs, for the kit's mesh with its defaults and for bare pion with its
// own, in one lab (network namespaces, iptables NATs, Debian's coturn as
// STUN and TURN server) and one run.
type natBenchResult struct {
	ConeKitP50Ms      float64 `json:"nat_cone_kit_connect_p50_ms"`
	ConePionP50Ms     float64 `json:"nat_cone_pion_connect_p50_ms"`
	SymmetricKitP50Ms float64 `json:"nat_symmetric_kit_connect_p50_ms"`
	SymPionP50Ms      float64 `json:"nat_symmetric_pion_connect_p50_ms"`
	// Skipped says why the NAT figures are missing ("" when measured).
	Skipped string `json:"nat_skipped,omitempty"`
}

const natBenchSecret = "rallypoint-bench-nat"

// benchNAT builds the lab and measures runs connections per figure.
func benchNAT(runs int, progress func(string, ...any)) (res natBenchResult, err error) {
	skip, err := runLab(func(tb *labTB) {
		lab := netns.New(tb)
		if !netns.HaveTURN() {
			tb.Skip("coturn's turnserver not installed (scripts/setup.sh installs it)")
		}
		pub, edge := lab.NS("pub"), lab.NS("edge")
		pi, _ := lab.Link(pub, edge, netns.LinkOptions{})
		pub.Forward()
		pub.DropUnrouted("10.0.0.0/8")
		turn := pub.StartTURN(netns.TURNOptions{IP: pi.IPv4, Secret: natBenchSecret})
		user, pass := signaling.TURNCredentials(natBenchSecret, "bench", time.Hour, time.Now())
		servers := []netcode.ICEServer{
			{URLs: []string{"stun:" + pi.IPv4 + ":3478"}},
			{URLs: []string{turn.UDP, turn.TCP}, Username: user, Credential: pass},
		}
		behind := func(name string, kind netns.NATKind) transport.Net {
			host, router := lab.NS(name), lab.NS(name+"-nat")
			out, pubSide := lab.Link(router, pub, netns.LinkOptions{})
			in, _ := lab.Link(router, host, netns.LinkOptions{})
			router.Route("default", "via", pubSide.IPv4)
			host.Route("default", "via", in.IPv4)
			router.NAT(out, kind)
			n, err := host.PionNet()
			if err != nil {
				tb.Fatalf("pion network in %s: %v", name, err)
			}
			return n
		}
		for _, kind := range []netns.NATKind{netns.NATCone, netns.NATSymmetric} {
			na, nb := behind("a"+kind.String(), kind), behind("b"+kind.String(), kind)
			var kit, bare []float64
			for i := 0; i < runs; i++ {
				progress("NAT %s/%s pair, run %d of %d...", kind, kind, i+1, runs)
				d, err := natKitConnect(na, nb, servers)
				if err != nil {
					tb.Fatalf("kit, %s NATs: %v", kind, err)
				}
				kit = append(kit, d)
				if d, err = natPionConnect(na, nb, servers); err != nil {
					tb.Fatalf("bare pion, %s NATs: %v", kind, err)
				}
				bare = append(bare, d)
			}
			if kind == netns.NATCone {
				res.ConeKitP50Ms, res.ConePionP50Ms = tpPct(kit, 50), tpPct(bare, 50)
			} else {
				res.SymmetricKitP50Ms, res.SymPionP50Ms = tpPct(kit, 50), tpPct(bare, 50)
			}
		}
	})
	res.Skipped = skip
	return res, err
}

// natKitConnect connects two meshes with default settings, their sockets
// in na and nb, and returns the time from New to both connected, in ms.
func natKitConnect(na, nb transport.Net, servers []netcode.ICEServer) (float64, error) {
	hub := &memsignal.Hub{}
	var ms []*mesh.Mesh
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	start := time.Now()
	for i, n := range []transport.Net{na, nb} {
		s, err := hub.Join(string(rune('a' + i)))
		if err != nil {
			return 0, err
		}
		defer s.Leave()
		m, err := mesh.New(s, mesh.Config{Net: n, ICEServers: servers})
		if err != nil {
			return 0, err
		}
		ms = append(ms, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, 1); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start)) / 1e6, nil
}

// natPionConnect connects two bare PeerConnections with pion's defaults
// (but mDNS candidates off, as the loopback baseline has them) and the
// same servers, trickling candidates in memory, and returns the time from
// NewPeerConnection to the channel open on both sides, in ms.
func natPionConnect(na, nb transport.Net, servers []netcode.ICEServer) (float64, error) {
	var iceList []webrtc.ICEServer
	for _, s := range servers {
		iceList = append(iceList, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	start := time.Now()
	var pcs []*webrtc.PeerConnection
	defer func() {
		for _, pc := range pcs {
			_ = pc.Close()
		}
	}()
	for _, n := range []transport.Net{na, nb} {
		var se webrtc.SettingEngine
		se.SetNet(n)
		se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{ICEServers: iceList})
		if err != nil {
			return 0, err
		}
		pcs = append(pcs, pc)
	}
	a, b := pcs[0], pcs[1]
	var wg sync.WaitGroup
	wg.Add(2)
	var once [2]sync.Once
	// Candidates gathered before the other side has its remote
	// description wait for it.
	var mu sync.Mutex
	ready := [2]bool{}
	pending := [2][]webrtc.ICECandidateInit{}
	add := func(to int, c webrtc.ICECandidateInit) {
		mu.Lock()
		if !ready[to] {
			pending[to] = append(pending[to], c)
			mu.Unlock()
			return
		}
		mu.Unlock()
		_ = pcs[to].AddICECandidate(c)
	}
	markReady := func(i int) {
		mu.Lock()
		ready[i] = true
		p := pending[i]
		pending[i] = nil
		mu.Unlock()
		for _, c := range p {
			_ = pcs[i].AddICECandidate(c)
		}
	}
	a.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			add(1, c.ToJSON())
		}
	})
	b.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			add(0, c.ToJSON())
		}
	})
	dc, err := a.CreateDataChannel("bench", nil)
	if err != nil {
		return 0, err
	}
	dc.OnOpen(func() { once[0].Do(wg.Done) })
	b.OnDataChannel(func(d *webrtc.DataChannel) { d.OnOpen(func() { once[1].Do(wg.Done) }) })
	offer, err := a.CreateOffer(nil)
	if err != nil {
		return 0, err
	}
	if err := a.SetLocalDescription(offer); err != nil {
		return 0, err
	}
	if err := b.SetRemoteDescription(offer); err != nil {
		return 0, err
	}
	markReady(1)
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return 0, err
	}
	if err := b.SetLocalDescription(answer); err != nil {
		return 0, err
	}
	if err := a.SetRemoteDescription(answer); err != nil {
		return 0, err
	}
	markReady(0)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return float64(time.Since(start)) / 1e6, nil
	case <-time.After(15 * time.Second):
		return 0, errors.New("no open channel after 15 s")
	}
}

// labTB lets bench transport build a netns.Lab outside a test: Fatal and
// Skip end the lab's function (runLab recovers), Cleanup runs when it
// returns.
type labTB struct {
	mu       sync.Mutex
	cleanups []func()
	err      error
	skip     string
}

type labAbort struct{}

func (b *labTB) Helper() {}

func (b *labTB) Cleanup(f func()) {
	b.mu.Lock()
	b.cleanups = append(b.cleanups, f)
	b.mu.Unlock()
}

func (b *labTB) Errorf(format string, args ...any) {
	b.mu.Lock()
	if b.err == nil {
		b.err = fmt.Errorf(format, args...)
	}
	b.mu.Unlock()
}

func (b *labTB) Fatal(args ...any) { b.Errorf("%s", fmt.Sprint(args...)); panic(labAbort{}) }

func (b *labTB) Fatalf(format string, args ...any) { b.Errorf(format, args...); panic(labAbort{}) }

func (b *labTB) Failed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err != nil
}

func (b *labTB) Logf(string, ...any) {}

func (b *labTB) Skip(args ...any) { b.skip = fmt.Sprint(args...); panic(labAbort{}) }

func (b *labTB) Skipf(format string, args ...any) { b.Skip(fmt.Sprintf(format, args...)) }

func (b *labTB) TempDir() string {
	dir, err := os.MkdirTemp("", "rallypoint-bench-nat")
	if err != nil {
		b.Fatalf("temp dir: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// runLab runs fn with a labTB and then its cleanups, last first; it
// returns why fn skipped and the first error it reported.
func runLab(fn func(*labTB)) (skip string, err error) {
	tb := &labTB{}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(labAbort); !ok {
					panic(r)
				}
			}
		}()
		fn(tb)
	}()
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
	return tb.skip, tb.err
}
