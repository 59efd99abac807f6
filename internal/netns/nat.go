package netns

import (
	"fmt"
	"strings"
)

// NATKind selects how a NAT router maps its inside addresses.
type NATKind int

// NAT kinds.
const (
	// NATCone is iptables' plain MASQUERADE: a socket keeps its port on
	// the outside whatever it sends to (endpoint-independent mapping), so
	// both sides of a pair that send to each other's server-reflexive
	// address open the way (UDP hole punching).
	NATCone NATKind = iota
	// NATSymmetric is MASQUERADE --random-fully: every destination gets a
	// new random outside port, so a server-reflexive address learned from
	// a STUN server is useless to a peer and only a relay connects.
	NATSymmetric
)

// String returns the kind's name.
func (k NATKind) String() string {
	if k == NATSymmetric {
		return "symmetric"
	}
	return "cone"
}

// IPTables runs iptables with args inside ns and fails the test on error.
func (ns *NS) IPTables(args ...string) {
	ns.lab.t.Helper()
	if out, err := ns.Run("iptables", append([]string{"-w"}, args...)...); err != nil {
		ns.lab.t.Fatalf("netns: iptables %s in %s: %v\n%s", strings.Join(args, " "), ns.Name, err, out)
	}
}

// Route runs "ip route add args..." inside ns and fails the test on error.
func (ns *NS) Route(args ...string) {
	ns.lab.t.Helper()
	ns.lab.ip(append([]string{"-n", ns.Name, "route", "add"}, args...)...)
}

// Forward makes ns forward IPv4 packets between its interfaces: a
// router.
func (ns *NS) Forward() {
	ns.lab.t.Helper()
	if o, err := ns.Run("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		ns.lab.t.Fatalf("netns: ip_forward in %s: %v\n%s", ns.Name, err, o)
	}
}

// NAT makes ns a router that forwards between its interfaces and
// translates what leaves through out (an interface of ns) as kind says:
// the namespaces behind it reach the outside from out's address, and the
// outside reaches them only through the mappings their own packets made.
func (ns *NS) NAT(out Iface, kind NATKind) {
	l := ns.lab
	l.t.Helper()
	if out.NS != ns {
		l.t.Fatalf("netns: NAT in %s through %s's interface", ns.Name, out.NS.Name)
	}
	ns.Forward()
	args := []string{"-t", "nat", "-A", "POSTROUTING", "-o", out.Name, "-j", "MASQUERADE"}
	if kind == NATSymmetric {
		args = append(args, "--random-fully")
	}
	ns.IPTables(args...)
	// A packet from outside that matches no mapping is dropped before
	// conntrack confirms an entry for it: otherwise that entry (outside
	// peer → router's port) would take the port from the mapping the
	// inside host's own first packet to the same peer is about to make,
	// and MASQUERADE would pick another port, as when two peers punch a
	// hole at the same time.
	ns.IPTables("-A", "INPUT", "-i", out.Name, "-j", "DROP")
}

// DropUnrouted gives ns a route for cidr that leads into a namespace of
// its own where packets vanish (it forwards nothing and answers nothing):
// sends to such an address succeed and nothing arrives, as on the
// internet for a private address behind someone else's NAT (a TURN server
// that gets an error for such a send, ENETUNREACH without the route,
// tears the whole allocation down). Routes of ns's own links, more
// specific, still win.
func (ns *NS) DropUnrouted(cidr string) {
	l := ns.lab
	l.t.Helper()
	ns.mu.Lock()
	n := ns.voids
	ns.voids++
	ns.mu.Unlock()
	void := l.NS(fmt.Sprintf("%s-void%d", strings.TrimPrefix(ns.Name, l.prefix+"-"), n))
	_, vi := l.Link(ns, void, LinkOptions{})
	if o, err := void.Run("sysctl", "-qw", "net.ipv4.ip_forward=0"); err != nil {
		l.t.Fatalf("netns: ip_forward in %s: %v\n%s", void.Name, err, o)
	}
	void.IPTables("-A", "INPUT", "-j", "DROP")
	void.IPTables("-A", "FORWARD", "-j", "DROP")
	ns.Route(cidr, "via", vi.IPv4)
}
