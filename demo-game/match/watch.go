package match

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// Watch is a spectator of a running match: it joined the match's lobby as
// a spectator (lobby.Client.Spectate), connected the mesh to the players
// and runs a rollback.Spectator over it, fed by one player at a time with
// failover to the next when that player leaves or goes silent. The players'
// sessions accept spectators (the demo's players do by default).
//
// A Watch is not safe for concurrent use.
type Watch struct {
	lobby   *Lobby
	roster  netcode.Roster
	session lobby.Session
	mesh    *mesh.Mesh
	sp      *rollback.Spectator
	game    *Game
	joined  int // the first frame simulated here, -1 until then
	changes []FeederChange
	feeders []netcode.PeerID
	closed  bool
}

// watchedGame is the spectator's game: it notes the frame of the first
// state a feeder sent.
type watchedGame struct {
	*Game
	w *Watch
}

func (g watchedGame) LoadState(b []byte) error {
	err := g.Game.LoadState(b)
	if err == nil && g.w.joined < 0 {
		g.w.joined = int(g.State.Frame)
	}
	return err
}

// FeederChange is a change of the player feeding a spectator
// (rollback.EventFeederChanged).
type FeederChange struct {
	From     string `json:"from"`
	FromSeat int    `json:"from_seat"`
	To       string `json:"to"`
	ToSeat   int    `json:"to_seat"`
	Frame    int    `json:"frame"`
	Reason   string `json:"reason"`
}

// WatchResult is what a spectator saw, printed by the headless mode as one
// JSON line. Confirmed has the frame and checksum convention of a player's
// Result (the last frame simulated, and the state after it), so that it
// compares with the players' confirmed result.
type WatchResult struct {
	Spectator bool   `json:"spectator"`
	Frames    uint32 `json:"frames"`
	Checksum  string `json:"checksum"`
	Players   int    `json:"players"`
	Phase     string `json:"phase"`
	Winner    int    `json:"winner"`
	// JoinedFrame is the frame the spectator's game started from: the
	// state a feeder sent (0 when it watched from the start).
	JoinedFrame int `json:"joined_frame"`
	Confirmed   struct {
		Frame    int    `json:"frame"`
		Checksum string `json:"checksum"`
	} `json:"confirmed"`
	// FeederChanges lists the failovers from one feeding player to the
	// next.
	FeederChanges []FeederChange `json:"feeder_changes,omitempty"`
	Elapsed       JSONSeconds    `json:"elapsed_s"`
}

// JSON returns r as one line of JSON.
func (r WatchResult) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a WatchResult always marshals
	}
	return string(b)
}

