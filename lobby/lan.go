package lobby

import (
	"time"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
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
	// HostTTL is the TTL of a Host's address, SRV and TXT records: how long
	// browsers keep its lobby when the host dies without a goodbye. Zero
	// means 120 s (RFC 6762 §10).
	HostTTL time.Duration
	// NoProbe makes a Host announce at once instead of first checking, for
	// about a second, that its lobby's name is free on the link (RFC 6762
	// §8.1). On a conflict a probing Host renames the lobby "NAME (2)".
	NoProbe bool
	// Logf, when set, receives mDNS diagnostics (send errors, dropped
	// packets). Nil means silence.
	Logf func(format string, args ...any)
}

func (c LANConfig) node() dnssd.Config {
	return dnssd.Config{Interfaces: c.Interfaces, Network: c.Network, HostName: c.HostName,
		HostTTL: c.HostTTL, NoProbe: c.NoProbe, Logf: c.Logf}
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
