package match

import (
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// Game adapts an arena.State to rollback.Game: one byte of input per
// player per frame, and the state's binary encoding as the saved state
// (arena.EncodedSize bytes, saved and loaded without allocating).
type Game struct {
	State arena.State
	// OnAdvance, if set, is called after every frame simulated, with the
	// inputs used (valid only during the call) and whether the frame is
	// being re-simulated after a rollback. Replays and tests record
	// inputs with it.
	OnAdvance func(frame int, inputs []arena.Input, resimulating bool)

	in   [arena.MaxPlayers]arena.Input
	sums [sumRing]frameSum
}

// sumRing is how many recent frames' checksums a Game remembers.
const sumRing = 256

type frameSum struct {
	frame int
	sum   uint64
}

var _ rollback.Game = (*Game)(nil)

// NewGame returns a Game at the start of a match in the default arena.
func NewGame(players int, seed uint64) (*Game, error) { return NewGameIn(nil, players, seed) }

// NewGameIn returns a Game at the start of a match in the arena m (nil:
// arena.DefaultLayout).
func NewGameIn(m *arena.Layout, players int, seed uint64) (*Game, error) {
	if !arena.ValidPlayers(players) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, players, arena.MinPlayers, arena.MaxPlayers)
	}
	if err := checkMap(m); err != nil {
		return nil, err
	}
	g := &Game{State: *arena.NewWithLayout(layoutOf(m), players, seed)}
	for i := range g.sums {
		g.sums[i].frame = -1
	}
	return g, nil
}

// SaveState appends the state's encoding to dst.
func (g *Game) SaveState(dst []byte) []byte {
	b, _ := g.State.AppendBinary(dst)
	return b
}

// LoadState restores a state SaveState produced.
func (g *Game) LoadState(b []byte) error { return g.State.UnmarshalBinary(b) }

// AdvanceFrame steps the arena with every player's input byte.
func (g *Game) AdvanceFrame(in *rollback.Inputs) {
	n := min(in.Players(), len(g.in))
	for h := 0; h < n; h++ {
		g.in[h] = arena.Input(in.Input(h)[0])
	}
	g.State.Step(g.in[:n])
	g.sums[in.Frame%sumRing] = frameSum{in.Frame, g.State.Checksum()}
	if g.OnAdvance != nil {
		g.OnAdvance(in.Frame, g.in[:n], in.Resimulating)
	}
}

// SumAt returns the checksum of the state after session frame f, as last
// simulated, if it is among the recent frames remembered.
func (g *Game) SumAt(f int) (uint64, bool) {
	if f < 0 {
		return 0, false
	}
	e := g.sums[f%sumRing]
	return e.sum, e.frame == f
}

// SimConfig configures a rollback match over the network simulator. The
// zero value is valid: two players, the local player against a bot, a
// perfect network.
type SimConfig struct {
	// Players is the number of seats. Zero means arena.MinPlayers.
	Players int
	// Seed seeds the match and the simulated network. Zero is valid.
	Seed uint64
	// AllBots makes seat 0 a bot too. False: seat 0 is the local player.
	AllBots bool
	// Lag is the initial one-way latency between every two peers, and
	// Jitter its random variation. Zero: none.
	Lag, Jitter time.Duration
	// Loss is the initial loss ratio, 0 to 1. Zero: none.
	Loss float64
	// InputDelay is the input delay in frames of every peer. Zero: none.
	InputDelay int
	// Map is the arena (arena.ParseMap). Nil means arena.DefaultLayout.
	Map *arena.Layout
}

// Simulated is a rollback match with one rollback.Session per seat, all in
// this process, talking over a netsim.Network whose virtual clock advances
// one frame per Tick. It is the real rollback code under simulated lag and
// loss: the overlay's numbers are measured, and SetConditions works. Seat 0
// is the local player (or a bot); the other seats are bots, each deciding on
// its own peer's (possibly predicted) view of the game.
//
// Runs with equal configurations and equal inputs are identical, since the
// network is seeded and its clock is virtual.
type Simulated struct {
	net     *netsim.Network
	peers   []*simPeer
	local   int
	lag     time.Duration
	jitter  time.Duration
	loss    float64
	closed  bool
	desyncs int

	ticks        int
	lastRolled   uint64
	lastRollback int
	window       [2][]uint64 // bytes sent per peer: at the window's start, now
	kbps         []float64   // per peer, over the last full second
}

