package rollback

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Game is the game side of a session. The session calls it from
// AdvanceFrame, on the caller's goroutine, in this pattern: SaveState before
// every frame it simulates, AdvanceFrame to simulate it, and on a rollback
// LoadState of an earlier frame followed by SaveState/AdvanceFrame for every
// frame up to the present again.
type Game interface {
	// SaveState appends the complete game state to dst and returns it. The
	// session keeps the bytes to roll back to, to checksum confirmed frames
	// and to send to spectators; it reuses dst, so a game that appends
	// without allocating saves without allocating.
	SaveState(dst []byte) []byte
	// LoadState restores a state SaveState produced.
	LoadState(state []byte) error
	// AdvanceFrame simulates one frame with the inputs of every player. in
	// is valid only during the call.
	AdvanceFrame(in *Inputs)
}

// DisconnectPolicy says what the session does when a peer stays silent for
// Config.DisconnectTimeout.
type DisconnectPolicy uint8

// Disconnect policies.
const (
	// DropPlayer drops the peer's players at a frame every remaining peer
	// agrees on; from then on their input is zero bytes with the status
	// InputDisconnected, and the match carries on.
	DropPlayer DisconnectPolicy = iota
	// PredictPlayer is DropPlayer, except that the dropped players keep
	// repeating their last input.
	PredictPlayer
	// StallForPlayer waits for the peer: the session stops at the end of its
	// prediction window until the peer is heard again or the game calls
	// DisconnectPeer.
	StallForPlayer
)

// Player places one player of the match.
type Player struct {
	// Peer is the peer that controls the player. Empty: a local player of
	// this session.
	Peer netcode.PeerID
}

