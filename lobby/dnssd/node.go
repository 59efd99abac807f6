package dnssd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Node. The zero value is valid: every interface that is
// up and multicast-capable, IPv4 and IPv6, the RFC's TTLs.
type Config struct {
	// Interfaces names the interfaces to use. Empty means every interface
	// that is up, has the MULTICAST flag and is not a loopback (or, when
	// there is none, a multicast-capable loopback).
	Interfaces []string
	// Network selects the IP families: "ip4", "ip6", or "" for both (a
	// family that cannot join its group on any interface is then left out
	// silently, as long as the other works).
	Network string
	// HostName is the host name advertised services point to by default: a
	// single label such as "alice-pc". Empty means the system host name
	// followed by "-" and six random hex digits, so that several processes
	// (or network namespaces sharing one host name) never claim the same
	// name with different addresses.
	HostName string
	// HostTTL is the TTL of SRV, TXT, A and AAAA records. Zero means 120 s
	// (RFC 6762 §10). Rounded down to whole seconds, at least one.
	HostTTL time.Duration
	// ServiceTTL is the TTL of PTR records. Zero means 75 minutes (RFC 6762
	// §10). Rounded down to whole seconds, at least one.
	ServiceTTL time.Duration
	// GoodbyeDelay is how long a browser keeps a record after its goodbye
	// (TTL 0) before reporting it gone. Zero means 800 ms: RFC 6762 §10.1
	// suggests one second, to let a correcting announcement arrive; 800 ms
	// keeps removal within one second of the goodbye.
	GoodbyeDelay time.Duration
	// NoProbe makes Advertise announce at once, without first probing that
	// the instance name is free on the link (RFC 6762 §8.1). False means
	// probe: Advertise takes 0.75 to 1 s and renames the instance on a
	// conflict (see Advertise).
	NoProbe bool
	// MaxCacheRecords bounds the records a Node remembers from the network.
	// Zero means 4096. When the cache is full, the records no browse uses
	// (other services', or a flood's) are dropped to make room; when every
	// record is in use, new ones are ignored.
	MaxCacheRecords int
	// MaxPendingEvents bounds the events queued for one Browse channel that
	// its reader has not taken yet. Zero means 4096. When full, the oldest
	// queued event is dropped and counted in Stats.EventsDropped.
	MaxPendingEvents int
	// Logf, when set, receives diagnostics (send errors, dropped packets).
	// Nil means silence.
	Logf func(format string, args ...any) `json:"-"`
}

// Stats counts what a Node did. All counters only grow.
type Stats struct {
	// PacketsReceived counts packets read from the network.
	PacketsReceived uint64
	// PacketsSent counts packets written.
	PacketsSent uint64
	// Malformed counts packets that failed to decode and were dropped.
	Malformed uint64
	// Ignored counts packets dropped unread: from interfaces the Node does
	// not use, from off-link sources, or responses not from port 5353.
	Ignored uint64
	// SendErrors counts failed writes.
	SendErrors uint64
	// QueriesAnswered counts queries that produced a response.
	QueriesAnswered uint64
	// EventsDropped counts Browse events dropped because the reader fell
	// MaxPendingEvents behind.
	EventsDropped uint64
}

// Node is an mDNS responder and querier on the local link: it advertises
// services (Advertiser) and browses for them (Browser). One goroutine owns
// all its state; the methods submit work to it and are safe for concurrent
// use. Close sends goodbyes for every open Registration and waits for every
// goroutine the Node started.
type Node struct {
	cfg    Config
	host   string // default host FQDN
	conns  []*mconn
	ifaces map[int]net.Interface
	v4, v6 bool

	ops  chan func()
	pkts chan inPacket
	quit chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	packetsReceived, packetsSent, malformed, ignored, sendErrors, answered, eventsDropped atomic.Uint64

	// Test hooks: nil means the sockets and the interfaces' real
	// addresses.
	sendHook   func(c *mconn, b []byte, ifindex int, dst netip.AddrPort) error
	prefixHook func(ifindex int) []netip.Prefix

	// Owned by the loop goroutine.
	regs      []*Registration
	probing   []*Registration
	browses   map[*browse]struct{}
	cache     *cache
	pending   []pendingSend
	lastMcast map[string]time.Time
	asked     map[string]askState
	addrCache map[int]addrCacheEntry
	// lastAddrs remembers each interface's addresses as last announced,
	// to announce again when they change; checked every addrCheck.
	lastAddrs     map[int][]netip.Addr
	nextAddrCheck time.Time
}