type simPeer struct {
	id   netcode.PeerID
	ep   *netsim.Endpoint
	sess *rollback.Session
	game *Game
	in   [1]byte
}

var _ Session = (*Simulated)(nil)

// NewSimulated starts a rollback match over the network simulator.
func NewSimulated(cfg SimConfig) (*Simulated, error) {
	n := cfg.Players
	if n == 0 {
		n = arena.MinPlayers
	}
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return nil, fmt.Errorf("%w: loss %v, want 0 to 1", ErrBadConfig, cfg.Loss)
	}
	s := &Simulated{
		net:    netsim.New(netsim.Config{Seed: int64(cfg.Seed)}),
		lag:    cfg.Lag,
		jitter: cfg.Jitter,
		loss:   cfg.Loss,
		kbps:   make([]float64, n),
	}
	if cfg.AllBots {
		s.local = -1
	}
	// One roster for the match, seat k played by peer pk; each peer's
	// copy differs only in Self.
	var roster netcode.Roster
	for i := range n {
		roster.Players = append(roster.Players, netcode.Seat{Peer: netcode.PeerID(fmt.Sprintf("p%d", i))})
	}
	for k, seat := range roster.Players {
		game, err := NewGameIn(cfg.Map, n, cfg.Seed)
		if err != nil {
			return nil, err
		}
		r := roster
		r.Self = seat.Peer
		ep := s.net.Endpoint(seat.Peer)
		sess, err := rollback.New(ep, game, rollback.Config{
			Roster:     &r,
			InputSize:  1,
			InputDelay: cfg.InputDelay,
			FPS:        arena.TickRate,
			Clock:      s.net.Now,
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("match: starting peer %d: %w", k, err)
		}
		s.peers = append(s.peers, &simPeer{id: seat.Peer, ep: ep, sess: sess, game: game})
	}
	s.setLinks()
	s.window[0], s.window[1] = make([]uint64, n), make([]uint64, n)
	return s, nil
}

func (s *Simulated) setLinks() {
	c := netsim.Conditions{Latency: s.lag, Jitter: s.jitter, Loss: s.loss}
	for i := range s.peers {
		for j := i + 1; j < len(s.peers); j++ {
			s.net.SetLinkBoth(s.peers[i].id, s.peers[j].id, c)
		}
	}
}

// Tick advances every peer by one frame (a peer whose prediction window is
// full waits, as it would on a real network) and the network's clock by one
// frame.
func (s *Simulated) Tick(local arena.Input) error {
	if s.closed {
		return ErrClosed
	}
	for k, p := range s.peers {
		in := local
		if k != s.local {
			in = arena.BotInput(&p.game.State, k)
		}
		p.in[0] = byte(in)
		if err := p.sess.AddLocalInput(k, p.in[:]); err != nil {
			return fmt.Errorf("match: peer %d: %w", k, err)
		}
		if err := p.sess.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
			return fmt.Errorf("match: peer %d: %w", k, err)
		}
		s.drain(p)
	}
	s.net.Advance(time.Second / arena.TickRate)
	s.measure()
	return nil
}

func (s *Simulated) drain(p *simPeer) {
	for {
		select {
		case ev := <-p.sess.Events():
			if _, ok := ev.(rollback.EventDesync); ok {
				s.desyncs++
			}
		default:
			return
		}
	}
}

func (s *Simulated) measure() {
	s.ticks++
	st := s.peers[0].sess.Stats()
	if d := st.RolledBack - s.lastRolled; d > 0 {
		s.lastRollback = int(d)
	}
	s.lastRolled = st.RolledBack
	for k, p := range s.peers {
		s.window[1][k] = p.ep.Stats().BytesSent
	}
	if s.ticks%arena.TickRate == 0 {
		for k := range s.peers {
			s.kbps[k] = float64(s.window[1][k]-s.window[0][k]) * 8 / 1000
			s.window[0][k] = s.window[1][k]
		}
	}
}

