package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// wireMeasure is what a 2-player session puts on a real pion connection,
// per direction, measured on pion's virtual network.
type wireMeasure struct {
	BytesPerSecond float64 // every UDP packet between the peers, + 28 B IP/UDP each (see measureWire)
	BytesPerTick   float64
	PacketsPerTick float64
	PayloadPerTick float64 // the session's own datagram payload
	Stalls         uint64  // ticks the sending session refused to advance (prediction window)
	Bundling       mesh.BundlingStats
}

// wireGame is a tiny deterministic game for the wire measurement.
type wireGame struct{ frame, a, b uint32 }

func (g *wireGame) SaveState(dst []byte) []byte {
	for _, v := range [3]uint32{g.frame, g.a, g.b} {
		dst = append(dst, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return dst
}

func (g *wireGame) LoadState(b []byte) error {
	if len(b) != 12 {
		return errors.New("wire game: bad state")
	}
	u := func(i int) uint32 { return uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24 }
	g.frame, g.a, g.b = u(0), u(4), u(8)
	return nil
}

func (g *wireGame) AdvanceFrame(in *rollback.Inputs) {
	g.a = g.a*31 + uint32(in.Input(0)[0])
	g.b = g.b*31 + uint32(in.Input(1)[0])
	g.frame++
}

// wireSetup is one configuration of the wire measurement.
type wireSetup struct {
	RTT     time.Duration        // round trip the virtual router adds
	Aligned bool                 // both peers tick at the same instant (else half a tick apart)
	Ping    time.Duration        // mesh.Config.PingInterval (zero: the default)
	Busy    time.Duration        // mesh.Config.BusyPingInterval (zero: the default)
	Hold    time.Duration        // mesh.Config.AckHold (zero: the default; negative: off)
	Suites  []dtls.CipherSuiteID // mesh.Config.DTLSCipherSuites (nil: the default)
	Rexmit  int                  // mesh.Config.DatagramRetransmits
	Full    bool                 // rollback.Config.FullRedundancy: inputs as before they adapted to the RTT
}

// previousWire is the mesh as it was before its wire cost was trimmed, as
// far as mesh.Config expresses it: AES-GCM first, no acknowledgement
// bundling, pings every 100 ms whatever the traffic, and datagram channels
// without retransmission. (ICE's consent checks, then every 400 ms, now go
// out every 2 s in both.)
func previousWire(rtt time.Duration) wireSetup {
	return wireSetup{RTT: rtt, Hold: -1, Busy: time.Nanosecond, Rexmit: -1,
		Suites: []dtls.CipherSuiteID{dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
}

// measureWire runs two meshes on a virtual network and a 2-player session
// over them at 60 ticks/s (1-byte inputs that change every 8 frames) for
// d, counting every UDP packet from the first peer to the second. Each
// peer ticks on its own goroutine; unless setup.Aligned, the second half a
// tick after the first, as two machines' ticks fall at unrelated times.
func measureWire(d time.Duration, setup wireSetup) (wireMeasure, error) {
	var w wireMeasure
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.77.0.0/24", MinDelay: setup.RTT / 2,
		LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		return w, err
	}
	var counting atomic.Bool
	var bytes, packets atomic.Int64
	ip := func(a net.Addr) string {
		if u, ok := a.(*net.UDPAddr); ok {
			return u.IP.String()
		}
		return ""
	}
	router.AddChunkFilter(func(c vnet.Chunk) bool {
		if counting.Load() && c.Network() == "udp" && ip(c.SourceAddr()) == "10.77.0.10" && ip(c.DestinationAddr()) == "10.77.0.11" {
			bytes.Add(int64(len(c.UserData()) + 28))
			packets.Add(1)
		}
		return true
	})
	var nets []*vnet.Net
	for i := 0; i < 2; i++ {
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.77.0.%d", 10+i)}})
		if err != nil {
			return w, err
		}
		if err := router.AddNet(nw); err != nil {
			return w, err
		}
		nets = append(nets, nw)
	}
	if err := router.Start(); err != nil {
		return w, err
	}
	defer func() { _ = router.Stop() }()

	hub := &memsignal.Hub{}
	var meshes []*mesh.Mesh
	defer func() {
		for _, m := range meshes {
			m.Close()
		}
	}()
	ids := []netcode.PeerID{"a", "b"}
	for i, id := range ids {
		sig, err := hub.Join(string(id))
		if err != nil {
			return w, err
		}
		defer sig.Leave()
		m, err := mesh.New(sig, mesh.Config{ConnectTimeout: 20 * time.Second, Net: nets[i],
			PingInterval: setup.Ping, BusyPingInterval: setup.Busy, AckHold: setup.Hold, DTLSCipherSuites: setup.Suites,
			DatagramRetransmits: setup.Rexmit})
		if err != nil {
			return w, err
		}
		meshes = append(meshes, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range meshes {
		if err := m.WaitConnected(ctx, 1); err != nil {
			return w, fmt.Errorf("wire measurement: mesh not connected: %w", err)
		}
	}
	var ss [2]*rollback.Session
	for i := range ss {
		players := make([]rollback.Player, 2)
		players[1-i].Peer = ids[1-i]
		s, err := rollback.New(meshes[i], &wireGame{}, rollback.Config{Players: players,
			DisconnectTimeout: 30 * time.Second, InterruptTimeout: 10 * time.Second, FullRedundancy: setup.Full})
		if err != nil {
			return w, err
		}
		ss[i] = s
	}
	const tick = time.Second / 60
	warm := 60 + int(setup.RTT/tick)
	measured := int(d / tick)
	var start, end time.Time
	var sent0, sent1, stalls0, stalls1 uint64
	errs := make(chan error, 2)
	begin := time.Now()
	for i, s := range ss {
		go func(i int, s *rollback.Session) {
			next := begin
			if i == 1 && !setup.Aligned {
				next = next.Add(tick / 2)
			}
			for k := 0; k < warm+measured; k++ {
				time.Sleep(time.Until(next))
				next = next.Add(tick)
				if i == 0 && k == warm {
					sent0, stalls0 = s.Stats().BytesSent, s.Stats().Stalls
					counting.Store(true)
					start = time.Now()
				}
				if err := s.AddLocalInput(i, []byte{byte(k / 8 * (3 + 2*i))}); err != nil {
					errs <- err
					return
				}
				if err := s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
					errs <- err
					return
				}
			}
			if i == 0 {
				counting.Store(false)
				end = time.Now()
				sent1, stalls1 = s.Stats().BytesSent, s.Stats().Stalls
			}
			errs <- nil
		}(i, s)
	}
	for range ss {
		if err := <-errs; err != nil {
			return w, err
		}
	}
	secs := end.Sub(start).Seconds()
	n := float64(measured)
	w.BytesPerTick = float64(bytes.Load()) / n
	// Bytes per second of wall time, or per 60 ticks if that is more: on a
	// loaded machine the tick loop runs late, and fewer ticks a second
	// would make the session look cheaper than it is at 60 ticks/s.
	w.BytesPerSecond = max(float64(bytes.Load())/secs, w.BytesPerTick*60)
	w.PacketsPerTick = float64(packets.Load()) / n
	w.PayloadPerTick = float64(sent1-sent0) / n
	w.Stalls = stalls1 - stalls0
	w.Bundling = meshes[0].Bundling()
	if st := ss[0].Stats(); st.Desyncs != 0 || st.Compared == 0 {
		return w, fmt.Errorf("wire measurement: %d desyncs, %d checksums compared", st.Desyncs, st.Compared)
	}
	return w, nil
}
