package broadcast_test

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/broadcast/internal/toygame"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// memNet is an in-process network: messages arrive at the next Poll. A
// dead peer's messages vanish both ways (a process gone without goodbye).
//
// With connect set (onDemand), a message passes only over a connection,
// as over an on-demand mesh: players are connected to each other from the
// start, any other pair once one side dialed the other (Config.Dial) and
// latency has passed on clock. A connection to a peer that dies before it
// is up never comes up; one that was up stays up (a send to the dead peer
// succeeds and vanishes) until a hangup.
type memNet struct {
	mu    sync.Mutex
	boxes map[netcode.PeerID][]memMsg
	dead  map[netcode.PeerID]bool
	sent  map[netcode.PeerID]uint64 // payload bytes sent
	msgs  map[netcode.PeerID]uint64 // messages sent

	onDemand bool
	latency  time.Duration
	clock    func() time.Time
	conns    map[[2]netcode.PeerID]time.Time // when the connection is up
	dials    uint64
}

var errNotConnected = errors.New("memnet: not connected")

func pairOf(a, b netcode.PeerID) [2]netcode.PeerID {
	if a > b {
		a, b = b, a
	}
	return [2]netcode.PeerID{a, b}
}

// connect makes the network on-demand, with connections up latency after
// a dial; the peers given are connected to each other at once.
func (n *memNet) connect(clock func() time.Time, latency time.Duration, peers ...netcode.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onDemand, n.latency, n.clock = true, latency, clock
	n.conns = map[[2]netcode.PeerID]time.Time{}
	for _, a := range peers {
		for _, b := range peers {
			if a < b {
				n.conns[pairOf(a, b)] = time.Time{}
			}
		}
	}
}

// dial starts a connection from a to b (nothing if one exists).
func (n *memNet) dial(a, b netcode.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.onDemand || n.dead[a] || n.dead[b] || a == b {
		return
	}
	if _, ok := n.conns[pairOf(a, b)]; !ok {
		n.conns[pairOf(a, b)] = n.clock().Add(n.latency)
		n.dials++
	}
}

// hangup ends the connection between a and b.
func (n *memNet) hangup(a, b netcode.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.onDemand && !n.dead[a] {
		delete(n.conns, pairOf(a, b))
	}
}

// up reports whether a and b are connected (n.mu held).
func (n *memNet) up(a, b netcode.PeerID) bool {
	if !n.onDemand {
		return true
	}
	at, ok := n.conns[pairOf(a, b)]
	return ok && !n.clock().Before(at)
}

type memMsg struct {
	from netcode.PeerID
	ch   netcode.Channel
	data []byte
}

func newMemNet() *memNet {
	return &memNet{boxes: map[netcode.PeerID][]memMsg{}, dead: map[netcode.PeerID]bool{},
		sent: map[netcode.PeerID]uint64{}, msgs: map[netcode.PeerID]uint64{}}
}

func (n *memNet) kill(id netcode.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dead[id] = true
	delete(n.boxes, id)
	for p, at := range n.conns {
		if (p[0] == id || p[1] == id) && n.clock().Before(at) {
			delete(n.conns, p) // still being made: never comes up
		}
	}
}

func (n *memNet) usage(id netcode.PeerID) (bytes, msgs uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent[id], n.msgs[id]
}

type memTransport struct {
	n  *memNet
	id netcode.PeerID
}

func (n *memNet) transport(id netcode.PeerID) netcode.Transport { return &memTransport{n: n, id: id} }

func (t *memTransport) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.n.dead[t.id] {
		return nil
	}
	if !t.n.up(t.id, to) {
		return errNotConnected
	}
	t.n.sent[t.id] += uint64(len(data))
	t.n.msgs[t.id]++
	if t.n.dead[to] {
		return nil
	}
	t.n.boxes[to] = append(t.n.boxes[to], memMsg{t.id, ch, append([]byte(nil), data...)})
	return nil
}

func (t *memTransport) Poll(fn func(netcode.PeerID, netcode.Channel, []byte)) {
	t.n.mu.Lock()
	box := t.n.boxes[t.id]
	delete(t.n.boxes, t.id)
	t.n.mu.Unlock()
	for _, m := range box {
		fn(m.from, m.ch, m.data)
	}
}

// match drives players (rollback sessions with a broadcast Source each)
// and spectators from one goroutine, one tick at a time.
type match struct {
	t       testing.TB
	clock   func() time.Time
	players []*player
	viewers []*viewer
	ids     []netcode.PeerID
	base    broadcast.Config
	end     int
	ticks   int
}

type player struct {
	id   netcode.PeerID
	s    *rollback.Session
	src  *broadcast.Source
	g    *toygame.Game
	rng  *rand.Rand
	dead bool
}

type viewer struct {
	mu      sync.Mutex // held while it ticks (pion tests tick viewers on goroutines of their own)
	id      netcode.PeerID
	sp      *broadcast.Spectator
	g       *toygame.Game
	dead    bool
	gaps    []time.Duration
	ended   *broadcast.EventEnded
	attachs int
	trace   []string // events with times, for failure reports
}

