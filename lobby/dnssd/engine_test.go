package dnssd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// Unit tests of the engine's rules, driven step by step with explicit times
// and a recorder in place of the sockets. The LAN tests prove the same
// behaviour over real sockets in network namespaces.

var (
	t0      = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	querier = netip.MustParseAddrPort("10.0.0.9:5353")
)

type sentPacket struct {
	v6      bool
	ifindex int
	dst     netip.AddrPort // invalid: the group
	m       *message
}

type testNode struct {
	*Node
	t    testing.TB
	sent []sentPacket
}

// newTestNode returns a node without sockets. Probing is off unless a test
// turns it on (tn.cfg.NoProbe = false).
func newTestNode(t testing.TB, cfg Config) *testNode {
	cfg.NoProbe = true
	tn := &testNode{Node: newNode(cfg), t: t}
	n := tn.Node
	n.host = "node.local."
	n.conns = []*mconn{{v6: false}, {v6: true}}
	n.v4, n.v6 = true, true
	n.ifaces[1] = net.Interface{Index: 1, Name: "eth0"}
	n.prefixHook = func(int) []netip.Prefix {
		return []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24"), netip.MustParsePrefix("fe80::1/64")}
	}
	n.sendHook = func(c *mconn, b []byte, ifindex int, dst netip.AddrPort) error {
		m, err := parseMessage(b)
		if err != nil {
			t.Fatalf("sent an undecodable packet: %v", err)
		}
		tn.sent = append(tn.sent, sentPacket{v6: c.v6, ifindex: ifindex, dst: dst, m: m})
		return nil
	}
	return tn
}

// run steps the node's timers from from to to, every 100 ms, and forgets
// what it sent.
func (tn *testNode) run(from, to time.Time) {
	for at := from; !at.After(to); at = at.Add(100 * time.Millisecond) {
		tn.wake(at)
	}
	tn.take()
}

// take returns and forgets the packets sent so far.
func (tn *testNode) take() []sentPacket {
	s := tn.sent
	tn.sent = nil
	return s
}

func (tn *testNode) advertise(s Service, now time.Time) *Registration {
	tn.t.Helper()
	r, err := tn.newRegistration(s)
	if err != nil {
		tn.t.Fatal(err)
	}
	if err := tn.addRegistration(r, now); err != nil {
		tn.t.Fatal(err)
	}
	return r
}

// receive hands m to the node as if it arrived on eth0 over IPv4 from src.
func (tn *testNode) receive(m *message, src netip.AddrPort, now time.Time) {
	tn.t.Helper()
	b, err := appendMessage(nil, m)
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.handle(inPacket{b: b, ifindex: 1, src: src}, now)
}

func (tn *testNode) browse(now time.Time) *browse {
	tl, _ := serviceTypeLabels(DefaultType)
	b := tn.newBrowse(context.Background(), tl)
	tn.addBrowse(b, now)
	return b
}

func (b *browse) takeEvents() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue
	b.queue = nil
	return q
}

func ptrQuery(known ...record) *message {
	return &message{Questions: []question{{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN}}, Answers: known}
}

func names(rs []record) []string {
	var out []string
	for _, r := range rs {
		s := r.Name + "/" + map[uint16]string{typeA: "A", typeAAAA: "AAAA", typePTR: "PTR", typeSRV: "SRV", typeTXT: "TXT"}[r.Type]
		if r.Type == typePTR {
			s += "->" + r.Target
		}
		out = append(out, s)
	}
	return out
}

func TestAnnouncesThreeTimesAtOneAndThreeSeconds(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777, TXT: []string{"v=1"}}, t0)
	var times []time.Duration
	for at := time.Duration(0); at <= 20*time.Second; at += 100 * time.Millisecond {
		tn.wake(t0.Add(at))
		for _, p := range tn.take() {
			if !p.m.response() || p.dst.IsValid() {
				t.Fatalf("announcement %+v", p)
			}
			if !p.v6 {
				times = append(times, at)
			}
			got := names(p.m.Answers)
			want := []string{
				"_rallypoint._tcp.local./PTR->Lobby._rallypoint._tcp.local.",
				"Lobby._rallypoint._tcp.local./SRV", "Lobby._rallypoint._tcp.local./TXT",
				"node.local./A", "node.local./AAAA",
				"_services._dns-sd._udp.local./PTR->_rallypoint._tcp.local.",
			}
			if !slices.Equal(got, want) {
				t.Fatalf("announced %q", got)
			}
		}
	}
	if !slices.Equal(times, []time.Duration{0, time.Second, 3 * time.Second}) {
		t.Fatalf("announcements at %v, want 0s 1s 3s", times)
	}
}

