package rollback

import (
	"slices"

	"github.com/rallypoint/rallypoint/netcode"
)

// EventPeerRejoined reports that a dropped player's peer, restarted, plays
// again from Frame on. Peer is its (possibly new) id.
type EventPeerRejoined struct {
	Peer    netcode.PeerID
	Handles []int
	Frame   int
}

// EventRejoined reports, to a Rejoin session, that it received the state
// of StateFrame and plays again from Frame on.
type EventRejoined struct {
	StateFrame int
	Frame      int
}

// EventInSync reports, to a Rejoin session, that it is back in sync: the
// checksum a peer reported for a confirmed frame at or after the rejoin
// frame (EventRejoined.Frame) matches the local one. Frame is that frame
// (a multiple of Config.ChecksumInterval), Peer the peer whose report
// matched first. It comes once per rejoin, and never when checksums are
// off (ChecksumInterval < 0); a mismatch is an EventDesync instead.
type EventInSync struct {
	Frame int
	Peer  netcode.PeerID
}

func (EventPeerRejoined) sessionEvent() {}
func (EventRejoined) sessionEvent()     {}
func (EventInSync) sessionEvent()       {}

// Rejoining a match in progress
//
// A restarted player's new Session (Config.Rejoin) sends ctlRejoin
// to every peer. Each peer first drops the player's old instance, if it has
// not yet, by the usual agreement (the drop frame D). It then proposes a
// rejoin frame beyond every local input it has sent (ctlVote, to every other
// peer), holds the player's inputs unconfirmed from that frame on, and bumps
// its epoch: its input datagrams carry the epoch, and a receiver that has
// not yet received as many votes from it drops them, so that no peer can
// confirm a frame past the rejoin frame before knowing it. Once a peer has
// every connected peer's vote, the rejoin frame R is their maximum; frames
// D..R-1 are the player's stand-in inputs and frames from R on its real ones.
// The connected peer with the lowest handle sends the player its newest
// confirmed state and the confirmed inputs up to R-1 (the spectator feed);
// the other peers send their inputs from R on as usual.

// advanceJoining runs a Rejoin session's tick before the welcome.
func (s *Session) advanceJoining() error {
	if !s.joinAsked {
		s.joinAsked = true
		m := wireCtlMsg{Sub: ctlRejoin, Handles: s.local, Token: s.cfg.RejoinToken, Nonce: s.nonce}
		msg := appendCtlMsg(nil, &m)
		for _, p := range s.peers {
			s.transmit(p.id, netcode.Reliable, msg)
		}
	}
	s.t.Poll(s.onMessage)
	if s.welcome == nil {
		return ErrRejoining
	}
	if err := s.applyWelcome(); err != nil {
		return err
	}
	return s.AdvanceFrame()
}

func (s *Session) applyWelcome() error {
	w := s.welcome
	s.welcome = nil
	st := &w.State
	if err := s.game.LoadState(st.State); err != nil {
		return &GameError{Frame: st.Frame, Err: err}
	}
	s.joining = false
	s.frame = st.Frame
	s.rejoinAt = w.Frame
	s.syncFrom = max(w.Frame, 1)
	for _, r := range s.players {
		r.last = st.Frame - 1
		r.dropFrom, r.rejoinAt, r.hold = noDrop, noDrop, noDrop
	}
	for _, d := range st.Drops {
		if d.Handle < len(s.players) {
			r := s.players[d.Handle]
			r.dropFrom, r.rejoinAt = d.From, d.Until
		}
	}
	for _, h := range s.local {
		r := s.players[h]
		r.last = w.Frame - 1
		if r.dropFrom == noDrop { // not in the list: treat frames before R as stand-ins
			r.dropFrom, r.rejoinAt = st.Frame, w.Frame
		}
	}
	s.localLast = w.Frame - 1
	now := s.now
	for _, p := range s.peers {
		p.ack = w.Frame - 1
		p.frame = -1
		p.knownEpoch = -1
		p.lastRecv = now
	}
	for i := range s.slots {
		s.slots[i].frame = -1
	}
	if iv := s.cfg.ChecksumInterval; iv > 0 {
		s.nextSum = (st.Frame + iv - 1) / iv * iv
	}
	s.firstIncorrect = noDrop
	s.updateConfirmed()
	s.events.emit(EventRejoined{StateFrame: st.Frame, Frame: w.Frame})
	return nil
}

