package rollback

import (
	"fmt"
	"slices"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// handleJoin accepts a spectator's request for the feed.
func (s *Session) handleJoin(from netcode.PeerID) {
	l := s.specByID[from]
	if l == nil {
		if !s.cfg.AcceptSpectators {
			s.reject(from, &WireError{Peer: from, Offset: 1, Err: ErrUnexpected})
			return
		}
		l = &spectatorLink{id: from, limit: noDrop, welcome: -1}
		s.specByID[from] = l
		s.specs = append(s.specs, l)
	}
	l.joined = true
	l.lastRecv = s.now
	l.ack = -1
	l.needState = !s.feedable(0)
	start := 0
	if l.needState {
		start = s.stateFrame()
	}
	s.events.emit(EventSpectatorJoined{Peer: from, Frame: start})
}

// feedable reports whether the inputs of frame f are still in the rings.
func (s *Session) feedable(f int) bool { return f >= s.frame-ringFrames/2 }

// stateFrame is the newest frame whose saved state is confirmed.
func (s *Session) stateFrame() int { return max(0, min(s.confirmed+1, s.frame-1)) }

// sendFeeds sends every joined spectator the confirmed inputs it lacks, and
// a saved state first to one that joined too late for the inputs.
func (s *Session) sendFeeds() {
	for _, l := range s.specs {
		if !l.joined {
			continue
		}
		if l.needState || !s.feedable(l.ack+1) {
			f := s.stateFrame()
			sl := s.slot(f)
			if s.frame == 0 || sl.frame != f {
				continue // nothing saved yet: try next tick
			}
			if len(sl.buf) > maxStateSize {
				s.events.emit(EventRejected{Err: fmt.Errorf("%w: %d bytes for spectator %q", ErrStateTooLarge, len(sl.buf), l.id)})
				l.joined = false
				continue
			}
			m := wireStateMsg{Frame: f, Drops: s.dropList(), State: sl.buf}
			if l.welcome >= 0 {
				s.transmit(l.id, netcode.Reliable, appendCtlMsg(nil, &wireCtlMsg{Sub: ctlWelcome, Frame: l.welcome, State: m}))
			} else {
				s.transmit(l.id, netcode.Reliable, appendStateMsg(nil, &m))
			}
			l.needState = false
			l.ack = f - 1
		}
		start := l.ack + 1
		if l.limit != noDrop && start > l.limit {
			l.joined = false // a rejoined player has every input it needs
			continue
		}
		count := min(s.confirmed, l.limit) - start + 1
		count = min(count, maxWireFrames/4, framesPerDatagram(len(s.players)*s.size))
		if count < 0 {
			count = 0
		}
		width := len(s.players) * s.size
		need := count * width
		if cap(s.txIn) < need {
			s.txIn = make([]byte, need)
		}
		s.txIn = s.txIn[:need]
		for f := start; f < start+count; f++ {
			for h, r := range s.players {
				v, _ := r.input(f)
				copy(s.txIn[(f-start)*width+h*s.size:], v)
			}
		}
		m := wireFeedMsg{Start: start, Count: count, Inputs: s.txIn, Drops: s.dropList()}
		s.tx, s.scratch = appendFeedMsg(s.tx[:0], &m, width, s.scratch)
		s.transmit(l.id, netcode.Unreliable, s.tx)
	}
}

func (s *Session) dropList() []wireDropFrom {
	d := s.drops[:0]
	for h, r := range s.players {
		if r.dropFrom != noDrop {
			d = append(d, wireDropFrom{Handle: h, From: r.dropFrom, Until: r.rejoinAt})
		}
	}
	s.drops = d
	return d
}

// SpectatorConfig configures a Spectator. Players and Host (or Feeders)
// are required.
type SpectatorConfig struct {
	// Host is the player peer that relays the match to this spectator
	// first. Empty: Feeders[0].
	Host netcode.PeerID
	// Feeders are the player peers that may relay the match, tried in this
	// order after Host when the current feeder leaves (FeederLeft) or stays
	// silent for FeederTimeout: typically the roster's players. Every one of
	// them must accept this spectator (Config.Spectators, a roster that
	// lists it, or AcceptSpectators). Nil: Host alone, with no failover.
	Feeders []netcode.PeerID
	// FeederTimeout is how long the current feeder may be silent before the
	// spectator asks the next one. Zero means netcode.DefaultDropAfter (the
	// session's own drop timeout); a feeder feeds every tick once asked.
	FeederTimeout time.Duration
	// Players is the number of players in the match.
	Players int
	// InputSize is the size of one player's input. Zero means 1.
	InputSize int
	// CatchUpSpeed is how many frames one AdvanceFrame simulates while the
	// spectator is more than CatchUpThreshold frames behind. Zero means 4.
	CatchUpSpeed int
	// CatchUpThreshold is how far behind the newest received frame the
	// spectator may be before catching up. Zero means 6.
	CatchUpThreshold int
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// EventBuffer is the capacity of the event channel. Zero means 64.
	EventBuffer int
}

// Spectator watches a match: it receives the confirmed inputs of every
// player from its host and simulates them; it never predicts or rolls back.
// A spectator may ask before the match starts or join mid-match: then the
// host sends a saved state over the reliable channel first, and the
// spectator catches up at CatchUpSpeed.
//
// Failover: the spectator is fed by one player peer at a time. When that
// feeder leaves (the game calls FeederLeft, e.g. on the mesh's
// disconnect event) or nothing arrives from it for FeederTimeout, the
// spectator asks the next of its Feeders with a join message and reports
// EventFeederChanged. Every player holds the same confirmed inputs and
// states, so the new feeder's feed (or state, when its input history no
// longer reaches the spectator's frame) continues the same game: the
// spectator never loses sync, it only waits for the new feed. Messages
// from a previous feeder are ignored.
//
// Like Session, it is not safe for concurrent use.
type Spectator struct {
	t       netcode.Transport
	game    Game
	cfg     SpectatorConfig
	size    int
	frame   int
	players []*inputRing
	last    int
	inputs  Inputs
	events  eventQueue
	state   wireStateMsg
	hasSt   bool
	rx      wireFeedMsg
	tx      []byte
	stats   Stats
	closed  bool
	onMsg   func(netcode.PeerID, netcode.Channel, []byte)

	feeders  []netcode.PeerID // candidates, the current one at feeder
	feeder   int
	gone     map[netcode.PeerID]bool // feeders reported left
	clock    func() time.Time
	lastRecv time.Time // from the current feeder, or when it was asked
}

// NewSpectator asks cfg.Host (or cfg.Feeders[0]) for the feed and returns
// the spectator.
func NewSpectator(t netcode.Transport, game Game, cfg SpectatorConfig) (*Spectator, error) {
	if cfg.Host == "" && len(cfg.Feeders) > 0 {
		cfg.Host = cfg.Feeders[0]
	}
	if t == nil || game == nil || cfg.Host == "" {
		return nil, fmt.Errorf("%w: nil transport, game or host", ErrConfig)
	}
	if cfg.Players < 1 || cfg.Players > maxWirePlayers {
		return nil, fmt.Errorf("%w: %d players", ErrConfig, cfg.Players)
	}
	if cfg.InputSize == 0 {
		cfg.InputSize = 1
	}
	if cfg.InputSize < 0 || cfg.InputSize > 1024 {
		return nil, fmt.Errorf("%w: input size %d", ErrConfig, cfg.InputSize)
	}
	if cfg.CatchUpSpeed <= 0 {
		cfg.CatchUpSpeed = 4
	}
	if cfg.CatchUpThreshold <= 0 {
		cfg.CatchUpThreshold = 6
	}
	if cfg.FeederTimeout <= 0 {
		cfg.FeederTimeout = netcode.DefaultDropAfter
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	sp := &Spectator{t: t, game: game, cfg: cfg, size: cfg.InputSize, last: -1, events: newEventQueue(cfg.EventBuffer),
		clock: cfg.Clock, gone: map[netcode.PeerID]bool{}}
	sp.feeders = []netcode.PeerID{cfg.Host}
	for _, id := range cfg.Feeders {
		if id == "" {
			return nil, fmt.Errorf("%w: empty feeder", ErrConfig)
		}
		if !slices.Contains(sp.feeders, id) {
			sp.feeders = append(sp.feeders, id)
		}
	}
	sp.players = make([]*inputRing, cfg.Players)
	for i := range sp.players {
		sp.players[i] = newInputRing(sp.size)
	}
	sp.inputs = Inputs{size: sp.size, data: make([]byte, cfg.Players*sp.size), status: make([]InputStatus, cfg.Players)}
	sp.onMsg = sp.handle
	sp.lastRecv = sp.clock()
	if err := t.Send(cfg.Host, netcode.Reliable, appendJoinMsg(nil)); err != nil {
		return nil, err
	}
	return sp, nil
}

// Events returns the spectator's event channel: EventFeederChanged and
// EventRejected.
func (sp *Spectator) Events() <-chan Event { return sp.events.ch }

// Feeder returns the player peer currently asked for the feed.
func (sp *Spectator) Feeder() netcode.PeerID { return sp.feeders[sp.feeder] }

// FeederLeft tells the spectator that peer left the match (the mesh
// disconnected it, or the lobby said it left). It is not asked again
// while another feeder remains; if it is the current feeder, the
// spectator asks the next one now.
func (sp *Spectator) FeederLeft(peer netcode.PeerID) {
	if !slices.Contains(sp.feeders, peer) || sp.gone[peer] {
		return
	}
	sp.gone[peer] = true
	if peer == sp.Feeder() {
		sp.failover(FeederLeft)
	}
}

// failover asks the next feeder not known to have left (or, when all have,
// simply the next one) for the feed.
func (sp *Spectator) failover(why FeederChangeReason) {
	if len(sp.feeders) < 2 {
		sp.lastRecv = sp.clock() // nobody else to ask: keep waiting
		return
	}
	from := sp.Feeder()
	next := (sp.feeder + 1) % len(sp.feeders)
	for i := 1; i < len(sp.feeders); i++ {
		c := (sp.feeder + i) % len(sp.feeders)
		if !sp.gone[sp.feeders[c]] {
			next = c
			break
		}
	}
	sp.feeder = next
	sp.lastRecv = sp.clock()
	sp.hasSt = false // a state still pending from the old feeder is dropped
	to := sp.Feeder()
	_ = sp.t.Send(to, netcode.Reliable, appendJoinMsg(nil))
	sp.events.emit(EventFeederChanged{From: from, To: to, Frame: sp.frame, Reason: why})
}

// Frame returns the next frame the spectator will simulate.
func (sp *Spectator) Frame() int { return sp.frame }

// Behind returns how many received frames wait to be simulated.
func (sp *Spectator) Behind() int { return sp.last + 1 - sp.frame }

func (sp *Spectator) handle(from netcode.PeerID, ch netcode.Channel, data []byte) {
	if from != sp.Feeder() {
		if !slices.Contains(sp.feeders, from) {
			sp.reject(&WireError{Peer: from, Err: ErrUnexpected})
		}
		return // a previous feeder's late message
	}
	sp.lastRecv = sp.clock()
	kind, err := wireKind(data)
	if err != nil {
		sp.reject(err)
		return
	}
	switch kind {
	case wireState:
		var m wireStateMsg
		if err := parseStateMsg(data, &m); err != nil {
			sp.reject(err)
			return
		}
		if m.Frame >= sp.frame {
			sp.state, sp.hasSt = m, true
		}
	case wireFeed:
		m := &sp.rx
		width := len(sp.players) * sp.size
		if err := parseFeedMsg(data, width, m); err != nil {
			sp.reject(err)
			return
		}
		for _, d := range m.Drops {
			if d.Handle < len(sp.players) {
				r := sp.players[d.Handle]
				r.dropFrom, r.rejoinAt = d.From, d.Until
			}
		}
		if sp.hasSt && m.Start > sp.state.Frame {
			return // the state's feed has not caught up yet
		}
		base := sp.last
		if sp.hasSt {
			base = max(base, sp.state.Frame-1)
		}
		for f := max(m.Start, base+1); f < m.Start+m.Count; f++ {
			if f != base+1 || f-sp.frame >= ringFrames-1 {
				break
			}
			for h, r := range sp.players {
				copy(r.at(f), m.Inputs[(f-m.Start)*width+h*sp.size:])
			}
			base = f
		}
		sp.last = base
	default:
		sp.reject(&WireError{Peer: from, Offset: 1, Err: ErrUnexpected})
	}
}

func (sp *Spectator) reject(err error) {
	sp.stats.Rejected++
	sp.events.emit(EventRejected{Err: err})
}

// AdvanceFrame handles arrived messages and simulates the next frame, or
// up to CatchUpSpeed frames when far behind. It returns
// ErrSpectatorWaiting when the next frame's inputs have not arrived.
func (sp *Spectator) AdvanceFrame() error {
	if sp.closed {
		return ErrClosed
	}
	sp.t.Poll(sp.onMsg)
	if sp.clock().Sub(sp.lastRecv) >= sp.cfg.FeederTimeout {
		sp.failover(FeederSilent)
	}
	if sp.hasSt {
		if err := sp.game.LoadState(sp.state.State); err != nil {
			return &GameError{Frame: sp.state.Frame, Err: err}
		}
		sp.frame = sp.state.Frame
		// The feed goes on from the state: inputs held for frames before
		// it are spent, and a feed that arrives after the state (in a
		// later Poll) continues from here.
		sp.last = max(sp.last, sp.frame-1)
		for _, d := range sp.state.Drops {
			if d.Handle < len(sp.players) {
				sp.players[d.Handle].dropFrom, sp.players[d.Handle].rejoinAt = d.From, d.Until
			}
		}
		sp.hasSt = false
	}
	sp.tx = appendFeedAck(sp.tx[:0], sp.last)
	_ = sp.t.Send(sp.Feeder(), netcode.Unreliable, sp.tx)
	n := 1
	if sp.Behind() > sp.cfg.CatchUpThreshold {
		n = sp.cfg.CatchUpSpeed
	}
	for i := 0; i < n; i++ {
		if sp.frame > sp.last {
			if i == 0 {
				return ErrSpectatorWaiting
			}
			return nil
		}
		f := sp.frame
		sp.inputs.Frame = f
		for h, r := range sp.players {
			st := InputConfirmed
			v := r.at(f)
			if r.dropped(f) {
				st = InputDisconnected
			}
			copy(sp.inputs.data[h*sp.size:], v)
			sp.inputs.status[h] = st
		}
		sp.game.AdvanceFrame(&sp.inputs)
		sp.frame++
	}
	return nil
}

// Close stops the spectator. It does not close the transport.
func (sp *Spectator) Close() error {
	sp.closed = true
	return nil
}

// FeederChangeReason says why a spectator changed feeders.
type FeederChangeReason uint8

const (
	// FeederSilent: nothing arrived from the feeder for FeederTimeout.
	FeederSilent FeederChangeReason = iota + 1
	// FeederLeft: the game reported the feeder gone (Spectator.FeederLeft).
	FeederLeft
)

// String returns the reason's name.
func (r FeederChangeReason) String() string {
	switch r {
	case FeederSilent:
		return "silent"
	case FeederLeft:
		return "left"
	default:
		return "unknown"
	}
}

// EventFeederChanged reports that a spectator stopped listening to From and
// asked To for the feed; Frame is the next frame it will simulate. The
// spectator stays in sync: it waits for To's feed (or state) and goes on.
type EventFeederChanged struct {
	From, To netcode.PeerID
	Frame    int
	Reason   FeederChangeReason
}

func (EventFeederChanged) sessionEvent() {}