func TestAnswersPTRQueryWithAdditionalsAfterSharedDelay(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	now := t0.Add(10 * time.Second) // past announcements and rate limits
	tn.run(t0, now)
	tn.receive(ptrQuery(), querier, now)
	if len(tn.sent) != 0 {
		t.Fatal("shared PTR answer sent without the 20-120 ms delay")
	}
	next := tn.wake(now.Add(10 * time.Millisecond))
	if next.Before(now.Add(20*time.Millisecond)) || next.After(now.Add(120*time.Millisecond)) {
		t.Fatalf("response scheduled at +%v", next.Sub(now))
	}
	tn.wake(now.Add(120 * time.Millisecond))
	sent := tn.take()
	if len(sent) != 1 || sent[0].v6 || sent[0].dst.IsValid() {
		t.Fatalf("sent %+v, want one multicast IPv4 response", sent)
	}
	m := sent[0].m
	if got := names(m.Answers); !slices.Equal(got, []string{"_rallypoint._tcp.local./PTR->Lobby._rallypoint._tcp.local."}) {
		t.Errorf("answers %q", got)
	}
	if got := names(m.Additionals); !slices.Equal(got, []string{"Lobby._rallypoint._tcp.local./SRV",
		"Lobby._rallypoint._tcp.local./TXT", "node.local./A", "node.local./AAAA"}) {
		t.Errorf("additionals %q", got)
	}
}

func TestKnownAnswerSuppressesOnlyWhatTheQuerierHas(t *testing.T) {
	tn := newTestNode(t, Config{})
	x := tn.advertise(Service{Instance: "X", Port: 1}, t0)
	tn.advertise(Service{Instance: "Y", Port: 2}, t0)
	ptrX := tn.ptrRecord(x)

	ask := func(now time.Time, known ...record) []string {
		tn.receive(ptrQuery(known...), querier, now)
		tn.wake(now.Add(time.Second / 2))
		var got []string
		for _, p := range tn.take() {
			got = append(got, names(p.m.Answers)...)
		}
		return got
	}
	now := t0.Add(10 * time.Second)
	tn.run(t0, now)
	// The querier knows X with its full TTL: only Y is news to it.
	if got := ask(now, ptrX); !slices.Equal(got, []string{"_rallypoint._tcp.local./PTR->Y._rallypoint._tcp.local."}) {
		t.Fatalf("knowing X, answered %q", got)
	}
	// Knowing X with less than half the TTL left, X is refreshed too.
	stale := ptrX
	stale.TTL = ptrX.TTL/2 - 1
	now = now.Add(2 * time.Second)
	if got := ask(now, stale); len(got) != 2 {
		t.Fatalf("knowing a stale X, answered %q", got)
	}
	// Knowing both: silence.
	now = now.Add(2 * time.Second)
	if got := ask(now, ptrX, tn.ptrRecord(tn.regs[1])); len(got) != 0 {
		t.Fatalf("knowing everything, answered %q", got)
	}
}

func TestLegacyUnicastQuery(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.wake(t0)
	tn.take()
	src := netip.MustParseAddrPort("10.0.0.9:40000")
	q := &message{ID: 0x1234, Questions: []question{{Name: "Lobby._rallypoint._tcp.local.", Type: typeSRV, Class: classIN}}}
	tn.receive(q, src, t0.Add(time.Millisecond))
	sent := tn.take()
	if len(sent) != 1 || sent[0].dst != src {
		t.Fatalf("sent %+v, want one unicast reply to %v", sent, src)
	}
	m := sent[0].m
	if m.ID != 0x1234 || len(m.Questions) != 1 || len(m.Answers) != 1 {
		t.Fatalf("reply %+v", m)
	}
	for _, r := range append(m.Answers, m.Additionals...) {
		if r.TTL > 10 || r.CacheFlush {
			t.Errorf("legacy reply record %+v: want TTL <= 10, no cache-flush", r)
		}
	}
}