// Config configures a Session. Each field documents its zero value;
// the players, from Players or Roster, are the only thing a session cannot
// do without.
type Config struct {
	// Players lists every player of the match; the index in the list is the
	// player's handle, and every peer must list them in the same order.
	// Several players may be local. At least one player is required, at
	// most 32.
	Players []Player
	// Roster, when set and Players is empty, gives the players from a
	// match's roster (a matchmaker's match, a lobby's start): Players in
	// seat order, so that seat i is handle i on every peer, with the seat
	// of Roster.Self local and every other seat played by its peer; and
	// Roster.Spectators added to Spectators. Self must hold a seat (a peer
	// that only watches runs a Spectator). Nil: Players alone.
	Roster *netcode.Roster
	// InputSize is the size in bytes of one player's input for one frame.
	// Zero means 1. One frame of every player's inputs must fit in 900
	// bytes (a datagram), so 8 players may have up to 112 bytes each.
	InputSize int
	// MaxPrediction is how many frames the session may run ahead of the
	// last frame confirmed for every player. Zero means 8.
	MaxPrediction int
	// Lockstep sets the prediction window to zero: the session never
	// predicts or rolls back, and stalls whenever an input is missing. Give
	// it an InputDelay of at least the one-way latency (SuggestInputDelay).
	Lockstep bool
	// InputDelay is the number of frames a local input is delayed before it
	// takes effect. Zero means none. Every peer must start with the same
	// value: the frames before it have zero inputs for every player, which
	// lets lockstep start without waiting. SetInputDelay changes it at
	// runtime, on each peer independently.
	InputDelay int
	// FPS is the session's tick rate, used for time sync. Zero means 60.
	FPS int
	// ChecksumInterval is how many frames apart confirmed frames are
	// checksummed and compared with the peers. Zero means 60; negative
	// disables desync detection.
	ChecksumInterval int
	// InterruptTimeout is how long a peer may send the session nothing
	// before an EventPeerInterrupted. Zero means
	// netcode.DefaultInterruptAfter (500 ms), the mesh's own threshold.
	InterruptTimeout time.Duration
	// DisconnectTimeout is how long a peer may send the session nothing
	// before the DisconnectPolicy applies. Zero means
	// netcode.DefaultDropAfter (2 s): half a second before the mesh's
	// default disconnect (netcode.DefaultDisconnectAfter), so that the
	// remaining peers agree on the drop frame while the mesh still holds
	// the silent peer's connection. Over a mesh with a shorter
	// mesh.Config.DisconnectAfter, set it below that value.
	DisconnectTimeout time.Duration
	// DisconnectPolicy applies to silent peers. Zero means DropPlayer.
	DisconnectPolicy DisconnectPolicy
	// Spectators are peers allowed to watch: they receive the confirmed
	// inputs of every player once they ask. Nil: none, unless
	// AcceptSpectators.
	Spectators []netcode.PeerID
	// AcceptSpectators accepts a spectator request from any peer that is not
	// a player. False: only the listed Spectators.
	AcceptSpectators bool
	// OnConfirmedState, if set, is called with every confirmed state the
	// session checksums (every ChecksumInterval frames), so that the game
	// can keep it to diff after an EventDesync. state is valid only during
	// the call.
	OnConfirmedState func(frame int, checksum uint64, state []byte)
	// Rejoin makes this session a restarted player that rejoins a match in
	// progress: it asks every peer in Players to take it back, receives
	// the latest confirmed state and the inputs since from one of them, and
	// catches up. Its local players are the ones it controlled before; its
	// PeerID may differ from the old one. False: a fresh match at frame 0.
	Rejoin bool
	// RejoinToken is sent with a rejoin request for the peers'
	// AuthorizeRejoin; a game passes the resume credential its signaling
	// layer issued. Nil: none.
	RejoinToken []byte
	// AuthorizeRejoin decides whether a peer may take the seat of the
	// given players (typically by checking token against the signaling
	// layer's resume credential). Nil accepts a request only from the
	// players' own peer id, so that a peer that restarted with the same id
	// rejoins and no other peer can take a seat.
	AuthorizeRejoin func(from netcode.PeerID, handles []int, token []byte) bool
	// CatchUpSpeed is how many frames one AdvanceFrame may simulate while
	// this peer is more than 6 frames behind the others (after a rejoin).
	// Zero means 4.
	CatchUpSpeed int
	// FullRedundancy makes every input datagram carry every input the
	// peer has not acknowledged, whatever the RTT. By default, once more
	// than 6 frames are unacknowledged on a path that loses nothing, a
	// datagram carries only the last 3 frames and the rest again only if
	// their acknowledgement is late (docs/netcode-wire.md, "input").
	FullRedundancy bool
	// Clock returns the current time. Nil means time.Now; tests on the
	// network simulator pass its virtual clock.
	Clock func() time.Time
	// EventBuffer is the capacity of the event channel. Zero means 64.
	EventBuffer int
	// StartTimeout is how long the start barrier waits for every peer to
	// reach every other (see the package doc, "Start barrier"). A peer
	// that has not heard from every other within it fails the start for
	// everyone (EventStartFailed, ErrStartFailed); a peer that hears from
	// all but still lacks another's confirmation gives up after twice
	// that. Zero means DefaultStartTimeout (30 s); negative turns the
	// barrier off (the session starts at its first AdvanceFrame, as before
	// wire version 3: only for a game that runs its own barrier).
	StartTimeout time.Duration
}

// DefaultStartTimeout is the start barrier's default wait (Config.StartTimeout):
// long enough for meshes that connect seconds apart under heavy loss.
const DefaultStartTimeout = 30 * time.Second

// Stats counts a session's work.
type Stats struct {
	Frame          int    // next frame to simulate
	ConfirmedFrame int    // last frame whose inputs are all confirmed
	Rollbacks      uint64 // rollbacks performed
	RolledBack     uint64 // frames resimulated
	Stalls         uint64 // AdvanceFrame calls refused by the prediction window
	Checksums      uint64 // confirmed frames checksummed
	Compared       uint64 // checksums compared with a peer's
	Desyncs        uint64 // mismatches found
	Rejected       uint64 // messages rejected
	Gated          uint64 // datagrams held back until a rejoin vote arrived
	EventsDropped  uint64 // events lost to a full channel
	BytesSent      uint64 // session payload bytes handed to the transport
	DatagramsSent  uint64 // session messages handed to the transport
}

