package dnssd

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The cache holds the records a Node has heard, with the timing rules of
// RFC 6762 §5.2 (refresh queries at 80/85/90/95% of the TTL), §10.1
// (goodbyes) and §10.2 (cache flush). It is plain data driven by explicit
// times, owned by the Node's loop goroutine.

type entry struct {
	rec      record
	ifindex  int
	received time.Time
	expires  time.Time
	// step is the next refresh point (0..3 for 80..95%); 4 means none.
	step int
	// jitter in [0, 0.02] of the TTL is added to each refresh point.
	jitter float64
}

// refreshAt returns the time of refresh point step.
func (e *entry) refreshAt(step int) time.Time {
	frac := 0.80 + 0.05*float64(step) + e.jitter
	return e.received.Add(time.Duration(frac * float64(e.rec.TTL) * float64(time.Second)))
}

// fresh reports whether the entry still has at least half its TTL left, the
// condition for listing it as a known answer (RFC 6762 §7.1).
func (e *entry) fresh(now time.Time) bool {
	half := time.Duration(e.rec.TTL) * time.Second / 2
	return e.expires.Sub(now) >= half && e.rec.TTL > 0
}

type cache struct {
	max     int
	byKey   map[string]*entry
	byName  map[string][]*entry // nameKey -> entries
	flushed time.Duration       // how long a flushed or goodbye record lives on
	goodbye time.Duration
	// keep, when set, reports the records worth keeping when the cache is
	// full (those a browse uses); the others make room for new records.
	keep func(*record) bool
}

func newCache(max int, goodbye time.Duration) *cache {
	return &cache{
		max:     max,
		byKey:   map[string]*entry{},
		byName:  map[string][]*entry{},
		flushed: time.Second,
		goodbye: goodbye,
	}
}

// recordKey identifies a record by name, type, class and data.
func recordKey(r *record) string {
	var sb strings.Builder
	sb.WriteString(nameKey(r.Name))
	sb.WriteByte(0)
	sb.Write(binary.BigEndian.AppendUint16(nil, r.Type))
	sb.Write(binary.BigEndian.AppendUint16(nil, r.Class))
	switch r.Type {
	case typeA, typeAAAA:
		sb.WriteString(r.Addr.WithZone("").String())
	case typePTR:
		sb.WriteString(nameKey(r.Target))
	case typeSRV:
		sb.WriteString(strconv.Itoa(int(r.Priority)) + " " + strconv.Itoa(int(r.Weight)) + " " +
			strconv.Itoa(int(r.Port)) + " " + nameKey(r.Target))
	case typeTXT:
		txt := r.TXT
		if len(txt) == 0 {
			txt = []string{""}
		}
		for _, s := range txt {
			sb.WriteByte(byte(len(s)))
			sb.WriteString(s)
		}
	default:
		sb.Write(r.Raw)
	}
	return sb.String()
}

// add records r heard on ifindex at now. It returns true when the set of
// live records changed in a way a browser may see at once (a new record).
// Goodbyes and flushes only shorten lives: their effect shows at expiry.
func (c *cache) add(r record, ifindex int, now time.Time, jitter float64) bool {
	key := recordKey(&r)
	old := c.byKey[key]
	if r.TTL == 0 {
		// Goodbye (RFC 6762 §10.1): keep it a moment for a correction.
		if old != nil && old.expires.After(now.Add(c.goodbye)) {
			old.expires = now.Add(c.goodbye)
			old.step = 4
		}
		return false
	}
	if r.CacheFlush {
		// RFC 6762 §10.2: other records of this name, type and class that
		// are more than one second old are flushed in one second.
		for _, e := range c.byName[nameKey(r.Name)] {
			if e.rec.Type == r.Type && e.rec.Class == r.Class && e != old &&
				now.Sub(e.received) > time.Second && e.expires.After(now.Add(c.flushed)) {
				e.expires = now.Add(c.flushed)
				e.step = 4
			}
		}
	}
	if old != nil {
		old.rec.TTL, old.rec.CacheFlush = r.TTL, r.CacheFlush
		old.ifindex = ifindex
		old.received = now
		old.expires = now.Add(time.Duration(r.TTL) * time.Second)
		old.step = 0
		old.jitter = jitter
		return false
	}
	if len(c.byKey) >= c.max && (c.keep == nil || c.evict() == 0) {
		return false
	}
	e := &entry{
		rec:      r,
		ifindex:  ifindex,
		received: now,
		expires:  now.Add(time.Duration(r.TTL) * time.Second),
		jitter:   jitter,
	}
	c.byKey[key] = e
	nk := nameKey(r.Name)
	c.byName[nk] = append(c.byName[nk], e)
	return true
}

// remove drops entry e, stored under key.
func (c *cache) remove(key string, e *entry) {
	delete(c.byKey, key)
	nk := nameKey(e.rec.Name)
	list := slices.DeleteFunc(c.byName[nk], func(x *entry) bool { return x == e })
	if len(list) == 0 {
		delete(c.byName, nk)
	} else {
		c.byName[nk] = list
	}
}