func TestUnicastResponseRequested(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.wake(t0)
	tn.take()
	q := ptrQuery()
	q.Questions[0].QU = true
	tn.receive(q, querier, t0.Add(time.Millisecond))
	sent := tn.take()
	if len(sent) != 1 || sent[0].dst != querier || len(sent[0].m.Answers) != 1 {
		t.Fatalf("sent %+v, want a unicast answer to %v", sent, querier)
	}
}

func TestMulticastAtMostOncePerSecond(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	now := t0.Add(10 * time.Second)
	tn.run(t0, now)
	q := &message{Questions: []question{{Name: "Lobby._rallypoint._tcp.local.", Type: typeSRV, Class: classIN}}}
	tn.receive(q, querier, now)
	if n := len(tn.take()); n != 1 {
		t.Fatalf("first query: %d packets, want an immediate answer (SRV is unique)", n)
	}
	tn.receive(q, querier, now.Add(500*time.Millisecond))
	if n := len(tn.take()); n != 0 {
		t.Fatalf("query 0.5 s later: %d packets, want none", n)
	}
	tn.receive(q, querier, now.Add(1100*time.Millisecond))
	if n := len(tn.take()); n != 1 {
		t.Fatalf("query 1.1 s later: %d packets, want one", n)
	}
}

func TestGoodbyeSendsTTLZero(t *testing.T) {
	tn := newTestNode(t, Config{})
	a := tn.advertise(Service{Instance: "A", Port: 1}, t0)
	b := tn.advertise(Service{Instance: "B", Port: 2}, t0)
	tn.take()
	// B still uses the host and the type: their records stay.
	tn.regs = slices.DeleteFunc(tn.regs, func(r *Registration) bool { return r == a })
	tn.sendGoodbye(a, t0)
	for _, p := range tn.take() {
		got := names(p.m.Answers)
		if !slices.Equal(got, []string{"_rallypoint._tcp.local./PTR->A._rallypoint._tcp.local.",
			"A._rallypoint._tcp.local./SRV", "A._rallypoint._tcp.local./TXT"}) {
			t.Fatalf("goodbye of A: %q", got)
		}
		for _, r := range p.m.Answers {
			if r.TTL != 0 {
				t.Fatalf("goodbye record with TTL %d", r.TTL)
			}
		}
	}
	tn.regs = nil
	tn.sendGoodbye(b, t0)
	for _, p := range tn.take() {
		if len(p.m.Answers) != 6 {
			t.Fatalf("last goodbye: %q, want addresses and the type enumeration too", names(p.m.Answers))
		}
	}
}

func TestWithdrawAllSaysGoodbyeToEverything(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "A", Port: 1}, t0)
	tn.advertise(Service{Instance: "B", Port: 2}, t0)
	tn.take()
	tn.withdrawAll(t0)
	var got []string
	for _, p := range tn.take() {
		if p.v6 {
			continue
		}
		for _, r := range p.m.Answers {
			if r.TTL != 0 {
				t.Fatalf("goodbye with TTL %d", r.TTL)
			}
		}
		got = append(got, names(p.m.Answers)...)
	}
	for _, want := range []string{"A._rallypoint._tcp.local./SRV", "B._rallypoint._tcp.local./SRV", "node.local./A",
		"node.local./AAAA", "_services._dns-sd._udp.local./PTR->_rallypoint._tcp.local."} {
		if !slices.Contains(got, want) {
			t.Errorf("goodbyes lack %s: %q", want, got)
		}
	}
	if len(tn.regs) != 0 {
		t.Fatal("registrations left")
	}
}