// addrCheck is how often a Node that advertises looks for address changes.
const addrCheck = 2 * time.Second

type inPacket struct {
	b       []byte
	ifindex int
	src     netip.AddrPort
	v6      bool
}

type pendingSend struct {
	at      time.Time
	conn    *mconn
	ifindex int
	msg     *message
}

type askState struct {
	last  time.Time
	count int
}

type addrCacheEntry struct {
	at       time.Time
	addrs    []netip.Addr
	prefixes []netip.Prefix
}

// New opens the mDNS sockets (UDP port 5353, shared with other mDNS stacks
// on the machine) on the configured interfaces and starts the Node.
func New(cfg Config) (*Node, error) {
	n := newNode(cfg)
	host := n.cfg.HostName
	if host == "" {
		host = defaultHostName()
	}
	var ok bool
	if n.host, ok = hostFQDN(host); !ok {
		return nil, fmt.Errorf("%w: host name %q", ErrInvalidName, host)
	}
	ifaces, err := selectInterfaces(n.cfg.Interfaces)
	if err != nil {
		return nil, err
	}
	var families []bool
	switch n.cfg.Network {
	case "":
		families = []bool{false, true}
	case "ip4":
		families = []bool{false}
	case "ip6":
		families = []bool{true}
	default:
		return nil, fmt.Errorf("dnssd: unknown network %q (want \"ip4\", \"ip6\" or \"\")", n.cfg.Network)
	}
	var errs []error
	for _, v6 := range families {
		c, joined, err := listenMulticast(v6, ifaces)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n.conns = append(n.conns, c)
		for _, ifc := range joined {
			n.ifaces[ifc.Index] = ifc
		}
		if v6 {
			n.v6 = true
		} else {
			n.v4 = true
		}
	}
	if len(n.conns) == 0 {
		return nil, errors.Join(errs...)
	}
	n.wg.Add(1 + len(n.conns))
	for _, c := range n.conns {
		go n.read(c)
	}
	go n.loop()
	return n, nil
}

// newNode returns a Node with cfg's defaults applied and no sockets.
func newNode(cfg Config) *Node {
	if cfg.HostTTL <= 0 {
		cfg.HostTTL = 120 * time.Second
	}
	if cfg.ServiceTTL <= 0 {
		cfg.ServiceTTL = 75 * time.Minute
	}
	cfg.HostTTL = max(cfg.HostTTL.Truncate(time.Second), time.Second)
	cfg.ServiceTTL = max(cfg.ServiceTTL.Truncate(time.Second), time.Second)
	if cfg.GoodbyeDelay <= 0 {
		cfg.GoodbyeDelay = 800 * time.Millisecond
	}
	if cfg.MaxCacheRecords <= 0 {
		cfg.MaxCacheRecords = 4096
	}
	if cfg.MaxPendingEvents <= 0 {
		cfg.MaxPendingEvents = 4096
	}
	n := &Node{
		cfg:       cfg,
		ifaces:    map[int]net.Interface{},
		ops:       make(chan func()),
		pkts:      make(chan inPacket, 64),
		quit:      make(chan struct{}),
		browses:   map[*browse]struct{}{},
		cache:     newCache(cfg.MaxCacheRecords, cfg.GoodbyeDelay),
		lastMcast: map[string]time.Time{},
		asked:     map[string]askState{},
		addrCache: map[int]addrCacheEntry{},
		lastAddrs: map[int][]netip.Addr{},
	}
	n.cache.keep = n.wanted // a full cache keeps what browses use
	return n
}

func defaultHostName() string {
	h, _ := os.Hostname()
	h, _, _ = strings.Cut(h, ".")
	h = strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, h)
	if len(h) > 40 {
		h = h[:40]
	}
	if h == "" {
		h = "rallypoint"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return h + "-" + hex.EncodeToString(b[:])
}

func selectInterfaces(names []string) ([]net.Interface, error) {
	if len(names) > 0 {
		var out []net.Interface
		for _, name := range names {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				return nil, &InterfaceError{Interface: name, Err: err}
			}
			if ifc.Flags&net.FlagMulticast == 0 {
				return nil, &InterfaceError{Interface: name, Err: ErrNoInterfaces}
			}
			out = append(out, *ifc)
		}
		return out, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out, loop []net.Interface
	for _, ifc := range all {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagMulticast == 0 {
			continue
		}
		if ifc.Flags&net.FlagLoopback != 0 {
			loop = append(loop, ifc)
			continue
		}
		out = append(out, ifc)
	}
	if len(out) == 0 {
		out = loop
	}
	if len(out) == 0 {
		return nil, ErrNoInterfaces
	}
	return out, nil
}