// evict makes room in a full cache: it drops every record keep does not
// hold on to (records no browse uses: other services' records, or a flood
// of junk with long TTLs), all at once so that a flood costs one scan per
// cache-full of records, and returns how many went. The records of
// instances that are being browsed stay.
func (c *cache) evict() int {
	n := 0
	for key, e := range c.byKey {
		if !c.keep(&e.rec) {
			c.remove(key, e)
			n++
		}
	}
	return n
}

// expire drops the records whose time is up and reports whether any went.
func (c *cache) expire(now time.Time) bool {
	gone := false
	for key, e := range c.byKey {
		if !e.expires.After(now) {
			c.remove(key, e)
			gone = true
		}
	}
	return gone
}

// refresh returns the questions due at now for records wanted reports true
// for, and advances every entry past the refresh points that are due.
func (c *cache) refresh(now time.Time, wanted func(*record) bool) []question {
	var qs []question
	seen := map[string]bool{}
	for _, e := range c.byKey {
		due := false
		for e.step <= 3 && !e.refreshAt(e.step).After(now) {
			e.step++
			due = true
		}
		if !due || !wanted(&e.rec) {
			continue
		}
		k := nameKey(e.rec.Name) + "/" + strconv.Itoa(int(e.rec.Type))
		if !seen[k] {
			seen[k] = true
			qs = append(qs, question{Name: e.rec.Name, Type: e.rec.Type, Class: classIN})
		}
	}
	return qs
}

// next returns the earliest expiry or refresh point after now, or the zero
// time when the cache is empty.
func (c *cache) next() time.Time {
	var t time.Time
	for _, e := range c.byKey {
		at := e.expires
		if e.step <= 3 {
			if r := e.refreshAt(e.step); r.Before(at) {
				at = r
			}
		}
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// lookup returns the live entries of name and type.
func (c *cache) lookup(name string, typ uint16) []*entry {
	var out []*entry
	for _, e := range c.byName[nameKey(name)] {
		if e.rec.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// newest returns the most recently received entry of name and type.
func (c *cache) newest(name string, typ uint16) *entry {
	var best *entry
	for _, e := range c.byName[nameKey(name)] {
		if e.rec.Type == typ && (best == nil || e.received.After(best.received)) {
			best = e
		}
	}
	return best
}

// instance is what a browser knows of one service instance.
type instance struct {
	fqdn  string // instance FQDN
	label string // instance name
	host  string
	port  uint16
	addrs []netip.Addr
	txt   []string
}

func (a *instance) equal(b *instance) bool {
	return a.host == b.host && a.port == b.port && slices.Equal(a.addrs, b.addrs) && txtEqual(a.txt, b.txt)
}

// missing says which records an incomplete instance still needs.
type missing struct {
	name  string
	types []uint16
}

// resolve builds the complete instances of the service type whose FQDN is
// typeFQDN, keyed by nameKey of the instance FQDN, and lists what is missing
// for the incomplete ones. ifname maps an interface index to its name for
// IPv6 link-local zones.
func (c *cache) resolve(typeFQDN string, ifname func(int) string) (map[string]*instance, []missing) {
	out := map[string]*instance{}
	var miss []missing
	typeLabels, err := splitName(typeFQDN)
	if err != nil {
		return out, nil
	}
	for _, p := range c.lookup(typeFQDN, typePTR) {
		labels, err := splitName(p.rec.Target)
		if err != nil || len(labels) != len(typeLabels)+1 {
			continue
		}
		if !sameName(joinName(labels[1:]...), typeFQDN) {
			continue
		}
		srv := c.newest(p.rec.Target, typeSRV)
		txt := c.newest(p.rec.Target, typeTXT)
		if srv == nil || txt == nil {
			miss = append(miss, missing{name: p.rec.Target, types: []uint16{typeSRV, typeTXT}})
			if srv == nil {
				continue
			}
		}
		in := &instance{fqdn: p.rec.Target, label: labels[0], host: srv.rec.Target, port: srv.rec.Port}
		if txt != nil {
			in.txt = txt.rec.TXT
		}
		for _, typ := range []uint16{typeA, typeAAAA} {
			for _, e := range c.lookup(srv.rec.Target, typ) {
				a := e.rec.Addr
				if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
					a = a.WithZone(ifname(e.ifindex))
				}
				if !slices.Contains(in.addrs, a) {
					in.addrs = append(in.addrs, a)
				}
			}
		}
		if len(in.addrs) == 0 {
			miss = append(miss, missing{name: srv.rec.Target, types: []uint16{typeA, typeAAAA}})
			continue
		}
		slices.SortFunc(in.addrs, func(a, b netip.Addr) int { return a.Compare(b) })
		out[nameKey(p.rec.Target)] = in
	}
	return out, miss
}