func TestDropsBadAndForeignPackets(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.take()
	tn.handle(inPacket{b: []byte{1, 2, 3}, ifindex: 1, src: querier}, t0)
	q, _ := appendMessage(nil, ptrQuery())
	tn.handle(inPacket{b: q, ifindex: 9, src: querier}, t0)
	resp, _ := appendMessage(nil, &message{Flags: flagResponse, Answers: []record{tn.ptrRecord(tn.regs[0])}})
	tn.handle(inPacket{b: resp, ifindex: 1, src: netip.MustParseAddrPort("10.0.0.9:40000")}, t0)
	// Off-link sources (routed packets, RFC 6762 §11) are ignored, queries
	// and responses alike.
	tn.handle(inPacket{b: resp, ifindex: 1, src: netip.MustParseAddrPort("192.168.7.7:5353")}, t0)
	tn.handle(inPacket{b: q, ifindex: 1, src: netip.MustParseAddrPort("[2001:db8::1]:5353")}, t0)
	st := tn.Stats()
	if st.Malformed != 1 || st.Ignored != 4 || len(tn.cache.byKey) != 0 || len(tn.take()) != 0 {
		t.Fatalf("stats %+v, cache %d", st, len(tn.cache.byKey))
	}
}

func TestBrowseQueriesAtZeroOneThreeSevenWithKnownAnswers(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.browse(t0)
	known := record{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN, TTL: 4500, Target: "Other._rallypoint._tcp.local."}
	var times []time.Duration
	for at := time.Duration(0); at <= 16*time.Second; at += 100 * time.Millisecond {
		if at == 500*time.Millisecond {
			tn.receive(&message{Flags: flagResponse, Answers: []record{known}}, querier, t0.Add(at))
		}
		tn.wake(t0.Add(at))
		for _, p := range tn.take() {
			if p.v6 {
				continue
			}
			if p.m.response() || len(p.m.Questions) != 1 || p.m.Questions[0].Type != typePTR {
				continue // resolution queries for Other
			}
			times = append(times, at)
			hasKnown := len(p.m.Answers) == 1 && sameData(&p.m.Answers[0], &known) && p.m.Answers[0].TTL > 4400
			if (at > 0) != hasKnown {
				t.Errorf("query at %v known answers %+v", at, p.m.Answers)
			}
		}
	}
	want := []time.Duration{0, time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second}
	if !slices.Equal(times, want) {
		t.Fatalf("queries at %v, want %v", times, want)
	}
}

// response returns an announcement of instance name on host with addr.
func response(name string, port uint16, txt []string, addr string, ttl uint32) *message {
	inst := joinName(name, "_rallypoint", "_tcp", "local")
	return &message{Flags: flagResponse | flagAA, Answers: []record{
		{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN, TTL: ttl, Target: inst},
		{Name: inst, Type: typeSRV, Class: classIN, CacheFlush: true, TTL: ttl, Port: port, Target: "peer.local."},
		{Name: inst, Type: typeTXT, Class: classIN, CacheFlush: true, TTL: ttl, TXT: txt},
		{Name: "peer.local.", Type: typeA, Class: classIN, CacheFlush: true, TTL: ttl, Addr: netip.MustParseAddr(addr)},
	}}
}

func TestBrowseAddedUpdatedRemovedAfterGoodbye(t *testing.T) {
	tn := newTestNode(t, Config{})
	b := tn.browse(t0)
	tn.receive(response("Peer", 9000, []string{"n=1"}, "10.0.0.5", 120), querier, t0)
	evs := b.takeEvents()
	if len(evs) != 1 || evs[0].Kind != Added || evs[0].Instance != "Peer" || evs[0].Port != 9000 ||
		!slices.Equal(evs[0].TXT, []string{"n=1"}) || evs[0].Host != "peer.local." ||
		!slices.Equal(evs[0].Addrs, []netip.Addr{netip.MustParseAddr("10.0.0.5")}) {
		t.Fatalf("events %+v", evs)
	}
	// A new TXT (cache-flush) is reported at once.
	tn.receive(response("Peer", 9000, []string{"n=2"}, "10.0.0.5", 120), querier, t0.Add(2*time.Second))
	evs = b.takeEvents()
	if len(evs) != 1 || evs[0].Kind != Updated || !slices.Equal(evs[0].TXT, []string{"n=2"}) {
		t.Fatalf("events %+v", evs)
	}
	// A goodbye removes it GoodbyeDelay later, not before.
	bye := response("Peer", 9000, []string{"n=2"}, "10.0.0.5", 0)
	at := t0.Add(5 * time.Second)
	tn.receive(bye, querier, at)
	tn.wake(at.Add(tn.cfg.GoodbyeDelay - time.Millisecond))
	if evs := b.takeEvents(); len(evs) != 0 {
		t.Fatalf("removed before GoodbyeDelay: %+v", evs)
	}
	tn.wake(at.Add(tn.cfg.GoodbyeDelay))
	if evs := b.takeEvents(); len(evs) != 1 || evs[0].Kind != Removed || evs[0].Instance != "Peer" {
		t.Fatalf("events %+v", evs)
	}
}

