package lobby

import (
	"context"
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// LANMatchConfig configures MatchLAN. Game is the only field a match cannot
// do without.
type LANMatchConfig struct {
	// Host makes this player the host: its process serves the lobby and
	// advertises it on the LAN (NewHost), and starts the match once the
	// lobby is full and every member is ready. False: join the first open
	// lobby of Game found on the LAN and get ready.
	Host bool
	// Game names the game. A host advertises it; a joiner joins only
	// lobbies of this game.
	Game string
	// Players is the size of the match the host waits for: the hosted
	// lobby's member limit. Zero means 2. Joiners ignore it: the host's
	// lobby decides, and the roster says how many play.
	Players int
	// Name is the hosted lobby's name. Empty means "Lobby on HOSTNAME".
	Name string
	// Member is this player's member metadata (a nickname, a colour).
	// Nil means none.
	Member map[string]string
	// Addr is the address a host listens on. Empty means ":0".
	Addr string
	// LAN configures mDNS/DNS-SD (interfaces, TTLs). The zero value uses
	// every multicast interface.
	LAN LANConfig
	// Migrate moves the lobby when its host's process is gone before the
	// start (ErrHostGone; not when the host closes the lobby): the member
	// that joined first among those left takes over, hosting a new lobby
	// of the same name, game and metadata, one seat smaller (the host's),
	// advertised with the old lobby's id under the TXT key TXTFrom; the
	// others find it by that key, join and get ready, and the new host
	// starts once it is full. Each member picks the successor from the
	// lobby as it last saw it: the member that joined first is in every
	// later member's view. False: MatchLAN fails with ErrHostGone.
	Migrate bool
}

// LANMatch is a match that started in a LAN lobby: who plays, and the
// connection the mesh signals over until every peer is connected.
type LANMatch struct {
	// Client is this player's lobby client. Its signaling connection is in
	// the match's room: pass Signaling() to the mesh.
	Client *Client
	// Host is the lobby's Host when this player hosts, else nil. It keeps
	// serving while the match runs, for the mesh's signals.
	Host *Host
	// Session is the start's descriptor, and Roster the match as the mesh
	// and the rollback session take it (Session.Roster).
	Session Session
	Roster  netcode.Roster

	last State // the lobby as last seen before the start
}

// Signaling returns the signaling connection in the match's room, which
// satisfies netcode.Signaler.
func (m *LANMatch) Signaling() *signaling.Client { return m.Client.Signaling() }

// Close leaves the lobby and, when this player hosts, stops serving it and
// says goodbye on the LAN. Peers whose mesh is up keep playing. Close is
// idempotent.
func (m *LANMatch) Close() error {
	err := m.Client.Close()
	if m.Host != nil {
		err = errors.Join(err, m.Host.Close())
	}
	return err
}

// MatchLAN hosts or joins a LAN lobby of cfg.Game and returns once its match
// starts: the host starts it when the lobby has cfg.Players members and
// every other member is ready; a joiner gets ready and waits for the host.
// A joiner tries the lobbies it finds in the order they appear, skipping
// full, started and password-protected ones. It returns an error satisfying
// errors.Is(err, ctx.Err()) when ctx ends first, and an error when the
// lobby closes (ErrLobbyClosed), its host is gone (ErrHostGone) or the player
// is kicked (ErrKicked); on error nothing is left open.
func MatchLAN(ctx context.Context, cfg LANMatchConfig) (*LANMatch, error) {
	if cfg.Game == "" {
		return nil, fmt.Errorf("%w: LANMatchConfig.Game is empty", ErrInvalid)
	}
	var m *LANMatch
	var err error
	if cfg.Host {
		m, err = hostLANMatch(ctx, cfg)
	} else {
		m, err = joinLANMatch(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	for {
		err := m.awaitStart(ctx, cfg)
		if err == nil {
			return m, nil
		}
		m.Close()
		if !cfg.Migrate || m.Host != nil || !errors.Is(err, ErrHostGone) {
			return nil, err
		}
		if m, err = m.migrate(ctx, cfg); err != nil {
			return nil, err
		}
		if m.Host != nil {
			cfg.Host = true
		}
	}
}

// migrate takes the lobby over from a host that is gone: the member that
// joined first among those left hosts a new lobby one seat smaller, the
// others find it by its TXTFrom key and join it.
func (m *LANMatch) migrate(ctx context.Context, cfg LANMatchConfig) (*LANMatch, error) {
	old, self := m.last, m.Client.ID()
	var left []Member
	for _, mem := range old.Members {
		if mem.ID != old.Host {
			left = append(left, mem)
		}
	}
	size := old.MaxMembers - 1 // the host's seat goes with it
	if len(left) == 0 || size < 2 || old.ID == "" {
		return nil, fmt.Errorf("lobby: the LAN lobby's host is gone, leaving no match to play: %w", ErrHostGone)
	}
	if left[0].ID == self {
		h, err := NewHost(ctx, HostConfig{Addr: cfg.Addr, LAN: cfg.LAN, from: old.ID,
			Lobby: CreateData{Name: old.Name, Game: old.Game, MaxMembers: size, Meta: old.Meta, Numbers: old.Numbers, Member: cfg.Member}})
		if err != nil {
			return nil, fmt.Errorf("lobby: taking the LAN lobby over: %w", err)
		}
		return &LANMatch{Client: h.Client(), Host: h}, nil
	}
	b, err := Browse(ctx, BrowseConfig{Game: old.Game, LAN: cfg.LAN})
	if err != nil {
		return nil, fmt.Errorf("lobby: browsing for the LAN lobby's new host: %w", err)
	}
	defer b.Close()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lobby: waiting for the LAN lobby's new host: %w", ctx.Err())
		case ev, ok := <-b.Events():
			if !ok {
				return nil, fmt.Errorf("lobby: waiting for the LAN lobby's new host: %w", context.Cause(ctx))
			}
			if from, _ := ev.Lobby.TXTValue(TXTFrom); ev.Kind == LANRemoved || from != old.ID {
				continue
			}
			c, err := joinLAN(ctx, ev.Lobby, cfg.Member)
			if err != nil {
				return nil, fmt.Errorf("lobby: joining the LAN lobby's new host: %w", err)
			}
			return &LANMatch{Client: c}, nil
		}
	}
}

func hostLANMatch(ctx context.Context, cfg LANMatchConfig) (*LANMatch, error) {
	n := cfg.Players
	if n == 0 {
		n = 2
	}
	h, err := NewHost(ctx, HostConfig{
		Addr: cfg.Addr,
		LAN:  cfg.LAN,
		Lobby: CreateData{Name: cfg.Name, Game: cfg.Game, MaxMembers: n,
			Member: cfg.Member},
	})
	if err != nil {
		return nil, fmt.Errorf("lobby: hosting a LAN match: %w", err)
	}
	return &LANMatch{Client: h.Client(), Host: h}, nil
}

func joinLANMatch(ctx context.Context, cfg LANMatchConfig) (*LANMatch, error) {
	b, err := Browse(ctx, BrowseConfig{Game: cfg.Game, LAN: cfg.LAN})
	if err != nil {
		return nil, fmt.Errorf("lobby: browsing for a LAN match: %w", err)
	}
	defer b.Close()
	var errs []error
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lobby: no LAN lobby of %q to join: %w", cfg.Game, errors.Join(append(errs, ctx.Err())...))
		case ev, ok := <-b.Events():
			if !ok {
				return nil, fmt.Errorf("lobby: browsing for a LAN match ended: %w", errors.Join(append(errs, context.Cause(ctx))...))
			}
			l := ev.Lobby
			if ev.Kind == LANRemoved || l.Players >= l.Max || l.Password {
				continue
			}
			c, err := joinLAN(ctx, l, cfg.Member)
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("lobby: joining %q: %w", l.Name, err)
				}
				errs = append(errs, err) // full or started meanwhile: try the next
				continue
			}
			return &LANMatch{Client: c}, nil
		}
	}
}