// newMatch starts players n players over the transports tr returns
// (game half, broadcast half).
func newMatch(t testing.TB, ids []netcode.PeerID, clock func() time.Time, base broadcast.Config,
	tr func(id netcode.PeerID) (game, bcast netcode.Transport), mod func(netcode.PeerID, *broadcast.Config)) *match {
	m := &match{t: t, clock: clock, base: base, ids: ids}
	n := len(ids)
	m.base.Roots = m.ids
	for i, id := range m.ids {
		players := make([]rollback.Player, n)
		for h := range players {
			if h != i {
				players[h].Peer = m.ids[h]
			}
		}
		gt, bt := tr(id)
		g := toygame.New(n)
		s, err := rollback.New(gt, g, rollback.Config{Players: players, Clock: clock, ChecksumInterval: 30,
			DisconnectTimeout: 15 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cfg := m.base
		cfg.Self = id
		if mod != nil {
			mod(id, &cfg)
		}
		src, err := broadcast.NewSource(bt, s, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m.players = append(m.players, &player{id: id, s: s, src: src, g: g, rng: rand.New(rand.NewSource(int64(i)))})
	}
	return m
}

func (m *match) addViewer(id netcode.PeerID, t netcode.Transport, mod func(*broadcast.Config)) *viewer {
	cfg := m.base
	cfg.Self = id
	cfg.Players = len(m.players)
	if mod != nil {
		mod(&cfg)
	}
	g := toygame.New(len(m.players))
	sp, err := broadcast.NewSpectator(t, g, cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	v := &viewer{id: id, sp: sp, g: g}
	m.viewers = append(m.viewers, v)
	return v
}

// step runs one tick of every live player and spectator.
func (m *match) step() {
	m.stepPlayers()
	for _, v := range m.viewers {
		v.tick(m.t)
	}
}

// stepPlayers runs one tick of every live player.
func (m *match) stepPlayers() {
	m.ticks++
	for _, p := range m.players {
		if p.dead {
			continue
		}
		if m.end == 0 || p.s.Frame() < m.end {
			_ = p.s.AddLocalInput(m.seat(p), []byte{byte(p.rng.Intn(256))})
		}
		if err := p.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
			m.t.Fatalf("%s: %v", p.id, err)
		}
		if err := p.src.Tick(); err != nil {
			m.t.Fatalf("%s source: %v", p.id, err)
		}
		for drained := false; !drained; {
			select {
			case <-p.s.Events():
			case <-p.src.Events():
			default:
				drained = true
			}
		}
	}
}

// tick runs one tick of the spectator and collects its events.
func (v *viewer) tick(t testing.TB) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dead || v.sp == nil {
		return
	}
	if err := v.sp.Tick(); err != nil && !errors.Is(err, broadcast.ErrWaiting) {
		t.Errorf("%s: %v", v.id, err)
	}
	for {
		select {
		case ev := <-v.sp.Events():
			if len(v.trace) < 64 {
				v.trace = append(v.trace, fmt.Sprintf("%s %T%+v", time.Now().Format("05.000"), ev, ev))
			}
			switch e := ev.(type) {
			case broadcast.EventAttached:
				v.attachs++
				if v.attachs > 1 {
					v.gaps = append(v.gaps, e.Gap)
				}
			case broadcast.EventEnded:
				v.ended = &e
			case broadcast.EventRejected:
				t.Errorf("%s: %v", v.id, e.Err)
			}
		default:
			return
		}
	}
}

func (m *match) seat(p *player) int {
	for i, q := range m.players {
		if q == p {
			return i
		}
	}
	return -1
}

// finish ends the match at frame end on every player.
func (m *match) finish(end int) {
	m.end = end
	for _, p := range m.players {
		if !p.dead {
			if err := p.s.Finish(end); err != nil {
				m.t.Fatal(err)
			}
		}
	}
}

// final returns the players' agreed final checksum, once there is one.
func (m *match) final() (uint64, bool) {
	var sum uint64
	for _, p := range m.players {
		if p.dead {
			continue
		}
		o := p.s.Outcome()
		if !o.Final {
			return 0, false
		}
		sum = o.Checksum
	}
	return sum, true
}

// allEnded reports whether every live spectator simulated the match to
// its end.
func (m *match) allEnded() bool {
	for _, v := range m.viewers {
		v.mu.Lock()
		done := v.dead || v.ended != nil
		v.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// relays returns the live spectators that have children, deepest last.
func (m *match) relays() []*viewer {
	var out []*viewer
	depth := map[*viewer]int{}
	for _, v := range m.viewers {
		v.mu.Lock()
		if !v.dead && v.sp != nil && len(v.sp.Children()) > 0 {
			out = append(out, v)
			depth[v] = len(v.sp.Path())
		}
		v.mu.Unlock()
	}
	sort.SliceStable(out, func(i, j int) bool { return depth[out[i]] < depth[out[j]] })
	return out
}

// checkShape fails when a node has more children than its fan-out allows.
func (m *match) checkShape(fanout, rootFanout int) {
	for _, p := range m.players {
		if c := len(p.src.Children()); !p.dead && c > rootFanout {
			m.t.Errorf("%s feeds %d relays, more than %d", p.id, c, rootFanout)
		}
	}
	for _, v := range m.viewers {
		v.mu.Lock()
		if v.sp != nil && !v.dead {
			if c := len(v.sp.Children()); c > fanout {
				m.t.Errorf("%s relays to %d, more than %d", v.id, c, fanout)
			}
		}
		v.mu.Unlock()
	}
}