func TestBrowseAsksForMissingRecords(t *testing.T) {
	tn := newTestNode(t, Config{})
	b := tn.browse(t0)
	tn.wake(t0)
	tn.take()
	full := response("Peer", 9000, nil, "10.0.0.5", 120)
	// PTR alone: the browser asks for SRV and TXT.
	tn.receive(&message{Flags: flagResponse, Answers: full.Answers[:1]}, querier, t0)
	tn.wake(t0)
	if qs := questionsSent(tn.take()); !slices.Contains(qs, "Peer._rallypoint._tcp.local./SRV") || !slices.Contains(qs, "Peer._rallypoint._tcp.local./TXT") {
		t.Fatalf("asked %q", qs)
	}
	// SRV and TXT without an address: it asks for A and AAAA.
	tn.receive(&message{Flags: flagResponse, Answers: full.Answers[1:3]}, querier, t0.Add(time.Second))
	tn.wake(t0.Add(time.Second))
	if qs := questionsSent(tn.take()); !slices.Contains(qs, "peer.local./A") || !slices.Contains(qs, "peer.local./AAAA") {
		t.Fatalf("asked %q", qs)
	}
	if evs := b.takeEvents(); len(evs) != 0 {
		t.Fatalf("incomplete instance reported: %+v", evs)
	}
	tn.receive(&message{Flags: flagResponse, Answers: full.Answers[3:]}, querier, t0.Add(2*time.Second))
	if evs := b.takeEvents(); len(evs) != 1 || evs[0].Kind != Added {
		t.Fatalf("events %+v", evs)
	}
}

func questionsSent(ps []sentPacket) []string {
	var out []string
	for _, p := range ps {
		for _, q := range p.m.Questions {
			out = append(out, q.Name+"/"+map[uint16]string{typeA: "A", typeAAAA: "AAAA", typePTR: "PTR", typeSRV: "SRV", typeTXT: "TXT"}[q.Type])
		}
	}
	return out
}

func TestBrowseRefreshesAtEightyPercentThenExpires(t *testing.T) {
	tn := newTestNode(t, Config{})
	b := tn.browse(t0)
	tn.receive(response("Peer", 9000, nil, "10.0.0.5", 10), querier, t0)
	b.takeEvents()
	tn.wake(t0)
	tn.take()
	var refreshAt []time.Duration
	var removedAt time.Duration
	for at := 100 * time.Millisecond; at <= 12*time.Second; at += 100 * time.Millisecond {
		tn.wake(t0.Add(at))
		for _, q := range questionsSent(tn.take()) {
			if q == "Peer._rallypoint._tcp.local./SRV" {
				refreshAt = append(refreshAt, at)
			}
		}
		for _, ev := range b.takeEvents() {
			if ev.Kind == Removed {
				removedAt = at
			}
		}
	}
	// 80, 85, 90, 95% of 10 s, each up to 2% (0.2 s) late, sent on IPv4
	// and IPv6.
	if len(refreshAt) != 8 {
		t.Fatalf("SRV refresh queries at %v, want 4 on each family", refreshAt)
	}
	for i, at := range refreshAt {
		p := []time.Duration{8, 8, 8500, 8500, 9, 9, 9500, 9500}[i]
		if p < 100 {
			p *= time.Second
		} else {
			p *= time.Millisecond
		}
		if at < p || at > p+300*time.Millisecond {
			t.Errorf("refresh %d at %v, want %v to %v", i, at, p, p+300*time.Millisecond)
		}
	}
	if removedAt != 10*time.Second {
		t.Fatalf("removed at %v, want at the TTL (10s)", removedAt)
	}
}

func TestAnsweredRefreshKeepsInstance(t *testing.T) {
	tn := newTestNode(t, Config{})
	b := tn.browse(t0)
	tn.receive(response("Peer", 9000, nil, "10.0.0.5", 10), querier, t0)
	tn.receive(response("Peer", 9000, nil, "10.0.0.5", 10), querier, t0.Add(8100*time.Millisecond))
	tn.wake(t0.Add(12 * time.Second))
	for _, ev := range b.takeEvents() {
		if ev.Kind == Removed {
			t.Fatal("removed although refreshed")
		}
	}
}