// PeerStats describe one remote peer as the session sees it.
type PeerStats struct {
	RTT          time.Duration // round trip, measured from input acks
	FramesAhead  float64       // this peer's frame advantage over it (negative: behind)
	RemoteFrame  int           // the last frame it reported
	Acked        int           // the last local input frame it holds
	Interrupted  bool
	Disconnected bool
}

const (
	defaultPrediction = 8
	maxAhead          = 96 // frames a remote input may be ahead of us
	sumRepeats        = 2  // datagrams carrying each checksum report
	sumHistory        = 64
	maxFrameBytes     = 900 // every player's input for one frame
	advantageEvery    = 30  // ticks between frame advantage reports when it does not change
)

type sumEntry struct {
	frame int
	sum   uint64
}

type stateSlot struct {
	frame int
	buf   []byte
}

type sessionPeer struct {
	id      netcode.PeerID
	handles []int
	ack     int // last frame of our local inputs the peer holds
	// sentThrough is the last local frame sent to the peer; until
	// fullUntil every unacknowledged frame is (leanStart).
	sentThrough int
	fullUntil   time.Time
	frame       int // last frame the peer reported
	lastRecv    time.Time
	rtt         time.Duration
	localAdv    float64 // EWMA of our advantage over the peer
	sentAdv     int8    // the advantage last reported to the peer
	remAdv      float64 // EWMA of the advantage the peer reports over us
	silent      bool    // interrupted
	leaving     bool    // we announced its drop
	dropped     bool    // the drop frame is agreed
	votes       map[netcode.PeerID]int
	sums        [8]sumEntry // checksum reports waiting for ours
	lastSum     int         // the last frame whose report was compared

	heard     bool // the start barrier heard from it
	full      bool // its hello said it hears every peer
	droppedUs bool // it announced that it drops our players

	knownEpoch int // rejoin votes received from this peer; -1: adopt the next
	rejoin     *rejoinState
	lastNonce  uint64 // the last rejoin decided for this peer
}

// rejoinState is the agreement on the frame at which a dropped player
// plays again.
type rejoinState struct {
	joiner netcode.PeerID
	nonce  uint64
	voted  bool
	votes  map[netcode.PeerID]int
}

type spectatorLink struct {
	id        netcode.PeerID
	joined    bool
	needState bool
	ack       int
	lastRecv  time.Time
	limit     int // last frame to feed (a rejoining player), noDrop for a spectator
	welcome   int // the rejoin frame to send with the state, -1 for a spectator
}

// Session is a rollback (or lockstep) session for 2 to 32 players over a
// Transport. It is driven from the game loop and is not safe for concurrent
// use: call every method from the game loop's goroutine, except Events.
type Session struct {
	t      netcode.Transport
	game   Game
	cfg    Config
	clock  func() time.Time
	size   int
	window int
	delay  int
	fps    int

	frame          int // next frame to simulate
	confirmed      int // last frame confirmed for every player
	firstIncorrect int
	localLast      int // last local input frame committed
	localSentAt    [ringFrames]time.Time

	players        []*inputRing
	local          []int // local handles
	pending        []byte
	hasInput       []bool
	peers          []*sessionPeer
	peerByID       map[netcode.PeerID]*sessionPeer
	specs          []*spectatorLink
	specByID       map[netcode.PeerID]*spectatorLink
	slots          []stateSlot
	inputs         Inputs
	nextSum        int
	sums           [sumHistory]sumEntry
	sendSum        sumEntry
	sendSumN       int
	lastWait       time.Time
	started        bool // the start barrier passed: frames run
	barrier        barrier
	stopErr        error // set when the session stopped (ErrStartFailed, ErrDroppedByPeers)
	end            int   // Finish's end frame, 0: none
	fin            finalState
	ticks          int
	droppedByPeers bool
	epoch          uint8
	joining        bool // a Rejoin session before its welcome
	joinAsked      bool
	welcome        *wireCtlMsg
	rejoinAt       int
	syncFrom       int // a rejoined session: EventInSync is due for the first matching checksum at or after this frame; 0 when not
	rejoinVia      netcode.PeerID
	nonce          uint64
	rxCtl          wireCtlMsg
	now            time.Time // the clock at the start of the current tick
	drops          []wireDropFrom
	owed           float64 // SkipTick's debt, in ticks
	closed         bool
	stats          Stats
	events         eventQueue
	onMessage      func(netcode.PeerID, netcode.Channel, []byte)

	// buffers reused on the hot path
	tx      []byte
	txIn    []byte
	scratch []byte
	rx      wireInputMsg
	rxDrop  wireDropMsg
}

