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
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// Watch is a spectator of a running match: it joined the match's lobby as
// a spectator (lobby.Client.Spectate) and watches through the players'
// broadcast tree (netcode/broadcast): it attaches to a player or to
// another spectator, simulates the confirmed frames it receives the
// lobby's delay behind the match, relays them to up to
// broadcast.DefaultFanout spectators of its own, and re-attaches when its
// parent leaves or dies. Its mesh connects on demand, to its parent, its
// children and the nodes that redirect it.
//
// A Watch is not safe for concurrent use.
type Watch struct {
	lobby     *Lobby
	roster    netcode.Roster
	session   lobby.Session
	sigEvents <-chan signaling.Event // the lobby connection's: peers interrupted
	mesh      *mesh.Mesh
	sp        *broadcast.Spectator
	game      *Game
	delay     int // the lobby's delay in frames
	joined    int // the first frame simulated here, -1 until then
	parent    netcode.PeerID
	first     netcode.PeerID // the first parent
	lost      *ParentChange  // the parent lost, until the next attach
	changes   []ParentChange
	nchange   int // every change, also those past maxParentChanges
	kids      int // the most children at once
	ended     *TreeEnd
	closed    bool
}

// maxParentChanges bounds the parent changes a Watch keeps for its result.
const maxParentChanges = 64

// watchedGame is the spectator's game: it notes the frame of the first
// state a parent sent.
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

// ParentChange is a spectator's move from one parent in the broadcast
// tree to another: the parents (a seat of -1 is a spectator), why the
// first was lost (broadcast.DetachReason: silent, left, gone...), the
// frame the spectator needed next and Gap, how long its stream stopped
// (broadcast.EventAttached.Gap: from the old parent's last growing beat
// to the new parent's acceptance).
type ParentChange struct {
	From     string      `json:"from"`
	FromSeat int         `json:"from_seat"`
	To       string      `json:"to"`
	ToSeat   int         `json:"to_seat"`
	Frame    int         `json:"frame"`
	Depth    int         `json:"depth"`
	Reason   string      `json:"reason"`
	Gap      JSONSeconds `json:"gap_s"`
}