// HostName returns the Node's default host FQDN, such as "alice-pc.local.".
func (n *Node) HostName() string { return n.host }

// Interfaces returns the names of the interfaces the Node uses.
func (n *Node) Interfaces() []string {
	var out []string
	for _, ifc := range n.ifaces {
		out = append(out, ifc.Name)
	}
	slices.Sort(out)
	return out
}

// Stats returns the Node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		PacketsReceived: n.packetsReceived.Load(),
		PacketsSent:     n.packetsSent.Load(),
		Malformed:       n.malformed.Load(),
		Ignored:         n.ignored.Load(),
		SendErrors:      n.sendErrors.Load(),
		QueriesAnswered: n.answered.Load(),
		EventsDropped:   n.eventsDropped.Load(),
	}
}

// Close sends goodbyes for every open Registration, closes every Browse
// channel and the sockets, and waits for the Node's goroutines. It is
// idempotent; later calls return the first call's result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		done := make(chan struct{})
		n.ops <- func() {
			n.withdrawAll(time.Now())
			close(done)
		}
		<-done
		close(n.quit)
		var errs []error
		for _, c := range n.conns {
			errs = append(errs, c.close())
		}
		n.wg.Wait()
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// withdrawAll sends the goodbyes of every registration and fails the
// probing ones with ErrClosed.
func (n *Node) withdrawAll(now time.Time) {
	// One by one, so that the last goodbye for a host or type also
	// withdraws its address and enumeration records.
	for len(n.regs) > 0 {
		r := n.regs[0]
		n.regs = n.regs[1:]
		r.closed.Store(true)
		n.sendGoodbye(r, now)
	}
	for _, r := range n.probing {
		r.ready <- ErrClosed
	}
	n.regs, n.probing = nil, nil
}

