package match

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/signaling"
)

// The lobby's game name and metadata keys, for the arena.
const (
	// LobbyGame is the game name of arena lobbies (lobby.CreateData.Game),
	// which LAN browsing and online listings filter on.
	LobbyGame = "arena"
	// MetaSeed is the lobby metadata key holding the match seed, which
	// every member uses.
	MetaSeed = "seed"
	// MemberName is the member metadata key holding a player's name.
	MemberName = "name"
	// MetaSpectateDelay is the lobby metadata key holding how many frames
	// the players' broadcast to spectators runs behind the match (0:
	// none); every player holds the stream back that long.
	MetaSpectateDelay = "spectate_delay"
)

// maxSpectateDelay bounds a lobby's spectator delay: one minute of frames.
const maxSpectateDelay = 60 * arena.TickRate

// LobbyConfig configures creating or joining a lobby, online or on the LAN.
// The zero value is valid.
type LobbyConfig struct {
	// Name is the name of a lobby this player creates. Empty means "Arena
	// on HOSTNAME" on the LAN and "Arena lobby" online. Ignored when
	// joining.
	Name string
	// Player is this player's name, shown to the other members (member
	// metadata MemberName). Empty means "Player".
	Player string
	// Players is the size of a lobby this player creates: its member
	// limit, which the host may change. Zero means arena.MinPlayers.
	// Ignored when joining.
	Players int
	// Seed is the match seed of a lobby this player creates, kept in the
	// lobby's metadata (MetaSeed) so that every member uses it. Ignored
	// when joining.
	Seed uint64
	// Private makes an online lobby unlisted: players join it by code.
	Private bool
	// Interfaces limits LAN discovery (mDNS) to these interfaces. Nil
	// means every multicast-capable interface.
	Interfaces []string
	// Addr is the listen address of a LAN host's signaling server. Empty
	// means ":0", every address on a free port.
	Addr string
	// Loopback gathers loopback ICE candidates for the match (every peer
	// on one host). False still gathers them when the server is on a
	// loopback address.
	Loopback bool
	// Map is a map file (arena.ParseMap) that a lobby this player creates
	// plays: it is offered to the members as lobby content, which the
	// members that lack it fetch from the others before the match (see
	// MapStatus), and the host starts only when every member has it. Nil:
	// the default arena. Ignored when joining: a member plays the map its
	// lobby offers.
	Map []byte
	// MapCache is the directory where a member keeps the maps it
	// received, by content id (content.Cache), and finds them the next
	// time a lobby offers them. Empty: maps are fetched every time and
	// kept nowhere.
	MapCache string
	// SpectateDelay is how far behind the match the spectators of a
	// lobby this player creates watch it: every player holds the
	// broadcast back that long (in frames, rounded down), so that a
	// stream does not tell a player what the others do now. Zero means
	// broadcast.DefaultDelay (180 frames, 3 s); negative means none; at
	// most one minute. Ignored when joining: a member takes the lobby's
	// (MetaSpectateDelay).
	SpectateDelay time.Duration
	// OnMap, if set, is called when this player's MapStatus changes (the
	// offer, each verified piece, the map whole, who lacks it on the
	// host), on a goroutine of the lobby's: it must not block.
	OnMap func(MapStatus)
	// Logger, when set, receives debug logs of the lobby's connection on
	// the LAN: the signaling client's drops and reconnects, a hosting
	// player's server's sessions, and the lobby events AwaitStart sees.
	// Nil means none.
	Logger *slog.Logger
}

func (c LobbyConfig) member() map[string]string {
	name := c.Player
	if name == "" {
		name = "Player"
	}
	if len(name) > lobby.MaxMetaValue {
		name = name[:lobby.MaxMetaValue]
	}
	return map[string]string{MemberName: name}
}