// joinLAN dials the lobby's host (DialLAN) and joins it, ready (unless the
// connection dropped under the ready request).
func joinLAN(ctx context.Context, l LANLobby, member map[string]string) (*Client, error) {
	c, err := DialLAN(ctx, l, nil)
	if err != nil {
		return nil, err
	}
	if _, err := c.Join(ctx, l.ID, JoinOptions{Member: member}); err != nil {
		c.Close()
		return nil, fmt.Errorf("lobby: joining %q: %w", l.Name, err)
	}
	if err := c.SetReady(ctx, true); err != nil && !errors.Is(err, signaling.ErrDisconnected) {
		c.Close()
		return nil, fmt.Errorf("lobby: getting ready in %q: %w", l.Name, err)
	}
	// A connection that dropped under SetReady is for awaitStart to sort
	// out: the host comes back (Resynced: ready again) or is gone (Closed).
	return c, nil
}

// awaitStart waits for the match to start; the host starts it once the
// lobby is full and every other member is ready.
func (m *LANMatch) awaitStart(ctx context.Context, cfg LANMatchConfig) error {
	c := m.Client
	asked := false
	check := func(st State) error {
		if !cfg.Host || asked || st.Host != c.ID() || len(st.Members) < st.MaxMembers {
			return nil
		}
		for _, mem := range st.Members {
			if mem.ID != st.Host && !mem.Ready {
				return nil
			}
		}
		_, err := c.Start(ctx)
		switch {
		case err == nil || errors.Is(err, ErrStarted):
			asked = true
		case errors.Is(err, ErrNotReady):
			// A member left or changed its mind meanwhile: the next
			// change says when to try again.
		default:
			return fmt.Errorf("lobby: starting the LAN match: %w", err)
		}
		return nil
	}
	if st, ok := c.State(); ok {
		m.last = st
		if err := check(st); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("lobby: waiting for the LAN match to start: %w", ctx.Err())
		case ev, ok := <-c.Events():
			if !ok {
				return fmt.Errorf("lobby: waiting for the LAN match to start: %w", ErrClosed)
			}
			var err error
			switch ev := ev.(type) {
			case StateChanged:
				m.last = ev.State
				err = check(ev.State)
			case Resynced:
				if ev.Err != nil {
					return fmt.Errorf("lobby: lost the LAN lobby: %w", ev.Err)
				}
				m.last = ev.State
				if me, ok := ev.State.Member(c.ID()); !cfg.Host && ok && !me.Ready {
					// A drop took the ready request: ask again.
					if err := c.SetReady(ctx, true); err != nil && !errors.Is(err, signaling.ErrDisconnected) {
						return fmt.Errorf("lobby: getting ready in the LAN lobby: %w", err)
					}
				}
				err = check(ev.State)
			case Closed:
				return fmt.Errorf("lobby: the LAN lobby ended: %w", ev.Err)
			case Kicked:
				return fmt.Errorf("lobby: kicked from the LAN lobby by %s: %w", ev.By, ErrKicked)
			case Started:
				m.Session, m.Roster = ev.Session, ev.Roster
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}