// handleControl handles rejoin requests, votes and welcomes. p is the
// sender's peer record, nil for a peer not (yet) in the match.
func (s *Session) handleControl(from netcode.PeerID, p *sessionPeer, data []byte) {
	m := &s.rxCtl
	if err := parseCtlMsg(data, m); err != nil {
		s.reject(from, err)
		return
	}
	switch m.Sub {
	case ctlHello:
		if p != nil {
			s.handleHello(p, m)
		}
	case ctlFinal:
		if p != nil {
			s.handleFinal(p, m)
		}
	case ctlRejoin:
		s.handleRejoinRequest(from, p, m)
	case ctlVote:
		if p == nil || p.dropped || p.leaving {
			return
		}
		p.knownEpoch++
		if m.Handle >= len(s.players) || s.cfg.Players[m.Handle].Peer == "" {
			s.reject(from, &WireError{Peer: from, Offset: 3, Err: ErrMalformed})
			return
		}
		q := s.peerByID[s.cfg.Players[m.Handle].Peer]
		if q == p {
			return
		}
		if q.lastNonce == m.Nonce {
			return // a late vote on a rejoin already decided
		}
		if q.rejoin == nil || q.rejoin.nonce != m.Nonce {
			q.rejoin = &rejoinState{joiner: m.Joiner, nonce: m.Nonce, votes: make(map[netcode.PeerID]int)}
		}
		q.rejoin.votes[from] = m.Frame
		if !q.dropped {
			s.announceDrop(q)
		}
		s.maybeVote(q)
		s.tryDecideRejoin(q)
	case ctlWelcome:
		if !s.joining || p == nil {
			s.reject(from, &WireError{Peer: from, Offset: 2, Err: ErrUnexpected})
			return
		}
		w := *m
		w.State.State = append([]byte(nil), m.State.State...)
		w.State.Drops = append([]wireDropFrom(nil), m.State.Drops...)
		s.welcome = &w
		s.rejoinVia = from
	}
}

func (s *Session) handleRejoinRequest(from netcode.PeerID, p *sessionPeer, m *wireCtlMsg) {
	bad := func() { s.reject(from, &WireError{Peer: from, Offset: 3, Err: ErrUnexpected}) }
	if len(m.Handles) == 0 || m.Handles[0] >= len(s.players) || s.cfg.Players[m.Handles[0]].Peer == "" {
		bad()
		return
	}
	q := s.peerByID[s.cfg.Players[m.Handles[0]].Peer]
	if len(q.handles) != len(m.Handles) {
		bad()
		return
	}
	for i, h := range m.Handles {
		if q.handles[i] != h {
			bad()
			return
		}
	}
	if p != nil && p != q {
		bad() // a player of the match cannot take another's seat
		return
	}
	if s.cfg.AuthorizeRejoin == nil && from != q.id {
		bad() // without a hook, only the player's own peer id may rejoin
		return
	}
	if s.cfg.AuthorizeRejoin != nil && !s.cfg.AuthorizeRejoin(from, append([]int(nil), q.handles...), append([]byte(nil), m.Token...)) {
		bad()
		return
	}
	if (q.rejoin != nil && q.rejoin.nonce == m.Nonce) || q.lastNonce == m.Nonce {
		return // under way, or decided (another peer's vote came first)
	}
	q.rejoin = &rejoinState{joiner: from, nonce: m.Nonce, votes: make(map[netcode.PeerID]int)}
	if !q.dropped {
		s.announceDrop(q) // the old instance is gone
	}
	s.maybeVote(q)
	s.tryDecideRejoin(q)
}

// maybeVote proposes a rejoin frame for q once its drop is agreed.
func (s *Session) maybeVote(q *sessionPeer) {
	if q.rejoin == nil || !q.dropped || q.rejoin.voted {
		return
	}
	r0 := s.players[q.handles[0]]
	frame := max(s.localLast+1, r0.dropFrom, s.frame)
	for _, h := range q.handles {
		s.players[h].hold = frame
	}
	q.rejoin.voted = true
	q.rejoin.votes[""] = frame
	s.epoch++
	msg := appendCtlMsg(nil, &wireCtlMsg{Sub: ctlVote, Handle: q.handles[0], Frame: frame, Joiner: q.rejoin.joiner, Nonce: q.rejoin.nonce})
	for _, o := range s.peers {
		if o != q && !o.dropped && !o.leaving {
			s.transmit(o.id, netcode.Reliable, msg)
		}
	}
}

