package rollback

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// barrier is the state of the start barrier (see the package doc).
type barrier struct {
	on       bool
	began    time.Time
	deadline time.Time
	aborted  bool
}

// allMask is the mask of every handle of the match.
func (s *Session) allMask() uint32 {
	if len(s.players) == 32 {
		return ^uint32(0)
	}
	return 1<<len(s.players) - 1
}

func handlesMask(hs []int) uint32 {
	var m uint32
	for _, h := range hs {
		m |= 1 << h
	}
	return m
}

func maskHandles(m uint32) []int {
	var hs []int
	for m != 0 {
		h := bits.TrailingZeros32(m)
		hs = append(hs, h)
		m &^= 1 << h
	}
	return hs
}

// heardMask is the hello's mask: this peer's players and those of every
// peer it has heard from.
func (s *Session) heardMask() uint32 {
	m := handlesMask(s.local)
	for _, p := range s.peers {
		if p.heard {
			m |= handlesMask(p.handles)
		}
	}
	return m
}

// advanceBarrier runs one tick of the start barrier: it handles the
// arrived messages, starts when every peer hears every other, fails the
// start on timeout, and sends this peer's hello.
func (s *Session) advanceBarrier() error {
	b := &s.barrier
	if !b.on {
		s.start()
		return nil
	}
	if b.began.IsZero() {
		b.began = s.now
		b.deadline = s.now.Add(s.cfg.StartTimeout)
	}
	s.t.Poll(s.onMessage)
	if s.stopErr != nil || s.started {
		return s.stopErr
	}
	s.tryStart()
	if s.started {
		return nil
	}
	if s.now.After(b.deadline) {
		if missing := s.unheard(); len(missing) > 0 {
			return s.failStart(missing, fmt.Sprintf("no word from %v within %v", missing, s.cfg.StartTimeout))
		}
		if s.now.After(b.deadline.Add(s.cfg.StartTimeout)) {
			var notFull []netcode.PeerID
			for _, p := range s.peers {
				if !p.full {
					notFull = append(notFull, p.id)
				}
			}
			return s.failStart(notFull, fmt.Sprintf("%v never reported reaching every peer within %v", notFull, 2*s.cfg.StartTimeout))
		}
	}
	s.sendHellos()
	return nil
}

func (s *Session) unheard() []netcode.PeerID {
	var out []netcode.PeerID
	for _, p := range s.peers {
		if !p.heard {
			out = append(out, p.id)
		}
	}
	return out
}

// tryStart starts once this peer hears every peer and every peer reported
// hearing every other.
func (s *Session) tryStart() {
	for _, p := range s.peers {
		if !p.heard || !p.full {
			return
		}
	}
	s.start()
}

func (s *Session) start() {
	if s.started {
		return
	}
	s.started = true
	for _, p := range s.peers {
		p.lastRecv = s.now
	}
	if s.barrier.on {
		s.events.emit(EventStarted{Waited: s.now.Sub(s.barrier.began)})
	}
}

func (s *Session) failStart(missing []netcode.PeerID, reason string) error {
	s.barrier.aborted = true
	s.stopErr = fmt.Errorf("%w: %s", ErrStartFailed, reason)
	s.events.emit(EventStartFailed{Missing: missing, Reason: reason})
	s.sendHellos()
	return s.stopErr
}

// sendHellos sends this peer's hello to every peer: while it waits at the
// barrier, and after it gave up (with the abort flag).
func (s *Session) sendHellos() {
	if !s.barrier.on || s.started && !s.barrier.aborted {
		return
	}
	m := wireCtlMsg{Sub: ctlHello, Heard: s.heardMask()}
	if s.barrier.aborted {
		m.Flags |= helloAbort
	}
	s.tx = appendCtlMsg(s.tx[:0], &m)
	for _, p := range s.peers {
		s.transmit(p.id, netcode.Unreliable, s.tx)
	}
}

