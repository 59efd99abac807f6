package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
)

// Connect time over latency: peers on pion's virtual network (vnet), one
// router that holds every packet oneWay before it forwards it, so every
// path between two peers has an RTT of 2×oneWay.
//
// The rendezvous point (the signaling server, or the matchmaker that
// announces the match) sits on the router, halfway between every two
// peers: a signal from one peer to another takes oneWay (oneWay/2 to the
// server, oneWay/2 on to the addressee), as long as a packet on the
// direct path and never less; a server elsewhere only adds to that. Every
// signal pays it, repeats and hellos included, in order per sender.
//
// The clock starts at "match found": the server's announcement reaches
// every peer at the same moment (each already holds its signaling
// connection and is in the match's room, so each learns its roster from
// it) and each starts its mesh then. It stops when the last peer has all
// its channels open to every other (the mesh's four, or bare pion's one).
// Certificates, candidate gathering and every handshake are inside.
// rttOneWay is the one-way delay of the connect-over-latency measurement:
// 25 ms each way, a 50 ms RTT.
const rttOneWay = 25 * time.Millisecond

type rttResult struct {
	Connect2RTT50Ms     float64 `json:"connect2_rtt50_ms"`
	Connect4RTT50Ms     float64 `json:"connect4_rtt50_ms"`
	PionConnect2RTT50Ms float64 `json:"pion_connect2_rtt50_ms"`
	Connect2RTTs        float64 `json:"connect2_rtt50_rtts"`
	Connect4RTTs        float64 `json:"connect4_rtt50_rtts"`
	PionConnect2RTTs    float64 `json:"pion_connect2_rtt50_rtts"`
	TargetConnect2RTT50 bool    `json:"target_connect2_rtt50_met"`
	TargetConnect4RTT50 bool    `json:"target_connect4_rtt50_met"`
	// The steps of one traced 2-peer connection of each, from its
	// timeline of packet and signal arrivals (see connectTrace).
	Connect2Steps     []traceStep `json:"connect2_rtt50_steps"`
	PionConnect2Steps []traceStep `json:"pion_connect2_rtt50_steps"`
	// The traced connections' whole timelines, for -trace.
	kitTrace, pionTrace []traceEvent
}

// newDelayLab starts a vnet router delaying each packet by oneWay, with n
// hosts on it; tr, when set, records every packet.
func newDelayLab(n int, oneWay time.Duration, tr *connectTrace) (*vnet.Router, []*vnet.Net, error) {
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.77.0.0/24", MinDelay: oneWay,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return nil, nil, err
	}
	if tr != nil {
		r.AddChunkFilter(tr.filter)
	}
	var nets []*vnet.Net
	for i := 0; i < n; i++ {
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{labIP(i)}})
		if err != nil {
			return nil, nil, err
		}
		if err := r.AddNet(nw); err != nil {
			return nil, nil, err
		}
		nets = append(nets, nw)
	}
	if err := r.Start(); err != nil {
		return nil, nil, err
	}
	return r, nets, nil
}

// delayLine delivers calls oneWay after they were queued, in order.
type delayLine struct {
	mu     sync.Mutex
	q      []delayed
	wake   chan struct{}
	done   chan struct{}
	stop   chan struct{}
	oneWay time.Duration
}

type delayed struct {
	at time.Time
	fn func()
}

func newDelayLine(oneWay time.Duration) *delayLine {
	d := &delayLine{wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{}), oneWay: oneWay}
	go d.run()
	return d
}

func (d *delayLine) push(fn func()) {
	d.mu.Lock()
	d.q = append(d.q, delayed{time.Now().Add(d.oneWay), fn})
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *delayLine) run() {
	defer close(d.done)
	for {
		d.mu.Lock()
		var next *delayed
		if len(d.q) > 0 {
			next = &d.q[0]
		}
		d.mu.Unlock()
		if next == nil {
			select {
			case <-d.wake:
				continue
			case <-d.stop:
				return
			}
		}
		if w := time.Until(next.at); w > 0 {
			t := time.NewTimer(w)
			select {
			case <-t.C:
			case <-d.stop:
				t.Stop()
				return
			}
		}
		d.mu.Lock()
		fn := d.q[0].fn
		d.q = d.q[1:]
		d.mu.Unlock()
		fn()
	}
}

func (d *delayLine) close() {
	close(d.stop)
	<-d.done
}

// slowSignaler is a memsignal Signaler whose signals arrive oneWay later.
type slowSignaler struct {
	*memsignal.Signaler
	line *delayLine
	tr   *connectTrace // nil: not traced
}

func (s *slowSignaler) SendSignal(ctx context.Context, to string, payload []byte) error {
	p := append([]byte(nil), payload...)
	s.line.push(func() {
		if s.tr != nil {
			s.tr.signal(s.LocalID(), to, p)
		}
		_ = s.Signaler.SendSignal(context.Background(), to, p)
	})
	return nil
}

