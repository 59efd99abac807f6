package dnssd

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"
	"unicode/utf8"
)

// Probing and conflict resolution (RFC 6762 §8.1, §8.2, §9).

const (
	probes     = 3
	probeGap   = 250 * time.Millisecond
	maxRenames = 10
)

// startProbe (re)starts probing r after delay.
func (n *Node) startProbe(r *Registration, now time.Time, delay time.Duration) {
	if !slices.Contains(n.probing, r) {
		n.probing = append(n.probing, r)
	}
	r.probeLeft = probes
	r.probeNext = now.Add(delay)
}

// probe sends the probes that are due, activates the registrations whose
// probing ended without conflict, and returns when it next needs to run.
func (n *Node) probe(now time.Time) time.Time {
	var next time.Time
	for _, r := range slices.Clone(n.probing) {
		if r.probeNext.After(now) {
			if next.IsZero() || r.probeNext.Before(next) {
				next = r.probeNext
			}
			continue
		}
		if r.probeLeft > 0 {
			n.sendProbe(r)
			r.probeLeft--
			r.probeNext = now.Add(probeGap)
			if next.IsZero() || r.probeNext.Before(next) {
				next = r.probeNext
			}
			continue
		}
		n.probing = slices.DeleteFunc(n.probing, func(o *Registration) bool { return o == r })
		n.activate(r, now)
	}
	return next
}

// sendProbe multicasts a probe for r's instance name: an ANY question with
// the records r proposes in the authority section (§8.1, §8.2). Like avahi,
// it does not ask for a unicast reply: with several mDNS stacks bound to
// port 5353 on the defender's side of things, only one socket would get a
// unicast packet, while all of them get multicast.
func (n *Node) sendProbe(r *Registration) {
	m := &message{
		Questions:   []question{{Name: r.instFQDN, Type: typeANY, Class: classIN}},
		Authorities: []record{n.srvRecord(r), n.txtRecord(r)},
	}
	n.eachLink(func(c *mconn, ifindex int) {
		n.sendMsg(c, ifindex, netip.AddrPort{}, m)
	})
}

// probeConflicts renames every probing registration whose name a response
// m uses with other data (§8.1).
func (n *Node) probeConflicts(m *message, now time.Time) {
	for _, r := range slices.Clone(n.probing) {
		mine := []record{n.srvRecord(r), n.txtRecord(r)}
		for _, sec := range [][]record{m.Answers, m.Additionals} {
			conflict := false
			for i := range sec {
				rec := &sec[i]
				if rec.TTL == 0 || !sameName(rec.Name, r.instFQDN) {
					continue
				}
				if !slices.ContainsFunc(mine, func(o record) bool { return sameData(&o, rec) }) {
					conflict = true
					break
				}
			}
			if conflict {
				n.rename(r, now)
				break
			}
		}
	}
}

// lateConflicts handles a response m from src that uses the name of an
// announced registration with other data (§9): the registration is
// withdrawn under that name (goodbyes), renamed and probed again. Packets
// from the Node's own addresses are not conflicts (they are its own, looped
// back, or another process's on this host, which probing already met).
func (n *Node) lateConflicts(m *message, src netip.Addr, now time.Time) {
	if len(n.regs) == 0 || n.isLocal(src, now) {
		return
	}
	for _, r := range slices.Clone(n.regs) {
		mine := []record{n.srvRecord(r), n.txtRecord(r)}
		conflict := false
		for _, sec := range [][]record{m.Answers, m.Additionals} {
			for i := range sec {
				rec := &sec[i]
				if rec.TTL == 0 || (rec.Type != typeSRV && rec.Type != typeTXT) || !sameName(rec.Name, r.instFQDN) {
					continue
				}
				if !slices.ContainsFunc(mine, func(o record) bool { return sameData(&o, rec) }) {
					conflict = true
				}
			}
		}
		if !conflict {
			continue
		}
		n.logf("dnssd: %q is announced by %v too: renaming", r.svc.Instance, src)
		n.regs = slices.DeleteFunc(n.regs, func(o *Registration) bool { return o == r })
		n.sendGoodbye(r, now)
		r.annLeft = 0
		n.rename(r, now)
	}
}

