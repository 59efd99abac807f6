package match

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"github.com/rallypoint/rallypoint/signaling"
)

// OnlineConfig configures a match through a rallypoint signaling server and
// the WebRTC mesh. Only ServerURL is required.
type OnlineConfig struct {
	// ServerURL is the signaling endpoint, ws://HOST:PORT/ws, or several
	// nodes of one rallypoint cluster separated by commas: the client
	// dials them in order and, when its node dies or is drained, resumes
	// its session on another (signaling.ClientConfig.URLs); a match in
	// progress carries on meanwhile.
	ServerURL string
	// Queue is the name players queue under: the server groups the next
	// Players arrivals into a room of their own. Empty means "arena".
	Queue string
	// Players is the match size of the Queue grouping. Zero means
	// arena.MinPlayers.
	Players int
	// Seed is mixed with the match's session name (the matchmaker's
	// session, or the grouping's room) into the match seed; every peer
	// must use the same. Zero is valid.
	Seed uint64
	// AllBots makes the local seat a bot. False: the local player.
	AllBots bool
	// InputDelay is the input delay in frames; every peer must use the
	// same. Zero means none.
	InputDelay int
	// Matchmaker, when set, queues on the server's matchmaker queue of
	// that name ("1v1" on rallypoint serve by default) through a
	// matchmaker/mmclient Client instead of grouping arrivals under Queue;
	// the match is the roster of its Matched event, and Players is
	// ignored. Empty means the Queue grouping.
	Matchmaker string
	// Loopback gathers loopback ICE candidates (every peer on one host).
	// False still gathers them when the server is on a loopback address.
	Loopback bool
	// RelayOnly connects to every peer through the server's TURN relay
	// only, so that no other player learns this one's IP address
	// (mesh.Config.RelayOnly). It needs a TURN server on the signaling
	// server (rallypoint serve -turn-urls and -turn-secret).
	RelayOnly bool
	// Rejoin, when set, is the rejoin ticket of a match this player was
	// in (Online.RejoinTicket, typically of this process before it was
	// killed): DialOnline takes its seat back on the server
	// (signaling.Client.Rejoin) instead of queueing, connects to the
	// match's peers and starts a rollback session that rejoins the match
	// in progress (rollback.Config.Rejoin). Only for Queue groupings.
	Rejoin string
	// Map is the arena (arena.ParseMap); every peer must play the same
	// (the state's checksum covers it). Nil means arena.DefaultLayout.
	// A lobby's match takes it from the lobby's offered map instead.
	Map *arena.Layout

	// broadcast runs a broadcast.Source beside the session (a lobby's
	// match, which spectators may watch), with the mesh on demand.
	broadcast bool
	// spectateDelay is the Source's Config.Delay (frames; negative: none).
	spectateDelay int
}

// Online is a match with peers in other processes: it queues on a signaling
// server, connects to every other player over the WebRTC mesh, and runs a
// rollback session over it, through a netsim.Conditioner so that F5/F6 can
// inject lag and loss on the real connection. After the mesh is up the
// server is no longer needed.
type Online struct {
	owners  []io.Closer // closed after the mesh: the matchmaker client, the signaling connection, a lobby, a LAN host
	roster  netcode.Roster
	mm      *mmclient.Client  // the matchmaker client of a matchmaker's match, or nil
	matched *mmclient.Matched // the matchmaker's match this session plays, or nil
	mesh    *mesh.Mesh
	cond    *netsim.Conditioner
	sess    *rollback.Session
	game    *Game
	seat    int
	bot     bool
	in      [1]byte
	lag     time.Duration
	loss    float64
	closed  bool

	desyncs      int
	lastRolled   uint64
	lastRollback int
	slack        float64 // accumulated TickScale beyond 1: ticks owed to the peers behind
	skipped      int
	startedAt    time.Time         // when the start barrier passed (zero: not yet)
	client       *signaling.Client // the match room's signaling connection (a Queue grouping, a lobby's match, a rejoin): seats and rejoin tickets; nil for a matchmaker's match
	rejoins      []RejoinResult
	inSyncAt     time.Time     // when a rejoined session was back in sync (zero: not yet, or not rejoined)
	stopErr      error         // the session stopped: ErrDroppedByPeers or ErrStartFailed
	connectTook  time.Duration // mesh.Connect: from the roster to every peer connected
	mapInfo      *MapResult    // the lobby's map this match plays, or nil
	src          *broadcast.Source
	lastRelay    time.Time // the last tick the source had a relay
	bcast        BroadcastResult

	connSub    *signaling.Subscription // the signaling connection's Disconnected and Reconnected, or nil
	connDone   chan struct{}           // closed when the goroutine reading connSub ends
	connMu     sync.Mutex
	reconnects []SignalingReconnect // at most maxReconnects
	reconnectN int                  // every reconnect, also those past maxReconnects
}