// State returns peer 0's view of the game: the newest frame, predicted
// where inputs have not arrived yet.
func (s *Simulated) State() *arena.State { return &s.peers[0].game.State }

// LocalPlayer returns 0, or -1 when every seat is a bot.
func (s *Simulated) LocalPlayer() int { return s.local }

// Stats reports peer 0's session: RTT per peer as the session measures it,
// traffic per peer, rollbacks, prediction and time sync.
func (s *Simulated) Stats(st *Stats) {
	p0 := s.peers[0]
	ss := p0.sess.Stats()
	peers := st.Peers[:0]
	n := len(s.peers)
	for k := 1; k < n; k++ {
		ps, _ := p0.sess.PeerStats(s.peers[k].id)
		// Each peer sends one datagram per tick to every other peer, so a
		// peer's traffic splits evenly over its links.
		peers = append(peers, PeerStats{
			Name:      string(s.peers[k].id),
			RTT:       ps.RTT,
			KbpsIn:    s.kbps[k] / float64(n-1),
			KbpsOut:   s.kbps[0] / float64(n-1),
			Candidate: "sim",
		})
	}
	*st = Stats{
		Transport:      "rollback over netsim (in-process peers)",
		Peers:          peers,
		Rollback:       true,
		RollbackFrames: s.lastRollback,
		Rollbacks:      ss.Rollbacks,
		Predicted:      max(0, ss.Frame-1-ss.ConfirmedFrame),
		FramesAhead:    p0.sess.FramesAhead(),
		Desyncs:        s.desyncs,
		Lag:            s.lag,
		Loss:           s.loss,
		CanCondition:   true,
	}
}

// SetConditions sets the one-way lag and the loss of every link.
func (s *Simulated) SetConditions(lag time.Duration, loss float64) error {
	if s.closed {
		return ErrClosed
	}
	if lag < 0 || loss < 0 || loss > 1 {
		return fmt.Errorf("%w: lag %v, loss %v", ErrBadConfig, lag, loss)
	}
	s.lag, s.loss = lag, loss
	s.setLinks()
	return nil
}

// RosterFull reports whether no peer's session dropped a player.
func (s *Simulated) RosterFull() bool {
	for _, p := range s.peers {
		if len(p.sess.Outcome().Dropped) > 0 {
			return false
		}
	}
	return true
}

// Confirmed returns the last frame confirmed on every peer and its
// checksum, and whether every peer computed that same checksum for it.
func (s *Simulated) Confirmed() (frame int, sum uint64, agree bool) {
	frame = -1
	for k, p := range s.peers {
		c := p.sess.ConfirmedFrame()
		if k == 0 || c < frame {
			frame = c
		}
	}
	// A frame confirmed but not simulated yet (the peer stalled) is not
	// comparable; step back to the last frame every peer simulated.
	for _, p := range s.peers {
		frame = min(frame, p.sess.Frame()-1)
	}
	if frame < 0 {
		return frame, 0, false
	}
	agree = true
	for k, p := range s.peers {
		v, ok := p.game.SumAt(frame)
		if !ok {
			return frame, 0, false
		}
		if k == 0 {
			sum = v
		} else if v != sum {
			agree = false
		}
	}
	return frame, sum, agree
}

// Close ends every peer's session and leaves the network.
func (s *Simulated) Close() error {
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	for _, p := range s.peers {
		p.sess.Close()
		p.ep.Close()
	}
	return nil
}

// layoutOf returns *m, or the default arena for nil.
func layoutOf(m *arena.Layout) arena.Layout {
	if m == nil {
		return arena.DefaultLayout()
	}
	return *m
}

// checkMap checks a configured map (nil is the default arena).
func checkMap(m *arena.Layout) error {
	if m == nil {
		return nil
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	return nil
}
