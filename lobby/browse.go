package lobby

import (
	"context"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

// LANLobby is a lobby advertised on the local network, as read from its
// DNS-SD records (untrusted input, checked by ParseLANLobby).
type LANLobby struct {
	// Instance is the DNS-SD instance name, unique on the link.
	Instance string
	// ID is the lobby id to pass to Client.Join.
	ID string
	// Name, Game, Players, Max and Password come from the TXT record.
	Name     string
	Game     string
	Players  int
	Max      int
	Password bool
	// Addrs are the host's addresses with the port, in the order to try
	// them (IPv4, routable IPv6, link-local IPv6 with its zone).
	Addrs []netip.AddrPort
	// URL is the signaling endpoint on the first of Addrs, for Dial.
	URL string
	// TXT is the whole TXT record, "key=value" strings, for keys of the
	// game's own (HostConfig.ExtraTXT); read them with TXTValue.
	TXT []string
}

// TXTValue returns the value of key in the lobby's TXT record (keys are
// case-insensitive, RFC 6763 §6.4); ok is false when the key is absent.
// A key present without "=" has an empty value.
func (l LANLobby) TXTValue(key string) (value string, ok bool) {
	return dnssd.TXTValue(l.TXT, key)
}

// URLFor returns the signaling endpoint of the lobby at ap.
func (l LANLobby) URLFor(ap netip.AddrPort) string {
	return lanURL(ap, wsPath)
}

func lanURL(ap netip.AddrPort, path string) string {
	host := ap.Addr().WithZone("").String()
	if z := ap.Addr().Zone(); z != "" {
		host += "%25" + z // a zone in a URL is escaped (RFC 6874)
	}
	if ap.Addr().Is6() {
		host = "[" + host + "]"
	}
	return "ws://" + host + ":" + strconv.Itoa(int(ap.Port())) + path
}

// ParseLANLobby reads a lobby from a DNS-SD service instance of
// LANServiceType: its instance name, its TXT record and its addresses with
// the port, in the order to try them. It reports false for services that
// are not Rallypoint lobbies of a protocol version this package speaks, or
// whose TXT record is malformed. A Browser calls it for every instance it
// sees; it is exported for games that browse DNS-SD themselves.
func ParseLANLobby(instance string, txtRecord []string, addrs []netip.AddrPort) (LANLobby, bool) {
	txt := func(k string) string { v, _ := dnssd.TXTValue(txtRecord, k); return v }
	if txt(TXTVersion) != strconv.Itoa(ProtocolVersion) {
		return LANLobby{}, false
	}
	l := LANLobby{Instance: instance, ID: txt(TXTID), Name: txt(TXTName), Game: txt(TXTGame), Password: txt(TXTPassword) == "1"}
	var err1, err2 error
	l.Players, err1 = strconv.Atoi(txt(TXTPlayers))
	l.Max, err2 = strconv.Atoi(txt(TXTMax))
	if err1 != nil || err2 != nil || l.Players < 0 || l.Max < 1 || l.Players > 1<<16 || l.Max > 1<<16 ||
		l.ID == "" || len(l.ID) > 64 || checkText("name", l.Name, MaxNameLen, false) != nil || checkText("game", l.Game, MaxGameLen, false) != nil {
		return LANLobby{}, false
	}
	path := txt(TXTPath)
	if path == "" {
		path = wsPath
	}
	if !strings.HasPrefix(path, "/") || len(path) > 64 || strings.ContainsAny(path, "?# ") {
		return LANLobby{}, false
	}
	if l.Name == "" {
		l.Name = instance
	}
	l.TXT = txtRecord
	l.Addrs = addrs
	if len(l.Addrs) > 0 {
		l.URL = lanURL(l.Addrs[0], path)
	}
	return l, true
}

// LANEvent reports a LAN lobby that appeared (LANAdded), changed
// (LANUpdated, for example its player count) or went away (LANRemoved: a
// goodbye, or its records expired). A removed Lobby is as last seen.
type LANEvent struct {
	Kind  LANEventKind
	Lobby LANLobby
}

// BrowseConfig configures Browse. The zero value is valid.
type BrowseConfig struct {
	// Game keeps only lobbies of this game. Empty means every game.
	Game string
	// LAN configures the mDNS/DNS-SD side (interfaces, IP families). The
	// zero value uses every multicast interface.
	LAN LANConfig
	// EventBuffer is the capacity of the Events channel; when it is full
	// the oldest event is dropped and counted (Lobbies stays exact). Zero
	// means 64.
	EventBuffer int
}

// Browser is a live list of the lobbies advertised on the local network.
type Browser struct {
	node    *dnssd.Node
	cancel  context.CancelFunc
	events  chan LANEvent
	done    chan struct{}
	once    sync.Once
	dropped atomic.Uint64

	mu      sync.Mutex
	lobbies map[string]LANLobby // by instance
}

// Browse starts browsing for LAN lobbies until Close or ctx ends.
func Browse(ctx context.Context, cfg BrowseConfig) (*Browser, error) {
	node, err := dnssd.New(cfg.LAN.node())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	evs, err := node.Browse(ctx, LANServiceType)
	if err != nil {
		cancel()
		node.Close()
		return nil, err
	}
	n := cfg.EventBuffer
	if n <= 0 {
		n = 64
	}
	b := &Browser{node: node, cancel: cancel, events: make(chan LANEvent, n), done: make(chan struct{}), lobbies: map[string]LANLobby{}}
	go b.run(evs, cfg.Game)
	return b, nil
}

func (b *Browser) run(evs <-chan dnssd.Event, game string) {
	defer close(b.done)
	defer close(b.events)
	for ev := range evs {
		b.mu.Lock()
		old, had := b.lobbies[ev.Instance]
		var out *LANEvent
		l, ok := ParseLANLobby(ev.Instance, ev.TXT, ev.AddrPorts())
		ok = ok && (game == "" || l.Game == game)
		switch {
		case ev.Kind == dnssd.Removed || !ok:
			if had {
				delete(b.lobbies, ev.Instance)
				out = &LANEvent{Kind: LANRemoved, Lobby: old}
			}
		case had:
			b.lobbies[ev.Instance] = l
			out = &LANEvent{Kind: LANUpdated, Lobby: l}
		default:
			b.lobbies[ev.Instance] = l
			out = &LANEvent{Kind: LANAdded, Lobby: l}
		}
		b.mu.Unlock()
		if out != nil {
			b.emit(*out)
		}
	}
}

func (b *Browser) emit(ev LANEvent) {
	for {
		select {
		case b.events <- ev:
			return
		default:
		}
		select {
		case <-b.events:
			b.dropped.Add(1)
		default:
		}
	}
}

// Events returns the channel of changes. It is closed when browsing ends.
func (b *Browser) Events() <-chan LANEvent { return b.events }

// DroppedEvents counts events dropped because Events was full.
func (b *Browser) DroppedEvents() uint64 { return b.dropped.Load() }

// Lobbies returns the lobbies known now, sorted by name then instance.
func (b *Browser) Lobbies() []LANLobby {
	b.mu.Lock()
	out := make([]LANLobby, 0, len(b.lobbies))
	for _, l := range b.lobbies {
		out = append(out, l)
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Instance < out[j].Instance
	})
	return out
}

// Close stops browsing, closes the mDNS node and waits for the browsing
// goroutine. Close is idempotent.
func (b *Browser) Close() error {
	b.once.Do(func() {
		b.cancel()
		_ = b.node.Close()
	})
	<-b.done
	return nil
}