func (s *Session) handleHello(p *sessionPeer, m *wireCtlMsg) {
	p.heard = true
	if s.started || s.stopErr != nil {
		return
	}
	if m.Flags&helloAbort != 0 {
		s.failStart([]netcode.PeerID{p.id}, fmt.Sprintf("%s gave up waiting for the others", p.id))
		return
	}
	if m.Flags&helloStarted != 0 {
		s.start()
		return
	}
	all := s.allMask()
	p.full = m.Heard&all == all
}

// peerStarted is called for a message only a started peer sends: a peer
// starts only once the barrier passed for everyone, so this one may too.
func (s *Session) peerStarted(p *sessionPeer) {
	p.heard, p.full = true, true
	if !s.started && s.stopErr == nil && s.barrier.on && !s.barrier.began.IsZero() {
		s.start()
	}
}

// hasQuorum reports whether this peer and the peers it is still in contact
// with (neither leaving nor dropped) may go on without the others: more
// than half of the peers still in the match, or exactly half including the
// one with the lowest handle.
func (s *Session) hasQuorum() bool {
	active, alive := 1, 1
	low, lowAlive := s.local[0], true
	for _, p := range s.peers {
		if p.dropped {
			continue
		}
		active++
		in := !p.leaving
		if in {
			alive++
		}
		if p.handles[0] < low {
			low, lowAlive = p.handles[0], in
		}
	}
	return 2*alive > active || (2*alive == active && lowAlive)
}

// checkQuorum stops the session when this peer lost contact with the
// quorum: the others drop it, and it must not play on as a game of its own.
func (s *Session) checkQuorum() bool {
	if s.hasQuorum() {
		return true
	}
	var lost []netcode.PeerID
	var by netcode.PeerID
	for _, p := range s.peers {
		if p.leaving {
			lost = append(lost, p.id)
		}
		if p.droppedUs && by == "" {
			by = p.id
		}
	}
	s.lose(by, fmt.Sprintf("lost contact with %v: the other players go on without this one", lost))
	return false
}

// lose stops the session: the others drop this peer.
func (s *Session) lose(by netcode.PeerID, reason string) {
	if s.stopErr != nil || s.fin.frozen != nil {
		return
	}
	s.droppedByPeers = true
	s.stopErr = fmt.Errorf("%w: %s", ErrDroppedByPeers, reason)
	s.events.emit(EventDroppedByPeers{By: by, Reason: reason})
	o := s.outcome()
	o.Reason = "dropped by the other peers: " + reason
	s.fin.frozen = &o
}

// finalState is the end of the match as this peer sees it.
type finalState struct {
	done    bool // the state at the end frame is confirmed and checksummed
	sum     uint64
	state   []byte
	reports map[netcode.PeerID]finalReport
	drops   []DroppedPlayer
	frozen  *Outcome
}

type finalReport struct {
	frame        int
	sum          uint32
	roster, seen uint32
}

// Finish ends the match at frame end on this peer: the session simulates
// frames before end only, and once every input before end is confirmed it
// checksums the state at end and reports it to every peer, with the
// players still in the match. A peer that has not called Finish adopts the
// end frame of the first final report it receives (EventEnding), going
// back to its saved state of that frame if it ran past it; peers that call
// Finish must all give the same end. Keep calling AdvanceFrame (it keeps
// exchanging messages) until Outcome().Settled, or for a while after
// Outcome().Reported.
func (s *Session) Finish(end int) error {
	if s.closed {
		return ErrClosed
	}
	if end < 1 || end > maxWireFrame || (s.end > 0 && end != s.end) || end < s.frame {
		return fmt.Errorf("%w: end frame %d (frame %d, confirmed %d)", ErrConfig, end, s.frame, s.confirmed)
	}
	s.end = end
	return nil
}