func (c LobbyConfig) create(defaultName string) (lobby.CreateData, error) {
	n := c.Players
	if n == 0 {
		n = arena.MinPlayers
	}
	if !arena.ValidPlayers(n) {
		return lobby.CreateData{}, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	if c.Map != nil {
		if _, err := arena.ParseMap(c.Map); err != nil {
			return lobby.CreateData{}, fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
	}
	name := c.Name
	if name == "" {
		name = defaultName
	}
	if len(name) > lobby.MaxNameLen {
		name = name[:lobby.MaxNameLen]
	}
	delay := broadcast.DefaultDelay
	switch {
	case c.SpectateDelay < 0:
		delay = 0
	case c.SpectateDelay > 0:
		delay = int(c.SpectateDelay * arena.TickRate / time.Second)
	}
	if delay > maxSpectateDelay {
		return lobby.CreateData{}, fmt.Errorf("%w: a spectator delay of %v, want at most a minute", ErrBadConfig, c.SpectateDelay)
	}
	return lobby.CreateData{
		Name: name, Game: LobbyGame, Private: c.Private, MaxMembers: n,
		Meta: map[string]string{MetaSeed: strconv.FormatUint(c.Seed, 10),
			MetaSpectateDelay: strconv.Itoa(delay)},
		Member: c.member(),
	}, nil
}

// spectateDelayOf returns the spectator delay a lobby state holds
// (MetaSpectateDelay, in frames), as broadcast.Config.Delay takes it (-1:
// none). Untrusted: a missing or malformed value is the default.
func spectateDelayOf(st lobby.State) int {
	d, err := strconv.Atoi(st.Meta[MetaSpectateDelay])
	switch {
	case err != nil || d < 0 || d > maxSpectateDelay:
		return broadcast.DefaultDelay
	case d == 0:
		return -1
	}
	return d
}

// Lobby is this player's place in a lobby before a match, online (on a
// rallypoint server) or on the LAN (hosted by this process, or by another
// player's). Its Client has the typed calls (chat, ready, settings, start)
// and the events; Play (or AwaitStart) turns the lobby's start into an
// Online match over the mesh.
//
// A Lobby is safe for concurrent use. Close leaves the lobby (and stops
// hosting); after Play the match owns the Lobby and closes it.
type Lobby struct {
	client *lobby.Client
	host   *lobby.Host // hosting on the LAN
	loop   bool
	seed   uint64
	delay  int       // the broadcast's delay (broadcast.Config.Delay)
	share  *mapShare // the lobby's map among its members; nil for a spectator or a rejoin
	log    *slog.Logger
	once   sync.Once
}

func newLobby(c *lobby.Client, h *lobby.Host, st lobby.State, loop bool) *Lobby {
	l := &Lobby{client: c, host: h, loop: loop, log: slog.New(slog.DiscardHandler)}
	l.seed, _ = strconv.ParseUint(st.Meta[MetaSeed], 10, 64) // untrusted: a missing seed is 0 for every member alike
	l.delay = spectateDelayOf(st)
	return l
}

// CreateLobby connects to a rallypoint server and creates an arena lobby
// with this player as host.
func CreateLobby(ctx context.Context, serverURL string, cfg LobbyConfig) (*Lobby, error) {
	d, err := cfg.create("Arena lobby")
	if err != nil {
		return nil, err
	}
	srv, err := parseServers(serverURL)
	if err != nil {
		return nil, err
	}
	c, err := lobby.Dial(ctx, srv.first, &lobby.ClientConfig{Signaling: srv.client()})
	if err != nil {
		return nil, fmt.Errorf("match: dialing the server: %w", err)
	}
	loop := srv.loop
	st, err := c.Create(ctx, d)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("match: creating a lobby: %w", err)
	}
	l := newLobby(c, nil, st, loop || cfg.Loopback)
	l.share = startMapShare(c, serverURL, l.loop, cfg, cfg.Map)
	return l, nil
}

// dialForCode checks a join code and the server's URL, and connects to the
// server: the lobby client, the normalized code, and whether the server is
// on a loopback address.
func dialForCode(ctx context.Context, serverURL, code string) (*lobby.Client, string, bool, error) {
	norm := lobby.NormalizeCode(code)
	if norm == "" {
		return nil, "", false, fmt.Errorf("%w: join code %q, want %d characters of %s", ErrBadConfig, code, lobby.CodeLen, lobby.CodeAlphabet)
	}
	srv, err := parseServers(serverURL)
	if err != nil {
		return nil, "", false, err
	}
	c, err := lobby.Dial(ctx, srv.first, &lobby.ClientConfig{Signaling: srv.client()})
	if err != nil {
		return nil, "", false, fmt.Errorf("match: dialing the server: %w", err)
	}
	return c, norm, srv.loop, nil
}

// JoinLobbyByCode connects to a rallypoint server and joins the lobby
// whose join code is code (6 characters of lobby.CodeAlphabet; case,
// spaces and dashes do not matter).
func JoinLobbyByCode(ctx context.Context, serverURL, code string, cfg LobbyConfig) (*Lobby, error) {
	c, norm, loop, err := dialForCode(ctx, serverURL, code)
	if err != nil {
		return nil, err
	}
	st, err := c.JoinByCode(ctx, norm, lobby.JoinOptions{Member: cfg.member()})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("match: joining lobby %s: %w", norm, err)
	}
	if st.Game != LobbyGame {
		c.Close()
		return nil, fmt.Errorf("%w: lobby %s is for the game %q, not %q", ErrBadConfig, norm, st.Game, LobbyGame)
	}
	l := newLobby(c, nil, st, loop || cfg.Loopback)
	l.share = startMapShare(c, serverURL, l.loop, cfg, nil)
	return l, nil
}

