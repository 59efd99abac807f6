package dnssd

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// browse is one Browse call. The loop owns its view and schedule; the
// delivery goroutine owns the channel.
type browse struct {
	node     *Node
	ctx      context.Context
	typ      string // "_rallypoint._tcp"
	typeFQDN string
	out      chan Event

	// Loop-owned.
	nextQuery time.Time
	interval  time.Duration
	view      map[string]*instance

	mu      sync.Mutex
	queue   []Event
	signal  chan struct{} // capacity 1: "queue is not empty"
	stop    chan struct{} // closed by the loop when the Node closes
	stopped bool
}

// Browse starts browsing for serviceType ("_rallypoint._tcp" when empty) and
// returns a channel of events. Instances already known to the Node are
// reported as Added at once. The Node queries at once, after 1 s, 3 s, 7 s...
// doubling the interval up to an hour, each query listing the instances it
// already knows (RFC 6762 §5.2, §7.1), and refreshes the records it uses at
// 80, 85, 90 and 95% of their TTL.
//
// The channel is unbuffered and fed by a goroutine with a queue of up to
// Config.MaxPendingEvents events (the oldest is dropped beyond that, counted
// in Stats.EventsDropped), so a slow reader never stalls the Node. It is
// closed when ctx ends or the Node closes; drain it until then.
func (n *Node) Browse(ctx context.Context, serviceType string) (<-chan Event, error) {
	if serviceType == "" {
		serviceType = DefaultType
	}
	tl, ok := serviceTypeLabels(serviceType)
	if !ok {
		return nil, &ServiceError{Field: "Type", Reason: "want _name._tcp or _name._udp"}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := n.newBrowse(ctx, tl)
	err := n.call(ctx, func() error {
		n.addBrowse(b, time.Now())
		n.wg.Add(1)
		go b.deliver()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b.out, nil
}

func (n *Node) newBrowse(ctx context.Context, tl []string) *browse {
	return &browse{
		node:     n,
		ctx:      ctx,
		typ:      tl[0] + "." + tl[1],
		typeFQDN: typeName(tl),
		out:      make(chan Event),
		interval: time.Second,
		view:     map[string]*instance{},
		signal:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
}

// addBrowse registers b, reports what the cache already knows and schedules
// its first query at now. It runs on the loop.
func (n *Node) addBrowse(b *browse, now time.Time) {
	n.browses[b] = struct{}{}
	b.nextQuery = now
	n.updateBrowse(b)
}

// deliver owns b.out: it forwards queued events until ctx ends or the Node
// closes, then unregisters b and closes the channel.
func (b *browse) deliver() {
	defer b.node.wg.Done()
	defer close(b.out)
	for {
		b.mu.Lock()
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		for _, ev := range q {
			select {
			case b.out <- ev:
			case <-b.ctx.Done():
				b.unregister()
				return
			case <-b.stop:
				return
			}
		}
		select {
		case <-b.signal:
		case <-b.ctx.Done():
			b.unregister()
			return
		case <-b.stop:
			return
		}
	}
}

// unregister removes b from the Node unless the Node is closing.
func (b *browse) unregister() {
	n := b.node
	select {
	case n.ops <- func() { delete(n.browses, b) }:
	case <-n.quit:
	}
}

// finish is called by the loop when the Node closes.
func (b *browse) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.stopped {
		b.stopped = true
		close(b.stop)
	}
}

func (b *browse) push(evs []Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	b.queue = append(b.queue, evs...)
	if over := len(b.queue) - b.node.cfg.MaxPendingEvents; over > 0 {
		b.queue = slices.Delete(b.queue, 0, over)
		b.node.eventsDropped.Add(uint64(over))
	}
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// updateBrowses recomputes every browse's view from the cache.
func (n *Node) updateBrowses(now time.Time) {
	for b := range n.browses {
		n.updateBrowse(b)
	}
}

// updateBrowse recomputes b's view and queues the differences as events.
func (n *Node) updateBrowse(b *browse) {
	view, _ := n.cache.resolve(b.typeFQDN, n.ifname)
	var evs []Event
	for k, in := range view {
		old, ok := b.view[k]
		switch {
		case !ok:
			evs = append(evs, b.event(Added, in))
		case !old.equal(in):
			evs = append(evs, b.event(Updated, in))
		}
	}
	for k, old := range b.view {
		if _, ok := view[k]; !ok {
			evs = append(evs, b.event(Removed, old))
		}
	}
	for _, in := range view {
		delete(n.asked, nameKey(in.fqdn))
		delete(n.asked, nameKey(in.host))
	}
	b.view = view
	b.push(evs)
}

func (b *browse) event(k EventKind, in *instance) Event {
	return Event{
		Kind:     k,
		Instance: in.label,
		Type:     b.typ,
		Host:     in.host,
		Port:     in.port,
		Addrs:    slices.Clone(in.addrs),
		TXT:      cloneTXT(in.txt),
	}
}

// knownPTRs returns the PTR records of typeFQDN to list as known answers:
// those with at least half their TTL left (RFC 6762 §7.1). At most 200 are
// listed, so that the query fits in one packet.
func (n *Node) knownPTRs(typeFQDN string, now time.Time) []record {
	var out []record
	for _, e := range n.cache.lookup(typeFQDN, typePTR) {
		if e.fresh(now) && len(out) < 200 {
			r := e.rec
			r.TTL = uint32(e.expires.Sub(now) / time.Second)
			out = append(out, r)
		}
	}
	return out
}

// multicastQuery sends a query for qs with the known answers on every link.
func (n *Node) multicastQuery(qs []question, known []record) {
	m := &message{Questions: qs, Answers: known}
	n.eachLink(func(c *mconn, ifindex int) {
		n.sendMsg(c, ifindex, netip.AddrPort{}, m)
	})
}

// resolveMissing asks for the records incomplete instances of b lack, each
// name at most once a second and five times in all, and returns when it
// next needs to run.
func (n *Node) resolveMissing(b *browse, now time.Time) time.Time {
	_, miss := n.cache.resolve(b.typeFQDN, n.ifname)
	var qs []question
	var next time.Time
	for _, m := range miss {
		k := nameKey(m.name)
		st := n.asked[k]
		if st.count >= 5 {
			continue
		}
		at := st.last.Add(time.Second)
		if at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		n.asked[k] = askState{last: now, count: st.count + 1}
		for _, t := range m.types {
			qs = append(qs, question{Name: m.name, Type: t, Class: classIN})
		}
		if next.IsZero() || now.Add(time.Second).Before(next) {
			next = now.Add(time.Second)
		}
	}
	if len(qs) > 0 {
		n.multicastQuery(qs, nil)
	}
	if len(n.asked) > 4096 {
		clear(n.asked)
	}
	return next
}

// wanted reports whether an active browse uses r, so that it is worth a
// refresh query before it expires.
func (n *Node) wanted(r *record) bool {
	for b := range n.browses {
		switch r.Type {
		case typePTR:
			if sameName(r.Name, b.typeFQDN) {
				return true
			}
		case typeSRV, typeTXT:
			if _, ok := b.view[nameKey(r.Name)]; ok {
				return true
			}
		case typeA, typeAAAA:
			for _, in := range b.view {
				if sameName(in.host, r.Name) {
					return true
				}
			}
		}
	}
	return false
}