// maxReconnects bounds the reconnects an Online keeps for its result.
const maxReconnects = 32

// SignalingReconnect is a new connection of a match's signaling client to a
// server after it lost the last one: the server's URL (with several
// servers, the one it failed over to), whether it resumed its session
// (the same peer id and room), and how long it was without a server, from
// noticing the drop to the server's welcome.
type SignalingReconnect struct {
	URL     string      `json:"url"`
	Resumed bool        `json:"resumed"`
	Down    JSONSeconds `json:"down_s"`
}

// watchSignaling records the reconnects of c, the match's signaling
// client, until Close.
func (o *Online) watchSignaling(c *signaling.Client) {
	sub := c.SubscribeWith(signaling.SubscriptionConfig{Queue: 16})
	o.connSub, o.connDone = sub, make(chan struct{})
	go func() {
		defer close(o.connDone)
		var down time.Time
		for ev := range sub.Events() {
			switch e := ev.(type) {
			case signaling.Disconnected:
				if down.IsZero() {
					down = time.Now()
				}
			case signaling.Reconnected:
				r := SignalingReconnect{URL: e.URL, Resumed: e.Resumed}
				if !down.IsZero() {
					r.Down = JSONSeconds(time.Since(down))
				}
				down = time.Time{}
				o.connMu.Lock()
				if len(o.reconnects) < maxReconnects {
					o.reconnects = append(o.reconnects, r)
				}
				o.reconnectN++
				o.connMu.Unlock()
			}
		}
	}()
}

// signalingReconnects returns the reconnects recorded so far, from the
// from-th on.
func (o *Online) signalingReconnects(from int) []SignalingReconnect {
	o.connMu.Lock()
	defer o.connMu.Unlock()
	if from >= len(o.reconnects) {
		return nil
	}
	return slices.Clone(o.reconnects[from:])
}

var _ Session = (*Online)(nil)

// DialOnline connects to the server, waits until it groups the players
// (the matchmaker's queue cfg.Matchmaker, or else the next cfg.Players
// arrivals under cfg.Queue) and every peer is connected, and starts the
// match. It blocks until then or until ctx is done (the error then
// satisfies errors.Is(err, context.Canceled) or context.DeadlineExceeded).
func DialOnline(ctx context.Context, cfg OnlineConfig) (_ *Online, err error) {
	n := cfg.Players
	if n == 0 {
		n = arena.MinPlayers
	}
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	srv, err := parseServers(cfg.ServerURL)
	if err != nil {
		return nil, err
	}
	loop := srv.loop
	queue := cfg.Queue
	if queue == "" {
		queue = "arena"
	}
	client, err := signaling.Dial(ctx, srv.first, srv.client())
	if err != nil {
		return nil, fmt.Errorf("match: dialing the server: %w", err)
	}
	if cfg.Rejoin != "" {
		return rejoinOnline(ctx, client, loop || cfg.Loopback, cfg)
	}
	if cfg.Matchmaker == "" {
		r, err := joinNext(ctx, client, queue, n)
		if err != nil {
			client.Close()
			return nil, err
		}
		o, err := startOnline(ctx, client, r, loop || cfg.Loopback, cfg, client)
		if err == nil {
			o.client = client
		}
		return o, err
	}
	mc := mmclient.New(client, nil)
	m, err := mc.Match(ctx, mmclient.Ticket{Queue: cfg.Matchmaker})
	if err != nil {
		mc.Close()
		client.Close()
		return nil, fmt.Errorf("match: matchmaking in %q: %w", cfg.Matchmaker, err)
	}
	o, err := startOnline(ctx, client, m.Roster, loop || cfg.Loopback, cfg, mc, client)
	if err != nil {
		return nil, err
	}
	o.mm, o.matched = mc, &m
	return o, nil
}

