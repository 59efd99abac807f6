package netsim

import (
	"container/heap"
	"math/rand"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Limits of the simulator.
const (
	// MaxMessageSize is the largest message Send accepts, the default SCTP
	// maximum message size of the real transport.
	MaxMessageSize = 65535
	// MaxInbox is how many delivered messages an endpoint holds before
	// unreliable ones are dropped.
	MaxInbox = 4096
)

// Conditions describe one direction of a link. The zero value is a perfect
// link: no latency, no loss.
type Conditions struct {
	// Latency is the one-way delay. Zero: messages arrive at the next
	// Advance.
	Latency time.Duration
	// Jitter adds a uniformly distributed delay in [-Jitter, +Jitter] to
	// Latency (never below zero). Zero: no jitter.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that an unreliable or sequenced
	// message is lost, or that a reliable one needs a retransmission.
	// Zero: no loss.
	Loss float64
	// Duplicate is the probability that an unreliable or sequenced message
	// is delivered twice. Zero: never.
	Duplicate float64
	// Reorder is the probability that a message is held back by an extra
	// delay of up to Latency+Jitter, so that later messages overtake it.
	// Reliable messages are never reordered. Zero: only jitter reorders.
	Reorder float64
	// Bandwidth caps the link in bytes per second: messages queue behind
	// each other, and an unreliable message that would wait more than one
	// second is dropped. Zero: unlimited.
	Bandwidth int
	// RetransmitDelay is the extra delay of a reliable message per simulated
	// loss. Zero means 2×Latency + 20 ms.
	RetransmitDelay time.Duration
	// Down cuts the link: unreliable messages are lost, reliable ones wait
	// until the link is up again.
	Down bool
}

// Config configures a Network. The zero value is valid.
type Config struct {
	// Seed seeds the network's random source. Runs with equal seeds and
	// equal calls are identical. Zero is a valid seed.
	Seed int64
	// Default are the conditions of every link not set with SetLink.
	// Zero: perfect links.
	Default Conditions
	// Start is the virtual time at creation. Zero: 2000-01-01 UTC.
	Start time.Time
}

// Stats counts what happened to the messages sent from one endpoint.
type Stats struct {
	Sent, Delivered, Lost, Duplicated, Retransmitted, Dropped uint64
	BytesSent                                                 uint64
}

// Network is an in-memory network of endpoints with a virtual clock.
type Network struct {
	mu        sync.Mutex
	now       time.Time
	rng       *rand.Rand
	def       Conditions
	links     map[linkKey]*link
	endpoints map[netcode.PeerID]*Endpoint
	flight    flightHeap
	seq       uint64
}

type linkKey struct{ from, to netcode.PeerID }

type link struct {
	cond         Conditions
	busyUntil    time.Time // bandwidth queue
	lastReliable time.Time // reliable messages keep their order
	held         []*packet // reliable messages sent while down
	seqSent      uint64    // sequenced channel numbering
	seqDelivered uint64
}

type packet struct {
	at   time.Time
	seq  uint64 // tie-break: send order
	from netcode.PeerID
	to   netcode.PeerID
	ch   netcode.Channel
	data []byte
	sseq uint64 // sequenced channel number
}

type flightHeap []*packet

func (h flightHeap) Len() int { return len(h) }
func (h flightHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h flightHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *flightHeap) Push(x any)   { *h = append(*h, x.(*packet)) }
func (h *flightHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// New returns an empty network.
func New(cfg Config) *Network {
	start := cfg.Start
	if start.IsZero() {
		start = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return &Network{
		now:       start,
		rng:       rand.New(rand.NewSource(cfg.Seed)),
		def:       cfg.Default,
		links:     make(map[linkKey]*link),
		endpoints: make(map[netcode.PeerID]*Endpoint),
	}
}

// Now returns the network's virtual time.
func (n *Network) Now() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

// Endpoint returns the endpoint named id, creating it on first use. An
// endpoint closed earlier is replaced by a fresh one (a restarted process).
func (n *Network) Endpoint(id netcode.PeerID) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.endpoints[id]; ok && !e.closed {
		return e
	}
	e := &Endpoint{net: n, id: id}
	n.endpoints[id] = e
	return e
}

// SetLink sets the conditions of the link from one endpoint to another.
func (n *Network) SetLink(from, to netcode.PeerID, c Conditions) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.linkLocked(from, to)
	wasDown := l.cond.Down
	l.cond = c
	if wasDown && !c.Down {
		held := l.held
		l.held = nil
		for _, p := range held {
			n.scheduleLocked(l, p)
		}
	}
}

// SetLinkBoth sets the conditions of both directions between a and b.
func (n *Network) SetLinkBoth(a, b netcode.PeerID, c Conditions) {
	n.SetLink(a, b, c)
	n.SetLink(b, a, c)
}

// Link returns the conditions of the link from one endpoint to another.
func (n *Network) Link(from, to netcode.PeerID) Conditions {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.linkLocked(from, to).cond
}

func (n *Network) linkLocked(from, to netcode.PeerID) *link {
	k := linkKey{from, to}
	l, ok := n.links[k]
	if !ok {
		l = &link{cond: n.def}
		n.links[k] = l
	}
	return l
}

// Advance moves the virtual clock forward by d and delivers every message
// due by then to its endpoint's inbox.
func (n *Network) Advance(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.now = n.now.Add(d)
	n.deliverLocked()
}

func (n *Network) deliverLocked() {
	for len(n.flight) > 0 && !n.flight[0].at.After(n.now) {
		p := heap.Pop(&n.flight).(*packet)
		src := n.endpoints[p.from]
		dst, ok := n.endpoints[p.to]
		if !ok || dst.closed {
			continue
		}
		if p.ch == netcode.Sequenced {
			l := n.linkLocked(p.from, p.to)
			if p.sseq <= l.seqDelivered {
				if src != nil {
					src.stats.Dropped++
				}
				continue
			}
			l.seqDelivered = p.sseq
		}
		if len(dst.inbox) >= MaxInbox && p.ch != netcode.Reliable {
			if src != nil {
				src.stats.Dropped++
			}
			continue
		}
		dst.inbox = append(dst.inbox, p)
		if src != nil {
			src.stats.Delivered++
		}
	}
}

func (n *Network) jitterLocked(c Conditions) time.Duration {
	d := c.Latency
	if c.Jitter > 0 {
		d += time.Duration(n.rng.Int63n(int64(2*c.Jitter)+1)) - c.Jitter
	}
	if d < 0 {
		d = 0
	}
	return d
}

// sendLocked routes one message from an endpoint.
func (n *Network) sendLocked(from *Endpoint, to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if _, ok := n.endpoints[to]; !ok {
		return ErrUnknownPeer
	}
	l := n.linkLocked(from.id, to)
	from.stats.Sent++
	from.stats.BytesSent += uint64(len(data))
	p := &packet{from: from.id, to: to, ch: ch, data: append([]byte(nil), data...)}
	if ch == netcode.Sequenced {
		l.seqSent++
		p.sseq = l.seqSent
	}
	if ch == netcode.Reliable {
		if l.cond.Down {
			l.held = append(l.held, p)
			return nil
		}
		n.scheduleLocked(l, p)
		return nil
	}
	c := l.cond
	if c.Down || (c.Loss > 0 && n.rng.Float64() < c.Loss) {
		from.stats.Lost++
		return nil
	}
	copies := 1
	if c.Duplicate > 0 && n.rng.Float64() < c.Duplicate {
		copies = 2
		from.stats.Duplicated++
	}
	for i := 0; i < copies; i++ {
		q := p
		if i > 0 {
			cp := *p
			q = &cp
		}
		at, ok := n.bandwidthLocked(l, len(data), false)
		if !ok {
			from.stats.Dropped++
			continue
		}
		at = at.Add(n.jitterLocked(c))
		if c.Reorder > 0 && n.rng.Float64() < c.Reorder {
			at = at.Add(time.Duration(n.rng.Int63n(int64(c.Latency+c.Jitter) + 1)))
		}
		q.at = at
		n.seq++
		q.seq = n.seq
		heap.Push(&n.flight, q)
	}
	return nil
}

// bandwidthLocked returns when a message of size bytes leaves the sender.
func (n *Network) bandwidthLocked(l *link, size int, reliable bool) (time.Time, bool) {
	if l.cond.Bandwidth <= 0 {
		return n.now, true
	}
	start := n.now
	if l.busyUntil.After(start) {
		if !reliable && l.busyUntil.Sub(start) > time.Second {
			return time.Time{}, false
		}
		start = l.busyUntil
	}
	l.busyUntil = start.Add(time.Duration(int64(size) * int64(time.Second) / int64(l.cond.Bandwidth)))
	return l.busyUntil, true
}

func (n *Network) scheduleLocked(l *link, p *packet) {
	c := l.cond
	at, _ := n.bandwidthLocked(l, len(p.data), true)
	at = at.Add(n.jitterLocked(c))
	if c.Loss > 0 {
		rto := c.RetransmitDelay
		if rto <= 0 {
			rto = 2*c.Latency + 20*time.Millisecond
		}
		for n.rng.Float64() < c.Loss && c.Loss < 1 {
			at = at.Add(rto)
			if src := n.endpoints[p.from]; src != nil {
				src.stats.Retransmitted++
			}
		}
	}
	if at.Before(l.lastReliable) {
		at = l.lastReliable
	}
	l.lastReliable = at
	p.at = at
	n.seq++
	p.seq = n.seq
	heap.Push(&n.flight, p)
}

// Endpoint is one peer on a Network. It implements netcode.Transport.
type Endpoint struct {
	net    *Network
	id     netcode.PeerID
	inbox  []*packet
	spare  []*packet
	closed bool
	stats  Stats
}

var _ netcode.Transport = (*Endpoint)(nil)

// ID returns the endpoint's peer id.
func (e *Endpoint) ID() netcode.PeerID { return e.id }

// Send queues data for peer to on channel ch. It never blocks.
func (e *Endpoint) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if len(data) > MaxMessageSize {
		return &SendError{To: to, Channel: ch, Err: ErrTooLarge}
	}
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if e.closed {
		return &SendError{To: to, Channel: ch, Err: ErrClosed}
	}
	if err := e.net.sendLocked(e, to, ch, data); err != nil {
		return &SendError{To: to, Channel: ch, Err: err}
	}
	return nil
}

// Poll calls fn for every message delivered to the endpoint since the
// previous call, in arrival order. fn must not call Poll.
func (e *Endpoint) Poll(fn func(from netcode.PeerID, ch netcode.Channel, data []byte)) {
	e.net.mu.Lock()
	if e.closed {
		e.net.mu.Unlock()
		return
	}
	batch := e.inbox
	e.inbox = e.spare[:0]
	e.net.mu.Unlock()
	for _, p := range batch {
		fn(p.from, p.ch, p.data)
	}
	for i := range batch {
		batch[i] = nil
	}
	e.net.mu.Lock()
	e.spare = batch[:0]
	e.net.mu.Unlock()
}

// Stats returns counters for the messages this endpoint sent.
func (e *Endpoint) Stats() Stats {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	return e.stats
}

// Close removes the endpoint from the network, as a process that died:
// messages in flight to it are lost, and Send returns ErrClosed. A later
// Network.Endpoint with the same id creates a fresh endpoint.
func (e *Endpoint) Close() error {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	e.inbox = nil
	if cur, ok := e.net.endpoints[e.id]; ok && cur == e {
		delete(e.net.endpoints, e.id)
	}
	return nil
}
