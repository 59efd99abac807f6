package netcode

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v4/vnet"

	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// TestSessionWireBytesOverPion measures, on pion's virtual network, what a
// 2-player session (1-byte inputs) really puts on the wire at 60 ticks/s:
// every UDP packet between the two peers (the session's datagrams, SCTP
// SACKs, the mesh's keep-alive pings, ICE consent checks) plus 28 bytes of
// IP and UDP header each. The session must send exactly one datagram per
// peer per tick, and the wire must carry no more packets than that
// datagram, at most one SACK for it, and the mesh's pings and pongs.
func TestSessionWireBytesOverPion(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 6 s of real time")
	}
	checkLeaks(t)
	lab := newVNetLab(t, 2)
	var counting atomic.Bool
	var bytes, packets [2]atomic.Int64 // [0]: p00 -> p01, [1]: p01 -> p00
	lab.setFilter(func(c vnet.Chunk) bool {
		if !counting.Load() || c.Network() != "udp" {
			return true
		}
		switch src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr()); {
		case src == "10.9.0.10" && dst == "10.9.0.11":
			bytes[0].Add(int64(len(c.UserData()) + 28))
			packets[0].Add(1)
		case src == "10.9.0.11" && dst == "10.9.0.10":
			bytes[1].Add(int64(len(c.UserData()) + 28))
			packets[1].Add(1)
		}
		return true
	})
	hub := &memsignal.Hub{}
	ms := startMeshes(t, hub, 2, lab.config)
	waitAll(t, ms, 1)

	ids := []PeerID{ms[0].LocalID(), ms[1].LocalID()}
	var ss [2]*Session
	for i := range ss {
		players := make([]SessionPlayer, 2)
		players[1-i].Peer = ids[1-i]
		s, err := NewSession(ms[i].Mesh, newBenchGame(2), SessionConfig{Players: players,
			DisconnectTimeout: 30 * time.Second, InterruptTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	const warm, measured = 60, 300
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	var start time.Time
	var sent0, dgrams0 [2]uint64
	for k := 0; k < warm+measured; k++ {
		if k == warm {
			for i, s := range ss {
				sent0[i], dgrams0[i] = s.Stats().BytesSent, s.Stats().DatagramsSent
			}
			counting.Store(true)
			start = time.Now()
		}
		for i, s := range ss {
			if err := s.AddLocalInput(i, []byte{byte(k / 8 * (3 + 2*i))}); err != nil {
				t.Fatal(err)
			}
			if err := s.AdvanceFrame(); err != nil && !errors.Is(err, ErrPredictionThreshold) {
				t.Fatal(err)
			}
		}
		<-tick.C
	}
	counting.Store(false)
	secs := time.Since(start).Seconds()
	pings := 2 * secs / ms[0].cfg.PingInterval.Seconds() // pings and pongs each way
	for i, s := range ss {
		st := s.Stats()
		if st.Desyncs != 0 || st.Compared == 0 {
			t.Fatalf("peer %d: %d desyncs, %d checksums compared", i, st.Desyncs, st.Compared)
		}
		if n := st.DatagramsSent - dgrams0[i]; n != measured {
			t.Errorf("%s sent %d datagrams in %d ticks, want one a tick", ids[i], n, measured)
		}
		payload := float64(st.BytesSent-sent0[i]) / measured
		pk := float64(packets[i].Load())
		t.Logf("%s -> %s: %.0f B/s on the wire (%.1f B and %.2f packets a tick, %.0f of them mesh pings); session payload %.1f B a tick",
			ids[i], ids[1-i], float64(bytes[i].Load())/secs, float64(bytes[i].Load())/measured, pk/measured, pings, payload)
		if limit := 2*measured + pings + 10; pk > limit {
			t.Errorf("%s -> %s: %.0f packets on the wire in %d ticks, more than %.0f (a datagram and a SACK a tick, and pings)", ids[i], ids[1-i], pk, measured, limit)
		}
	}
}
