package rollback_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// toyGame is a deterministic game: every player moves by its input, and a
// running hash folds in every input and status.
type toyGame struct {
	frame int32
	pos   []int32
	hash  uint64
	steps int // AdvanceFrame calls, including resimulation
}

func newToyGame(players int) *toyGame { return &toyGame{pos: make([]int32, players)} }

func (g *toyGame) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.frame))
	dst = binary.LittleEndian.AppendUint64(dst, g.hash)
	for _, p := range g.pos {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(p))
	}
	return dst
}

func (g *toyGame) LoadState(b []byte) error {
	if len(b) != 12+4*len(g.pos) {
		return errors.New("toy: bad state size")
	}
	g.frame = int32(binary.LittleEndian.Uint32(b))
	g.hash = binary.LittleEndian.Uint64(b[4:])
	for i := range g.pos {
		g.pos[i] = int32(binary.LittleEndian.Uint32(b[12+4*i:]))
	}
	return nil
}

func (g *toyGame) AdvanceFrame(in *rollback.Inputs) {
	g.steps++
	if int(g.frame) != in.Frame {
		panic(fmt.Sprintf("toy: advancing frame %d in state of frame %d", in.Frame, g.frame))
	}
	for h := range g.pos {
		v := in.Input(h)
		for _, c := range v {
			g.pos[h] += int32(c&7) - 3
			g.hash = (g.hash ^ uint64(c)) * 1099511628211
		}
		if in.Status(h) == rollback.InputDisconnected { // predicted vs confirmed differs between peers by design
			g.hash = (g.hash ^ 0xd15c) * 1099511628211
		}
	}
	g.frame++
}

// peer is one simulated process: endpoint, session, game.
type peer struct {
	id    netcode.PeerID
	ep    *netsim.Endpoint
	s     *rollback.Session
	g     *toyGame
	rng   *rand.Rand
	sums  map[int]uint64
	evs   []rollback.Event
	dead  bool
	input []byte
}

type cluster struct {
	t     testing.TB
	net   *netsim.Network
	peers []*peer
	start time.Time
	tick  int
}

type clusterOpts struct {
	players   int
	perPeer   int // local players per peer, zero means 1
	inputSize int
	cond      netsim.Conditions
	seed      int64
	mutate    func(i int, c *rollback.Config)
	wrap      func(netcode.Transport) netcode.Transport
}

func newCluster(t testing.TB, o clusterOpts) *cluster {
	if o.perPeer == 0 {
		o.perPeer = 1
	}
	if o.inputSize == 0 {
		o.inputSize = 1
	}
	n := netsim.New(netsim.Config{Seed: o.seed, Default: o.cond})
	c := &cluster{t: t, net: n, start: n.Now()}
	npeers := o.players / o.perPeer
	for i := 0; i < npeers; i++ {
		id := netcode.PeerID(fmt.Sprintf("p%d", i))
		players := make([]rollback.Player, o.players)
		for h := range players {
			if h/o.perPeer != i {
				players[h].Peer = netcode.PeerID(fmt.Sprintf("p%d", h/o.perPeer))
			}
		}
		p := &peer{id: id, ep: n.Endpoint(id), g: newToyGame(o.players), rng: rand.New(rand.NewSource(o.seed*100 + int64(i))),
			sums: map[int]uint64{}, input: make([]byte, o.inputSize)}
		cfg := rollback.Config{Players: players, InputSize: o.inputSize, Clock: n.Now, EventBuffer: 4096,
			OnConfirmedState: func(f int, sum uint64, _ []byte) { p.sums[f] = sum }}
		if o.mutate != nil {
			o.mutate(i, &cfg)
		}
		var tr netcode.Transport = p.ep
		if o.wrap != nil {
			tr = o.wrap(p.ep)
		}
		s, err := rollback.New(tr, p.g, cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.s = s
		c.peers = append(c.peers, p)
	}
	return c
}

// step runs one tick on every live peer and advances virtual time by one
// 60 Hz tick. It returns how many peers stalled.
func (c *cluster) step(newInput bool) int {
	stalls := 0
	for _, p := range c.peers {
		if p.dead {
			continue
		}
		for h := range p.g.pos {
			if newInput && p.rng.Intn(4) == 0 {
				p.rng.Read(p.input)
			}
			if err := p.s.AddLocalInput(h, p.input); err != nil && !errors.Is(err, rollback.ErrNotLocalPlayer) {
				c.t.Fatal(err)
			}
		}
		err := p.s.AdvanceFrame()
		if errors.Is(err, rollback.ErrPredictionThreshold) || errors.Is(err, rollback.ErrRejoining) {
			stalls++
		} else if errors.Is(err, rollback.ErrDroppedByPeers) {
			p.dead = true // out of the match: it stopped
		} else if err != nil {
			c.t.Fatalf("%s: %v", p.id, err)
		}
		p.drain()
	}
	c.tick++
	next := c.start.Add(time.Duration(c.tick) * time.Second / 60)
	c.net.Advance(next.Sub(c.net.Now()))
	return stalls
}

func (p *peer) drain() {
	for {
		select {
		case e := <-p.s.Events():
			p.evs = append(p.evs, e)
		default:
			return
		}
	}
}

// run ticks until every live peer reached frame, then settles with idle
// inputs so that the last frames are confirmed everywhere.
func (c *cluster) run(frames int) {
	for guard := 0; ; guard++ {
		done := true
		for _, p := range c.peers {
			if !p.dead && p.s.Frame() < frames {
				done = false
			}
		}
		if done {
			break
		}
		if guard > frames*20 {
			c.t.Fatalf("no progress: frames %v", c.frames())
		}
		c.step(true)
	}
	for i := 0; i < 240; i++ {
		c.step(false)
	}
}

func (c *cluster) frames() []int {
	var f []int
	for _, p := range c.peers {
		f = append(f, p.s.Frame())
	}
	return f
}

// checkSync fails on any desync event or checksum mismatch between peers,
// and requires a common confirmed checksum at or after frame minFrame.
func (c *cluster) checkSync(minFrame int) {
	c.t.Helper()
	for _, p := range c.peers {
		for _, e := range p.evs {
			if d, ok := e.(rollback.EventDesync); ok {
				c.t.Errorf("%s: desync %+v", p.id, d)
			}
		}
	}
	common := -1
	var ref *peer
	for _, p := range c.peers {
		if !p.dead {
			ref = p
			break
		}
	}
	for f, sum := range ref.sums {
		all := true
		for _, p := range c.peers {
			if p.dead || p == ref {
				continue
			}
			other, ok := p.sums[f]
			if !ok {
				all = false
				continue
			}
			if other != sum {
				c.t.Errorf("frame %d: %s has %x, %s has %x", f, ref.id, sum, p.id, other)
			}
		}
		if all && f > common {
			common = f
		}
	}
	if common < minFrame {
		c.t.Errorf("latest checksum common to all peers is frame %d, want ≥ %d", common, minFrame)
	}
	var compared uint64
	for _, p := range c.peers {
		if !p.dead {
			compared += p.s.Stats().Compared
		}
	}
	if compared == 0 {
		c.t.Error("no checksum was compared between peers")
	}
}