// checkURL checks a signaling URL and reports whether it names a loopback
// host (then every peer may be on this host: gather loopback candidates).
func checkURL(raw string) (loopback bool, err error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return false, fmt.Errorf("%w: server URL %q, want ws://HOST:PORT/ws", ErrBadConfig, raw)
	}
	ip := net.ParseIP(u.Hostname())
	return (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost", nil
}

// joinNext joins the group of the next n arrivals under queue and waits
// until all n are in the room. Its roster seats them in the server's seat
// order (signaling.Client.Seats), which every member sees alike, and names
// the match after the room.
func joinNext(ctx context.Context, client *signaling.Client, queue string, n int) (netcode.Roster, error) {
	info, err := client.JoinNext(ctx, queue, n)
	if err != nil {
		return netcode.Roster{}, fmt.Errorf("match: joining the queue: %w", err)
	}
	// Membership changes wake the wait; the callback takes no signals, so
	// those arriving meanwhile wait for the mesh in the client's early
	// buffer.
	changed := make(chan struct{}, 1)
	unsubscribe := client.SubscribeSignals(nil, func(string, bool) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer unsubscribe()
	for {
		peers := client.Peers()
		if len(peers) > n-1 {
			return netcode.Roster{}, fmt.Errorf("match: room %s has %d members, want %d", info.Name, len(peers)+1, n)
		}
		if len(peers) == n-1 {
			// The server's seat order (arrivals), which a restarted
			// player learns again when it rejoins; sorted ids from a
			// server that gives none.
			ids := client.Seats()
			if len(ids) != n {
				ids = append([]string{client.ID()}, peers...)
				slices.Sort(ids)
			}
			r := netcode.Roster{Session: info.Name, Self: netcode.PeerID(client.ID()), ICEServers: client.ICEServers()}
			for _, id := range ids {
				r.Players = append(r.Players, netcode.Seat{Peer: netcode.PeerID(id)})
			}
			return r, nil
		}
		select {
		case <-ctx.Done():
			return netcode.Roster{}, fmt.Errorf("match: waiting for %d players in room %s: %w", n, info.Name, ctx.Err())
		case <-changed:
		}
	}
}

// rejoinOnline takes back the seat of cfg.Rejoin in its match and starts
// the session that rejoins the match in progress. A lobby's match (online
// or on a LAN host) comes back through the lobby (lobby.Client.Rejoin: the
// roster and the seed are the lobby's); a match of the next-arrivals
// grouping, which no lobby plays, from the room's seats (rejoinRoom).
func rejoinOnline(ctx context.Context, client *signaling.Client, loop bool, cfg OnlineConfig) (*Online, error) {
	room, _, ok := signaling.TicketSeat(cfg.Rejoin)
	if !ok {
		client.Close()
		return nil, fmt.Errorf("%w: %q is not a rejoin ticket", ErrBadConfig, cfg.Rejoin)
	}
	lc := lobby.NewClient(client, nil)
	st, r, err := lc.Rejoin(ctx, cfg.Rejoin, lobby.JoinOptions{Member: LobbyConfig{Player: "bot"}.member()})
	if err == nil {
		l := newLobby(lc, nil, st, loop)
		cfg.Seed = l.seed
		cfg.broadcast = true
		o, err := startOnline(ctx, client, r, loop, cfg, l, client)
		if err == nil {
			o.client = client
		}
		return o, err
	}
	if client.Room() != room || !(errors.Is(err, lobby.ErrNotFound) || errors.Is(err, &signaling.Error{Code: signaling.CodeUnknownType})) {
		lc.Close()
		client.Close()
		return nil, fmt.Errorf("match: rejoining: %w", err)
	}
	// The seat is back; no lobby plays the room.
	lc.Close()
	r, err = rejoinRoom(client, cfg.Rejoin)
	if err != nil {
		client.Close()
		return nil, err
	}
	o, err := startOnline(ctx, client, r, loop, cfg, client)
	if err == nil {
		o.client = client
	}
	return o, err
}

// rejoinRoom returns the roster of the match room whose seat of ticket
// client took back, as joinNext made it (the server's seat order), with
// this client's new id in its old seat.
func rejoinRoom(client *signaling.Client, ticket string) (netcode.Roster, error) {
	_, old, ok := signaling.TicketSeat(ticket)
	if !ok {
		return netcode.Roster{}, fmt.Errorf("%w: %q is not a rejoin ticket", ErrBadConfig, ticket)
	}
	ids := client.Seats()
	if len(ids) == 0 { // a server that gives no seat order
		ids = append([]string{old}, client.Peers()...)
		slices.Sort(ids)
	}
	r := netcode.Roster{Session: client.Room(), Self: netcode.PeerID(client.ID()), ICEServers: client.ICEServers()}
	for _, id := range ids {
		if id == old {
			id = client.ID()
		}
		r.Players = append(r.Players, netcode.Seat{Peer: netcode.PeerID(id)})
	}
	return r, nil
}

// RejoinTicket returns the ticket with which a restarted process takes this
// player's seat back (OnlineConfig.Rejoin, or RejoinLAN), or "" when the
// server issued none (a matchmaker's match is not rejoinable yet).
func (o *Online) RejoinTicket() string {
	if o.client == nil {
		return ""
	}
	return o.client.RejoinTicket()
}

// authorizeRejoin admits a rejoin request from the peer the signaling
// server seated in the players' seat (it seats a new peer only for that
// seat's ticket), with a ticket for this match's room.
func (o *Online) authorizeRejoin(from netcode.PeerID, handles []int, token []byte) bool {
	if o.client == nil || len(handles) == 0 {
		return false
	}
	room, _, ok := signaling.TicketSeat(string(token))
	seats := o.client.Seats()
	return ok && room == o.roster.Session && handles[0] < len(seats) && seats[handles[0]] == string(from)
}

// startOnline is every online match's way in, whoever made the roster (the
// matchmaker, a lobby's start, the next-arrivals grouping): it connects the
// mesh to the roster's peers over sig and starts the rollback session with
// the roster's seats, this peer at r.Self's. The match seed mixes cfg.Seed
// with the roster's session name. owners are closed by Online.Close after
// the mesh, and by startOnline when it fails.
func startOnline(ctx context.Context, sig netcode.Signaler, r netcode.Roster, loop bool, cfg OnlineConfig, owners ...io.Closer) (_ *Online, err error) {
	o := &Online{bot: cfg.AllBots, roster: r, owners: owners}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	if c, ok := sig.(*signaling.Client); ok {
		o.watchSignaling(c)
	}
	n := len(r.Players)
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: a match of %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	if o.seat = r.SeatOf(r.Self); o.seat < 0 {
		return nil, fmt.Errorf("%w: this peer (%s) holds no seat in match %s", ErrBadConfig, r.Self, r.Session)
	}
	mcfg := &mesh.Config{Loopback: loop, RelayOnly: cfg.RelayOnly}
	if cfg.broadcast {
		// Spectators watch through the tree (netcode/broadcast), not
		// from the session: the players connect to each other and to
		// the spectators that dial them (their relays), not to every
		// spectator in the room.
		o.roster.Spectators = nil
		mcfg.OnDemand = true
	}
	connecting := time.Now()
	if o.mesh, err = mesh.Connect(ctx, sig, o.roster, mcfg); err != nil {
		return nil, fmt.Errorf("match: connecting to %d peers: %w", n-1, err)
	}
	o.connectTook = time.Since(connecting)
	h := fnv.New64a()
	h.Write([]byte(r.Session))
	if o.game, err = NewGameIn(cfg.Map, n, cfg.Seed^h.Sum64()); err != nil {
		return nil, err
	}
	var gameT, bcastT netcode.Transport = o.mesh, nil
	if cfg.broadcast && cfg.Rejoin == "" {
		gameT, bcastT = broadcast.Split(o.mesh)
	}
	o.cond = netsim.NewConditioner(gameT, netsim.ConditionerConfig{Seed: int64(cfg.Seed)})
	// The start barrier waits for the slowest peer's mesh as long as the
	// caller waits for the match (under heavy loss meshes connect tens of
	// seconds apart), and at least rollback's default.
	startWait := rollback.DefaultStartTimeout
	if d, ok := ctx.Deadline(); ok {
		startWait = max(startWait, time.Until(d))
	}
	o.sess, err = rollback.New(o.cond, o.game, rollback.Config{
		Roster:          &o.roster,
		InputSize:       1,
		InputDelay:      cfg.InputDelay,
		FPS:             arena.TickRate,
		StartTimeout:    startWait,
		Rejoin:          cfg.Rejoin != "",
		RejoinToken:     []byte(cfg.Rejoin),
		AuthorizeRejoin: o.authorizeRejoin,
	})
	if err != nil {
		return nil, fmt.Errorf("match: starting the session: %w", err)
	}
	if bcastT != nil {
		// The broadcast to spectators: the confirmed frames, Delay ticks
		// late, to at most RootFanout relays. A player that rejoined
		// holds no frames from the start and runs none.
		roots := make([]netcode.PeerID, n)
		for i, s := range r.Players {
			roots[i] = s.Peer
		}
		m := o.mesh
		o.src, err = broadcast.NewSource(bcastT, o.sess, broadcast.Config{Self: r.Self, Roots: roots, Delay: cfg.spectateDelay,
			Hangup: func(p netcode.PeerID) { _ = m.Hangup(p) }})
		if err != nil {
			return nil, fmt.Errorf("match: starting the broadcast: %w", err)
		}
		o.bcast.DelayFrames = max(cfg.spectateDelay, 0)
		if cfg.spectateDelay == 0 {
			o.bcast.DelayFrames = broadcast.DefaultDelay
		}
	}
	return o, nil
}

// BroadcastResult is a player's share of the broadcast to spectators: how
// many frames it holds the stream back, the most relays it fed at once
// (at most broadcast.DefaultRootFanout however many watch) and the bytes
// it sent them.
type BroadcastResult struct {
	DelayFrames int    `json:"delay_frames"`
	RelaysMax   int    `json:"relays_max"`
	BytesSent   uint64 `json:"bytes_sent"`
	// Released is the next frame the broadcast had not released to the
	// tree at the end; Errors counts the problems it reported
	// (broadcast.EventRejected) and Error is the first.
	Released int    `json:"released"`
	Errors   int    `json:"errors,omitempty"`
	Error    string `json:"error,omitempty"`
}

// tickBroadcast passes the frames confirmed meanwhile to the broadcast
// and drains its events.
func (o *Online) tickBroadcast() {
	if o.src == nil {
		return
	}
	_ = o.src.Tick() // ErrBehind is reported as an event; the source carries on
	for drained := false; !drained; {
		select {
		case ev := <-o.src.Events():
			if e, ok := ev.(broadcast.EventRejected); ok {
				if o.bcast.Errors++; o.bcast.Error == "" {
					o.bcast.Error = e.Err.Error()
				}
			}
		default:
			drained = true
		}
	}
	o.bcast.Released = o.src.Released()
	if k := len(o.src.Children()); k > 0 {
		o.bcast.RelaysMax = max(o.bcast.RelaysMax, k)
		o.lastRelay = time.Now()
	}
	o.bcast.BytesSent = o.src.Stats().BytesSent
}

// broadcastResult returns the player's broadcast figures, or nil when it
// runs no broadcast.
func (o *Online) broadcastResult() *BroadcastResult {
	if o.src == nil {
		return nil
	}
	b := o.bcast
	return &b
}

// ReportResult reports the outcome of a match the server's matchmaker made
// (DialOnline with Matchmaker): the team of the winner's seat ranks first
// and the others second; winner -1 (a draw) ranks every team equal. It
// then waits until the server rates the match (once a majority of its
// players reported the same ranks) and returns this player's new rating.
// Call it after Run, before Close; it blocks until then or until ctx is
// done. A session the matchmaker did not make returns ErrNoMatchmaker.
func (o *Online) ReportResult(ctx context.Context, winner int) (mmclient.Rating, error) {
	if o.closed {
		return mmclient.Rating{}, ErrClosed
	}
	if o.mm == nil {
		return mmclient.Rating{}, ErrNoMatchmaker
	}
	seats := o.roster.Players
	if winner < -1 || winner >= len(seats) {
		return mmclient.Rating{}, fmt.Errorf("%w: winner %d of %d players", ErrBadConfig, winner, len(seats))
	}
	ranks := make([]float64, len(o.matched.Teams))
	for team := range ranks {
		ranks[team] = 1
		if winner >= 0 && seats[winner].Team != team {
			ranks[team] = 2
		}
	}
	if _, err := o.mm.Report(ctx, o.roster.Session, ranks); err != nil {
		return mmclient.Rating{}, fmt.Errorf("match: reporting the result: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return mmclient.Rating{}, fmt.Errorf("match: waiting for the ratings: %w", ctx.Err())
		case ev, ok := <-o.mm.Events():
			if !ok {
				return mmclient.Rating{}, fmt.Errorf("match: waiting for the ratings: %w", mmclient.ErrClosed)
			}
			r, ok := ev.(mmclient.Rated)
			if !ok || r.Session != o.roster.Session {
				continue
			}
			if _, ok := r.Ratings[string(o.roster.Self)]; !ok {
				return mmclient.Rating{}, fmt.Errorf("match: the ratings of session %s leave this player out", r.Session)
			}
			return r.Rating, nil
		}
	}
}

// Room returns the name of the match: the roster's session (the
// matchmaker's session, the lobby's session or the room of the next
// arrivals).
func (o *Online) Room() string { return o.roster.Session }

// Tick adds the local input (or the bot's) and advances the session.
func (o *Online) Tick(local arena.Input) error {
	if o.closed {
		return ErrClosed
	}
	if o.bot {
		local = arena.BotInput(&o.game.State, o.seat)
	}
	o.in[0] = byte(local)
	// Time sync: the game loop runs at a fixed rate, so when the session
	// asks to stretch ticks (this peer runs ahead of another) it skips one
	// tick in every 1/(scale-1) instead, letting the peer behind catch up.
	o.slack += o.sess.TickScale() - 1
	if o.slack >= 1 {
		o.slack--
		o.skipped++
		o.sess.Poll()
	} else {
		if err := o.sess.AddLocalInput(o.seat, o.in[:]); err != nil {
			return err
		}
		if err := o.sess.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) && !errors.Is(err, rollback.ErrRejoining) {
			o.drain()
			o.stopErr = err
			return err
		}
	}
	o.drain()
	o.tickBroadcast()
	st := o.sess.Stats()
	if d := st.RolledBack - o.lastRolled; d > 0 {
		o.lastRollback = int(d)
	}
	o.lastRolled = st.RolledBack
	return nil
}