// fromRoster fills cfg.Players and cfg.Spectators from r.
func fromRoster(cfg *Config, r netcode.Roster) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !r.IsPlayer() {
		return fmt.Errorf("%w: roster: %q holds no seat (use a Spectator to watch)", ErrConfig, r.Self)
	}
	cfg.Players = make([]Player, len(r.Players))
	for i, seat := range r.Players {
		if seat.Peer != r.Self {
			cfg.Players[i].Peer = seat.Peer
		}
	}
	cfg.Spectators = append(append([]netcode.PeerID(nil), cfg.Spectators...), r.Spectators...)
	return nil
}

// New returns a session at frame 0. It sends nothing until the first
// AdvanceFrame.
func New(t netcode.Transport, game Game, cfg Config) (*Session, error) {
	if t == nil || game == nil {
		return nil, fmt.Errorf("%w: nil transport or game", ErrConfig)
	}
	if len(cfg.Players) == 0 && cfg.Roster != nil {
		if err := fromRoster(&cfg, *cfg.Roster); err != nil {
			return nil, err
		}
	}
	n := len(cfg.Players)
	if n < 1 || n > maxWirePlayers {
		return nil, fmt.Errorf("%w: %d players (want 1 to %d)", ErrConfig, n, maxWirePlayers)
	}
	cfg.Players = append([]Player(nil), cfg.Players...)
	s := &Session{t: t, game: game, cfg: cfg, clock: cfg.Clock, size: cfg.InputSize, fps: cfg.FPS,
		window: cfg.MaxPrediction, delay: cfg.InputDelay, firstIncorrect: math.MaxInt, confirmed: -1,
		peerByID: make(map[netcode.PeerID]*sessionPeer), specByID: make(map[netcode.PeerID]*spectatorLink)}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.size == 0 {
		s.size = 1
	}
	if s.size < 0 || s.size > 1024 || n*s.size > maxFrameBytes {
		return nil, fmt.Errorf("%w: input size %d for %d players (want 1 to 1024, and at most %d bytes a frame for all players)",
			ErrConfig, s.size, n, maxFrameBytes)
	}
	if s.window == 0 {
		s.window = defaultPrediction
	}
	if cfg.Lockstep {
		s.window = 0
	}
	if s.window < 0 || s.window > 64 {
		return nil, fmt.Errorf("%w: prediction window %d (want 0 to 64)", ErrConfig, s.window)
	}
	if s.delay < 0 || s.delay > 32 {
		return nil, fmt.Errorf("%w: input delay %d (want 0 to 32)", ErrConfig, s.delay)
	}
	if s.fps == 0 {
		s.fps = 60
	}
	if s.cfg.ChecksumInterval == 0 {
		s.cfg.ChecksumInterval = 60
	}
	if s.cfg.InterruptTimeout == 0 {
		s.cfg.InterruptTimeout = netcode.DefaultInterruptAfter
	}
	if s.cfg.CatchUpSpeed <= 0 {
		s.cfg.CatchUpSpeed = 4
	}
	if s.cfg.DisconnectTimeout == 0 {
		s.cfg.DisconnectTimeout = netcode.DefaultDropAfter
	}
	s.events = newEventQueue(cfg.EventBuffer)
	s.players = make([]*inputRing, n)
	for h, p := range cfg.Players {
		s.players[h] = newInputRing(s.size)
		if p.Peer == "" {
			s.local = append(s.local, h)
			continue
		}
		sp := s.peerByID[p.Peer]
		if sp == nil {
			sp = &sessionPeer{id: p.Peer, ack: -1, frame: -1, lastSum: -1}
			for i := range sp.sums {
				sp.sums[i].frame = -1
			}
			s.peerByID[p.Peer] = sp
			s.peers = append(s.peers, sp)
		}
		sp.handles = append(sp.handles, h)
	}
	if len(s.local) == 0 {
		return nil, fmt.Errorf("%w: no local player (use a Spectator to watch)", ErrConfig)
	}
	for _, id := range cfg.Spectators {
		if s.peerByID[id] != nil {
			return nil, fmt.Errorf("%w: spectator %q is also a player", ErrConfig, id)
		}
		if s.specByID[id] == nil {
			l := &spectatorLink{id: id, ack: -1, limit: noDrop, welcome: -1}
			s.specByID[id] = l
			s.specs = append(s.specs, l)
		}
	}
	s.pending = make([]byte, n*s.size)
	s.hasInput = make([]bool, n)
	s.slots = make([]stateSlot, s.window+2)
	for i := range s.slots {
		s.slots[i].frame = -1
	}
	s.inputs = Inputs{size: s.size, data: make([]byte, n*s.size), status: make([]InputStatus, n)}
	s.localLast = -1
	// Frames before the initial input delay have zero inputs for every
	// player: every peer must start with the same InputDelay.
	s.commitLocalZero(s.delay)
	for _, r := range s.players {
		r.last = s.delay - 1
	}
	s.onMessage = s.handleMessage
	s.barrier.on = cfg.StartTimeout >= 0 && len(s.peers) > 0 && !cfg.Rejoin
	if s.cfg.StartTimeout == 0 {
		s.cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Rejoin {
		s.joining = true
		s.nonce = rand.Uint64() | 1
		for _, p := range s.peers {
			p.knownEpoch = -1
		}
	}
	return s, nil
}

// Events returns the channel of session events (see Event).
func (s *Session) Events() <-chan Event { return s.events.ch }

// Frame returns the next frame the session will simulate.
func (s *Session) Frame() int { return s.frame }

// ConfirmedFrame returns the last frame whose inputs are confirmed for
// every player, or -1.
func (s *Session) ConfirmedFrame() int { return s.confirmed }

// InputDelay returns the current input delay in frames.
func (s *Session) InputDelay() int { return s.delay }

// SetInputDelay changes the input delay from the next local input on. A
// longer delay repeats the last input over the added frames; a shorter one
// ignores local inputs until the queue is back at the new delay. Both keep
// every peer in sync, since only the local input stream changes.
func (s *Session) SetInputDelay(frames int) error {
	if frames < 0 || frames > 32 {
		return fmt.Errorf("%w: input delay %d (want 0 to 32)", ErrConfig, frames)
	}
	s.delay = frames
	return nil
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	st := s.stats
	st.Frame = s.frame
	st.ConfirmedFrame = s.confirmed
	st.EventsDropped = s.events.dropped
	return st
}

// PeerStats returns what the session knows about a remote peer.
func (s *Session) PeerStats(id netcode.PeerID) (PeerStats, bool) {
	p := s.peerByID[id]
	if p == nil {
		return PeerStats{}, false
	}
	return PeerStats{RTT: p.rtt, FramesAhead: (p.localAdv - p.remAdv) / 2, RemoteFrame: p.frame,
		Acked: p.ack, Interrupted: p.silent, Disconnected: p.leaving || p.dropped}, true
}

// AddLocalInput sets the input of local player handle for this tick. Call it
// for every local player before each AdvanceFrame; a player without a new
// input repeats its previous one. While the session stalls, the input
// queued on the first stalled tick stands and later ones are ignored until
// it advances again.
func (s *Session) AddLocalInput(handle int, input []byte) error {
	if s.closed {
		return ErrClosed
	}
	if handle < 0 || handle >= len(s.players) || s.cfg.Players[handle].Peer != "" {
		return fmt.Errorf("%w: handle %d", ErrNotLocalPlayer, handle)
	}
	if len(input) != s.size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInputSize, len(input), s.size)
	}
	copy(s.pending[handle*s.size:], input)
	s.hasInput[handle] = true
	return nil
}

