package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// wireMeasure is what a 2-player session puts on a real pion connection,
// per direction, measured on pion's virtual network.
type wireMeasure struct {
	BytesPerSecond float64 // every UDP packet between the peers, + 28 B IP/UDP each
	BytesPerTick   float64
	PacketsPerTick float64
	PayloadPerTick float64 // the session's own datagram payload
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

func (g *wireGame) AdvanceFrame(in *netcode.SessionInputs) {
	g.a = g.a*31 + uint32(in.Input(0)[0])
	g.b = g.b*31 + uint32(in.Input(1)[0])
	g.frame++
}

// measureWire runs two meshes on a virtual network and a 2-player session
// over them at 60 ticks/s (1-byte inputs that change every 8 frames) for
// d, counting every UDP packet from the first peer to the second. ping is
// the mesh's keep-alive interval (zero: the mesh's default).
func measureWire(d, ping time.Duration) (wireMeasure, error) {
	var w wireMeasure
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.77.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
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
	var meshes []*netcode.Mesh
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
		nw := nets[i]
		m, err := netcode.NewMesh(sig, netcode.MeshConfig{ConnectTimeout: 20 * time.Second, PingInterval: ping,
			Tune: func(_ netcode.PeerID, _ bool, s *webrtc.SettingEngine) { s.SetNet(nw) }})
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
	var ss [2]*netcode.Session
	for i := range ss {
		players := make([]netcode.SessionPlayer, 2)
		players[1-i].Peer = ids[1-i]
		s, err := netcode.NewSession(meshes[i], &wireGame{}, netcode.SessionConfig{Players: players,
			DisconnectTimeout: 30 * time.Second, InterruptTimeout: 10 * time.Second})
		if err != nil {
			return w, err
		}
		ss[i] = s
	}
	const warm = 60
	measured := int(d / (time.Second / 60))
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	var start time.Time
	var sent0 uint64
	for k := 0; k < warm+measured; k++ {
		if k == warm {
			sent0 = ss[0].Stats().BytesSent
			counting.Store(true)
			start = time.Now()
		}
		for i, s := range ss {
			if err := s.AddLocalInput(i, []byte{byte(k / 8 * (3 + 2*i))}); err != nil {
				return w, err
			}
			if err := s.AdvanceFrame(); err != nil && !errors.Is(err, netcode.ErrPredictionThreshold) {
				return w, err
			}
		}
		<-tick.C
	}
	counting.Store(false)
	secs := time.Since(start).Seconds()
	n := float64(measured)
	w.BytesPerSecond = float64(bytes.Load()) / secs
	w.BytesPerTick = float64(bytes.Load()) / n
	w.PacketsPerTick = float64(packets.Load()) / n
	w.PayloadPerTick = float64(ss[0].Stats().BytesSent-sent0) / n
	if st := ss[0].Stats(); st.Desyncs != 0 || st.Compared == 0 {
		return w, fmt.Errorf("wire measurement: %d desyncs, %d checksums compared", st.Desyncs, st.Compared)
	}
	return w, nil
}