// drain handles the session's and the mesh's events.
func (o *Online) drain() {
	for {
		select {
		case ev := <-o.sess.Events():
			switch ev.(type) {
			case rollback.EventDesync:
				o.desyncs++
			case rollback.EventStarted:
				o.startedAt = time.Now()
			case rollback.EventRejoined:
				o.startedAt = time.Now()
				o.rejoins = append(o.rejoins, RejoinResult{Seats: []int{o.seat}, Frame: ev.(rollback.EventRejoined).Frame, Self: true})
			case rollback.EventInSync:
				if n := len(o.rejoins); n > 0 && o.rejoins[n-1].Self && o.rejoins[n-1].SyncFrame == 0 {
					o.rejoins[n-1].SyncFrame = ev.(rollback.EventInSync).Frame
					o.inSyncAt = time.Now()
				}
			case rollback.EventPeerRejoined:
				e := ev.(rollback.EventPeerRejoined)
				o.rejoins = append(o.rejoins, RejoinResult{Peer: string(e.Peer), Seats: e.Handles, Frame: e.Frame})
			}
			continue
		case ev := <-o.mesh.Events():
			if d, ok := ev.(mesh.EventDisconnected); ok && o.src != nil {
				o.src.PeerGone(d.Peer)
			}
			continue
		default:
		}
		return
	}
}