// adoptEnd ends this session at the end frame a peer reported: a peer
// that ends the match ends it for everyone. A session already past end
// goes back to its saved state of end (its frames after it were
// predictions: the peer sends no inputs for them).
func (s *Session) adoptEnd(end int, from netcode.PeerID) {
	if end < 1 || end > maxWireFrame || !s.started || s.joining {
		return
	}
	if s.frame > end {
		sl := s.slot(end)
		if sl.frame != end || s.firstIncorrect < end {
			// Too far ahead (or a rollback before end is due: the next
			// tick does it, and the next report adopts then).
			return
		}
		if err := s.game.LoadState(sl.buf); err != nil {
			return
		}
		s.frame = end
		s.firstIncorrect = math.MaxInt
	}
	s.end = end
	s.events.emit(EventEnding{Frame: end, Peer: from})
}

// finish runs at every tick once the session reached the end frame.
func (s *Session) finish() {
	f := &s.fin
	if !f.done && s.frame == s.end && s.confirmed >= s.end-1 {
		f.state = s.game.SaveState(f.state[:0])
		f.sum = Checksum(f.state)
		f.done = true
	}
	if !f.done {
		return
	}
	s.tryFreeze()
	m := wireCtlMsg{Sub: ctlFinal, Frame: s.end, Sum: wireChecksum(f.sum), Roster: s.rosterMask(), Seen: s.seenMask()}
	s.tx = appendCtlMsg(s.tx[:0], &m)
	for _, p := range s.peers {
		if !p.dropped && !p.leaving {
			s.transmit(p.id, netcode.Unreliable, s.tx)
		}
	}
}

// rosterMask is the mask of the players still in the match.
func (s *Session) rosterMask() uint32 {
	m := s.allMask()
	for _, p := range s.peers {
		if p.dropped {
			m &^= handlesMask(p.handles)
		}
	}
	return m
}

func (s *Session) seenMask() uint32 {
	m := handlesMask(s.local)
	for _, p := range s.peers {
		if _, ok := s.fin.reports[p.id]; ok {
			m |= handlesMask(p.handles)
		}
	}
	return m
}

func (s *Session) handleFinal(p *sessionPeer, m *wireCtlMsg) {
	if p.dropped || p.leaving {
		return
	}
	if s.end == 0 {
		s.adoptEnd(m.Frame, p.id)
	}
	if s.fin.reports == nil {
		s.fin.reports = make(map[netcode.PeerID]finalReport)
	}
	s.fin.reports[p.id] = finalReport{frame: m.Frame, sum: m.Sum, roster: m.Roster, seen: m.Seen}
	s.tryFreeze()
}

// tryFreeze fixes the outcome once this peer's final state and the report
// of every peer still in the match are in: drops after that (peers that
// stop once they have all reports) do not change it.
func (s *Session) tryFreeze() {
	f := &s.fin
	if !f.done || f.frozen != nil || s.stopErr != nil {
		return
	}
	for _, p := range s.peers {
		if p.dropped {
			continue
		}
		if _, ok := f.reports[p.id]; !ok {
			return
		}
	}
	o := s.outcome()
	f.frozen = &o
}

// Outcome returns the result of the match as far as this peer knows it:
// frozen once every peer still in the match reported its final state (or
// this session stopped), live before.
func (s *Session) Outcome() Outcome {
	if f := s.fin.frozen; f != nil {
		o := *f
		o.Settled = s.stopErr != nil || s.settled()
		return o
	}
	return s.outcome()
}

// settled reports whether every peer that reported holds every report.
func (s *Session) settled() bool {
	want := s.rosterMask()
	for _, p := range s.peers {
		if p.dropped {
			continue
		}
		r, ok := s.fin.reports[p.id]
		if !ok || r.seen&want != want {
			return false
		}
	}
	return true
}