// commitLocalZero commits zero inputs for local frames up to frame-1.
func (s *Session) commitLocalZero(frames int) {
	for f := s.localLast + 1; f < frames; f++ {
		for _, h := range s.local {
			clear(s.players[h].at(f))
			s.players[h].last = f
		}
		s.localLast = f
	}
}

// commitLocal queues this tick's local inputs at frame+delay.
func (s *Session) commitLocal() {
	target := s.frame + s.delay
	if target <= s.localLast {
		return // the delay shrank: the queue already covers this frame
	}
	now := s.now
	for f := s.localLast + 1; f <= target; f++ {
		for _, h := range s.local {
			r := s.players[h]
			if f == target {
				if s.hasInput[h] {
					copy(r.at(f), s.pending[h*s.size:(h+1)*s.size])
				} else if f > 0 {
					copy(r.at(f), r.at(f-1))
				}
			} else if f > 0 { // the delay grew: repeat the last input
				copy(r.at(f), r.at(f-1))
			}
			r.last = f
		}
		s.localSentAt[f&ringMask] = now
	}
	s.localLast = target
}

// Poll handles the messages that have arrived without advancing. AdvanceFrame
// polls by itself; call Poll when the game is paused.
func (s *Session) Poll() {
	if s.closed {
		return
	}
	s.now = s.clock()
	s.t.Poll(s.onMessage)
	s.checkPeers()
}