// SpectateCode connects to a rallypoint server and watches the running
// match of the lobby whose join code is code.
func SpectateCode(ctx context.Context, serverURL, code string, cfg LobbyConfig) (*Watch, error) {
	c, norm, loop, err := dialForCode(ctx, serverURL, code)
	if err != nil {
		return nil, err
	}
	for {
		w, err := spectate(ctx, c, "", norm, loop || cfg.Loopback, cfg)
		if !errors.Is(err, lobby.ErrNotStarted) {
			return w, err
		}
		// The lobby has not started yet: ask again shortly.
		select {
		case <-ctx.Done():
			c.Close()
			return nil, fmt.Errorf("match: lobby %s did not start: %w", norm, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// SpectateLAN finds an arena lobby on the LAN whose match runs and watches
// it: it browses the LAN and asks each lobby found (every address in
// turn) for a spectator's place, again every quarter second while none
// has started, until one accepts or ctx ends.
func SpectateLAN(ctx context.Context, cfg LobbyConfig) (*Watch, error) {
	b, err := BrowseLAN(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	found := map[string]lobby.LANLobby{}
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	var errs []error
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("match: no running LAN match to watch: %w", errors.Join(append(errs, ctx.Err())...))
		case ev, ok := <-b.Events():
			if !ok {
				return nil, fmt.Errorf("match: no running LAN match to watch: browsing ended: %w", context.Cause(ctx))
			}
			if ev.Kind == lobby.LANRemoved {
				delete(found, ev.Lobby.Instance)
			} else {
				found[ev.Lobby.Instance] = ev.Lobby
			}
			continue
		case <-retry.C:
		}
		errs = errs[:0]
		for _, l := range found {
			for _, ap := range l.Addrs {
				w, err := spectateAt(ctx, l, ap, cfg)
				if err == nil {
					return w, nil
				}
				if ctx.Err() != nil {
					return nil, err
				}
				errs = append(errs, err)
			}
		}
	}
}

func spectateAt(ctx context.Context, l lobby.LANLobby, ap netip.AddrPort, cfg LobbyConfig) (*Watch, error) {
	one := l
	one.Addrs = []netip.AddrPort{ap}
	c, err := lobby.DialLAN(ctx, one, nil)
	if err != nil {
		return nil, fmt.Errorf("match: watching %q at %v: %w", l.Name, ap, err)
	}
	loop, _ := checkURL(l.URLFor(ap))
	return spectate(ctx, c, l.ID, "", loop || cfg.Loopback, cfg)
}

// spectate asks c's service to watch the lobby id (or code) and sets up the
// mesh and the spectator. It closes c on an error other than
// lobby.ErrNotStarted.
func spectate(ctx context.Context, c *lobby.Client, id, code string, loop bool, cfg LobbyConfig) (_ *Watch, err error) {
	st, r, err := c.SpectateState(ctx, id, code, lobby.JoinOptions{Member: cfg.member()})
	if err != nil {
		if !errors.Is(err, lobby.ErrNotStarted) {
			c.Close()
		}
		return nil, fmt.Errorf("match: asking to watch: %w", err)
	}
	sess := *st.Session
	// The lobby's seed: a spectator in from the first frame simulates the
	// match from the initial state.
	w := &Watch{lobby: newLobby(c, nil, st, loop), roster: r, session: sess, joined: -1}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	n := len(r.Players)
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: a match of %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	if w.mesh, err = mesh.Connect(ctx, c.Signaling(), r, &mesh.Config{Loopback: loop}); err != nil {
		return nil, fmt.Errorf("match: connecting to the match's %d peers: %w", len(r.Remotes()), err)
	}
	h := fnv.New64a()
	h.Write([]byte(r.Session))
	// The lobby's map: a spectator in from the first frame simulates on
	// it (one that comes in later loads a player's state, which carries
	// it too).
	m, err := spectatorMap(st, cfg)
	if err != nil {
		return nil, err
	}
	if w.game, err = NewGameIn(m, n, w.lobby.seed^h.Sum64()); err != nil {
		return nil, err
	}
	// Feeders: the players from the seat after the lobby's host on, so
	// that the host, which also serves a LAN lobby, feeds last.
	first := max(0, slices.Index(sess.Peers, sess.Host)+1) % n
	for i := range n {
		w.feeders = append(w.feeders, r.Players[(first+i)%n].Peer)
	}
	if w.sp, err = rollback.NewSpectator(w.mesh, watchedGame{w.game, w}, rollback.SpectatorConfig{Feeders: w.feeders, Players: n, InputSize: 1}); err != nil {
		return nil, fmt.Errorf("match: starting the spectator: %w", err)
	}
	return w, nil
}

// Room returns the match's session name.
func (w *Watch) Room() string { return w.roster.Session }

// Feeder returns the player feeding the spectator now and its seat.
func (w *Watch) Feeder() (netcode.PeerID, int) {
	p := w.sp.Feeder()
	return p, w.roster.SeatOf(p)
}

// State returns the spectator's view of the game.
func (w *Watch) State() *arena.State { return &w.game.State }

// Run watches until the game reaches frame frames (the players' -frames:
// their last frame is frames-1), or ctx ends, advancing the spectator 60
// times a second (it catches up faster while behind), and returns what it
// saw. onFeeder, if set, is called at every change of feeder.
func (w *Watch) Run(ctx context.Context, frames int, onFeeder func(FeederChange)) (WatchResult, error) {
	start := time.Now()
	t := time.NewTicker(time.Second / arena.TickRate)
	defer t.Stop()
	var err error
	for int(w.game.State.Frame) < frames {
		select {
		case <-ctx.Done():
			err = fmt.Errorf("match: watching stopped at frame %d: %w", w.game.State.Frame, ctx.Err())
		case <-t.C:
		}
		if err != nil {
			break
		}
		w.drain(onFeeder)
		if e := w.sp.AdvanceFrame(); e != nil && !errors.Is(e, rollback.ErrSpectatorWaiting) {
			err = e
			break
		}
		if w.joined < 0 && w.sp.Frame() > 0 {
			w.joined = 0 // fed from the start, no state
		}
		w.drain(onFeeder)
	}
	s := &w.game.State
	r := WatchResult{Spectator: true, Frames: s.Frame, Checksum: fmt.Sprintf("%016x", s.Checksum()), Players: int(s.NumPlayers),
		Phase: s.Phase.String(), Winner: int(s.MatchWinner), JoinedFrame: max(w.joined, 0), FeederChanges: w.changes,
		Elapsed: JSONSeconds(time.Since(start))}
	r.Confirmed.Frame, r.Confirmed.Checksum = int(s.Frame)-1, r.Checksum
	return r, err
}

// drain handles the mesh's and the spectator's events: a player the mesh
// disconnects is a feeder that left.
func (w *Watch) drain(onFeeder func(FeederChange)) {
	for {
		select {
		case ev := <-w.mesh.Events():
			if d, ok := ev.(mesh.EventDisconnected); ok {
				w.sp.FeederLeft(d.Peer)
			}
			continue
		case ev := <-w.sp.Events():
			if e, ok := ev.(rollback.EventFeederChanged); ok {
				fc := FeederChange{From: string(e.From), FromSeat: w.roster.SeatOf(e.From), To: string(e.To),
					ToSeat: w.roster.SeatOf(e.To), Frame: e.Frame, Reason: e.Reason.String()}
				w.changes = append(w.changes, fc)
				if onFeeder != nil {
					onFeeder(fc)
				}
			}
			continue
		default:
		}
		return
	}
}

// Close stops watching: the spectator, the mesh and the lobby connection.
func (w *Watch) Close() error {
	if w.closed {
		return ErrClosed
	}
	w.closed = true
	if w.sp != nil {
		w.sp.Close()
	}
	if w.mesh != nil {
		w.mesh.Close()
	}
	return w.lobby.Close()
}