// Client returns the lobby client: State, Events, Chat, SetReady,
// SetSettings, Start and the rest.
func (l *Lobby) Client() *lobby.Client { return l.client }

// Host returns the LAN host when this process hosts the lobby, else nil.
func (l *Lobby) Host() *lobby.Host { return l.host }

// Seed returns the match seed the lobby was created with.
func (l *Lobby) Seed() uint64 { return l.seed }

// MapStatus returns where this player stands with the lobby's map: the
// zero MapStatus when the lobby offers none.
func (l *Lobby) MapStatus() MapStatus {
	if l.share == nil {
		return MapStatus{}
	}
	return l.share.Status()
}

// MapMissing says which members lack the map the lobby offers (a
// *content.MissingError naming them with their progress), or nil when
// every member has it or it offers none. The host starts only when it is
// nil.
func (l *Lobby) MapMissing(st lobby.State) error {
	if l.share != nil && l.share.offering() {
		if refs, _ := content.Offered(st); len(refs) == 0 {
			return fmt.Errorf("%w: the map's offer is not in the lobby yet", content.ErrMissing)
		}
	}
	return content.Missing(st)
}

// IsHost reports whether this player is the lobby's host now (the host
// role can move when a host leaves).
func (l *Lobby) IsHost() bool {
	st, ok := l.client.State()
	return ok && st.Host == l.client.ID()
}

// Play connects the mesh among the players of the lobby's start and starts
// the match, with this player's seat its place in r (the host first, then
// in join order). Call it with the lobby.Started event's Roster (or
// Client().Roster of Start's reply); it blocks until every peer is
// connected or ctx is done. The match owns l from then on: closing the
// match closes l, and so does a failure of Play.
func (l *Lobby) Play(ctx context.Context, r netcode.Roster, allBots bool) (*Online, error) {
	st, _ := l.client.State()
	m, err := l.share.layoutFor(st)
	if err != nil {
		l.Close()
		return nil, err
	}
	ms := l.MapStatus()
	l.share.stop() // every member has the map: its mesh is no longer needed
	l.log.Debug("connecting the match's mesh", "session", r.Session, "players", len(r.Players))
	connecting := time.Now()
	o, err := startOnline(ctx, l.client.Signaling(), r, l.loop, OnlineConfig{Seed: l.seed, AllBots: allBots, Map: m,
		broadcast: true, spectateDelay: l.delay}, l)
	l.log.Debug("the match's mesh is connected", "after", time.Since(connecting), "err", err)
	if err == nil && m != nil {
		o.mapInfo = &MapResult{ID: ms.ID.String(), Name: ms.Name, Source: ms.Source, CacheFile: ms.CacheFile}
		if ms.Source == MapSourceFetched {
			f := JSONSeconds(ms.Fetch)
			o.mapInfo.Fetch = &f
		}
	}
	if err == nil {
		// The match room's seats and this player's rejoin ticket
		// (RejoinTicket; a restarted process comes back with RejoinLAN
		// or OnlineConfig.Rejoin).
		o.client = l.client.Signaling()
	}
	return o, err
}

