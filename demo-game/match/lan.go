package match

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// HostLAN hosts an arena lobby on the local network, where there is no
// server: this process serves the signaling and lobby protocol itself
// (lobby.NewHost) and advertises the lobby over mDNS/DNS-SD, with this
// player as host. It returns once the advertisement is announced (probing
// the name takes about a second).
func HostLAN(ctx context.Context, cfg LobbyConfig) (*Lobby, error) {
	host, _ := os.Hostname()
	d, err := cfg.create("Arena on " + host)
	if err != nil {
		return nil, err
	}
	hc := lobby.HostConfig{
		Addr:  cfg.Addr,
		Lobby: d,
		LAN:   lobby.LANConfig{Interfaces: cfg.Interfaces},
	}
	if cfg.Logger != nil {
		hc.Signaling.Logger = cfg.Logger.With("side", "server")
		hc.Client = &lobby.ClientConfig{Signaling: &signaling.ClientConfig{Logger: cfg.Logger.With("side", "client")}}
	}
	h, err := lobby.NewHost(ctx, hc)
	if err != nil {
		return nil, fmt.Errorf("match: hosting on the LAN: %w", err)
	}
	st, _ := h.Client().State()
	// The host's own client dials its server on loopback.
	l := newLobby(h.Client(), h, st, true)
	l.setLogger(cfg.Logger)
	l.share = startMapShare(h.Client(), h.URL(), true, cfg, cfg.Map)
	return l, nil
}

// BrowseLAN starts a live list of the arena lobbies hosted on the LAN
// (lobby.Browse, filtered on LobbyGame), until its Close or ctx ends.
func BrowseLAN(ctx context.Context, cfg LobbyConfig) (*lobby.Browser, error) {
	b, err := lobby.Browse(ctx, lobby.BrowseConfig{Game: LobbyGame, LAN: lobby.LANConfig{Interfaces: cfg.Interfaces}})
	if err != nil {
		return nil, fmt.Errorf("match: browsing the LAN: %w", err)
	}
	return b, nil
}

// FindLAN returns the first arena lobby found on the LAN with a free seat
// and no password, waiting until ctx ends.
func FindLAN(ctx context.Context, cfg LobbyConfig) (lobby.LANLobby, error) {
	b, err := BrowseLAN(ctx, cfg)
	if err != nil {
		return lobby.LANLobby{}, err
	}
	defer b.Close()
	for {
		select {
		case <-ctx.Done():
			return lobby.LANLobby{}, fmt.Errorf("match: no LAN lobby found: %w", ctx.Err())
		case ev, ok := <-b.Events():
			if !ok {
				return lobby.LANLobby{}, fmt.Errorf("match: no LAN lobby found: browsing ended: %w", context.Cause(ctx))
			}
			if ev.Kind != lobby.LANRemoved && ev.Lobby.Players < ev.Lobby.Max && !ev.Lobby.Password {
				return ev.Lobby, nil
			}
		}
	}
}