func TestCacheFlushReplacesOldAddress(t *testing.T) {
	c := newCache(100, 800*time.Millisecond)
	a1 := record{Name: "h.local.", Type: typeA, Class: classIN, CacheFlush: true, TTL: 120, Addr: netip.MustParseAddr("10.0.0.1")}
	a2 := a1
	a2.Addr = netip.MustParseAddr("10.0.0.2")
	c.add(a1, 1, t0, 0)
	c.add(a2, 1, t0.Add(500*time.Millisecond), 0) // same second: both kept
	c.expire(t0.Add(10 * time.Second))
	if n := len(c.lookup("h.local.", typeA)); n != 2 {
		t.Fatalf("%d addresses, want 2 (records within one second both stay)", n)
	}
	a3 := a1
	a3.Addr = netip.MustParseAddr("10.0.0.3")
	at := t0.Add(20 * time.Second)
	c.add(a3, 1, at, 0)
	c.expire(at.Add(999 * time.Millisecond))
	if n := len(c.lookup("h.local.", typeA)); n != 3 {
		t.Fatalf("flushed before one second: %d", n)
	}
	c.expire(at.Add(time.Second))
	if got := c.lookup("h.local.", typeA); len(got) != 1 || got[0].rec.Addr != a3.Addr {
		t.Fatalf("after flush: %+v", got)
	}
}

func TestCacheIsBounded(t *testing.T) {
	c := newCache(10, time.Second)
	for i := range 50 {
		c.add(record{Name: "h.local.", Type: typeA, Class: classIN, TTL: 120, Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})}, 1, t0, 0)
	}
	if len(c.byKey) != 10 {
		t.Fatalf("cache holds %d records, bound is 10", len(c.byKey))
	}
}

// TestFullCacheMakesRoomForBrowsedRecords: a link that fills the cache
// with records no browse uses (other services, or a hostile flood with
// long TTLs) does not keep a lobby announced afterwards from being found,
// and the records of a lobby already found stay.
func TestFullCacheMakesRoomForBrowsedRecords(t *testing.T) {
	tn := newTestNode(t, Config{MaxCacheRecords: 64})
	b := tn.browse(t0)
	tn.receive(response("Early", 9000, []string{"n=1"}, "10.0.0.4", 120), querier, t0)
	if evs := b.takeEvents(); len(evs) != 1 || evs[0].Kind != Added {
		t.Fatalf("events %+v", evs)
	}
	for i := range 200 {
		junk := &message{Flags: flagResponse | flagAA, Answers: []record{{Name: fmt.Sprintf("flood%d.local.", i),
			Type: typeA, Class: classIN, TTL: 1 << 30, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}}}
		tn.receive(junk, querier, t0.Add(time.Second))
	}
	if len(tn.cache.byKey) > 64 {
		t.Fatalf("cache holds %d records, bound is 64", len(tn.cache.byKey))
	}
	late := response("Late", 9001, []string{"n=1"}, "10.0.0.5", 120)
	late.Answers[1].Target, late.Answers[3].Name = "late.local.", "late.local." // a host of its own
	tn.receive(late, querier, t0.Add(2*time.Second))
	evs := b.takeEvents()
	if len(evs) != 1 || evs[0].Kind != Added || evs[0].Instance != "Late" {
		t.Fatalf("after the flood: events %+v, want Late added", evs)
	}
	tn.wake(t0.Add(3 * time.Second))
	if evs := b.takeEvents(); len(evs) != 0 {
		t.Fatalf("events %+v: the flood pushed out a lobby in use", evs)
	}
}

func TestServiceValidation(t *testing.T) {
	tn := newTestNode(t, Config{})
	bad := map[string]Service{
		"Instance": {Port: 1},
		"Type":     {Instance: "x", Type: "rallypoint", Port: 1},
		"Port":     {Instance: "x"},
		"TXT":      {Instance: "x", Port: 1, TXT: []string{string(make([]byte, 256))}},
		"Host":     {Instance: "x", Port: 1, Host: "a.b.c"},
	}
	for field, s := range bad {
		_, err := tn.newRegistration(s)
		var se *ServiceError
		if !errors.As(err, &se) || se.Field != field || !errors.Is(err, ErrInvalidService) {
			t.Errorf("%s: got %v", field, err)
		}
	}
	r := tn.advertise(Service{Instance: "x", Port: 1}, t0)
	if err := tn.addRegistration(r, t0); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
}