// State returns this peer's view of the game.
func (o *Online) State() *arena.State { return &o.game.State }

// LocalPlayer returns this peer's seat, or -1 when a bot plays it.
func (o *Online) LocalPlayer() int {
	if o.bot {
		return -1
	}
	return o.seat
}

// Seat returns this peer's seat, bot or not.
func (o *Online) Seat() int { return o.seat }

// Stats reports the mesh's measurements per peer and the session's work.
func (o *Online) Stats(st *Stats) {
	ss := o.sess.Stats()
	peers := st.Peers[:0]
	for _, id := range o.roster.Remotes() {
		ms, err := o.mesh.Stats(id)
		if err != nil {
			peers = append(peers, PeerStats{Name: string(id), Candidate: "disconnected"})
			continue
		}
		cand := ms.LocalCandidate
		if ms.RemoteCandidate != "" && ms.RemoteCandidate != cand {
			cand += "/" + ms.RemoteCandidate
		}
		peers = append(peers, PeerStats{
			Name: string(id), RTT: ms.RTT, Candidate: cand,
			KbpsIn: ms.BytesInPerSec * 8 / 1000, KbpsOut: ms.BytesOutPerSec * 8 / 1000,
		})
	}
	*st = Stats{
		Transport:      "rollback over the WebRTC mesh, room " + o.roster.Session,
		Peers:          peers,
		Rollback:       true,
		RollbackFrames: o.lastRollback,
		Rollbacks:      ss.Rollbacks,
		Predicted:      max(0, ss.Frame-1-ss.ConfirmedFrame),
		FramesAhead:    o.sess.FramesAhead(),
		Desyncs:        o.desyncs,
		Lag:            o.lag,
		Loss:           o.loss,
		CanCondition:   true,
	}
}

