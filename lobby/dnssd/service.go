package dnssd

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultType is the DNS-SD service type of Rallypoint LAN lobbies.
const DefaultType = "_rallypoint._tcp"

// Limits on what a Service may carry.
const (
	// MaxInstanceLen is the longest instance name in bytes (one DNS label).
	MaxInstanceLen = 63
	// MaxTXTLen bounds the encoded TXT record of one service. RFC 6763 §6.2
	// recommends staying under 1300 bytes so a whole response fits in one
	// Ethernet frame.
	MaxTXTLen = 1300
)

// Advertiser publishes services on the local link. *Node implements it.
type Advertiser interface {
	// Advertise announces s and answers queries for it until the
	// Registration is closed.
	Advertise(ctx context.Context, s Service) (*Registration, error)
}

// Browser discovers services on the local link. *Node implements it.
type Browser interface {
	// Browse reports instances of serviceType as they appear, change and
	// disappear. The channel is closed when ctx ends or the Node closes.
	Browse(ctx context.Context, serviceType string) (<-chan Event, error)
}

var (
	_ Advertiser = (*Node)(nil)
	_ Browser    = (*Node)(nil)
)

// Service is a DNS-SD service instance to advertise.
type Service struct {
	// Instance is the user-visible instance name, such as "Alice's lobby".
	// It is required: UTF-8, at most 63 bytes, no control characters. Dots
	// and spaces are allowed.
	Instance string
	// Type is the service type, "_name._tcp" or "_name._udp" (RFC 6763
	// §7). Empty means DefaultType.
	Type string
	// Port is the TCP or UDP port the service listens on. Required.
	Port uint16
	// TXT holds the TXT record's strings, conventionally "key=value"
	// (RFC 6763 §6). Each is at most 255 bytes and the whole record at most
	// MaxTXTLen bytes. Empty means an empty TXT record.
	TXT []string
	// Host is the host name the SRV record points to, a single label such
	// as "alice-pc" or a name ending in ".local.". Empty means the Node's
	// host name (Config.HostName). The Node answers address queries for it
	// with the addresses of the interface each answer leaves on.
	Host string
}

// EventKind tells what happened to a browsed instance.
type EventKind uint8

// The kinds of Event. Only append to this list.
const (
	// Added: the instance is complete (PTR, SRV and at least one address
	// known) and is reported for the first time.
	Added EventKind = iota + 1
	// Updated: the host, port, addresses or TXT of an added instance
	// changed.
	Updated
	// Removed: the instance said goodbye (TTL 0), or its PTR or SRV record
	// expired without being refreshed. No further events follow for it
	// unless it is Added again.
	Removed
)

// String returns "added", "updated" or "removed".
func (k EventKind) String() string {
	switch k {
	case Added:
		return "added"
	case Updated:
		return "updated"
	case Removed:
		return "removed"
	default:
		return "unknown"
	}
}

// Event reports a change of one service instance seen by Browse.
type Event struct {
	// Kind is what happened.
	Kind EventKind
	// Instance is the instance name, such as "Alice's lobby".
	Instance string
	// Type is the service type browsed for, such as "_rallypoint._tcp".
	Type string
	// Host is the target host of the SRV record, such as "alice-pc.local.".
	Host string
	// Port is the service's port.
	Port uint16
	// Addrs are the host's known IPv4 and IPv6 addresses, sorted. IPv6
	// link-local addresses carry the zone of the interface they were
	// learned on, so they can be dialed as they are.
	Addrs []netip.Addr
	// TXT holds the TXT record's strings.
	TXT []string
}

// AddrPorts returns the instance's addresses joined with its port, in the
// order to try them: IPv4 first, then routable IPv6, then IPv6 link-local
// (which carry their zone). Within a class the order of Addrs is kept.
func (e Event) AddrPorts() []netip.AddrPort {
	rank := func(a netip.Addr) int {
		switch {
		case a.Is4():
			return 0
		case a.IsLinkLocalUnicast():
			return 2
		default:
			return 1
		}
	}
	addrs := slices.Clone(e.Addrs)
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return rank(a) - rank(b) })
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a, e.Port))
	}
	return out
}

// TXTValue returns the value of key in txt, a TXT record's strings in the
// "key=value" form of RFC 6763 §6.3. Keys compare case-insensitively. A key
// present without "=" has the value "" and ok true. The first occurrence wins.
func TXTValue(txt []string, key string) (value string, ok bool) {
	for _, s := range txt {
		k, v, hasEq := strings.Cut(s, "=")
		if strings.EqualFold(k, key) {
			if !hasEq {
				return "", true
			}
			return v, true
		}
	}
	return "", false
}

// serviceTypeLabels validates a service type like "_rallypoint._tcp" and
// returns its two labels.
func serviceTypeLabels(t string) ([]string, bool) {
	t = strings.TrimSuffix(strings.TrimSuffix(t, "."), ".local")
	name, proto, ok := strings.Cut(t, ".")
	if !ok || (proto != "_tcp" && proto != "_udp") {
		return nil, false
	}
	// RFC 6763 §7.2: 1-15 characters after the underscore, letters, digits
	// and hyphens.
	if len(name) < 2 || len(name) > 16 || name[0] != '_' {
		return nil, false
	}
	for _, c := range name[1:] {
		if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil, false
		}
	}
	return []string{name, proto}, true
}

// typeName returns the FQDN of a service type ("_rallypoint._tcp.local.").
func typeName(labels []string) string { return joinName(labels[0], labels[1], "local") }

func validInstance(s string) (reason string) {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxInstanceLen:
		return "longer than 63 bytes"
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "contains control characters"
	}
	return ""
}

func txtSize(txt []string) int {
	if len(txt) == 0 {
		return 1
	}
	n := 0
	for _, s := range txt {
		n += 1 + len(s)
	}
	return n
}

func validTXT(txt []string) (reason string) {
	for _, s := range txt {
		if len(s) > 255 {
			return "a string is longer than 255 bytes"
		}
		if s == "" && len(txt) > 1 {
			return "empty string among others"
		}
		if strings.HasPrefix(s, "=") {
			return "a string has an empty key"
		}
	}
	if txtSize(txt) > MaxTXTLen {
		return "longer than 1300 bytes"
	}
	return ""
}

// hostFQDN turns a host given as a label or a .local name into an FQDN.
func hostFQDN(h string) (string, bool) {
	h = strings.TrimSuffix(h, ".")
	h = strings.TrimSuffix(h, ".local")
	if h == "" || len(h) > 63 || strings.ContainsAny(h, ".\\") || !utf8.ValidString(h) ||
		strings.IndexFunc(h, unicode.IsControl) >= 0 || strings.ContainsRune(h, ' ') {
		return "", false
	}
	return joinName(h, "local"), true
}

func cloneTXT(txt []string) []string { return slices.Clone(txt) }
