package rollback

import (
	"math"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// handleMessage is the Poll callback: data is valid only during the call.
func (s *Session) handleMessage(from netcode.PeerID, ch netcode.Channel, data []byte) {
	kind, err := wireKind(data)
	if err != nil {
		s.reject(from, err)
		return
	}
	if s.joining && kind != wireControl {
		return // before the welcome nothing else applies (old messages to a previous process)
	}
	if p := s.peerByID[from]; p != nil {
		switch kind {
		case wireInput:
			s.handleInput(p, data)
		case wireDrop:
			s.handleDrop(p, data)
		case wireControl:
			s.handleControl(from, p, data)
		case wireFeed:
			s.handleRejoinFeed(p, data)
		case wireFeedAck:
			s.handleFeedAck(from, data)
		default:
			s.reject(from, &WireError{Offset: 1, Err: ErrUnexpected})
		}
		return
	}
	switch kind {
	case wireJoin:
		s.handleJoin(from)
	case wireControl:
		s.handleControl(from, nil, data)
	case wireFeedAck:
		s.handleFeedAck(from, data)
	default:
		s.reject(from, &WireError{Offset: 1, Err: ErrUnexpected})
	}
}

func (s *Session) handleFeedAck(from netcode.PeerID, data []byte) {
	{
		l := s.specByID[from]
		if l == nil || !l.joined {
			s.reject(from, &WireError{Offset: 1, Err: ErrUnexpected})
			return
		}
		ack, err := parseFeedAck(data)
		if err != nil {
			s.reject(from, err)
			return
		}
		l.lastRecv = s.now
		if ack > l.ack && ack <= s.confirmed {
			l.ack = ack
		}
	}
}

func (s *Session) reject(from netcode.PeerID, err error) {
	s.stats.Rejected++
	if we, ok := err.(*WireError); ok && we.Peer == "" {
		cp := *we
		cp.Peer = from
		err = &cp
	}
	s.events.emit(EventRejected{Err: err})
}

func (s *Session) handleInput(p *sessionPeer, data []byte) {
	if p.leaving || p.dropped {
		return
	}
	m := &s.rx
	width := len(p.handles) * s.size
	if err := parseInputMsg(data, width, s.frame, m); err != nil {
		s.reject(p.id, err)
		return
	}
	if !s.started {
		s.peerStarted(p)
		if !s.started {
			return
		}
	}
	now := s.now
	p.lastRecv = now
	if p.knownEpoch < 0 {
		p.knownEpoch = int(m.Epoch) // a rejoined session adopts the peers' epochs
	}
	if int(m.Epoch) != p.knownEpoch&0xff {
		// The peer voted on a rejoin whose vote has not arrived yet: its
		// inputs may lie beyond the rejoin frame. The next datagram
		// repeats them.
		s.stats.Gated++
		return
	}
	if p.silent {
		p.silent = false
		s.events.emit(EventPeerResumed{Peer: p.id, Handles: clone(p.handles)})
	}
	if m.Ack > p.ack && m.Ack <= s.localLast {
		if t := s.localSentAt[m.Ack&ringMask]; !t.IsZero() && s.localLast-m.Ack < ringFrames {
			sample := now.Sub(t)
			if p.rtt == 0 {
				p.rtt = sample
			} else {
				p.rtt += (sample - p.rtt) / 8
			}
		}
		p.ack = m.Ack
	}
	if m.Frame > p.frame {
		if m.Frame > p.frame+1 && p.frame >= 0 {
			// A datagram from the peer was lost (it sends one a tick, one
			// frame apart): the path loses packets, so ours carry every
			// unacknowledged input for a while (leanStart).
			p.fullUntil = s.now.Add(leanBackoff)
		}
		p.frame = m.Frame
		owd := float64(p.rtt) / 2 / float64(time.Second) * float64(s.fps)
		p.localAdv += (float64(s.frame) - (float64(m.Frame) + owd) - p.localAdv) / 8
		if m.HasAdvantage {
			p.remAdv += (float64(m.Advantage) - p.remAdv) / 4
		}
	}
	first := s.players[p.handles[0]]
	end := m.Start + m.Count
	if end-1 > s.frame+maxAhead {
		// Beyond what the rings can hold ahead of us (we are catching up,
		// or the peer lies): take the inputs that fit.
		end = s.frame + maxAhead + 1
	}
	for f := max(m.Start, first.last+1); f < end; f++ {
		if f != first.last+1 {
			break
		}
		off := (f - m.Start) * width
		for i, h := range p.handles {
			r := s.players[h]
			copy(r.at(f), m.Inputs[off+i*s.size:off+(i+1)*s.size])
			r.last = f
			s.markInput(r, f)
		}
	}
	if m.HasSum && m.SumFrame > p.lastSum {
		s.remoteSum(p, m.SumFrame, m.Sum)
	}
}

// send sends one input datagram to every connected peer.
func (s *Session) send() {
	for _, p := range s.peers {
		if p.dropped || p.leaving {
			continue
		}
		// Oldest unacknowledged first: the receiver takes frames in order.
		start := max(p.ack+1, s.localLast-ringFrames+1, 0)
		start = s.leanStart(p, start)
		count := min(max(0, s.localLast-start+1), framesPerDatagram(len(s.local)*s.size))
		p.sentThrough = max(p.sentThrough, start+count-1)
		width := len(s.local) * s.size
		need := count * width
		if cap(s.txIn) < need {
			s.txIn = make([]byte, need)
		}
		s.txIn = s.txIn[:need]
		for f := start; f < start+count; f++ {
			off := (f - start) * width
			for i, h := range s.local {
				copy(s.txIn[off+i*s.size:], s.players[h].at(f))
			}
		}
		adv := math.Round(p.localAdv)
		adv = max(-127, min(127, adv))
		m := wireInputMsg{Frame: s.frame, Ack: s.players[p.handles[0]].last, Start: start, Count: count, Inputs: s.txIn, Epoch: s.epoch}
		if int8(adv) != p.sentAdv || s.ticks%advantageEvery == 0 {
			m.HasAdvantage, m.Advantage = true, int8(adv)
			p.sentAdv = int8(adv)
		}
		if s.sendSumN > 0 {
			m.HasSum, m.SumFrame, m.Sum = true, s.sendSum.frame, wireChecksum(s.sendSum.sum)
		}
		s.tx, s.scratch = appendInputMsg(s.tx[:0], &m, width, s.scratch)
		s.transmit(p.id, netcode.Unreliable, s.tx)
	}
	if s.sendSumN > 0 {
		s.sendSumN--
	}
	s.ticks++
	s.sendFeeds()
	s.sendRejoinAck()
}

// redundantFrames is how many consecutive datagrams carry each input at
// least once the RTT is long (see leanStart): a loss of fewer datagrams in
// a row costs nothing.
const redundantFrames = 3

// leanSpan is the most unacknowledged frames a datagram carries in full:
// about 130 ms of RTT at 60 ticks/s. Beyond it the datagram carries only
// the last redundantFrames frames while the rest's acknowledgement is on
// its way.
const leanSpan = 6

// leanStart returns the first frame the next datagram to p carries, given
// start, the first frame p has not acknowledged. While the unacknowledged
// frames fit in leanSpan, all of them go (redundancy instead of
// retransmission). Beyond, on a long RTT, every frame goes out in
// redundantFrames datagrams in a row and is then left out while its
// acknowledgement can still be on its way (p's smoothed RTT, plus a quarter
// of it and three ticks of slack), so the datagram does not grow with the
// RTT; once the oldest unacknowledged frame is overdue, every frame from it
// on is carried again, and keeps being for leanBackoff; so does it after a
// datagram from p went missing (a lossy path). A frame is never left out
// before it went out redundantFrames times, and before the first RTT
// sample every unacknowledged frame is carried.
func (s *Session) leanStart(p *sessionPeer, start int) int {
	if s.cfg.FullRedundancy || s.localLast-start+1 <= leanSpan || p.rtt <= 0 {
		return start
	}
	lean := min(s.localLast, p.sentThrough+1) - redundantFrames + 1
	if lean <= start {
		return start
	}
	if s.now.Before(p.fullUntil) {
		return start
	}
	sent := s.localSentAt[start&ringMask]
	tick := time.Second / time.Duration(s.fps)
	if sent.IsZero() || s.now.Sub(sent) > p.rtt+p.rtt/4+3*tick {
		// Something was lost: carry everything for a while, as on a
		// short RTT, so a lossy path keeps full redundancy.
		p.fullUntil = s.now.Add(leanBackoff)
		return start
	}
	return lean
}

// leanBackoff is how long a peer gets every unacknowledged frame after an
// acknowledgement came late.
const leanBackoff = 30 * time.Second

func (s *Session) transmit(to netcode.PeerID, ch netcode.Channel, data []byte) {
	if err := s.t.Send(to, ch, data); err == nil {
		s.stats.BytesSent += uint64(len(data))
		s.stats.DatagramsSent++
	}
}

// timeSync emits a wait recommendation when this peer runs ahead.
func (s *Session) timeSync() {
	ahead := s.FramesAhead()
	if ahead < 2 {
		return
	}
	now := s.now
	if now.Sub(s.lastWait) < time.Second {
		return
	}
	s.lastWait = now
	s.events.emit(EventWaitRecommended{Frames: int(ahead)})
}

// FramesAhead returns how many frames this peer runs ahead of the peer it
// leads most, from the frame advantage measured on both sides
// ((local − remote)/2, smoothed). Negative means behind.
func (s *Session) FramesAhead() float64 {
	ahead := math.Inf(-1)
	for _, p := range s.peers {
		if p.dropped || p.leaving || p.frame < 0 {
			continue
		}
		ahead = max(ahead, (p.localAdv-p.remAdv)/2)
	}
	if math.IsInf(ahead, -1) {
		return 0
	}
	return ahead
}

// TickScale returns the factor by which the game should stretch its next
// tick: 1 when in step, 1.03 per frame ahead (capped at 1.25) when this peer
// runs ahead. Slowing smoothly lets the peers behind catch up without a
// frame ever being skipped.
func (s *Session) TickScale() float64 {
	ahead := s.FramesAhead()
	if ahead < 0.5 {
		return 1
	}
	return min(1.25, 1+0.03*ahead)
}

// SkipTick is TickScale for a game loop whose tick rate is fixed (Ebiten's
// Update): it adds up the slow-down TickScale asks for and reports true when
// a whole tick is owed; the game then skips AdvanceFrame this tick (calling
// Poll instead). A peer 2 frames ahead skips about one tick in 16.
func (s *Session) SkipTick() bool {
	s.owed += s.TickScale() - 1
	if s.owed >= 1 {
		s.owed--
		return true
	}
	return false
}

// checkPeers applies the interrupt and disconnect timeouts.
func (s *Session) checkPeers() {
	if !s.started {
		return
	}
	now := s.now
	for _, p := range s.peers {
		if p.dropped || p.leaving {
			continue
		}
		if p.lastRecv.IsZero() {
			p.lastRecv = now // the clock starts at the first tick
			continue
		}
		silent := now.Sub(p.lastRecv)
		if silent >= s.cfg.InterruptTimeout && !p.silent {
			p.silent = true
			s.events.emit(EventPeerInterrupted{Peer: p.id, Handles: clone(p.handles)})
		}
		if silent >= s.cfg.DisconnectTimeout && s.cfg.DisconnectPolicy != StallForPlayer {
			s.announceDrop(p)
		}
	}
	if !s.checkQuorum() {
		return
	}
	for _, l := range s.specs {
		if l.joined && now.Sub(l.lastRecv) >= s.cfg.DisconnectTimeout {
			l.joined = false // it asks again when it comes back
		}
	}
}

// DisconnectPeer drops a peer's players now, whatever the policy (for
// StallForPlayer, this is how the game gives up waiting). The frame is agreed
// with the other peers like a timeout's.
func (s *Session) DisconnectPeer(id netcode.PeerID) error {
	if s.closed {
		return ErrClosed
	}
	p := s.peerByID[id]
	if p == nil {
		return &WireError{Peer: id, Err: ErrUnexpected}
	}
	s.announceDrop(p)
	return nil
}

// announceDrop tells every other connected peer which inputs of p we hold,
// with the last ones, so that all agree to drop p after the latest input
// any of them holds (the maximum: no peer ever rewrites a frame it may have
// confirmed).
func (s *Session) announceDrop(p *sessionPeer) {
	if p.leaving || p.dropped {
		return
	}
	p.leaving = true
	if p.votes == nil {
		p.votes = make(map[netcode.PeerID]int)
	}
	r := s.players[p.handles[0]]
	n := min(r.last+1, maxWireFrames/2, framesPerDatagram(len(p.handles)*s.size))
	width := len(p.handles) * s.size
	m := wireDropMsg{Handle: p.handles[0], Last: r.last, Inputs: make([]byte, 0, n*width)}
	for f := r.last - n + 1; f <= r.last; f++ {
		for _, h := range p.handles {
			m.Inputs = append(m.Inputs, s.players[h].at(f)...)
		}
	}
	p.votes[""] = r.last
	msg := appendDropMsg(nil, &m, width)
	for _, q := range s.peers {
		if q != p && !q.dropped && !q.leaving {
			s.transmit(q.id, netcode.Reliable, msg)
		}
	}
	// If p is alive but cut off from us only, this tells it (and the
	// game) that it is being dropped.
	s.transmit(p.id, netcode.Reliable, msg)
	s.tryDecideDrop(p)
}

func (s *Session) handleDrop(from *sessionPeer, data []byte) {
	m := &s.rxDrop
	if from.leaving || from.dropped {
		return // a peer we drop has no say
	}
	if len(data) < 3 || int(data[2]) >= len(s.players) {
		s.reject(from.id, &WireError{Offset: 2, Err: ErrMalformed})
		return
	}
	if s.cfg.Players[data[2]].Peer == "" {
		// from drops us: we part with it too. Whoever keeps a quorum
		// goes on; if that is not us, checkQuorum stops the session.
		from.droppedUs = true
		s.announceDrop(from)
		s.checkQuorum()
		return
	}
	p := s.peerByID[s.cfg.Players[data[2]].Peer]
	width := len(p.handles) * s.size
	if err := parseDropMsg(data, width, m); err != nil || p == from || len(m.Inputs)%width != 0 {
		if err == nil {
			err = &WireError{Offset: 2, Err: ErrMalformed}
		}
		s.reject(from.id, err)
		return
	}
	if p.dropped {
		return
	}
	// Take the inputs we lack, unless we already stopped taking them.
	n := len(m.Inputs) / width
	first := m.Last - n + 1
	for f := first; f <= m.Last; f++ {
		r0 := s.players[p.handles[0]]
		if f != r0.last+1 {
			continue
		}
		off := (f - first) * width
		for i, hh := range p.handles {
			r := s.players[hh]
			copy(r.at(f), m.Inputs[off+i*s.size:off+(i+1)*s.size])
			r.last = f
			s.markInput(r, f)
		}
	}
	if p.votes == nil {
		p.votes = make(map[netcode.PeerID]int)
	}
	p.votes[from.id] = m.Last
	if !p.leaving && p.handles[0] < from.handles[0] {
		// A peer only drops one with a lower handle than the announcer's
		// on its own timeout (the announcement is kept for then), so that
		// two peers that lose only each other cannot both be dropped.
		return
	}
	s.announceDrop(p) // no-op if already announced
	if s.checkQuorum() {
		s.tryDecideDrop(p)
	}
}

// tryDecideDrop drops p once every connected peer has announced, if they
// hold a quorum.
func (s *Session) tryDecideDrop(p *sessionPeer) {
	if p.dropped || s.stopErr != nil || !s.hasQuorum() {
		return
	}
	last := p.votes[""]
	for _, q := range s.peers {
		if q == p || q.dropped || q.leaving {
			continue
		}
		v, ok := p.votes[q.id]
		if !ok {
			return
		}
		last = max(last, v)
	}
	d := last + 1
	r0 := s.players[p.handles[0]]
	if r0.last < last {
		// A peer held inputs we never received and could not send us all
		// of them: carry on from what we hold rather than stall forever.
		d = r0.last + 1
	}
	p.dropped = true
	p.leaving = false
	for _, h := range p.handles {
		r := s.players[h]
		// A new drop window; an earlier one (the player dropped and
		// rejoined before) lies in confirmed frames, never simulated again.
		r.dropFrom, r.rejoinAt = d, noDrop
		if s.cfg.DisconnectPolicy == PredictPlayer && d > 0 {
			copy(r.dropInput, r.at(d-1))
		}
	}
	if d < s.frame && d < s.firstIncorrect {
		s.firstIncorrect = d
	}
	s.events.emit(EventPeerDisconnected{Peer: p.id, Handles: clone(p.handles), Frame: d})
	if s.fin.frozen == nil {
		s.fin.drops = append(s.fin.drops, DroppedPlayer{Peer: p.id, Handles: clone(p.handles), Frame: d})
	}
	// Peers still waiting on announcements or votes may now be decidable.
	for _, q := range s.peers {
		if q.leaving {
			s.tryDecideDrop(q)
		}
	}
	s.maybeVote(p)
	for _, q := range s.peers {
		if q.rejoin != nil {
			s.tryDecideRejoin(q)
		}
	}
}

// checksums checksums confirmed frames at the interval and compares them.
func (s *Session) checksums() {
	iv := s.cfg.ChecksumInterval
	if iv < 0 {
		return
	}
	for s.nextSum <= s.confirmed+1 && s.nextSum < s.frame {
		f := s.nextSum
		s.nextSum += iv
		sl := s.slot(f)
		if sl.frame != f {
			continue
		}
		sum := Checksum(sl.buf)
		s.stats.Checksums++
		s.sums[(f/iv)%sumHistory] = sumEntry{frame: f, sum: sum}
		s.sendSum, s.sendSumN = sumEntry{frame: f, sum: sum}, sumRepeats
		if s.cfg.OnConfirmedState != nil {
			s.cfg.OnConfirmedState(f, sum, sl.buf)
		}
		for _, p := range s.peers {
			for i := range p.sums {
				if e := p.sums[i]; e.frame == f && f > p.lastSum {
					s.compare(p, f, sum, uint32(e.sum)) // a remote report: 32 bits
				}
			}
		}
	}
}

func (s *Session) remoteSum(p *sessionPeer, f int, sum uint32) {
	iv := s.cfg.ChecksumInterval
	if iv <= 0 || f%iv != 0 {
		return
	}
	if e := s.sums[(f/iv)%sumHistory]; e.frame == f && f < s.nextSum {
		s.compare(p, f, e.sum, sum)
		return
	}
	p.sums[(f/iv)%len(p.sums)] = sumEntry{frame: f, sum: uint64(sum)}
}

// compare compares the local checksum of frame f with the one peer p
// reported, folded as on the wire.
func (s *Session) compare(p *sessionPeer, f int, local uint64, remote uint32) {
	p.lastSum = f
	s.stats.Compared++
	if l := wireChecksum(local); l != remote {
		s.stats.Desyncs++
		s.events.emit(EventDesync{Frame: f, Local: uint64(l), Remote: uint64(remote), Peer: p.id})
	} else if s.syncFrom > 0 && f >= s.syncFrom {
		s.syncFrom = 0
		s.events.emit(EventInSync{Frame: f, Peer: p.id})
	}
}

// Checksum returns the FNV-1a 64 hash sessions use for saved states.
func Checksum(state []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range state {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func clone(h []int) []int { return append([]int(nil), h...) }

// maxSessionDatagram is the most bytes a session puts in one unreliable message:
// the mesh's MaxDatagramMessage (one SCTP chunk in one packet) with room to
// spare.
const maxSessionDatagram = 1100

// framesPerDatagram is how many frames of width bytes fit a datagram in the
// worst case of the run-length code (9 bytes per 8) after a 48-byte header.
func framesPerDatagram(width int) int {
	return max(1, min(maxWireFrames, (maxSessionDatagram-48)*8/9/width))
}