// call runs f on the loop goroutine and returns its error.
func (n *Node) call(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	select {
	case n.ops <- func() { done <- f() }:
	case <-n.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// The loop runs every op it has received, so done always fills.
	return <-done
}

func (n *Node) logf(format string, args ...any) {
	if n.cfg.Logf != nil {
		n.cfg.Logf(format, args...)
	}
}

// read owns one socket's receive side.
func (n *Node) read(c *mconn) {
	defer n.wg.Done()
	buf := make([]byte, maxPacket+1)
	for {
		sz, ifindex, src, err := c.read(buf)
		if err != nil {
			select {
			case <-n.quit:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.logf("dnssd: read: %v", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		n.packetsReceived.Add(1)
		p := inPacket{b: append([]byte(nil), buf[:sz]...), ifindex: ifindex, src: src, v6: c.v6}
		select {
		case n.pkts <- p:
		case <-n.quit:
			return
		}
	}
}

// loop owns the Node's state: registrations, browses, the cache and every
// timer.
func (n *Node) loop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-n.quit:
			for b := range n.browses {
				b.finish()
			}
			return
		case f := <-n.ops:
			f()
		case p := <-n.pkts:
			n.handle(p, time.Now())
		case <-timer.C:
		}
		next := n.wake(time.Now())
		d := time.Hour
		if !next.IsZero() {
			d = max(time.Until(next), 0)
		}
		timer.Reset(d)
	}
}

// wake runs every timed task that is due at now and returns the time of the
// next one (zero when there is none).
func (n *Node) wake(now time.Time) time.Time {
	var next time.Time
	soon := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	// Delayed responses.
	keep := n.pending[:0]
	for _, p := range n.pending {
		if !p.at.After(now) {
			n.sendMsg(p.conn, p.ifindex, netip.AddrPort{}, p.msg)
			continue
		}
		keep = append(keep, p)
		soon(p.at)
	}
	clear(n.pending[len(keep):])
	n.pending = keep
	// Address changes, probes, then announcements.
	soon(n.checkAddrs(now))
	soon(n.probe(now))
	for _, r := range n.regs {
		if r.annLeft > 0 && !r.annNext.After(now) {
			n.announce(r, now)
			r.annLeft--
			r.annNext = now.Add(r.annGap)
			r.annGap *= 2
		}
		if r.annLeft > 0 {
			soon(r.annNext)
		}
	}
	// Cache expiry and refresh.
	if n.cache.expire(now) {
		n.updateBrowses(now)
	}
	if qs := n.cache.refresh(now, n.wanted); len(qs) > 0 {
		n.multicastQuery(qs, nil)
	}
	soon(n.cache.next())
	// Browse queries and resolution.
	for b := range n.browses {
		if !b.nextQuery.After(now) {
			n.multicastQuery([]question{{Name: b.typeFQDN, Type: typePTR, Class: classIN}}, n.knownPTRs(b.typeFQDN, now))
			b.nextQuery = now.Add(b.interval)
			b.interval = min(b.interval*2, time.Hour)
		}
		soon(b.nextQuery)
		soon(n.resolveMissing(b, now))
	}
	return next
}

// checkAddrs announces every registration again (twice, one second apart)
// when the addresses of an interface changed, so that browsers replace the
// old ones at once (the address records carry the cache-flush bit), and
// sends goodbyes for the addresses that went away. It runs only while the
// Node advertises, and returns when to look again.
func (n *Node) checkAddrs(now time.Time) time.Time {
	if len(n.regs) == 0 {
		clear(n.lastAddrs)
		return time.Time{}
	}
	if now.Before(n.nextAddrCheck) {
		return n.nextAddrCheck
	}
	n.nextAddrCheck = now.Add(addrCheck)
	changed := false
	for idx := range n.ifaces {
		addrs := n.ifaceAddrs(idx, now)
		old, seen := n.lastAddrs[idx]
		n.lastAddrs[idx] = addrs
		if !seen || slices.Equal(old, addrs) {
			continue
		}
		changed = true
		var gone []record
		hosts := map[string]bool{}
		for _, r := range n.regs {
			if hosts[nameKey(r.hostFQDN)] {
				continue
			}
			hosts[nameKey(r.hostFQDN)] = true
			for _, a := range old {
				if slices.Contains(addrs, a) {
					continue
				}
				typ := typeA
				if a.Is6() {
					typ = typeAAAA
				}
				gone = append(gone, record{Name: r.hostFQDN, Type: typ, Class: classIN, CacheFlush: true, Addr: a})
			}
		}
		if len(gone) > 0 {
			for _, c := range n.conns {
				if hasFamily(addrs, c.v6) {
					n.sendMsg(c, idx, netip.AddrPort{}, &message{Flags: flagResponse | flagAA, Answers: gone})
				}
			}
		}
	}
	if changed {
		for _, r := range n.regs {
			if r.annLeft < 2 {
				r.annLeft, r.annNext, r.annGap = 2, now, time.Second
			}
		}
	}
	return n.nextAddrCheck
}

func hasFamily(addrs []netip.Addr, v6 bool) bool {
	for _, a := range addrs {
		if a.Is6() == v6 {
			return true
		}
	}
	return false
}

// handle processes one received packet.
func (n *Node) handle(p inPacket, now time.Time) {
	if p.ifindex == 0 {
		// No arrival interface (no control messages on this system): take
		// the interface whose prefixes hold the source.
		p.ifindex = n.ifaceFor(p.src.Addr(), now)
	}
	if _, ok := n.ifaces[p.ifindex]; !ok || !n.onLink(p.src.Addr(), p.ifindex, now) {
		n.ignored.Add(1)
		return
	}
	m, err := parseMessage(p.b)
	if err != nil {
		n.malformed.Add(1)
		n.logf("dnssd: from %v: %v", p.src, err)
		return
	}
	conn := n.connFor(p.v6)
	if m.response() {
		// RFC 6762 §6: responses must come from port 5353; legacy
		// unicast answers to others are not for us.
		if p.src.Port() != mdnsPort {
			n.ignored.Add(1)
			return
		}
		n.probeConflicts(m, now)
		n.lateConflicts(m, p.src.Addr(), now)
		changed := false
		for _, sec := range [][]record{m.Answers, m.Additionals} {
			for _, r := range sec {
				if n.cache.add(r, p.ifindex, now, mrand.Float64()*0.02) {
					changed = true
				}
			}
		}
		if changed {
			n.updateBrowses(now)
		}
		return
	}
	if m.Flags&0x7800 != 0 { // opcode must be QUERY
		return
	}
	n.probeTiebreak(m, now)
	n.answerQuery(m, p, conn, now)
}

func (n *Node) connFor(v6 bool) *mconn {
	for _, c := range n.conns {
		if c.v6 == v6 {
			return c
		}
	}
	return nil
}

// ifname returns the name of interface ifindex.
func (n *Node) ifname(ifindex int) string {
	if ifc, ok := n.ifaces[ifindex]; ok {
		return ifc.Name
	}
	return ""
}

// ifaceAddrs returns the addresses of interface ifindex that the Node
// advertises (those of its families), cached for a second.
func (n *Node) ifaceAddrs(ifindex int, now time.Time) []netip.Addr {
	return n.ifaceInfo(ifindex, now).addrs
}

// ifaceInfo returns the addresses and prefixes of interface ifindex, cached
// for a second.
func (n *Node) ifaceInfo(ifindex int, now time.Time) addrCacheEntry {
	if c, ok := n.addrCache[ifindex]; ok && now.Sub(c.at) < time.Second && !c.at.After(now) {
		return c
	}
	var prefixes []netip.Prefix
	if n.prefixHook != nil {
		prefixes = n.prefixHook(ifindex)
	} else if ifc, err := net.InterfaceByIndex(ifindex); err == nil {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() && ones > 32 {
				ones -= 96
			}
			prefixes = append(prefixes, netip.PrefixFrom(ip, ones))
		}
	}
	c := addrCacheEntry{at: now}
	for _, p := range prefixes {
		if ip := p.Addr(); ip.Is4() && n.v4 || ip.Is6() && n.v6 {
			c.addrs = append(c.addrs, ip)
		}
		c.prefixes = append(c.prefixes, p)
	}
	n.addrCache[ifindex] = c
	return c
}

