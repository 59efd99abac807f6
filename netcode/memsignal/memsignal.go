package memsignal

import (
	"context"
	"sync"
)

// Hub is one room. The zero value is an empty room ready to use.
type Hub struct {
	mu      sync.Mutex
	members map[string]*Signaler
	order   []string
	// Filter, when set before the first Join, sees every signal; returning
	// false drops it (the sender still gets nil). Tests use it to lose or
	// inspect signals.
	Filter func(from, to string, payload []byte) bool
}

// Join adds a member with the given id and returns its Signaler.
func (h *Hub) Join(id string) (*Signaler, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.members == nil {
		h.members = make(map[string]*Signaler)
	}
	if _, ok := h.members[id]; ok {
		return nil, ErrDuplicateID
	}
	s := &Signaler{hub: h, id: id, wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{})}
	go s.run()
	for _, other := range h.order {
		o := h.members[other]
		o.enqueue(event{peer: id, joined: true, isPeer: true})
	}
	h.members[id] = s
	h.order = append(h.order, id)
	return s, nil
}

// Members returns the ids in the room, in join order.
func (h *Hub) Members() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.order...)
}

type event struct {
	from    string
	payload []byte
	peer    string
	joined  bool
	isPeer  bool
}

// Signaler is one member's connection to a Hub. It implements
// netcode.Signaler.
type Signaler struct {
	hub     *Hub
	id      string
	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	queue    []event
	onSignal func(from string, payload []byte)
	onPeer   func(peer string, joined bool)
	subGen   int
	closed   bool
}

// LocalID returns the member's id, or "" after Leave.
func (s *Signaler) LocalID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ""
	}
	return s.id
}

// SendSignal queues payload for the member to. It never blocks.
func (s *Signaler) SendSignal(ctx context.Context, to string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	h := s.hub
	h.mu.Lock()
	dst, ok := h.members[to]
	filter := h.Filter
	h.mu.Unlock()
	if !ok {
		return ErrNoPeer
	}
	if filter != nil && !filter(s.id, to, payload) {
		return nil
	}
	dst.enqueue(event{from: s.id, payload: append([]byte(nil), payload...)})
	return nil
}

// SubscribeSignals sets the callbacks. Members already in the room are
// reported through onPeer first. Only one subscription is active: a new one
// replaces the previous.
func (s *Signaler) SubscribeSignals(onSignal func(from string, payload []byte), onPeer func(peer string, joined bool)) (cancel func()) {
	h := s.hub
	h.mu.Lock()
	var existing []string
	for _, id := range h.order {
		if id != s.id {
			existing = append(existing, id)
		}
	}
	h.mu.Unlock()
	s.mu.Lock()
	s.subGen++
	gen := s.subGen
	s.onSignal, s.onPeer = onSignal, onPeer
	// Existing members go to the front so they precede anything queued.
	// Joins queued before the subscription are replaced by this report.
	pre := make([]event, 0, len(existing)+len(s.queue))
	reported := make(map[string]bool, len(existing))
	for _, id := range existing {
		pre = append(pre, event{peer: id, joined: true, isPeer: true})
		reported[id] = true
	}
	for _, e := range s.queue {
		if !(e.isPeer && e.joined && reported[e.peer]) {
			pre = append(pre, e)
		}
	}
	s.queue = pre
	s.mu.Unlock()
	s.poke()
	return func() {
		s.mu.Lock()
		if s.subGen == gen {
			s.onSignal, s.onPeer = nil, nil
		}
		s.mu.Unlock()
	}
}

// Leave removes the member from the room, tells the others, and waits for
// the callback goroutine to stop. It must not be called from a callback.
func (s *Signaler) Leave() {
	h := s.hub
	h.mu.Lock()
	if h.members[s.id] == s {
		delete(h.members, s.id)
		for i, id := range h.order {
			if id == s.id {
				h.order = append(h.order[:i:i], h.order[i+1:]...)
				break
			}
		}
		for _, id := range h.order {
			h.members[id].enqueue(event{peer: s.id, joined: false, isPeer: true})
		}
	}
	h.mu.Unlock()
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		close(s.done)
	}
	<-s.stopped
}

func (s *Signaler) enqueue(e event) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	s.poke()
}

func (s *Signaler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Signaler) run() {
	defer close(s.stopped)
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			if s.closed || len(s.queue) == 0 || (s.onSignal == nil && s.onPeer == nil) {
				s.mu.Unlock()
				break
			}
			e := s.queue[0]
			s.queue[0] = event{}
			s.queue = s.queue[1:]
			onSignal, onPeer := s.onSignal, s.onPeer
			s.mu.Unlock()
			if e.isPeer {
				if onPeer != nil {
					onPeer(e.peer, e.joined)
				}
			} else if onSignal != nil {
				onSignal(e.from, e.payload)
			}
		}
	}
}
