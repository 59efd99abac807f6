package broadcast

import (
	"sync"
	"sync/atomic"

	"github.com/rallypoint/rallypoint/netcode"
)

// Split shares one transport between a broadcast node and another
// protocol (a rollback.Session): messages that start with Magic go to the
// broadcast half, all others to the game half. Each half's Poll first
// delivers what the other half's Poll set aside for it, then polls the
// transport. Set-aside messages are copied and held up to 4096 per half;
// beyond that they are dropped and counted (Dropped), so a half that is
// never polled cannot grow without bound. Send goes straight to the
// transport. The halves may be polled from different goroutines.
func Split(t netcode.Transport) (game, bcast netcode.Transport) {
	s := &splitter{t: t}
	return &half{s: s, bcast: false}, &half{s: s, bcast: true}
}

// Dropped returns how many messages a Split set aside and then dropped
// because the other half was not polled; 0 for any other transport.
func Dropped(t netcode.Transport) uint64 {
	if h, ok := t.(*half); ok {
		return h.s.dropped.Load()
	}
	return 0
}

const splitQueue = 4096

type queued struct {
	from netcode.PeerID
	ch   netcode.Channel
	data []byte
}

type splitter struct {
	t       netcode.Transport
	poll    sync.Mutex // one Poll of the transport at a time
	mu      sync.Mutex
	q       [2][]queued // set aside for the game (0) and the broadcast (1)
	dropped atomic.Uint64
}

type half struct {
	s     *splitter
	bcast bool
}

func (h *half) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	return h.s.t.Send(to, ch, data)
}

func isBroadcast(data []byte) bool { return len(data) > 0 && data[0] == Magic }

func (h *half) Poll(fn func(from netcode.PeerID, ch netcode.Channel, data []byte)) {
	s := h.s
	mine := 0
	if h.bcast {
		mine = 1
	}
	s.poll.Lock()
	defer s.poll.Unlock()
	s.mu.Lock()
	q := s.q[mine]
	s.q[mine] = nil
	s.mu.Unlock()
	for _, m := range q {
		fn(m.from, m.ch, m.data)
	}
	s.t.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		if isBroadcast(data) == h.bcast {
			fn(from, ch, data)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.q[1-mine]) >= splitQueue {
			s.dropped.Add(1)
			return
		}
		s.q[1-mine] = append(s.q[1-mine], queued{from, ch, append([]byte(nil), data...)})
	})
}