func (s *Session) outcome() Outcome {
	f := &s.fin
	o := Outcome{End: s.end, Final: f.done, Players: len(s.players), Desyncs: s.stats.Desyncs,
		Dropped: slices.Clone(f.drops)}
	if f.done {
		o.Checksum = f.sum
	}
	o.Remaining = maskHandles(s.rosterMask())
	o.Reported = f.done
	for _, p := range s.peers {
		r, ok := f.reports[p.id]
		if !ok {
			if !p.dropped {
				o.Reported = false
			}
			continue
		}
		o.Peers = append(o.Peers, PeerReport{Peer: p.id, Frame: r.frame, Checksum: r.sum, Remaining: maskHandles(r.roster)})
	}
	switch {
	case s.end == 0:
		o.Reason = "the match has not ended (Finish)"
	case slices.ContainsFunc(o.Dropped, func(d DroppedPlayer) bool { return d.Until == 0 }):
		d := o.Dropped[slices.IndexFunc(o.Dropped, func(d DroppedPlayer) bool { return d.Until == 0 })]
		o.Reason = fmt.Sprintf("the roster changed: %s (players %v) dropped at frame %d", d.Peer, d.Handles, d.Frame)
	case o.Desyncs > 0:
		o.Reason = fmt.Sprintf("%d checksum mismatches with peers during the match", o.Desyncs)
	case !f.done:
		o.Reason = fmt.Sprintf("frame %d not confirmed here", s.end-1)
	case !o.Reported:
		o.Reason = "not every peer reported its final state"
	}
	if o.Reason != "" {
		return o
	}
	all, mine := s.allMask(), wireChecksum(f.sum)
	for _, p := range s.peers {
		r := f.reports[p.id]
		switch {
		case r.frame != s.end:
			o.Reason = fmt.Sprintf("%s ended at frame %d, this peer at %d", p.id, r.frame, s.end)
		case r.roster != all:
			o.Reason = fmt.Sprintf("%s ended with players %v, not all %d", p.id, maskHandles(r.roster), len(s.players))
		case r.sum != mine:
			o.Reason = fmt.Sprintf("%s reports checksum %08x at frame %d, this peer %08x", p.id, r.sum, s.end, mine)
		}
		if o.Reason != "" {
			return o
		}
	}
	o.Agree = true
	return o
}

// Outcome is the result of a match (Session.Outcome).
type Outcome struct {
	// End is the end frame given to Finish (0: not yet): the final state is
	// the state after frames 0 to End−1.
	End int
	// Final is true once this peer confirmed every input before End and
	// checksummed the final state (Checksum).
	Final    bool
	Checksum uint64
	// Reported is true once every peer still in the match reported its
	// final state; the outcome is then frozen.
	Reported bool
	// Settled is true once every peer that reported holds every other's
	// report too (or this session stopped): the game may close the session.
	Settled bool
	// Agree is true only when every peer of the match reported the same
	// checksum (folded to 32 bits, as on the wire) for the same End with
	// every player still in the match, no checksum of the match differed,
	// and this session was not dropped.
	Agree bool
	// Players is the number of players at the start; Remaining the handles
	// still in the match at the end, as this peer sees it.
	Players   int
	Remaining []int
	// Dropped lists the players dropped during the match, by agreement,
	// those that rejoined included (Until set). A drop that a rejoin
	// healed (Config.Rejoin: the player's peer restarted and took its seat
	// back) does not keep the peers from agreeing: the roster is full
	// again at the end.
	Dropped []DroppedPlayer
	// Peers lists the final reports received.
	Peers []PeerReport
	// Desyncs counts checksum mismatches seen during the match.
	Desyncs uint64
	// Reason says why Agree is false ("" when it holds).
	Reason string
}

// DroppedPlayer is a peer whose players were dropped by agreement.
type DroppedPlayer struct {
	Peer    netcode.PeerID
	Handles []int
	Frame   int
	// Until, when not 0, is the frame from which the players played again
	// after a rejoin (frames Frame to Until−1 had stand-in inputs).
	Until int
}

// PeerReport is a peer's final report.
type PeerReport struct {
	Peer      netcode.PeerID
	Frame     int
	Checksum  uint32 // wireChecksum of its final state
	Remaining []int  // the handles it had still in the match
}
