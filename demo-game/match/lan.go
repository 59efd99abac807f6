package match

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby/dnssd"
	"github.com/rallypoint/rallypoint/signaling"
)

// The TXT keys of an advertised LAN match. "game" tells arena matches from
// other services of the same DNS-SD type.
const (
	lanGame    = "arena"
	lanVersion = "1"
)

// LANConfig configures hosting or finding a match on the local network,
// where there is no server: the host runs the signaling server itself and
// advertises it over mDNS/DNS-SD, and the others browse for it. The zero
// value is valid.
type LANConfig struct {
	// Name is the advertised lobby name. Empty means "Arena on HOSTNAME".
	Name string
	// Players is the match size the host advertises. Zero means
	// arena.MinPlayers. Ignored when joining: the host's value counts.
	Players int
	// Seed is the match seed the host advertises. Ignored when joining.
	Seed uint64
	// Interfaces limits mDNS to these interfaces. Nil means every
	// multicast-capable interface.
	Interfaces []string
	// Addr is the host's listen address for its signaling server. Empty
	// means ":0", every address on a free port.
	Addr string
}

// LANLobby is a match someone hosts on the local network.
type LANLobby struct {
	Name    string // the advertised name
	URL     string // the host's signaling endpoint
	Players int    // the match size
	Seed    uint64 // the match seed
}

// LANHost serves the signaling protocol for a LAN match and advertises it.
// It owns an HTTP server goroutine and an mDNS node; Close stops both.
type LANHost struct {
	ln    net.Listener
	srv   *signaling.Server
	hs    *http.Server
	node  *dnssd.Node
	reg   *dnssd.Registration
	lobby LANLobby
	done  chan error
	once  sync.Once
}

// HostLAN starts the signaling server and advertises the match. It returns
// once the advertisement is announced (probing the name takes about a
// second).
func HostLAN(ctx context.Context, cfg LANConfig) (_ *LANHost, err error) {
	n := cfg.Players
	if n == 0 {
		n = arena.MinPlayers
	}
	if !arena.ValidPlayers(n) {
		return nil, fmt.Errorf("%w: %d players, want %d to %d", ErrBadConfig, n, arena.MinPlayers, arena.MaxPlayers)
	}
	name := cfg.Name
	if name == "" {
		host, _ := os.Hostname()
		name = "Arena on " + host
		if len(name) > dnssd.MaxInstanceLen {
			name = name[:dnssd.MaxInstanceLen]
		}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":0"
	}
	h := &LANHost{done: make(chan error, 1)}
	defer func() {
		if err != nil {
			h.Close()
		}
	}()
	if h.ln, err = net.Listen("tcp", addr); err != nil {
		return nil, fmt.Errorf("match: LAN host: %w", err)
	}
	h.srv = signaling.NewServer(signaling.Config{})
	h.hs = &http.Server{Handler: h.srv}
	go func() { h.done <- h.hs.Serve(h.ln) }()
	port := h.ln.Addr().(*net.TCPAddr).Port
	h.lobby = LANLobby{Name: name, URL: fmt.Sprintf("ws://127.0.0.1:%d/ws", port), Players: n, Seed: cfg.Seed}
	if h.node, err = dnssd.New(dnssd.Config{Interfaces: cfg.Interfaces}); err != nil {
		return nil, fmt.Errorf("match: LAN host: %w", err)
	}
	h.reg, err = h.node.Advertise(ctx, dnssd.Service{
		Instance: name,
		Port:     uint16(port),
		TXT: []string{"v=" + lanVersion, "game=" + lanGame,
			"players=" + strconv.Itoa(n), "seed=" + strconv.FormatUint(cfg.Seed, 10)},
	})
	if err != nil {
		return nil, fmt.Errorf("match: LAN host: advertising: %w", err)
	}
	h.lobby.Name = h.reg.Service().Instance
	return h, nil
}

// Lobby returns the hosted match, with the URL the host itself dials.
func (h *LANHost) Lobby() LANLobby { return h.lobby }

// Close withdraws the advertisement (with a goodbye), stops the server and
// waits for it.
func (h *LANHost) Close() error {
	h.once.Do(func() {
		if h.reg != nil {
			h.reg.Close()
		}
		if h.node != nil {
			h.node.Close()
		}
		if h.srv != nil {
			h.srv.Close()
		}
		if h.hs != nil {
			h.hs.Close()
			if err := <-h.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintln(os.Stderr, "match: LAN host:", err)
			}
		} else if h.ln != nil {
			h.ln.Close()
		}
	})
	return nil
}