// isLocal reports whether a is one of the Node's interface addresses.
func (n *Node) isLocal(a netip.Addr, now time.Time) bool {
	a = a.WithZone("")
	for idx := range n.ifaces {
		if slices.Contains(n.ifaceAddrs(idx, now), a) {
			return true
		}
	}
	return false
}

// probeTiebreak handles a probe by another host for a name we are probing
// too (§8.2): the host whose records compare lexicographically later wins;
// the loser waits a second and probes again.
func (n *Node) probeTiebreak(m *message, now time.Time) {
	if len(m.Authorities) == 0 {
		return
	}
	for _, r := range n.probing {
		var theirs []record
		for _, rec := range m.Authorities {
			if sameName(rec.Name, r.instFQDN) {
				theirs = append(theirs, rec)
			}
		}
		if len(theirs) == 0 {
			continue
		}
		if compareProbe([]record{n.srvRecord(r), n.txtRecord(r)}, theirs) < 0 {
			n.startProbe(r, now, time.Second)
		}
	}
}

// rename gives r the next free name "Base (k)" and probes it again, or fails
// Advertise after maxRenames renames.
func (n *Node) rename(r *Registration, now time.Time) {
	r.renames++
	if r.renames > maxRenames {
		n.probing = slices.DeleteFunc(n.probing, func(o *Registration) bool { return o == r })
		r.closed.Store(true)
		select {
		case r.ready <- fmt.Errorf("%w: %q", ErrConflict, r.svc.Instance):
		default: // a late conflict: nobody waits
		}
		return
	}
	base := r.base
	if base == "" {
		base = r.svc.Instance
		r.base = base
	}
	tl, _ := serviceTypeLabels(r.svc.Type)
	for k := r.renames + 1; ; k++ {
		name := renamed(base, k)
		fqdn := joinName(name, tl[0], tl[1], "local")
		if !n.nameTaken(fqdn) {
			r.svc.Instance, r.instFQDN = name, fqdn
			break
		}
	}
	n.startProbe(r, now, 0)
}

// renamed returns "base (k)", cutting base (at a rune boundary) to keep the
// name within MaxInstanceLen bytes.
func renamed(base string, k int) string {
	suffix := fmt.Sprintf(" (%d)", k)
	for len(base)+len(suffix) > MaxInstanceLen {
		_, size := utf8.DecodeLastRuneInString(base)
		base = base[:len(base)-size]
	}
	return base + suffix
}

// compareProbe compares two hosts' proposed records as §8.2 says: sorted by
// class, type and raw rdata, compared pairwise; the first difference decides,
// and a host with records left over wins. It returns -1 when ours lose.
func compareProbe(ours, theirs []record) int {
	sortProbe := func(rs []record) [][]byte {
		keys := make([][]byte, 0, len(rs))
		for i := range rs {
			k := binary.BigEndian.AppendUint16(nil, rs[i].Class)
			k = binary.BigEndian.AppendUint16(k, rs[i].Type)
			keys = append(keys, append(k, rdataWire(&rs[i])...))
		}
		slices.SortFunc(keys, bytes.Compare)
		return keys
	}
	a, b := sortProbe(ours), sortProbe(theirs)
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := bytes.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// rdataWire returns r's RDATA in uncompressed wire form.
func rdataWire(r *record) []byte {
	name := func(b []byte, n string) []byte {
		labels, _ := splitName(n)
		for _, l := range labels {
			b = append(b, byte(len(l)))
			b = append(b, l...)
		}
		return append(b, 0)
	}
	switch r.Type {
	case typeA, typeAAAA:
		return r.Addr.AsSlice()
	case typePTR:
		return name(nil, r.Target)
	case typeSRV:
		b := binary.BigEndian.AppendUint16(nil, r.Priority)
		b = binary.BigEndian.AppendUint16(b, r.Weight)
		b = binary.BigEndian.AppendUint16(b, r.Port)
		return name(b, r.Target)
	case typeTXT:
		var b []byte
		txt := r.TXT
		if len(txt) == 0 {
			txt = []string{""}
		}
		for _, s := range txt {
			b = append(b, byte(len(s)))
			b = append(b, s...)
		}
		return b
	default:
		return r.Raw
	}
}
