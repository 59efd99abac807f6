package netsim

import (
	"container/heap"
	"math/rand"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// ConditionerConfig configures a Conditioner. The zero value passes every
// message through unchanged.
type ConditionerConfig struct {
	// Conditions apply to every message sent, to any peer. Bandwidth is
	// shared by all peers. Down holds reliable messages and drops others.
	Conditions Conditions
	// Seed seeds the random source. Zero is a valid seed.
	Seed int64
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
}

// Conditioner wraps a netcode.Transport and delays, drops, duplicates and
// reorders what is sent through it, like a Network link. It implements
// netcode.Transport. It has no goroutine: messages that are due are handed to
// the inner transport from Send, Poll and Flush.
type Conditioner struct {
	inner netcode.Transport
	clock func() time.Time

	flushMu sync.Mutex // keeps hand-offs to inner in order
	mu      sync.Mutex
	cond    Conditions
	rng     *rand.Rand
	held    flightHeap
	seq     uint64
	l       link
	stats   Stats
	closed  bool
	due     []*packet
}

var _ netcode.Transport = (*Conditioner)(nil)

// NewConditioner wraps inner.
func NewConditioner(inner netcode.Transport, cfg ConditionerConfig) *Conditioner {
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Conditioner{inner: inner, clock: clock, cond: cfg.Conditions, rng: rand.New(rand.NewSource(cfg.Seed))}
}

// SetConditions changes the conditions for messages sent from now on.
func (c *Conditioner) SetConditions(cond Conditions) {
	c.mu.Lock()
	if c.cond.Down && !cond.Down {
		// Reliable messages held while the link was down leave now, in
		// order, and later ones queue behind them.
		now := c.clock()
		for _, p := range c.held {
			if p.ch == netcode.Reliable && p.at.Sub(now) > 12*time.Hour {
				p.at = now
			}
		}
		heap.Init(&c.held)
		c.l.lastReliable = now
	}
	c.cond = cond
	c.mu.Unlock()
	c.Flush()
}

// Conditions returns the current conditions.
func (c *Conditioner) Conditions() Conditions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cond
}

// Stats returns counters for the messages sent through the conditioner.
func (c *Conditioner) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Send applies the conditions to data and hands it to the inner transport
// now or when it is due. It never blocks.
func (c *Conditioner) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if len(data) > MaxMessageSize {
		return &SendError{To: to, Channel: ch, Err: ErrTooLarge}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return &SendError{To: to, Channel: ch, Err: ErrClosed}
	}
	now := c.clock()
	cond := c.cond
	c.stats.Sent++
	c.stats.BytesSent += uint64(len(data))
	c.l.cond = cond
	p := &packet{to: to, ch: ch}
	if ch == netcode.Reliable {
		at := now.Add(c.delayLocked(cond))
		if cond.Loss > 0 && cond.Loss < 1 {
			rto := cond.RetransmitDelay
			if rto <= 0 {
				rto = 2*cond.Latency + 20*time.Millisecond
			}
			for c.rng.Float64() < cond.Loss {
				at = at.Add(rto)
				c.stats.Retransmitted++
			}
		}
		if cond.Down {
			// Held until the link is up: modelled as far in the future,
			// re-timed by SetConditions.
			at = now.Add(24 * time.Hour)
		}
		if at.Before(c.l.lastReliable) {
			at = c.l.lastReliable
		}
		c.l.lastReliable = at
		p.at = at
		c.pushLocked(p, data)
	} else {
		if cond.Down || (cond.Loss > 0 && c.rng.Float64() < cond.Loss) {
			c.stats.Lost++
			c.mu.Unlock()
			c.Flush()
			return nil
		}
		copies := 1
		if cond.Duplicate > 0 && c.rng.Float64() < cond.Duplicate {
			copies = 2
			c.stats.Duplicated++
		}
		for i := 0; i < copies; i++ {
			q := &packet{to: to, ch: ch}
			at := now.Add(c.delayLocked(cond))
			if cond.Reorder > 0 && c.rng.Float64() < cond.Reorder {
				at = at.Add(time.Duration(c.rng.Int63n(int64(cond.Latency+cond.Jitter) + 1)))
			}
			q.at = at
			c.pushLocked(q, data)
		}
	}
	c.mu.Unlock()
	return c.Flush()
}

func (c *Conditioner) delayLocked(cond Conditions) time.Duration {
	d := cond.Latency
	if cond.Jitter > 0 {
		d += time.Duration(c.rng.Int63n(int64(2*cond.Jitter)+1)) - cond.Jitter
	}
	if d < 0 {
		d = 0
	}
	return d
}

func (c *Conditioner) pushLocked(p *packet, data []byte) {
	p.data = append([]byte(nil), data...)
	c.seq++
	p.seq = c.seq
	heap.Push(&c.held, p)
}

// Flush hands every message that is due to the inner transport. It returns
// the first error the inner transport returned.
func (c *Conditioner) Flush() error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	now := c.clock()
	due := c.due[:0]
	for len(c.held) > 0 && !c.held[0].at.After(now) {
		due = append(due, heap.Pop(&c.held).(*packet))
	}
	c.due = nil
	c.mu.Unlock()
	var first error
	for _, p := range due {
		if err := c.inner.Send(p.to, p.ch, p.data); err != nil && first == nil {
			first = err
		}
	}
	c.mu.Lock()
	c.stats.Delivered += uint64(len(due))
	for i := range due {
		due[i] = nil
	}
	c.due = due[:0]
	c.mu.Unlock()
	return first
}

// Poll releases due messages, then polls the inner transport.
func (c *Conditioner) Poll(fn func(from netcode.PeerID, ch netcode.Channel, data []byte)) {
	_ = c.Flush()
	c.inner.Poll(fn)
}

// Pending returns how many messages are held.
func (c *Conditioner) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held)
}

// Close drops the held messages; Send then returns ErrClosed. It does not
// close the inner transport.
func (c *Conditioner) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.held = nil
	return nil
}