// tryDecideRejoin applies the rejoin once every connected peer voted.
func (s *Session) tryDecideRejoin(q *sessionPeer) {
	if q.rejoin == nil || !q.rejoin.voted {
		return
	}
	mine := q.rejoin.votes[""]
	frame := mine
	coordinator := s.local[0]
	for _, o := range s.peers {
		if o == q || o.dropped || o.leaving {
			continue
		}
		v, ok := q.rejoin.votes[o.id]
		if !ok {
			return
		}
		frame = max(frame, v)
		coordinator = min(coordinator, o.handles[0])
	}
	joiner := q.rejoin.joiner
	q.lastNonce = q.rejoin.nonce
	for _, h := range q.handles {
		r := s.players[h]
		r.rejoinAt = frame
		r.hold = noDrop
		if frame > 0 {
			copy(r.at(frame-1), r.dropInput)
		}
		r.last = frame - 1
		s.cfg.Players[h].Peer = joiner
	}
	if mine < s.frame && mine < s.firstIncorrect {
		// Frames from our vote on were simulated with the player's input
		// predicted; they are stand-ins: replay them with that status.
		s.firstIncorrect = mine
	}
	if s.fin.frozen == nil {
		for i := len(s.fin.drops) - 1; i >= 0; i-- {
			if d := &s.fin.drops[i]; d.Until == 0 && slices.Equal(d.Handles, q.handles) {
				d.Until = frame
				break
			}
		}
	}
	delete(s.peerByID, q.id)
	q.id = joiner
	s.peerByID[joiner] = q
	now := s.now
	q.dropped, q.leaving, q.silent = false, false, false
	q.votes, q.rejoin = nil, nil
	q.ack, q.frame, q.lastSum = frame-1, -1, -1
	q.localAdv, q.remAdv, q.sentAdv = 0, 0, 0
	q.knownEpoch = 0
	q.lastRecv = now
	for i := range q.sums {
		q.sums[i].frame = -1
	}
	s.events.emit(EventPeerRejoined{Peer: joiner, Handles: clone(q.handles), Frame: frame})
	if coordinator == s.local[0] {
		l := &spectatorLink{id: joiner, joined: true, needState: true, ack: -1, lastRecv: now, limit: frame - 1, welcome: frame}
		if old := s.specByID[joiner]; old != nil {
			*old = *l
		} else {
			s.specByID[joiner] = l
			s.specs = append(s.specs, l)
		}
	}
}

// handleRejoinFeed takes the confirmed inputs before the rejoin frame from
// the peer that welcomed this session.
func (s *Session) handleRejoinFeed(p *sessionPeer, data []byte) {
	if s.joining || s.rejoinAt == 0 {
		return
	}
	var m wireFeedMsg
	width := len(s.players) * s.size
	if err := parseFeedMsg(data, width, &m); err != nil {
		s.reject(p.id, err)
		return
	}
	for f := m.Start; f < m.Start+m.Count && f < s.rejoinAt; f++ {
		for h, r := range s.players {
			if s.cfg.Players[h].Peer == "" {
				continue
			}
			if f != r.last+1 {
				continue
			}
			v := m.Inputs[(f-m.Start)*width+h*s.size : (f-m.Start)*width+(h+1)*s.size]
			if r.dropped(f) {
				copy(r.dropInput, v)
			}
			copy(r.at(f), v)
			r.last = f
			s.markInput(r, f)
		}
		for _, h := range s.local {
			if r := s.players[h]; r.dropped(f) {
				copy(r.dropInput, m.Inputs[(f-m.Start)*width+h*s.size:(f-m.Start)*width+(h+1)*s.size])
			}
		}
	}
}

// sendRejoinAck acknowledges the feed until it reached the rejoin frame.
func (s *Session) sendRejoinAck() {
	if s.rejoinAt == 0 {
		return
	}
	ack := noDrop
	for h, r := range s.players {
		if s.cfg.Players[h].Peer != "" {
			ack = min(ack, r.last)
		}
	}
	if ack >= s.rejoinAt-1 {
		s.rejoinAt = 0
		return
	}
	s.tx = appendFeedAck(s.tx[:0], ack)
	s.transmit(s.rejoinVia, netcode.Unreliable, s.tx)
}