// SetConditions delays and drops what this peer sends, on the real
// connection.
func (o *Online) SetConditions(lag time.Duration, loss float64) error {
	if o.closed {
		return ErrClosed
	}
	if lag < 0 || loss < 0 || loss > 1 {
		return fmt.Errorf("%w: lag %v, loss %v", ErrBadConfig, lag, loss)
	}
	o.lag, o.loss = lag, loss
	o.cond.SetConditions(netsim.Conditions{Latency: lag, Loss: loss})
	return nil
}

// Confirmed returns the last frame confirmed here, its checksum, and
// whether the peers agree on the match so far (no desync, no drop; the
// final reports once the match ended).
func (o *Online) Confirmed() (int, uint64, bool) {
	c := o.confirmedResult()
	f := min(o.sess.ConfirmedFrame(), o.sess.Frame()-1)
	sum, ok := o.game.SumAt(f)
	return f, sum, ok && o.desyncs == 0 && c.RosterFull && (c.PeersAgree || o.sess.Outcome().End == 0)
}

// confirmedResult is the session's outcome for the headless result.
func (o *Online) confirmedResult() *ConfirmedResult {
	out := o.sess.Outcome()
	f := min(o.sess.ConfirmedFrame(), o.sess.Frame()-1)
	sum, _ := o.game.SumAt(f)
	c := &ConfirmedResult{Frame: f, Checksum: fmt.Sprintf("%016x", sum), PeersAgree: out.Agree,
		RosterFull: !slices.ContainsFunc(out.Dropped, func(d rollback.DroppedPlayer) bool { return d.Until == 0 }) && len(out.Remaining) == out.Players && o.stopErr == nil,
		Remaining:  out.Remaining, Reports: len(out.Peers), Reason: out.Reason}
	for _, d := range out.Dropped {
		c.Dropped = append(c.Dropped, DroppedResult{Peer: string(d.Peer), Seats: d.Handles, Frame: d.Frame, Until: d.Until})
	}
	c.Rejoins = o.rejoins
	return c
}