// JoinLAN joins a lobby found with BrowseLAN or FindLAN, trying the host's
// addresses in order. The client is in LAN mode (lobby.DialLAN): when the
// host closes the lobby or is gone, its events report lobby.Closed.
//
// A try that failed on the way (no address answered within the dial's
// handshake timeout, the connection dropped before the join's reply) is
// made again, after 250 ms and then twice as long each time up to 4 s,
// until ctx ends: on a lossy LAN a TCP handshake alone can take longer
// than a dial's timeout. A refusal by the host (a coded lobby error such
// as lobby.ErrFull, or a refused upgrade) ends it at once.
func JoinLAN(ctx context.Context, l lobby.LANLobby, cfg LobbyConfig) (*Lobby, error) {
	if len(l.Addrs) == 0 {
		return nil, fmt.Errorf("%w: LAN lobby %q has no address", ErrBadConfig, l.Name)
	}
	wait := 250 * time.Millisecond
	for {
		lb, err := joinLANOnce(ctx, l, cfg)
		if err == nil || ctx.Err() != nil || refused(err) {
			return lb, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (then %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 4*time.Second)
	}
}

// refused says whether err is the host's answer rather than a failure on
// the way: a coded service error or a refused WebSocket upgrade.
func refused(err error) bool {
	var se *signaling.ServiceError
	var he *signaling.HTTPError
	return errors.As(err, &se) || errors.As(err, &he)
}

// joinLANOnce is one try of JoinLAN over the host's addresses.
func joinLANOnce(ctx context.Context, l lobby.LANLobby, cfg LobbyConfig) (*Lobby, error) {
	var errs []error
	for _, ap := range l.Addrs {
		one := l
		one.Addrs = []netip.AddrPort{ap}
		var lc *lobby.ClientConfig
		if cfg.Logger != nil {
			lc = &lobby.ClientConfig{Signaling: &signaling.ClientConfig{Logger: cfg.Logger.With("side", "client")}}
		}
		c, err := lobby.DialLAN(ctx, one, lc)
		if err != nil {
			if cfg.Logger != nil {
				cfg.Logger.Debug("dialing the LAN lobby failed", "addr", ap, "err", err)
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("match: joining %q: %w", l.Name, err)
			}
			errs = append(errs, err)
			continue
		}
		st, err := c.Join(ctx, l.ID, lobby.JoinOptions{Member: cfg.member()})
		if err != nil {
			if cfg.Logger != nil {
				cfg.Logger.Debug("joining the LAN lobby failed", "addr", ap, "err", err)
			}
			c.Close()
			return nil, fmt.Errorf("match: joining %q: %w", l.Name, err)
		}
		loop, _ := checkURL(l.URLFor(ap))
		lb := newLobby(c, nil, st, loop || cfg.Loopback)
		lb.setLogger(cfg.Logger)
		lb.share = startMapShare(c, l.URLFor(ap), lb.loop, cfg, nil)
		return lb, nil
	}
	return nil, fmt.Errorf("match: joining %q: no address answered: %w", l.Name, errors.Join(errs...))
}

// RejoinLAN takes a restarted player back into its LAN match with the
// rejoin ticket its previous process printed (Online.RejoinTicket): it
// browses the LAN for arena lobbies, asks each host it finds (every
// address in turn) to seat this player again (lobby.Client.Rejoin: only
// the host that issued the ticket accepts it), connects the mesh to the
// match's peers and starts the session that rejoins the match in progress
// (rollback.Config.Rejoin), with a bot in the seat when allBots. It waits
// until then or until ctx ends.
func RejoinLAN(ctx context.Context, ticket string, cfg LobbyConfig, allBots bool) (*Online, error) {
	if _, _, ok := signaling.TicketSeat(ticket); !ok {
		return nil, fmt.Errorf("%w: %q is not a rejoin ticket", ErrBadConfig, ticket)
	}
	b, err := BrowseLAN(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var errs []error
	tried := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("match: no LAN host took the rejoin ticket: %w", errors.Join(append(errs, ctx.Err())...))
		case ev, ok := <-b.Events():
			if !ok {
				return nil, fmt.Errorf("match: no LAN host took the rejoin ticket: browsing ended: %w", context.Cause(ctx))
			}
			if ev.Kind == lobby.LANRemoved {
				continue
			}
			for _, ap := range ev.Lobby.Addrs {
				key := ev.Lobby.ID + "@" + ap.String()
				if tried[key] {
					continue
				}
				tried[key] = true
				o, err := rejoinAt(ctx, ev.Lobby, ap, ticket, cfg, allBots)
				if err == nil {
					return o, nil
				}
				if ctx.Err() != nil {
					return nil, err
				}
				errs = append(errs, err)
			}
		}
	}
}

// rejoinAt rejoins the match of ticket through the LAN host of l at ap.
func rejoinAt(ctx context.Context, l lobby.LANLobby, ap netip.AddrPort, ticket string, cfg LobbyConfig, allBots bool) (*Online, error) {
	one := l
	one.Addrs = []netip.AddrPort{ap}
	c, err := lobby.DialLAN(ctx, one, nil)
	if err != nil {
		return nil, fmt.Errorf("match: rejoining through %q at %v: %w", l.Name, ap, err)
	}
	st, r, err := c.Rejoin(ctx, ticket, lobby.JoinOptions{Member: cfg.member()})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("match: rejoining through %q at %v: %w", l.Name, ap, err)
	}
	loop, _ := checkURL(l.URLFor(ap))
	lb := newLobby(c, nil, st, loop || cfg.Loopback)
	o, err := startOnline(ctx, c.Signaling(), r, lb.loop, OnlineConfig{Seed: lb.seed, AllBots: allBots, Rejoin: ticket, broadcast: true}, lb)
	if err != nil {
		return nil, err
	}
	o.client = c.Signaling()
	return o, nil
}