// kitConnectRTT measures one mesh of size peers over the delay lab; tr,
// when set, records the connection.
func kitConnectRTT(size int, oneWay time.Duration, tr *connectTrace) (float64, error) {
	router, nets, err := newDelayLab(size, oneWay, tr)
	if err != nil {
		return 0, err
	}
	defer router.Stop()
	hub := &memsignal.Hub{}
	var sigs []*slowSignaler
	defer func() {
		for _, s := range sigs {
			s.Leave()
			s.line.close()
		}
	}()
	for i := 0; i < size; i++ {
		s, err := hub.Join(fmt.Sprintf("p%d", i))
		if err != nil {
			return 0, err
		}
		sigs = append(sigs, &slowSignaler{Signaler: s, line: newDelayLine(oneWay), tr: tr})
	}
	// Match found: every peer knows the roster; now each starts its mesh.
	start := time.Now()
	if tr != nil {
		tr.begin()
	}
	meshes := make([]*mesh.Mesh, size)
	defer func() {
		for _, m := range meshes {
			if m != nil {
				m.Close()
			}
		}
	}()
	for i := range meshes {
		m, err := mesh.New(sigs[i], mesh.Config{Net: nets[i], ConnectTimeout: 30 * time.Second})
		if err != nil {
			return 0, err
		}
		meshes[i] = m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, size)
	var mu sync.Mutex
	var last time.Time
	for _, m := range meshes {
		go func() {
			err := m.WaitConnected(ctx, size-1)
			mu.Lock()
			if t := time.Now(); t.After(last) {
				last = t
			}
			mu.Unlock()
			errs <- err
		}()
	}
	for range meshes {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	return float64(last.Sub(start).Microseconds()) / 1e3, nil
}

// pionConnectRTT measures bare pion with its default settings (only the
// virtual network set): an in-band reliable channel from the offerer,
// candidates trickled through the same delayed signaling, from "match
// found" (both sides create their PeerConnections) to the channel open on
// both sides.
func pionConnectRTT(oneWay time.Duration, tr *connectTrace) (float64, error) {
	router, nets, err := newDelayLab(2, oneWay, tr)
	if err != nil {
		return 0, err
	}
	defer router.Stop()
	line := [2]*delayLine{newDelayLine(oneWay), newDelayLine(oneWay)}
	defer line[0].close()
	defer line[1].close()
	note := func(from int, what string) {
		if tr != nil {
			tr.add(fmt.Sprintf("p%d", from), fmt.Sprintf("p%d", 1-from), what)
		}
	}
	start := time.Now()
	if tr != nil {
		tr.begin()
	}
	var pcs [2]*webrtc.PeerConnection
	for i := range pcs {
		var se webrtc.SettingEngine
		se.SetNet(nets[i])
		pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			return 0, err
		}
		defer pc.Close()
		pcs[i] = pc
	}
	opened := make(chan time.Time, 2)
	dc, err := pcs[0].CreateDataChannel("data", nil)
	if err != nil {
		return 0, err
	}
	dc.OnOpen(func() { opened <- time.Now() })
	pcs[1].OnDataChannel(func(dc *webrtc.DataChannel) { dc.OnOpen(func() { opened <- time.Now() }) })
	// Candidates that arrive before the remote description wait for it.
	var mu sync.Mutex
	haveRemote := [2]bool{}
	pending := [2][]webrtc.ICECandidateInit{}
	addCand := func(to int, c webrtc.ICECandidateInit) {
		mu.Lock()
		if !haveRemote[to] {
			pending[to] = append(pending[to], c)
			mu.Unlock()
			return
		}
		mu.Unlock()
		_ = pcs[to].AddICECandidate(c)
	}
	setRemote := func(to int, d webrtc.SessionDescription) error {
		if err := pcs[to].SetRemoteDescription(d); err != nil {
			return err
		}
		mu.Lock()
		haveRemote[to] = true
		p := pending[to]
		pending[to] = nil
		mu.Unlock()
		for _, c := range p {
			_ = pcs[to].AddICECandidate(c)
		}
		return nil
	}
	for i := range pcs {
		from, to := i, 1-i
		pcs[from].OnICECandidate(func(c *webrtc.ICECandidate) {
			if c == nil {
				return
			}
			init := c.ToJSON()
			line[from].push(func() {
				note(from, "signal cand (1 candidate)")
				addCand(to, init)
			})
		})
	}
	errc := make(chan error, 2)
	pcs[1].OnSignalingStateChange(func(webrtc.SignalingState) {})
	offer, err := pcs[0].CreateOffer(nil)
	if err != nil {
		return 0, err
	}
	if err := pcs[0].SetLocalDescription(offer); err != nil {
		return 0, err
	}
	line[0].push(func() {
		note(0, "signal offer")
		if err := setRemote(1, offer); err != nil {
			errc <- err
			return
		}
		answer, err := pcs[1].CreateAnswer(nil)
		if err == nil {
			err = pcs[1].SetLocalDescription(answer)
		}
		if err != nil {
			errc <- err
			return
		}
		line[1].push(func() {
			note(1, "signal answer")
			if err := setRemote(0, answer); err != nil {
				errc <- err
			}
		})
	})
	var last time.Time
	timeout := time.After(30 * time.Second)
	for n := 0; n < 2; n++ {
		select {
		case t := <-opened:
			last = t
		case err := <-errc:
			return 0, err
		case <-timeout:
			return 0, fmt.Errorf("bare pion over vnet: channel not open after 30 s")
		}
	}
	return float64(last.Sub(start).Microseconds()) / 1e3, nil
}