// AwaitStart is the lobby played by a bot (the headless mode): a member
// gets ready, the host starts once the lobby is full (its member limit,
// State.MaxMembers, which every member learns from the lobby, whoever
// hosts by then) and all the others are ready, and everyone plays on
// lobby.Started (see Play), with as many players as the start's roster
// holds. It blocks until then or until ctx is done; it fails when the
// player is kicked or the lobby ends (lobby.Closed: its host closed it,
// or a LAN host is gone). On an error before Play, l is still the
// caller's to close (Close is idempotent).
func (l *Lobby) AwaitStart(ctx context.Context, allBots bool) (*Online, error) {
	c := l.client
	unready := !l.IsHost()
	ready := func() error {
		if !unready {
			return nil
		}
		err := c.SetReady(ctx, true)
		switch {
		case err == nil:
			unready = false
		case errors.Is(err, signaling.ErrDisconnected):
			// The connection dropped under the call: the events say
			// whether it comes back (Resynced: try again) or the lobby
			// is over (Closed).
		default:
			return fmt.Errorf("match: getting ready: %w", err)
		}
		return nil
	}
	if err := ready(); err != nil {
		return nil, err
	}
	started := false
	check := func(st lobby.State) error {
		if started || st.Host != c.ID() || len(st.Members) < st.MaxMembers {
			return nil
		}
		for _, m := range st.Members {
			if m.ID != st.Host && !m.Ready {
				return nil
			}
		}
		if err := l.MapMissing(st); err != nil {
			// Members fetch the map; their progress reports change the
			// state, and the check runs again.
			var me *content.MissingError
			if errors.As(err, &me) && l.share != nil {
				l.share.setMissing(me)
			}
			return nil
		}
		if l.share != nil {
			l.share.setMissing(nil)
		}
		_, err := c.Start(ctx)
		switch {
		case err == nil || errors.Is(err, lobby.ErrStarted):
			started = true
		case errors.Is(err, lobby.ErrNotReady):
			// A member changed its mind or left meanwhile: the next
			// change says when to try again.
		default:
			return fmt.Errorf("match: starting the lobby: %w", err)
		}
		return nil
	}
	if st, ok := c.State(); ok {
		if err := check(st); err != nil {
			return nil, err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("match: waiting for the lobby to start: %w", ctx.Err())
		case ev, ok := <-c.Events():
			if !ok {
				return nil, fmt.Errorf("match: waiting for the lobby to start: %w", lobby.ErrClosed)
			}
			l.logEvent(ev)
			var err error
			switch ev := ev.(type) {
			case lobby.StateChanged:
				err = check(ev.State)
			case lobby.Resynced:
				if ev.Err != nil {
					return nil, fmt.Errorf("match: lost the lobby: %w", ev.Err)
				}
				if err = ready(); err == nil {
					err = check(ev.State)
				}
			case lobby.Closed:
				return nil, fmt.Errorf("match: the lobby ended: %w", ev.Err)
			case lobby.Kicked:
				return nil, fmt.Errorf("match: kicked from the lobby by %s", ev.By)
			case lobby.Started:
				return l.Play(ctx, ev.Roster, allBots)
			}
			if err != nil {
				return nil, err
			}
		}
	}
}

// setLogger makes log the lobby's logger; nil keeps none.
func (l *Lobby) setLogger(log *slog.Logger) {
	if log != nil {
		l.log = log
	}
}

// logEvent logs a lobby event at debug level.
func (l *Lobby) logEvent(ev lobby.Event) {
	switch ev := ev.(type) {
	case lobby.StateChanged:
		ready := 0
		for _, m := range ev.State.Members {
			if m.Ready {
				ready++
			}
		}
		l.log.Debug("lobby state", "version", ev.State.Version, "members", len(ev.State.Members), "max", ev.State.MaxMembers, "ready", ready)
	case lobby.Resynced:
		l.log.Debug("lobby resynced", "version", ev.State.Version, "members", len(ev.State.Members), "err", ev.Err)
	case lobby.Disconnected:
		l.log.Debug("lobby connection dropped", "err", ev.Err)
	case lobby.Reconnected:
		l.log.Debug("lobby connection back", "resumed", ev.Resumed)
	case lobby.Closed:
		l.log.Debug("lobby closed", "err", ev.Err)
	case lobby.Kicked:
		l.log.Debug("kicked", "by", ev.By)
	case lobby.Started:
		l.log.Debug("lobby started", "session", ev.Session.ID, "peers", len(ev.Session.Peers))
	}
}

// Close leaves the lobby and, when this process hosts it, stops hosting
// (with a DNS-SD goodbye). Close is idempotent.
func (l *Lobby) Close() error {
	l.once.Do(func() {
		l.share.stop()
		l.client.Close()
		if l.host != nil {
			l.host.Close()
		}
	})
	return nil
}