// TreeEnd is the match's end as a spectator saw it through the tree: the
// end frame and whether its state there has the players' final checksum,
// which the stream carries (broadcast.EventEnded).
type TreeEnd struct {
	Frame int  `json:"frame"`
	Match bool `json:"match"`
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
	// state a parent sent (0 when it watched from the start).
	JoinedFrame int `json:"joined_frame"`
	Confirmed   struct {
		Frame    int    `json:"frame"`
		Checksum string `json:"checksum"`
	} `json:"confirmed"`
	// Ended is the match's end as it came through the tree; nil when the
	// end did not arrive.
	Ended *TreeEnd `json:"ended,omitempty"`
	// DelayFrames and Delay are how far the spectator ran behind the
	// match: the lobby's delay, which the players hold the broadcast
	// back by.
	DelayFrames int         `json:"delay_frames"`
	Delay       JSONSeconds `json:"delay_s"`
	// Parent is the first parent in the tree and ParentSeat its seat (-1:
	// a spectator); ParentChanges lists the moves to another (at most
	// 64; ParentChangeCount counts them all).
	Parent            string         `json:"parent"`
	ParentSeat        int            `json:"parent_seat"`
	ParentChanges     []ParentChange `json:"parent_changes,omitempty"`
	ParentChangeCount int            `json:"parent_change_count"`
	// Depth is the spectator's depth in the tree at the end (1: a
	// player's relay); ChildrenMax the most spectators it relayed to at
	// once, and BytesSent what it sent them.
	Depth       int         `json:"depth"`
	ChildrenMax int         `json:"children_max"`
	BytesSent   uint64      `json:"bytes_sent"`
	Elapsed     JSONSeconds `json:"elapsed_s"`
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
	w := &Watch{lobby: newLobby(c, nil, st, loop), roster: r, session: sess, sigEvents: c.Signaling().Events(), joined: -1}
	defer func() {
		if err != nil {
			w.Close()
		}
	}()
	n := len(r.Players)
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: a match of %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	// On demand: the spectator connects to the nodes of the tree it
	// talks to, not to the whole room.
	if w.mesh, err = mesh.New(c.Signaling(), mesh.Config{Loopback: loop, OnDemand: true, ICEServers: r.ICEServers}); err != nil {
		return nil, fmt.Errorf("match: starting the mesh: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte(r.Session))
	// The lobby's map: a spectator in from the first frame simulates on
	// it (one that comes in later loads a parent's state, which carries
	// it too).
	m, err := spectatorMap(st, cfg)
	if err != nil {
		return nil, err
	}
	if w.game, err = NewGameIn(m, n, w.lobby.seed^h.Sum64()); err != nil {
		return nil, err
	}
	roots := make([]netcode.PeerID, n)
	for i, s := range r.Players {
		roots[i] = s.Peer
	}
	// Ask the players from the seat after the lobby's host on, so that
	// the host, which also serves a LAN lobby, feeds last; they redirect
	// to a free slot in the tree.
	first := max(0, slices.Index(sess.Peers, sess.Host)+1) % n
	entry := append(slices.Clone(roots[first:]), roots[:first]...)
	w.delay = w.lobby.delay
	mm := w.mesh
	if w.sp, err = broadcast.NewSpectator(w.mesh, watchedGame{w.game, w}, broadcast.Config{
		Self: r.Self, Roots: roots, Entry: entry, Players: n, InputSize: 1,
		Dial:   func(p netcode.PeerID) { _ = mm.Dial(p) },
		Hangup: func(p netcode.PeerID) { _ = mm.Hangup(p) },
	}); err != nil {
		return nil, fmt.Errorf("match: starting the spectator: %w", err)
	}
	return w, nil
}

// Room returns the match's session name.
func (w *Watch) Room() string { return w.roster.Session }

// ID returns the spectator's peer id in the match's room.
func (w *Watch) ID() netcode.PeerID { return w.roster.Self }

// Parent returns the spectator's parent in the tree and its seat (-1: a
// spectator), and whether it is attached.
func (w *Watch) Parent() (netcode.PeerID, int, bool) {
	p, ok := w.sp.Parent()
	return p, w.roster.SeatOf(p), ok
}

// State returns the spectator's view of the game.
func (w *Watch) State() *arena.State { return &w.game.State }

// orphanTimeout is how long a spectator that lost its parent looks for
// another before it gives up (every player and relay is gone).
const orphanTimeout = 15 * time.Second

// Run watches until the match's end arrives through the tree (the
// players' -frames: their last frame is frames-1), or ctx ends, advancing
// the spectator 60 times a second (it catches up faster while behind),
// and returns what it saw. When the game reached frames but the end does
// not come within 5 s (no player or relay is left to send it), it stops
// without it; it also stops when it finds no parent for 15 s. Past the
// end it keeps relaying until its children left (at
// most 5 s), so that they get the end too. onParent, if set, is called
// with the first parent (From empty), when the parent is lost (To empty)
// and at every change of parent.
func (w *Watch) Run(ctx context.Context, frames int, onParent func(ParentChange)) (WatchResult, error) {
	start := time.Now()
	t := time.NewTicker(time.Second / arena.TickRate)
	defer t.Stop()
	var err error
	var reached, ended, detached time.Time
	for {
		now := time.Now()
		if _, ok := w.sp.Parent(); ok || w.first == "" {
			detached = time.Time{}
		} else if detached.IsZero() {
			detached = now
		}
		if !detached.IsZero() && now.Sub(detached) > orphanTimeout {
			err = fmt.Errorf("match: no parent in the broadcast tree for %v (frame %d)", orphanTimeout, w.game.State.Frame)
			break
		}
		if w.ended != nil && ended.IsZero() {
			ended = now
		}
		if frames > 0 && reached.IsZero() && int(w.game.State.Frame) >= frames {
			reached = now
		}
		if !ended.IsZero() && (len(w.sp.Children()) == 0 || now.Sub(ended) > 5*time.Second) ||
			ended.IsZero() && !reached.IsZero() && now.Sub(reached) > 5*time.Second {
			break
		}
		select {
		case <-ctx.Done():
			err = fmt.Errorf("match: watching stopped at frame %d: %w", w.game.State.Frame, ctx.Err())
		case <-t.C:
		}
		if err != nil {
			break
		}
		w.drain(onParent)
		if e := w.sp.Tick(); e != nil && !errors.Is(e, broadcast.ErrWaiting) {
			err = e
			break
		}
		if w.joined < 0 && w.sp.Frame() > 0 {
			w.joined = 0 // fed from the start, no state
		}
		w.drain(onParent)
	}
	s := &w.game.State
	st := w.sp.Stats()
	r := WatchResult{Spectator: true, Frames: s.Frame, Checksum: fmt.Sprintf("%016x", s.Checksum()), Players: int(s.NumPlayers),
		Phase: s.Phase.String(), Winner: int(s.MatchWinner), JoinedFrame: max(w.joined, 0), Ended: w.ended,
		DelayFrames: max(w.delay, 0), Delay: JSONSeconds(time.Duration(max(w.delay, 0)) * time.Second / arena.TickRate),
		Parent: string(w.first), ParentSeat: w.roster.SeatOf(w.first), ParentChanges: w.changes, ParentChangeCount: w.nchange,
		Depth: len(w.sp.Path()), ChildrenMax: w.kids, BytesSent: st.BytesSent, Elapsed: JSONSeconds(time.Since(start))}
	r.Confirmed.Frame, r.Confirmed.Checksum = int(s.Frame)-1, r.Checksum
	if err == nil && w.ended == nil {
		err = fmt.Errorf("match: the match's end did not come through the tree (frame %d)", s.Frame)
	}
	return r, err
}

// drain handles the signaling client's, the mesh's and the spectator's
// events: a peer whose signaling connection dropped (a process that dies
// drops it at once), that left the room (or whose seat a restarted player
// took back) or whose mesh connection went silent is suspected, so a
// parent that is gone is replaced after two missed heartbeats and not
// asked again; one whose connection ended is gone.
func (w *Watch) drain(onParent func(ParentChange)) {
	for {
		select {
		case ev, ok := <-w.sigEvents:
			if !ok {
				w.sigEvents = nil // closed with the client
				continue
			}
			switch e := ev.(type) {
			case signaling.PeerInterrupted:
				w.sp.PeerSuspect(netcode.PeerID(e.Peer))
			case signaling.PeerLeft:
				// Gone from the room: no longer a parent to ask.
				w.sp.PeerSuspect(netcode.PeerID(e.Peer))
			case signaling.PeerJoined:
				if e.Replaces != "" { // a restarted player took the seat back
					w.sp.PeerSuspect(netcode.PeerID(e.Replaces))
				}
			}
			continue
		case ev := <-w.mesh.Events():
			switch e := ev.(type) {
			case mesh.EventDisconnected:
				w.sp.PeerGone(e.Peer)
			case mesh.EventInterrupted:
				w.sp.PeerSuspect(e.Peer)
			}
			continue
		case ev := <-w.sp.Events():
			w.handle(ev, onParent)
			continue
		default:
		}
		return
	}
}

// handle records the tree's events: parents, the most children, the end.
func (w *Watch) handle(ev broadcast.Event, onParent func(ParentChange)) {
	switch e := ev.(type) {
	case broadcast.EventDetached:
		if w.lost == nil {
			w.lost = &ParentChange{From: string(e.Parent), FromSeat: w.roster.SeatOf(e.Parent), Reason: e.Reason.String(),
				Frame: w.sp.Frame(), ToSeat: -1}
			if onParent != nil {
				onParent(*w.lost)
			}
		}
		w.parent = ""
	case broadcast.EventAttached:
		c := ParentChange{To: string(e.Parent), ToSeat: w.roster.SeatOf(e.Parent), Frame: e.Frame, Depth: e.Depth,
			Gap: JSONSeconds(e.Gap), FromSeat: -1}
		w.parent = e.Parent
		if w.first == "" {
			w.first = e.Parent
		} else {
			if w.lost != nil {
				c.From, c.FromSeat, c.Reason = w.lost.From, w.lost.FromSeat, w.lost.Reason
			}
			if len(w.changes) < maxParentChanges {
				w.changes = append(w.changes, c)
			}
			w.nchange++
		}
		w.lost = nil
		if onParent != nil {
			onParent(c)
		}
	case broadcast.EventChildJoined:
		w.kids = max(w.kids, len(w.sp.Children()))
	case broadcast.EventEnded:
		w.ended = &TreeEnd{Frame: e.Frame, Match: e.Match}
	}
}

// Close stops watching: the spectator (its parent and children hear
// goodbye), the mesh and the lobby connection.
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
