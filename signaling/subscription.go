package signaling

import (
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultSubscriptionQueue is the queue of a subscription whose
// SubscriptionConfig.Queue is zero.
const DefaultSubscriptionQueue = 256

// SubscriptionConfig configures a subscription. The zero value claims no
// message type and receives only connection events.
type SubscriptionConfig struct {
	// Types lists the extension message types the subscription claims, such
	// as "lobby.delta" or "mm.matched". A pattern ending in ".*" claims
	// every type with that prefix: "mm.*" claims "mm.matched" and
	// "mm.rated". Only messages the server pushes without a cid can be
	// claimed; the core types (signal, joined, peer_joined...) cannot.
	Types []string
	// Queue is how many events may wait for the owner. Zero means
	// DefaultSubscriptionQueue (256).
	Queue int
}

// Subscription is one protocol's share of a Client's connection: the
// pushed messages of the types it claims, plus the connection's
// Disconnected and Reconnected events, in arrival order on one channel of
// its own. Nothing that other subscriptions, SubscribeSignals callbacks or
// the Events channel do delays it, and it delays none of them.
//
// # Overflow
//
// The channel holds up to SubscriptionConfig.Queue events; the client never
// waits for a subscription. When an event finds the queue full, it is
// dropped, counted (Dropped), and an Overflow event takes the queue's one
// spare place behind the events already waiting; every later event is
// dropped and counted too, until the owner has read that Overflow. So the
// owner always learns of a loss, at the place in the stream where it
// happened, and must then recover the state it keeps by asking the server
// (a lobby client asks lobby.sync, a matchmaker client mm.status).
type Subscription struct {
	c       *Client
	key     int
	types   []string
	queue   int
	ch      chan Event
	dropped atomic.Uint64

	mu       sync.Mutex
	closed   bool
	overflow bool // an unread Overflow is the last event in ch
}

// Subscribe claims the pushed messages of types (see
// SubscriptionConfig.Types) for a new subscription with the default queue.
func (c *Client) Subscribe(types ...string) *Subscription {
	return c.SubscribeWith(SubscriptionConfig{Types: types})
}

// SubscribeWith starts a subscription configured by cfg. Messages of the
// claimed types that arrive from then on go to the subscription (to every
// subscription that claims them) and no longer to the Events channel; those
// that arrived before are not replayed. On a closed client the
// subscription's channel is closed already.
func (c *Client) SubscribeWith(cfg SubscriptionConfig) *Subscription {
	n := cfg.Queue
	if n <= 0 {
		n = DefaultSubscriptionQueue
	}
	s := &Subscription{c: c, types: append([]string(nil), cfg.Types...), queue: n, ch: make(chan Event, n+1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		s.closed = true
		close(s.ch)
		return s
	}
	if c.msgSubs == nil {
		c.msgSubs = make(map[int]*Subscription)
	}
	c.subSeq++
	s.key = c.subSeq
	c.msgSubs[s.key] = s
	return s
}

// Events returns the subscription's channel: Message events of the claimed
// types, Disconnected and Reconnected, and Overflow after a loss. It is
// closed by Close and when the client closes.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped returns how many events the subscription lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription and closes its channel; the types it claimed
// go back to the Events channel unless another subscription claims them.
// Close is idempotent and may be called from any goroutine.
func (s *Subscription) Close() {
	if s.c != nil {
		s.c.mu.Lock()
		if s.c.msgSubs[s.key] == s {
			delete(s.c.msgSubs, s.key)
		}
		s.c.mu.Unlock()
	}
	s.end()
}

// end closes the channel once.
func (s *Subscription) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// claims reports whether the subscription claims message type typ.
func (s *Subscription) claims(typ string) bool {
	for _, t := range s.types {
		if t == typ || (strings.HasSuffix(t, ".*") && strings.HasPrefix(typ, t[:len(t)-1])) {
			return true
		}
	}
	return false
}

// offer queues ev without waiting, under the overflow policy.
func (s *Subscription) offer(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.overflow {
		// Nothing is queued behind the Overflow, so an empty channel means
		// the owner has read it.
		if len(s.ch) > 0 {
			s.dropped.Add(1)
			return
		}
		s.overflow = false
	}
	if len(s.ch) < s.queue {
		s.ch <- ev
		return
	}
	s.dropped.Add(1)
	s.overflow = true
	s.ch <- Overflow{} // the spare place
}