// FuzzHandlePacket feeds arbitrary packets to a node that advertises and
// browses: it must never panic, and what it sends must decode.
func FuzzHandlePacket(f *testing.F) {
	for _, b := range avahiPackets(f) {
		f.Add(b, true)
	}
	r, _ := appendMessage(nil, response("Peer", 9000, []string{"a=1"}, "10.0.0.5", 120))
	f.Add(r, true)
	q, _ := appendMessage(nil, ptrQuery())
	f.Add(q, false)
	f.Fuzz(func(t *testing.T, b []byte, legacy bool) {
		tn := newTestNode(t, Config{MaxCacheRecords: 64})
		tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
		br := tn.browse(t0)
		src := querier
		if legacy {
			src = netip.MustParseAddrPort("10.0.0.9:40000")
		}
		for i := range 3 {
			now := t0.Add(time.Duration(i) * 700 * time.Millisecond)
			tn.handle(inPacket{b: b, ifindex: 1, src: src}, now)
			tn.handle(inPacket{b: b, ifindex: 1, src: querier}, now)
			tn.wake(now.Add(time.Second))
		}
		tn.wake(t0.Add(3 * time.Hour))
		if len(tn.cache.byKey) > 64 {
			t.Fatalf("cache grew to %d", len(tn.cache.byKey))
		}
		br.takeEvents()
	})
}

func TestAnnouncesAgainWhenAddressesChange(t *testing.T) {
	tn := newTestNode(t, Config{})
	addr := netip.MustParseAddr("10.0.0.1")
	tn.prefixHook = func(int) []netip.Prefix { return []netip.Prefix{netip.PrefixFrom(addr, 24)} }
	tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.run(t0, t0.Add(10*time.Second))
	addr = netip.MustParseAddr("10.0.0.2") // new lease
	var sent []sentPacket
	for at := 10 * time.Second; at <= 20*time.Second; at += 100 * time.Millisecond {
		tn.wake(t0.Add(at))
		sent = append(sent, tn.take()...)
	}
	var announced, goodbyes int
	for _, p := range sent {
		for _, r := range p.m.Answers {
			if r.Type != typeA {
				continue
			}
			switch {
			case r.Addr == addr && r.TTL > 0 && r.CacheFlush:
				announced++
			case r.Addr == netip.MustParseAddr("10.0.0.1") && r.TTL == 0:
				goodbyes++
			default:
				t.Fatalf("sent %+v", r)
			}
		}
	}
	if announced != 2 || goodbyes != 1 {
		t.Fatalf("%d announcements of the new address (want 2), %d goodbyes for the old (want 1)", announced, goodbyes)
	}
}

// Without control messages (Windows), a packet is attributed to the
// interface whose prefix holds its source.
func TestArrivalInterfaceFromSourceWithoutControlMessages(t *testing.T) {
	tn := newTestNode(t, Config{})
	tn.ifaces[2] = net.Interface{Index: 2, Name: "eth1"}
	tn.prefixHook = func(idx int) []netip.Prefix {
		if idx == 2 {
			return []netip.Prefix{netip.MustParsePrefix("192.168.5.1/24")}
		}
		return []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}
	}
	for src, want := range map[string]int{"10.0.0.9": 1, "192.168.5.20": 2, "172.16.0.1": 0} {
		if got := tn.ifaceFor(netip.MustParseAddr(src), t0); got != want {
			t.Errorf("%s: interface %d, want %d", src, got, want)
		}
	}
	b := tn.browse(t0)
	r, _ := appendMessage(nil, response("Peer", 9000, nil, "192.168.5.20", 120))
	tn.handle(inPacket{b: r, ifindex: 0, src: netip.MustParseAddrPort("192.168.5.20:5353")}, t0)
	if evs := b.takeEvents(); len(evs) != 1 || evs[0].Kind != Added {
		t.Fatalf("events %+v", evs)
	}
}