// ifaceFor returns the index of an interface src is on-link for (the only
// one, when there is one), or 0.
func (n *Node) ifaceFor(src netip.Addr, now time.Time) int {
	if len(n.ifaces) == 1 {
		for idx := range n.ifaces {
			return idx
		}
	}
	idxs := make([]int, 0, len(n.ifaces))
	for idx := range n.ifaces {
		idxs = append(idxs, idx)
	}
	slices.Sort(idxs)
	for _, idx := range idxs {
		if n.onLink(src, idx, now) {
			return idx
		}
	}
	return 0
}

// onLink reports whether src may be a neighbour on interface ifindex: a
// link-local address or one inside a prefix of the interface (RFC 6762
// §11). Packets from elsewhere were routed, and are ignored.
func (n *Node) onLink(src netip.Addr, ifindex int, now time.Time) bool {
	src = src.Unmap().WithZone("")
	if src.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range n.ifaceInfo(ifindex, now).prefixes {
		if p.Masked().Contains(src) {
			return true
		}
	}
	return false
}

// sendMsg encodes m and sends it out of ifindex on c, to dst or the group.
// A message too large for one packet is split by answers.
func (n *Node) sendMsg(c *mconn, ifindex int, dst netip.AddrPort, m *message) {
	b, err := appendMessage(nil, m)
	if errors.Is(err, ErrTooLarge) && len(m.Answers) > 1 {
		half := len(m.Answers) / 2
		a, b := *m, *m
		a.Answers, a.Additionals = m.Answers[:half], nil
		b.Answers, b.Additionals = m.Answers[half:], nil
		n.sendMsg(c, ifindex, dst, &a)
		n.sendMsg(c, ifindex, dst, &b)
		return
	}
	if err != nil {
		n.sendErrors.Add(1)
		n.logf("dnssd: encode: %v", err)
		return
	}
	send := c.send
	if n.sendHook != nil {
		send = func(b []byte, ifindex int, dst netip.AddrPort) error { return n.sendHook(c, b, ifindex, dst) }
	}
	if err := send(b, ifindex, dst); err != nil {
		n.sendErrors.Add(1)
		n.logf("dnssd: send on %s: %v", n.ifname(ifindex), err)
		return
	}
	n.packetsSent.Add(1)
}

// eachLink calls f for every (socket, interface) pair whose interface has
// an address of the socket's family (no IPv4 multicast out of an interface
// without an IPv4 address).
func (n *Node) eachLink(f func(c *mconn, ifindex int)) {
	now := time.Now()
	for _, c := range n.conns {
		for idx := range n.ifaces {
			if hasFamily(n.ifaceAddrs(idx, now), c.v6) {
				f(c, idx)
			}
		}
	}
}