// benchConnectRTT measures connect2/connect4 of the kit and bare pion's
// 2-peer connect at 50 ms RTT, runs times each (medians), interleaved so
// the machine's load falls on both alike.
func benchConnectRTT(runs int, progress func(string, ...any)) (rttResult, error) {
	var r rttResult
	var k2, k4, p2 []float64
	for i := 0; i < runs+1; i++ { // the first run warms up
		a, err := kitConnectRTT(2, rttOneWay, nil)
		if err != nil {
			return r, fmt.Errorf("kit, 2 peers: %w", err)
		}
		b, err := kitConnectRTT(4, rttOneWay, nil)
		if err != nil {
			return r, fmt.Errorf("kit, 4 peers: %w", err)
		}
		c, err := pionConnectRTT(rttOneWay, nil)
		if err != nil {
			return r, fmt.Errorf("bare pion: %w", err)
		}
		if i > 0 {
			k2, k4, p2 = append(k2, a), append(k4, b), append(p2, c)
		}
		progress("connect at 50 ms RTT, run %d: kit 2 peers %.0f ms, 4 peers %.0f ms, bare pion %.0f ms", i, a, b, c)
	}
	rtt := float64(2*rttOneWay) / float64(time.Millisecond)
	r.Connect2RTT50Ms, r.Connect4RTT50Ms, r.PionConnect2RTT50Ms = tpPct(k2, 50), tpPct(k4, 50), tpPct(p2, 50)
	r.Connect2RTTs, r.Connect4RTTs, r.PionConnect2RTTs = r.Connect2RTT50Ms/rtt, r.Connect4RTT50Ms/rtt, r.PionConnect2RTT50Ms/rtt
	r.TargetConnect2RTT50 = r.Connect2RTT50Ms <= 4*rtt
	r.TargetConnect4RTT50 = r.Connect4RTT50Ms <= 5*rtt
	// One more connection of each, traced.
	tr := newConnectTrace(2)
	ms, err := kitConnectRTT(2, rttOneWay, tr)
	if err != nil {
		return r, fmt.Errorf("kit, traced: %w", err)
	}
	r.kitTrace = tr.events()
	r.Connect2Steps = milestones(r.kitTrace, time.Duration(ms*float64(time.Millisecond)), 2*rttOneWay)
	tr = newConnectTrace(2)
	ms, err = pionConnectRTT(rttOneWay, tr)
	if err != nil {
		return r, fmt.Errorf("bare pion, traced: %w", err)
	}
	r.pionTrace = tr.events()
	r.PionConnect2Steps = milestones(r.pionTrace, time.Duration(ms*float64(time.Millisecond)), 2*rttOneWay)
	return r, nil
}

// printConnectSteps writes the steps of the traced connections.
func printConnectSteps(w io.Writer, r *rttResult) {
	for _, c := range []struct {
		name  string
		steps []traceStep
	}{{"kit", r.Connect2Steps}, {"bare pion (defaults)", r.PionConnect2Steps}} {
		fmt.Fprintf(w, "%s, one traced 2-peer connection at 50 ms RTT (p0 offers, p1 answers and is the DTLS client; first arrival of each):\n", c.name)
		for _, st := range c.steps {
			fmt.Fprintf(w, "  %7.1f ms  %4.2f RTT  %s\n", st.Ms, st.RTTs, st.Step)
		}
	}
}

// printConnectTraces writes the traced connections' whole timelines.
func printConnectTraces(w io.Writer, r *rttResult) {
	printTrace(w, "kit, 2 peers at 50 ms RTT, every arrival:", r.kitTrace, 2*rttOneWay)
	printTrace(w, "bare pion (defaults), 2 peers at 50 ms RTT, every arrival:", r.pionTrace, 2*rttOneWay)
}