// LANEvent reports a lobby appearing on (Gone false) or leaving the LAN.
type LANEvent struct {
	Lobby LANLobby
	Gone  bool
}

// BrowseLAN reports arena matches hosted on the LAN until ctx ends, when it
// closes the channel. Lobbies that do not parse are skipped.
func BrowseLAN(ctx context.Context, cfg LANConfig) (<-chan LANEvent, error) {
	node, err := dnssd.New(dnssd.Config{Interfaces: cfg.Interfaces})
	if err != nil {
		return nil, fmt.Errorf("match: LAN browse: %w", err)
	}
	events, err := node.Browse(ctx, dnssd.DefaultType)
	if err != nil {
		node.Close()
		return nil, fmt.Errorf("match: LAN browse: %w", err)
	}
	out := make(chan LANEvent, 16)
	go func() {
		defer close(out)
		defer node.Close()
		for ev := range events {
			l, ok := parseLobby(ev)
			if !ok {
				continue
			}
			select {
			case out <- LANEvent{Lobby: l, Gone: ev.Kind == dnssd.Removed}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// parseLobby reads an arena lobby from a DNS-SD event (untrusted input).
func parseLobby(ev dnssd.Event) (LANLobby, bool) {
	if v, _ := dnssd.TXTValue(ev.TXT, "game"); v != lanGame {
		return LANLobby{}, false
	}
	if v, _ := dnssd.TXTValue(ev.TXT, "v"); v != lanVersion {
		return LANLobby{}, false
	}
	ps, _ := dnssd.TXTValue(ev.TXT, "players")
	n, err := strconv.Atoi(ps)
	if err != nil || !arena.ValidPlayers(n) {
		return LANLobby{}, false
	}
	ss, _ := dnssd.TXTValue(ev.TXT, "seed")
	seed, err := strconv.ParseUint(ss, 10, 64)
	if err != nil {
		return LANLobby{}, false
	}
	l := LANLobby{Name: ev.Instance, Players: n, Seed: seed}
	if ev.Kind == dnssd.Removed {
		return l, true
	}
	// Prefer IPv4, then a global IPv6 address, then link-local.
	var best string
	for _, ap := range ev.AddrPorts() {
		a := ap.Addr()
		if a.Is4() {
			best = ap.String()
			break
		}
		if best == "" || (!a.IsLinkLocalUnicast() && strings.Contains(best, "%")) {
			best = ap.String()
		}
	}
	if best == "" {
		return LANLobby{}, false
	}
	l.URL = "ws://" + strings.Replace(best, "%", "%25", 1) + "/ws" // a zone in a URL is escaped
	return l, true
}

// FindLAN returns the first arena match found on the LAN, waiting until ctx
// ends.
func FindLAN(ctx context.Context, cfg LANConfig) (LANLobby, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := BrowseLAN(ctx, cfg)
	if err != nil {
		return LANLobby{}, err
	}
	for ev := range events {
		if !ev.Gone {
			cancel()
			for range events { // let the browser wind down
			}
			return ev.Lobby, nil
		}
	}
	return LANLobby{}, fmt.Errorf("match: no LAN match found: %w", ctx.Err())
}

// LANMatch is a LAN match this process hosts: an Online session whose Close
// also stops the host's server and withdraws its advertisement.
type LANMatch struct {
	*Online
	host *LANHost
}

// HostLANMatch hosts a LAN match (see HostLAN), calls hosting once it is
// advertised, and waits for the players like DialOnline. The local seat is
// a bot when allBots is set.
func HostLANMatch(ctx context.Context, cfg LANConfig, allBots bool, hosting func(LANLobby)) (*LANMatch, error) {
	h, err := HostLAN(ctx, cfg)
	if err != nil {
		return nil, err
	}
	l := h.Lobby()
	if hosting != nil {
		hosting(l)
	}
	o, err := DialOnline(ctx, OnlineConfig{ServerURL: l.URL, Queue: "lan", Players: l.Players, Seed: l.Seed, AllBots: allBots})
	if err != nil {
		h.Close()
		return nil, err
	}
	return &LANMatch{Online: o, host: h}, nil
}

// Close ends the match and stops hosting.
func (m *LANMatch) Close() error {
	err := m.Online.Close()
	m.host.Close()
	return err
}

// JoinLAN joins a LAN match found with BrowseLAN or FindLAN.
func JoinLAN(ctx context.Context, l LANLobby, allBots bool) (*Online, error) {
	return DialOnline(ctx, OnlineConfig{ServerURL: l.URL, Queue: "lan", Players: l.Players, Seed: l.Seed, AllBots: allBots})
}
