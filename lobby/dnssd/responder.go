package dnssd

import (
	"context"
	mrand "math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// enumName is the DNS-SD service type enumeration name (RFC 6763 §9).
const enumName = "_services._dns-sd._udp.local."

// announcements is how many unsolicited responses announce a new or changed
// service: at 0, 1 s and 3 s (RFC 6762 §8.3: at least two, one second
// apart, the interval at least doubling).
const announcements = 3

// Registration is one advertised service instance. Its methods are safe for
// concurrent use.
type Registration struct {
	node     *Node
	svc      Service
	typeFQDN string
	instFQDN string
	hostFQDN string
	closed   atomic.Bool

	// ready receives the outcome of probing (capacity 1).
	ready chan error

	// Owned by the Node's loop.
	probeLeft int
	probeNext time.Time
	renames   int
	base      string // the instance name asked for, before renames
	txt       []string
	annLeft   int
	annNext   time.Time
	annGap    time.Duration
}

// Service returns the advertised service as normalized by Advertise (with
// the current TXT).
//
// The instance name can change after Advertise returned: when another
// responder announces the same name later (RFC 6762 §9), the service is
// withdrawn under its old name, renamed and probed again.
func (r *Registration) Service() Service {
	var s Service
	err := r.node.call(context.Background(), func() error {
		s = r.svc
		s.TXT = cloneTXT(r.txt)
		return nil
	})
	if err != nil {
		// The loop is gone: nothing changes r any more.
		s = r.svc
		s.TXT = cloneTXT(r.txt)
	}
	return s
}

// Advertise validates s, makes sure its instance name is free on the link,
// then answers queries for it and announces it on every interface (three
// unsolicited responses, at 0, 1 s and 3 s).
//
// Unless Config.NoProbe is set, it first probes (RFC 6762 §8.1): three
// queries for the instance name, 250 ms apart, after a random delay of up to
// 250 ms. When another responder answers for the name, the instance is
// renamed "Name (2)", "Name (3)"... and probed again (Service().Instance
// tells the name it got); after ten renames Advertise fails with ErrConflict.
// Probing takes 0.75 to 1 s; Advertise returns when the service is
// announced. When ctx ends first, the service is withdrawn and Advertise
// returns ctx's error.
func (n *Node) Advertise(ctx context.Context, s Service) (*Registration, error) {
	r, err := n.newRegistration(s)
	if err != nil {
		return nil, err
	}
	if err := n.call(ctx, func() error { return n.addRegistration(r, time.Now()) }); err != nil {
		return nil, err
	}
	select {
	case err := <-r.ready:
		if err != nil {
			return nil, err
		}
		return r, nil
	case <-ctx.Done():
		// Withdraw it, whether it is still probing or just got through.
		_ = n.call(context.Background(), func() error {
			n.probing = slices.DeleteFunc(n.probing, func(o *Registration) bool { return o == r })
			if i := slices.Index(n.regs, r); i >= 0 {
				n.regs = slices.Delete(n.regs, i, i+1)
				n.sendGoodbye(r, time.Now())
			}
			return nil
		})
		r.closed.Store(true)
		return nil, ctx.Err()
	}
}

// newRegistration validates and normalizes s.
func (n *Node) newRegistration(s Service) (*Registration, error) {
	if s.Type == "" {
		s.Type = DefaultType
	}
	if reason := validInstance(s.Instance); reason != "" {
		return nil, &ServiceError{Field: "Instance", Reason: reason}
	}
	tl, ok := serviceTypeLabels(s.Type)
	if !ok {
		return nil, &ServiceError{Field: "Type", Reason: "want _name._tcp or _name._udp with a name of 1-15 letters, digits or hyphens"}
	}
	s.Type = tl[0] + "." + tl[1]
	if s.Port == 0 {
		return nil, &ServiceError{Field: "Port", Reason: "zero"}
	}
	if reason := validTXT(s.TXT); reason != "" {
		return nil, &ServiceError{Field: "TXT", Reason: reason}
	}
	host := n.host
	if s.Host != "" {
		if host, ok = hostFQDN(s.Host); !ok {
			return nil, &ServiceError{Field: "Host", Reason: "want a single label or a name ending in .local", Err: ErrInvalidName}
		}
	}
	s.Host = host
	s.TXT = cloneTXT(s.TXT)
	r := &Registration{
		node:     n,
		svc:      s,
		typeFQDN: typeName(tl),
		instFQDN: joinName(s.Instance, tl[0], tl[1], "local"),
		hostFQDN: host,
		txt:      cloneTXT(s.TXT),
		ready:    make(chan error, 1),
	}
	if _, err := splitName(r.instFQDN); err != nil {
		return nil, &ServiceError{Field: "Instance", Reason: "does not fit a DNS name", Err: err}
	}
	return r, nil
}

// addRegistration starts probing for r, or when probing is off starts
// answering for it and schedules its announcements from now. It runs on the
// loop.
func (n *Node) addRegistration(r *Registration, now time.Time) error {
	if n.nameTaken(r.instFQDN) {
		return ErrDuplicate
	}
	if n.cfg.NoProbe {
		n.activate(r, now)
		return nil
	}
	n.startProbe(r, now, mrand.N(probeGap))
	return nil
}

// activate makes r answer queries and announce itself from now, and tells
// Advertise.
func (n *Node) activate(r *Registration, now time.Time) {
	n.regs = append(n.regs, r)
	r.annLeft, r.annNext, r.annGap = announcements, now, time.Second
	select {
	case r.ready <- nil: // first activation: Advertise waits for it
	default: // again after a late conflict (§9): nobody waits
	}
}

// nameTaken reports whether one of the Node's registrations, probing or
// not, uses the instance name fqdn.
func (n *Node) nameTaken(fqdn string) bool {
	for _, list := range [][]*Registration{n.regs, n.probing} {
		for _, o := range list {
			if sameName(o.instFQDN, fqdn) {
				return true
			}
		}
	}
	return false
}

// UpdateTXT replaces the TXT record and announces the change (twice, one
// second apart) so browsers see it at once.
func (r *Registration) UpdateTXT(ctx context.Context, txt []string) error {
	if reason := validTXT(txt); reason != "" {
		return &ServiceError{Field: "TXT", Reason: reason}
	}
	if r.closed.Load() {
		return ErrClosed
	}
	txt = cloneTXT(txt)
	return r.node.call(ctx, func() error {
		if r.closed.Load() {
			return ErrClosed
		}
		r.txt = txt
		r.annLeft, r.annNext, r.annGap = 2, time.Now(), time.Second
		return nil
	})
}

// Close withdraws the service: it stops answering for it and sends goodbye
// packets (its records with TTL 0) on every interface, so browsers drop it
// within a second. It is idempotent; calls after the first return ErrClosed.
// Closing the Node closes its Registrations.
func (r *Registration) Close() error {
	if r.closed.Swap(true) {
		return ErrClosed
	}
	err := r.node.call(context.Background(), func() error {
		for i, o := range r.node.regs {
			if o == r {
				r.node.regs = append(r.node.regs[:i:i], r.node.regs[i+1:]...)
				r.node.sendGoodbye(r, time.Now())
				return nil
			}
		}
		return nil
	})
	if err == ErrClosed {
		// The Node closed first and sent the goodbye.
		return nil
	}
	return err
}

// The records of a registration, as seen on interface ifindex.

func (n *Node) ptrRecord(r *Registration) record {
	return record{Name: r.typeFQDN, Type: typePTR, Class: classIN, TTL: uint32(n.cfg.ServiceTTL / time.Second), Target: r.instFQDN}
}

func (n *Node) enumRecord(r *Registration) record {
	return record{Name: enumName, Type: typePTR, Class: classIN, TTL: uint32(n.cfg.ServiceTTL / time.Second), Target: r.typeFQDN}
}

func (n *Node) srvRecord(r *Registration) record {
	return record{Name: r.instFQDN, Type: typeSRV, Class: classIN, CacheFlush: true, TTL: uint32(n.cfg.HostTTL / time.Second),
		Port: r.svc.Port, Target: r.hostFQDN}
}

func (n *Node) txtRecord(r *Registration) record {
	return record{Name: r.instFQDN, Type: typeTXT, Class: classIN, CacheFlush: true, TTL: uint32(n.cfg.HostTTL / time.Second),
		TXT: cloneTXT(r.txt)}
}

func (n *Node) addrRecords(host string, ifindex int, now time.Time, types ...uint16) []record {
	var out []record
	for _, a := range n.ifaceAddrs(ifindex, now) {
		typ := typeA
		if a.Is6() {
			typ = typeAAAA
		}
		want := false
		for _, t := range types {
			want = want || t == typ || t == typeANY
		}
		if want {
			out = append(out, record{Name: host, Type: typ, Class: classIN, CacheFlush: true,
				TTL: uint32(n.cfg.HostTTL / time.Second), Addr: a.WithZone("")})
		}
	}
	return out
}

func (n *Node) allRecords(r *Registration, ifindex int, now time.Time) []record {
	rs := []record{n.ptrRecord(r), n.srvRecord(r), n.txtRecord(r)}
	rs = append(rs, n.addrRecords(r.hostFQDN, ifindex, now, typeANY)...)
	return append(rs, n.enumRecord(r))
}

// announce multicasts every record of r on every link (RFC 6762 §8.3).
func (n *Node) announce(r *Registration, now time.Time) {
	n.eachLink(func(c *mconn, ifindex int) {
		rs := n.allRecords(r, ifindex, now)
		for i := range rs {
			n.lastMcast[mcastKey(&rs[i], c, ifindex)] = now
		}
		n.sendMsg(c, ifindex, netip.AddrPort{}, &message{Flags: flagResponse | flagAA, Answers: rs})
	})
}

// sendGoodbye multicasts r's records with TTL 0 (RFC 6762 §10.1). Address
// records are included only when no other registration uses the host.
func (n *Node) sendGoodbye(r *Registration, now time.Time) {
	hostShared := false
	for _, o := range n.regs {
		if o != r && sameName(o.hostFQDN, r.hostFQDN) {
			hostShared = true
		}
	}
	typeShared := false
	for _, o := range n.regs {
		if o != r && sameName(o.typeFQDN, r.typeFQDN) {
			typeShared = true
		}
	}
	n.eachLink(func(c *mconn, ifindex int) {
		rs := []record{n.ptrRecord(r), n.srvRecord(r), n.txtRecord(r)}
		if !hostShared {
			rs = append(rs, n.addrRecords(r.hostFQDN, ifindex, now, typeANY)...)
		}
		if !typeShared {
			rs = append(rs, n.enumRecord(r))
		}
		for i := range rs {
			rs[i].TTL = 0
		}
		n.sendMsg(c, ifindex, netip.AddrPort{}, &message{Flags: flagResponse | flagAA, Answers: rs})
	})
}

func mcastKey(r *record, c *mconn, ifindex int) string {
	fam := "4"
	if c.v6 {
		fam = "6"
	}
	return recordKey(r) + "|" + fam + strconv.Itoa(ifindex)
}

// answers returns the records that answer q on interface ifindex, and the
// additional records that go with them (RFC 6763 §12).
func (n *Node) answers(q question, ifindex int, now time.Time) (ans, add []record) {
	if q.Class != classIN && q.Class != typeANY {
		return nil, nil
	}
	is := func(t uint16) bool { return q.Type == t || q.Type == typeANY }
	for _, r := range n.regs {
		switch {
		case sameName(q.Name, r.typeFQDN) && is(typePTR):
			ans = append(ans, n.ptrRecord(r))
			add = append(add, n.srvRecord(r), n.txtRecord(r))
			add = append(add, n.addrRecords(r.hostFQDN, ifindex, now, typeANY)...)
		case sameName(q.Name, enumName) && is(typePTR):
			ans = append(ans, n.enumRecord(r))
		case sameName(q.Name, r.instFQDN):
			if is(typeSRV) {
				ans = append(ans, n.srvRecord(r))
				add = append(add, n.addrRecords(r.hostFQDN, ifindex, now, typeANY)...)
			}
			if is(typeTXT) {
				ans = append(ans, n.txtRecord(r))
			}
		case sameName(q.Name, r.hostFQDN):
			ans = append(ans, n.addrRecords(r.hostFQDN, ifindex, now, q.Type)...)
		}
	}
	return ans, add
}

// answerQuery answers query m received on p (RFC 6762 §6, §7).
func (n *Node) answerQuery(m *message, p inPacket, c *mconn, now time.Time) {
	if len(n.regs) == 0 || c == nil {
		return
	}
	var ans, add []record
	qu := false
	for _, q := range m.Questions {
		a, d := n.answers(q, p.ifindex, now)
		ans = append(ans, a...)
		add = append(add, d...)
		qu = qu || q.QU
	}
	// Known-answer suppression (§7.1): leave out what the querier already
	// holds with at least half our TTL.
	known := func(r *record) bool {
		for i := range m.Answers {
			if sameData(&m.Answers[i], r) && m.Answers[i].TTL >= r.TTL/2 {
				return true
			}
		}
		return false
	}
	ans = dedupe(ans, nil, known)
	if len(ans) == 0 {
		return
	}
	add = dedupe(add, ans, known)
	n.answered.Add(1)

	if p.src.Port() != mdnsPort {
		// Legacy unicast (§6.7): echo id and questions, short TTLs, no
		// cache-flush bits, straight back to the sender.
		for _, sec := range [][]record{ans, add} {
			for i := range sec {
				sec[i].TTL = min(sec[i].TTL, 10)
				sec[i].CacheFlush = false
			}
		}
		n.sendMsg(c, p.ifindex, p.src, &message{ID: m.ID, Flags: flagResponse | flagAA, Questions: m.Questions, Answers: ans, Additionals: add})
		return
	}
	if qu {
		// §5.4: the querier asked for a unicast response.
		n.sendMsg(c, p.ifindex, p.src, &message{Flags: flagResponse | flagAA, Answers: ans, Additionals: add})
		return
	}
	// §6: a record is multicast on an interface at most once a second,
	// or every 250 ms in answer to a probe (a query with records in its
	// authority section), which must hear a defence at once.
	probe := len(m.Authorities) > 0
	limit := time.Second
	if probe {
		limit = 250 * time.Millisecond
	}
	kept := ans[:0]
	shared := false
	for i := range ans {
		k := mcastKey(&ans[i], c, p.ifindex)
		if now.Sub(n.lastMcast[k]) < limit {
			continue
		}
		n.lastMcast[k] = now
		kept = append(kept, ans[i])
		shared = shared || !ans[i].CacheFlush
	}
	if len(kept) == 0 {
		return
	}
	n.pruneMcast(now)
	msg := &message{Flags: flagResponse | flagAA, Answers: kept, Additionals: add}
	if probe || !shared && m.Flags&flagTC == 0 {
		// Unique records only, or a probe: answer at once.
		n.sendMsg(c, p.ifindex, netip.AddrPort{}, msg)
		return
	}
	// Shared records: wait 20-120 ms so several responders do not collide;
	// 400-500 ms when the querier said more known answers follow (§6, §7.2).
	delay := 20*time.Millisecond + mrand.N(100*time.Millisecond)
	if m.Flags&flagTC != 0 {
		delay = 400*time.Millisecond + mrand.N(100*time.Millisecond)
	}
	n.pending = append(n.pending, pendingSend{at: now.Add(delay), conn: c, ifindex: p.ifindex, msg: msg})
}

// pruneMcast forgets rate-limit entries older than a second.
func (n *Node) pruneMcast(now time.Time) {
	if len(n.lastMcast) < 1024 {
		return
	}
	for k, t := range n.lastMcast {
		if now.Sub(t) >= time.Second {
			delete(n.lastMcast, k)
		}
	}
}

// dedupe drops from rs the records that repeat one in rs or in already, or
// that drop reports true for.
func dedupe(rs, already []record, drop func(*record) bool) []record {
	var out []record
	seen := map[string]bool{}
	for i := range already {
		seen[recordKey(&already[i])] = true
	}
	for i := range rs {
		k := recordKey(&rs[i])
		if seen[k] || drop(&rs[i]) {
			continue
		}
		seen[k] = true
		out = append(out, rs[i])
	}
	return out
}