// startedAfter returns when the match started, after start.
func (o *Online) startedAfter(start time.Time) (time.Duration, bool) {
	if o.startedAt.IsZero() {
		return 0, false
	}
	return max(0, o.startedAt.Sub(start)), true
}

// inSyncAfter returns, for a session that rejoined the match, the frame
// whose checksums showed it back in sync (rollback.EventInSync) and when,
// after start.
func (o *Online) inSyncAfter(start time.Time) (int, time.Duration, bool) {
	if o.inSyncAt.IsZero() {
		return 0, 0, false
	}
	return o.rejoins[len(o.rejoins)-1].SyncFrame, max(0, o.inSyncAt.Sub(start)), true
}

func (o *Online) connectTime() time.Duration { return o.connectTook }

// finish ends the session at frame end (rollback.Session.Finish).
func (o *Online) finish(end int) error { return o.sess.Finish(end) }

// settle keeps the session running until every peer reported its final
// state and holds every report (or, after every report arrived here, for
// 3 s at most), then for linger more so that the others get this peer's
// last report, and returns the final state. A player that feeds relays
// of the broadcast keeps going until they received the match's end, which
// leaves its source the broadcast delay after the players agreed on it,
// and left (for at most the delay and 5 s more).
func (o *Online) settle(ctx context.Context, linger time.Duration) (*arena.State, error) {
	t := time.NewTicker(time.Second / arena.TickRate)
	defer t.Stop()
	var reported, until time.Time
	for {
		out := o.sess.Outcome()
		now := time.Now()
		if out.Reported && reported.IsZero() {
			reported = now
		}
		if until.IsZero() && (out.Settled || !reported.IsZero() && now.Sub(reported) > 3*time.Second) {
			until = now.Add(linger)
		}
		if !until.IsZero() && now.After(until) && !o.feedingRelays(now.Sub(until)) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("match: waiting for the peers' final reports: %w", ctx.Err())
		case <-t.C:
		}
		// Keep the session running: it sends the inputs the peers still
		// miss, acks and its final report, and rolls back on late inputs.
		o.sess.AddLocalInput(o.seat, o.in[:])
		err := o.sess.AdvanceFrame()
		o.drain()
		o.tickBroadcast()
		if err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
			o.stopErr = err
			return nil, err
		}
	}
	return &o.game.State, nil
}