// AdvanceFrame runs one tick: it handles arrived messages, rolls back and
// resimulates if a prediction was wrong, queues the local inputs, sends one
// datagram to every peer, and simulates the next frame. It returns
// ErrPredictionThreshold when it may not simulate a new frame this tick (the
// rest of the tick's work is done), a *GameError if the game failed to load
// a state, and ErrClosed after Close.
func (s *Session) AdvanceFrame() error {
	if s.closed {
		return ErrClosed
	}
	if s.stopErr != nil {
		s.now = s.clock()
		s.sendHellos() // a failed start keeps telling the others
		return s.stopErr
	}
	s.now = s.clock() // one clock read per tick
	if s.joining {
		s.started = true
		return s.advanceJoining()
	}
	if !s.started {
		if err := s.advanceBarrier(); err != nil {
			return err
		}
		if !s.started {
			s.stats.Stalls++
			return ErrPredictionThreshold
		}
	}
	s.t.Poll(s.onMessage)
	s.checkPeers()
	if s.stopErr != nil {
		return s.stopErr
	}
	if err := s.rollback(); err != nil {
		return err
	}
	s.updateConfirmed()
	s.checksums()
	s.commitLocal()
	s.updateConfirmed()
	s.send()
	s.timeSync()
	if s.end > 0 && s.frame >= s.end {
		s.finish()
		return nil
	}
	if s.frame > s.confirmed+s.window {
		s.stats.Stalls++
		return ErrPredictionThreshold
	}
	s.simulate(s.frame, false)
	s.frame++
	s.checksums()
	// Behind the others (after a rejoin): simulate a few more frames.
	for i := 1; i < s.cfg.CatchUpSpeed && s.behind() > 6; i++ {
		if s.frame > s.confirmed+s.window || s.frame > s.localLast || (s.end > 0 && s.frame >= s.end) {
			break
		}
		s.simulate(s.frame, false)
		s.frame++
		s.checksums()
	}
	return nil
}

