package lobby

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
	"github.com/rallypoint/rallypoint/signaling"
)

// LANServiceType is the DNS-SD service type LAN lobbies are advertised
// under (RFC 6763 §7), for tools such as `avahi-browse -r _rallypoint._tcp`.
const LANServiceType = "_rallypoint._tcp"

// LANConfig configures the mDNS/DNS-SD side of a Host or a Browser. The zero
// value uses every multicast interface and both IP families.
type LANConfig struct {
	// Interfaces names the network interfaces to use. Empty means every
	// interface that is up, has the MULTICAST flag and is not a loopback
	// (or, when there is none, a multicast-capable loopback).
	Interfaces []string
	// Network selects the IP families: "ip4", "ip6", or "" for both.
	Network string
	// HostName is the single-label host name a Host advertises, such as
	// "alice-pc". Empty means the system host name with a random suffix,
	// so that several processes on one machine never clash.
	HostName string
	// HostTTL is the TTL of all a Host's records (PTR, SRV, TXT and
	// addresses): how long browsers keep its lobby when the host dies
	// without a goodbye. Zero means DefaultHostTTL (100 s). The PTR record
	// gets it too, instead of RFC 6762's 75 minutes, because the PTR is
	// what a standard browser (avahi-browse) lists: with 100 s it drops a
	// dead host's lobby within 2 minutes of the host's last answer.
	// Browsers that raise short PTR TTLs keep it longer (python-zeroconf:
	// 1125 s).
	HostTTL time.Duration
	// NoProbe makes a Host announce at once instead of first checking, for
	// about a second, that its lobby's name is free on the link (RFC 6762
	// §8.1). On a conflict a probing Host renames the lobby "NAME (2)".
	NoProbe bool
	// Logf, when set, receives mDNS diagnostics (send errors, dropped
	// packets). Nil means silence.
	Logf func(format string, args ...any)
}

// DefaultHostTTL is LANConfig.HostTTL's zero value.
const DefaultHostTTL = 100 * time.Second

func (c LANConfig) node() dnssd.Config {
	ttl := c.HostTTL
	if ttl <= 0 {
		ttl = DefaultHostTTL
	}
	return dnssd.Config{Interfaces: c.Interfaces, Network: c.Network, HostName: c.HostName,
		HostTTL: ttl, ServiceTTL: ttl, NoProbe: c.NoProbe, Logf: c.Logf}
}

// The keep-alive of a LAN lobby's connections. A Host's signaling server
// pings every member every LANPingInterval; a client dialed by DialLAN
// drops a connection that stays silent for LANIdleTimeout, so that a host
// that is gone without closing its connections (switched off, unplugged,
// stopped) is noticed within LANIdleTimeout plus ClientConfig.HostSilence.
// A host that closes or whose process dies closes its connections, which
// members notice at once (then ClientConfig.HostGrace). LANIdleTimeout is
// several ping intervals, not two: on a lossy LAN (10 to 25% of packets
// lost) TCP's retransmissions hold a ping back for seconds now and then,
// and a member that dropped a live host has to win a reconnect, whose
// handshakes lose packets too, within HostSilence.
const (
	LANPingInterval = time.Second
	LANIdleTimeout  = 5 * time.Second
)

// DialLAN connects to the Host of l, trying its addresses in order
// (LANLobby.Addrs), and returns a client in LAN mode (ClientConfig.LAN set,
// and a signaling IdleTimeout of LANIdleTimeout unless cfg sets one): when
// the host closes the lobby or is gone, the client reports Closed. It does
// not join: call Join with l.ID. cfg may be nil.
func DialLAN(ctx context.Context, l LANLobby, cfg *ClientConfig) (*Client, error) {
	var c ClientConfig
	if cfg != nil {
		c = *cfg
	}
	c.LAN = true
	var sc signaling.ClientConfig
	if c.Signaling != nil {
		sc = *c.Signaling
	}
	if sc.IdleTimeout == 0 {
		sc.IdleTimeout = LANIdleTimeout
	}
	c.Signaling = &sc
	var errs []error
	for _, ap := range l.Addrs {
		cl, err := Dial(ctx, l.URLFor(ap), &c)
		if err == nil {
			return cl, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("lobby: dialing the LAN lobby %q: %w", l.Name, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", ap, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("lobby: dialing the LAN lobby %q: no address", l.Name)
	}
	return nil, fmt.Errorf("lobby: dialing the LAN lobby %q: no address answered: %w", l.Name, errors.Join(errs...))
}

// LANEventKind says what happened to a LAN lobby. Only append to this list.
type LANEventKind uint8

// The kinds of LANEvent.
const (
	// LANAdded: the lobby is advertised and reported for the first time.
	LANAdded LANEventKind = iota + 1
	// LANUpdated: its TXT (player count, name) or addresses changed.
	LANUpdated
	// LANRemoved: its host said goodbye, its records expired, or it no
	// longer passes the Browser's filter. Nothing follows for it unless it
	// is added again.
	LANRemoved
)

// String returns "added", "updated" or "removed".
func (k LANEventKind) String() string {
	switch k {
	case LANAdded:
		return "added"
	case LANUpdated:
		return "updated"
	case LANRemoved:
		return "removed"
	}
	return "unknown"
}