// feedingRelays reports whether the broadcast still feeds relays, after
// waiting for them for over: they leave once they simulated the match's
// end (and their own children left), and until they do, the frames and the
// end sent to them may still be in flight. A relay dropped meanwhile (it
// stalled past the tree's acknowledgement timeout) gets relayGrace to
// come back.
func (o *Online) feedingRelays(over time.Duration) bool {
	if o.src == nil || over >= time.Duration(o.bcast.DelayFrames)*time.Second/arena.TickRate+5*time.Second {
		return false
	}
	return len(o.src.Children()) > 0 || !o.lastRelay.IsZero() && time.Since(o.lastRelay) < relayGrace
}

// relayGrace is how long a player lingering for its relays waits for one
// that was dropped to come back.
const relayGrace = 1500 * time.Millisecond

// Close ends the session, the mesh, the matchmaker client and the server
// connection (or the lobby).
func (o *Online) Close() error {
	if o.closed {
		return ErrClosed
	}
	o.closed = true
	if o.src != nil {
		o.src.Close() // its relays re-attach elsewhere at once
	}
	if o.sess != nil {
		o.sess.Close()
	}
	if o.mesh != nil {
		o.mesh.Close()
	}
	if o.connSub != nil {
		o.connSub.Close()
		<-o.connDone
	}
	for _, c := range o.owners {
		c.Close()
	}
	return nil
}