// behind returns how many frames the most advanced peer reported beyond
// this session's frame.
func (s *Session) behind() int {
	b := 0
	for _, p := range s.peers {
		if !p.dropped && !p.leaving {
			b = max(b, p.frame-s.frame)
		}
	}
	return b
}

// updateConfirmed recomputes the last frame confirmed for every player.
func (s *Session) updateConfirmed() {
	c := noDrop
	for _, r := range s.players {
		c = min(c, r.confirmedUpTo())
	}
	s.confirmed = c
}

// slot returns the state slot for frame f.
func (s *Session) slot(f int) *stateSlot { return &s.slots[f%len(s.slots)] }

// simulate saves the state of frame f and advances the game over it.
func (s *Session) simulate(f int, resim bool) {
	sl := s.slot(f)
	sl.buf = s.game.SaveState(sl.buf[:0])
	sl.frame = f
	s.advance(f, resim)
}

// advance simulates frame f from the game's current state, recording the
// predictions it uses.
func (s *Session) advance(f int, resim bool) {
	in := &s.inputs
	in.Frame = f
	in.Resimulating = resim
	for h, r := range s.players {
		v, st := r.input(f)
		copy(in.data[h*s.size:], v)
		in.status[h] = st
		if st == InputPredicted {
			copy(r.usedAt(f), v)
		}
	}
	s.game.AdvanceFrame(in)
}

// rollback resimulates from the first frame simulated with a wrong
// prediction (the earliest over every player: inputs from several peers may
// have arrived since the last tick).
func (s *Session) rollback() error {
	g := s.firstIncorrect
	s.firstIncorrect = math.MaxInt
	if g >= s.frame {
		return nil
	}
	sl := s.slot(g)
	if sl.frame != g {
		// Unreachable while the prediction window holds; a state lost
		// here would desync, so report it loudly.
		return &GameError{Frame: g, Err: fmt.Errorf("no saved state (oldest kept is %d frames back)", len(s.slots))}
	}
	if err := s.game.LoadState(sl.buf); err != nil {
		return &GameError{Frame: g, Err: err}
	}
	s.stats.Rollbacks++
	for f := g; f < s.frame; f++ {
		if f == g {
			// The loaded state is the saved one: advance without re-saving.
			s.advance(f, true)
		} else {
			s.simulate(f, true)
		}
		s.stats.RolledBack++
	}
	return nil
}

// markInput records a newly confirmed input of player h for frame f and
// schedules a rollback if f was simulated with another prediction.
func (s *Session) markInput(r *inputRing, f int) {
	if f < s.frame && !r.dropped(f) {
		if string(r.usedAt(f)) != string(r.at(f)) {
			if f < s.firstIncorrect {
				s.firstIncorrect = f
			}
		}
	}
}

// Close stops the session. It does not close the transport.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return nil
}

// SuggestedInputDelay applies SuggestInputDelay to the largest RTT measured
// to a connected peer (0 before any was measured).
func (s *Session) SuggestedInputDelay() int {
	var rtt time.Duration
	for _, p := range s.peers {
		if !p.dropped && !p.leaving {
			rtt = max(rtt, p.rtt)
		}
	}
	return SuggestInputDelay(rtt, 0, s.fps)
}

// SuggestInputDelay returns the input delay, in frames at fps, that hides a
// one-way latency of rtt/2 plus jitter: enough for lockstep never to stall,
// and the upper end of what rollback games use.
func SuggestInputDelay(rtt, jitter time.Duration, fps int) int {
	if fps <= 0 {
		fps = 60
	}
	owd := rtt/2 + jitter
	if owd <= 0 {
		return 0
	}
	return int((int64(owd)*int64(fps) + int64(time.Second) - 1) / int64(time.Second))
}
