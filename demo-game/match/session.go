package match

import (
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// Session is a match in progress, driven one frame at a time from the game
// loop. See the package documentation.
type Session interface {
	// Tick advances the match by one frame with the local player's input
	// (ignored when LocalPlayer is -1). It never blocks on the network.
	Tick(local arena.Input) error
	// State returns the state to draw: the newest frame, which a rollback
	// session may still correct. The caller must not modify it, and it
	// is valid until the next Tick.
	State() *arena.State
	// LocalPlayer returns the seat this process plays, or -1 when it only
	// runs bots or watches.
	LocalPlayer() int
	// Stats fills st with the network figures for the overlay, reusing
	// st.Peers.
	Stats(st *Stats)
	// SetConditions injects one-way lag and a loss ratio (0 to 1) into the
	// session's network, or returns ErrNoSimulator.
	SetConditions(lag time.Duration, loss float64) error
	// Close ends the session. Further calls return ErrClosed.
	Close() error
}

// Stats is what the network overlay shows.
type Stats struct {
	// Transport describes what carries the match: "local (no network)",
	// "rollback over netsim", "WebRTC mesh".
	Transport string
	// Peers has one entry per remote peer; empty in a local match.
	Peers []PeerStats
	// Rollback is true when the session is a rollback session; the two
	// figures below are meaningful only then.
	Rollback bool
	// RollbackFrames is the number of frames re-simulated by the latest
	// rollback.
	RollbackFrames int
	// Rollbacks counts the rollbacks since the match started.
	Rollbacks uint64
	// Predicted is how many frames the local simulation runs beyond the
	// last frame whose inputs every peer confirmed.
	Predicted int
	// FramesAhead is the time-sync frame advantage over the peer this one
	// leads most (negative: behind).
	FramesAhead float64
	// Desyncs counts confirmed frames whose checksum differed from a
	// peer's.
	Desyncs int
	// Lag and Loss are the conditions injected with SetConditions.
	Lag  time.Duration
	Loss float64
	// CanCondition is true when SetConditions works in this session.
	CanCondition bool
}

// PeerStats is one remote peer's line in the overlay.
type PeerStats struct {
	Name string
	// RTT is the round-trip time; zero when not measured yet.
	RTT time.Duration
	// KbpsIn and KbpsOut are the game traffic rates, in kilobits per second.
	KbpsIn, KbpsOut float64
	// Candidate is the ICE candidate type of the connection ("host",
	// "srflx", "prflx", "relay"), or "sim" over the network simulator.
	Candidate string
}

// LocalConfig configures a local match. The zero value is a valid
// configuration: two players, seed 0, the local player in seat 0 against a
// bot.
type LocalConfig struct {
	// Players is the number of seats, arena.MinPlayers to
	// arena.MaxPlayers. Zero means arena.MinPlayers.
	Players int
	// Seed seeds the match. Zero is a valid seed.
	Seed uint64
	// AllBots makes every seat a bot, including seat 0 (a headless bot or
	// an attract mode). False means seat 0 is the local player.
	AllBots bool
	// Map is the arena (arena.ParseMap). Nil means arena.DefaultLayout.
	Map *arena.Layout
}

// Local is a match in this process with no network: the local player (or a
// bot) against bots.
type Local struct {
	state  *arena.State
	local  int
	inputs []arena.Input
	closed bool
}

var _ Session = (*Local)(nil)

// NewLocal starts a local match.
func NewLocal(cfg LocalConfig) (*Local, error) {
	n := cfg.Players
	if n == 0 {
		n = arena.MinPlayers
	}
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	if err := checkMap(cfg.Map); err != nil {
		return nil, err
	}
	l := &Local{state: arena.NewWithLayout(layoutOf(cfg.Map), n, cfg.Seed), inputs: make([]arena.Input, n)}
	if cfg.AllBots {
		l.local = -1
	}
	return l, nil
}

// Tick advances the match by one frame.
func (l *Local) Tick(local arena.Input) error {
	if l.closed {
		return ErrClosed
	}
	for i := range l.inputs {
		if i == l.local {
			l.inputs[i] = local
		} else {
			l.inputs[i] = arena.BotInput(l.state, i)
		}
	}
	l.state.Step(l.inputs)
	return nil
}

// State returns the current state.
func (l *Local) State() *arena.State { return l.state }

// LocalPlayer returns 0, or -1 when every seat is a bot.
func (l *Local) LocalPlayer() int { return l.local }

// Stats reports that there is no network.
func (l *Local) Stats(st *Stats) {
	*st = Stats{Transport: "local (no network)", Peers: st.Peers[:0]}
}

// SetConditions returns ErrNoSimulator: a local match has no network.
func (l *Local) SetConditions(time.Duration, float64) error {
	if l.closed {
		return ErrClosed
	}
	return ErrNoSimulator
}

// Close ends the match.
func (l *Local) Close() error {
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	return nil
}
