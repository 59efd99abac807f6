package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
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
		t.Skip("runs 6 to 16 s of real time")
	}
	checkLeaks(t)
	lab := newVNetLab(t, 2)
	var counting atomic.Bool
	var mu sync.Mutex
	pkts := make([]wirePacket, 0, 8192)
	lab.setFilter(func(c vnet.Chunk) bool {
		if !counting.Load() || c.Network() != "udp" {
			return true
		}
		dir := -1
		switch src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr()); {
		case src == "10.9.0.10" && dst == "10.9.0.11":
			dir = 0
		case src == "10.9.0.11" && dst == "10.9.0.10":
			dir = 1
		}
		if dir < 0 {
			return true
		}
		b := c.UserData()
		p := wirePacket{at: time.Now(), dir: dir, bytes: len(b) + 28}
		p.stun = len(b) >= 20 && b[0] < 2 && binary.BigEndian.Uint32(b[4:]) == 0x2112A442
		p.ack, p.bundled, p.ping = wireRecords(b)
		mu.Lock()
		if len(pkts) < cap(pkts) { // bounded: about 2,200 in 900 ticks
			pkts = append(pkts, p)
		}
		mu.Unlock()
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
	// At least 300 ticks are measured, and whole seconds more (up to 900
	// in all) while fewer than 240 came on time (see below), so that a
	// loaded machine's figure rests on as many ticks as a quiet one's.
	const warm, minTicks, maxTicks, wantOnTime = 60, 300, 900, 240
	hold := ms[0].cfg.AckHold
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	var sent0, dgrams0 [2]uint64
	ticks := make([]time.Time, 0, maxTicks+1) // when each measured tick began, then the end
	for k := 0; ; k++ {
		if n := k - warm; n >= minTicks && n%60 == 0 &&
			(n >= maxTicks || measureWire(append(ticks[:n:n], time.Now()), nil, hold).onTime >= wantOnTime) {
			break
		}
		if k == warm {
			for i, s := range ss {
				sent0[i], dgrams0[i] = s.Stats().BytesSent, s.Stats().DatagramsSent
			}
			counting.Store(true)
		}
		if k >= warm {
			ticks = append(ticks, time.Now())
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
	measured := len(ticks)
	ticks = append(ticks, time.Now())
	counting.Store(false)
	mu.Lock()
	w := measureWire(ticks, pkts, hold)
	mu.Unlock()
	secs := ticks[len(ticks)-1].Sub(ticks[0]).Seconds()
	t.Logf("%d ticks in %.2f s (load %s); %d ticks on time (this and the previous tick within %v of their predecessors)",
		measured, secs, loadAvg(), w.onTime, hold)
	// A tick that came late (this process starved of CPU) lets the
	// time-based traffic pile up against fewer ticks, drops the sender
	// below the mesh's busy ping rate (a ping after PingInterval without a
	// message) and makes a held acknowledgement leave alone when AckHold
	// passes before the next datagram. So what a second at 60 ticks/s
	// costs is measured in two parts: ICE's consent checks (STUN, told
	// apart by their header) and the mesh's pings and pongs (told apart by
	// their record's size) per second of real time over the whole run, and
	// everything else (the datagrams and the acknowledgements) per tick
	// over the ticks that came on time. The pings a starved tick loop adds
	// are counted (about 350 B/s instead of 260 at load average 9 with
	// CPU burners); the acknowledgements it sends alone are not. At load
	// average 12-14 on 2 cores a third to two thirds of the ticks still
	// came on time; fewer than a fifth make the per-tick figure
	// meaningless and fail.
	// A run starved for more than a fifth of its time (its ticks took
	// 20% longer than at 60 a second) also carries traffic that no tick
	// rule removes: the peer's acknowledgements come late, so the session
	// repeats inputs (its datagrams grow by up to a byte on average), and
	// even on-time ticks carry more packets (up to 1.046 a tick: some
	// acknowledgements sent alone, the rest presumably SCTP
	// retransmissions). Such a run is held to 3% over the budget
	// (8,240 B); seen at load average 11-14 on 2 cores: 7,740-8,262 B
	// (8,009 at most once runs grew to 240 on-time ticks),
	// while unstarved runs measure 7,750-7,800 B.
	budget := 8000.0
	starved := secs > 1.2*float64(measured)/60
	if starved {
		budget *= 1.03
	}
	if w.onTime < measured/5 {
		t.Fatalf("only %d of %d ticks came on time: the machine is too loaded to measure", w.onTime, measured)
	}
	for i, s := range ss {
		st := s.Stats()
		if st.Desyncs != 0 || st.Compared == 0 {
			t.Fatalf("peer %d: %d desyncs, %d checksums compared", i, st.Desyncs, st.Compared)
		}
		if n := st.DatagramsSent - dgrams0[i]; n != uint64(measured) {
			t.Errorf("%s sent %d datagrams in %d ticks, want one a tick", ids[i], n, measured)
		}
		payload := float64(st.BytesSent-sent0[i]) / float64(measured)
		d := w.dir[i]
		timedPerSec := float64(d.timedBytes) / secs
		pk := float64(d.packets)/float64(w.onTime) + float64(d.timedPackets)/secs/60
		perTick := float64(d.bytes) / float64(w.onTime)
		second := 60*perTick + timedPerSec
		bs := ms[i].Bundling()
		t.Logf("%s -> %s: %.0f B/s on the wire over the whole run; at 60 ticks/s %.0f B a second: on-time ticks %.1f B and %.3f packets a tick (acks %d bundled, %d alone), ICE consent, pings and pongs %.0f B/s; session payload %.1f B a tick; acks in all %+v",
			ids[i], ids[1-i], float64(d.allBytes)/secs, second, perTick, float64(d.packets)/float64(w.onTime), d.bundled, d.alone, timedPerSec, payload, bs)
		if pk > 1.1 {
			t.Errorf("%s -> %s: %.3f packets a tick; want the datagram, acks inside it, and few pings and ICE checks", ids[i], ids[1-i], pk)
		}
		if bs.Bundled == 0 || d.bundled == 0 || d.bundled < (d.bundled+d.alone)*9/10 {
			t.Errorf("%s: acks on time %d bundled, %d alone; in all %+v: fewer than 90%% rode in a datagram", ids[i], d.bundled, d.alone, bs)
		}
		if second > budget {
			t.Errorf("%s -> %s: %.0f B per 60 ticks, over the 8,000 budget (%.0f for a starved run: %v)", ids[i], ids[1-i], second, budget, starved)
		}
	}
}

// wirePacket is one UDP packet between the two peers of
// TestSessionWireBytesOverPion.
type wirePacket struct {
	at           time.Time
	dir          int  // 0: p00 -> p01, 1: p01 -> p00
	bytes        int  // with 28 bytes of IP and UDP header
	stun         bool // an ICE consent check or its answer
	ping         bool // a DTLS record of a ping's or pong's size
	ack, bundled bool
}

// wireRecords reads the DTLS records of a UDP payload: whether it starts
// with an application-data record small enough to be an SCTP packet
// without user data (an acknowledgement: piggyback.MaxControlRecord),
// whether more records follow that one in the same datagram, and whether
// the first record with user data is of a ping's or pong's size (a
// datagram of the session's of 13 to 16 bytes has the same size: it is
// then counted per second instead of per tick, which over a run of 300
// ticks in about 5 s weighs it about the same).
func wireRecords(b []byte) (ack, bundled, ping bool) {
	const header = 13
	pingRecord := 12 + 20 + (pingSize+3)&^3 + 16 // SCTP, I-DATA, the frame padded, the AEAD tag
	for off, n := 0, 0; off+header <= len(b) && b[off] == 23; n++ {
		l := int(b[off+11])<<8 | int(b[off+12])
		switch {
		case n == 0 && l <= 44:
			ack = true
		case n == 1 && ack:
			bundled = true
			fallthrough
		default:
			return ack, bundled, l == pingRecord
		}
		off += header + l
	}
	return ack, bundled, false
}

type wireDir struct {
	packets, bytes, allBytes int // bytes and packets in on-time ticks, without STUN
	timedPackets, timedBytes int // the whole run's STUN, pings and pongs
	bundled, alone           int
}

type wireMeasure struct {
	onTime int
	dir    [2]wireDir
}

// measureWire counts the STUN packets of the whole run and the other
// packets that arrived during the ticks that came
// on time: tick k spans ticks[k] to ticks[k+1], and it is on time when it
// and the tick before it each lasted at most late (a tick right after a
// late one carries the late one's backlog).
func measureWire(ticks []time.Time, pkts []wirePacket, late time.Duration) wireMeasure {
	var w wireMeasure
	onTime := make([]bool, len(ticks)-1)
	for k := 1; k < len(onTime); k++ {
		onTime[k] = ticks[k+1].Sub(ticks[k]) <= late && ticks[k].Sub(ticks[k-1]) <= late
		if onTime[k] {
			w.onTime++
		}
	}
	for _, p := range pkts {
		d := &w.dir[p.dir]
		d.allBytes += p.bytes
		if p.stun || p.ping {
			d.timedPackets++
			d.timedBytes += p.bytes
			continue
		}
		k := sort.Search(len(ticks), func(k int) bool { return ticks[k].After(p.at) }) - 1
		if k < 0 || k >= len(onTime) || !onTime[k] {
			continue
		}
		d.packets++
		d.bytes += p.bytes
		switch {
		case p.ack && p.bundled:
			d.bundled++
		case p.ack:
			d.alone++
		}
	}
	return w
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
