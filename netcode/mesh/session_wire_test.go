package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v4/vnet"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// TestSessionWireBytesOverPion measures, on pion's virtual network, what a
// 2-player session (1-byte inputs) really puts on the wire at 60 ticks/s:
// every UDP packet between the two peers (the session's datagrams, SCTP
// acknowledgements, the mesh's pings, ICE consent checks) plus 28 bytes of
// IP and UDP header each. The session must send exactly one datagram per
// peer per tick; with the mesh's defaults the acknowledgements ride in
// those datagrams' UDP packets, and the whole stays within 8,000 bytes per
// 60 ticks (8 KB/s) each way.
// wireGame is a small deterministic game: 4 bytes of position a player.
type wireGame struct {
	frame int32
	pos   []int32
}

func (g *wireGame) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.frame))
	for _, p := range g.pos {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(p))
	}
	return dst
}

func (g *wireGame) LoadState(b []byte) error {
	if len(b) != 4+4*len(g.pos) {
		return fmt.Errorf("wire game: state of %d bytes", len(b))
	}
	g.frame = int32(binary.LittleEndian.Uint32(b))
	for i := range g.pos {
		g.pos[i] = int32(binary.LittleEndian.Uint32(b[4+4*i:]))
	}
	return nil
}

func (g *wireGame) AdvanceFrame(in *rollback.Inputs) {
	for i := range g.pos {
		g.pos[i] += int32(in.Input(i)[0]&7) - 3
	}
	g.frame++
}

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

	ids := []netcode.PeerID{ms[0].LocalID(), ms[1].LocalID()}
	var ss [2]*rollback.Session
	for i := range ss {
		players := make([]rollback.Player, 2)
		players[1-i].Peer = ids[1-i]
		s, err := rollback.New(ms[i].Mesh, &wireGame{pos: make([]int32, 2)}, rollback.Config{Players: players,
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
			if err := s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatal(err)
			}
		}
		<-tick.C
	}
	counting.Store(false)
	secs := time.Since(start).Seconds()
	for i, s := range ss {
		st := s.Stats()
		if st.Desyncs != 0 || st.Compared == 0 {
			t.Fatalf("peer %d: %d desyncs, %d checksums compared", i, st.Desyncs, st.Compared)
		}
		if n := st.DatagramsSent - dgrams0[i]; n != measured {
			t.Errorf("%s sent %d datagrams in %d ticks, want one a tick", ids[i], n, measured)
		}
		payload := float64(st.BytesSent-sent0[i]) / measured
		pk := float64(packets[i].Load()) / measured
		perTick := float64(bytes[i].Load()) / measured
		bs := ms[i].Bundling()
		t.Logf("%s -> %s: %.0f B/s on the wire (%.0f B a 60-tick second; %.1f B and %.3f packets a tick); session payload %.1f B a tick; acks %+v",
			ids[i], ids[1-i], float64(bytes[i].Load())/secs, 60*perTick, perTick, pk, payload, bs)
		if pk > 1.1 {
			t.Errorf("%s -> %s: %.3f packets a tick; want the datagram, acks inside it, and few pings and ICE checks", ids[i], ids[1-i], pk)
		}
		if bs.Bundled == 0 || bs.Bundled < bs.Held*9/10 {
			t.Errorf("%s: acks %+v: fewer than 90%% rode in a datagram", ids[i], bs)
		}
		if 60*perTick > 8000 {
			t.Errorf("%s -> %s: %.0f B per 60 ticks, over the 8,000 budget", ids[i], ids[1-i], 60*perTick)
		}
	}
}
