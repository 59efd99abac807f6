package mesh

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// PeerState is where a peer is in its lifecycle.
type PeerState uint8

// Peer states.
const (
	// PeerStateConnecting: the mesh knows the peer and is negotiating.
	PeerStateConnecting PeerState = iota
	// PeerStateConnected: all channels are open and traffic flows.
	PeerStateConnected
	// PeerStateInterrupted: channels are open but nothing arrived for
	// Config.InterruptAfter. Sends still work.
	PeerStateInterrupted
	// PeerStateDisconnected: the peer is gone; see the event's reason.
	PeerStateDisconnected
)

// String returns the state's name.
func (s PeerState) String() string {
	switch s {
	case PeerStateConnecting:
		return "connecting"
	case PeerStateConnected:
		return "connected"
	case PeerStateInterrupted:
		return "interrupted"
	case PeerStateDisconnected:
		return "disconnected"
	default:
		return "unknown"
	}
}

// DisconnectReason says why a peer was disconnected.
type DisconnectReason uint8

// Disconnect reasons.
const (
	// ReasonNone is the zero DisconnectReason; no EventDisconnected carries it.
	ReasonNone DisconnectReason = iota
	// ReasonLeft: the peer closed its mesh, left the room before its
	// channels opened, or its connection ended without a goodbye (it timed
	// out on its side or its process died). In the last case the offering
	// side tries again while the peer is still in the room.
	ReasonLeft
	// ReasonTimedOut: nothing arrived for Config.DisconnectAfter.
	ReasonTimedOut
	// ReasonICEFailed: no candidate pair worked within
	// Config.ConnectTimeout, TURN fallback included. The event's Err is a
	// *ConnectError that says why: the TURN servers refused the
	// credentials (ErrTURNAuth), could not be reached
	// (ErrTURNUnreachable), or no pair worked (ErrNoCandidatePair), with
	// the candidate types tried.
	ReasonICEFailed
	// ReasonKicked: this mesh kicked the peer (Mesh.Kick).
	ReasonKicked
	// ReasonKickedByPeer: the peer kicked this mesh.
	ReasonKickedByPeer
	// ReasonProtocol: the peer broke the framing rules (see ErrProtocol).
	ReasonProtocol
)

// String returns the reason's name.
func (r DisconnectReason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonLeft:
		return "left"
	case ReasonTimedOut:
		return "timed out"
	case ReasonICEFailed:
		return "ICE failed"
	case ReasonKicked:
		return "kicked"
	case ReasonKickedByPeer:
		return "kicked by peer"
	case ReasonProtocol:
		return "protocol error"
	default:
		return "unknown"
	}
}

// attemptTimeout is how long the offering side lets a first attempt run
// before it starts another; later attempts get two, three and four times
// as long (ConnectTimeout still bounds the total).
const attemptTimeout = 5 * time.Second

// handshaking reports whether the attempt is in its DTLS handshake: ICE
// selected a candidate pair at most attemptTimeout before now, the peer's
// first DTLS flight has arrived since (so its ICE is up too: an offering
// side that selected a pair early can be alone in it while the answering
// side still waits for a nomination), and neither ICE nor DTLS has failed.
// The path then works both ways; a loaded host or a lossy link can
// stretch the handshakes past TURNFallbackAfter and the attempt timer,
// and a new attempt would throw the path away and start over, so none is
// started for such an attempt. One still handshaking attemptTimeout after
// ICE came up has stalled (pion's DTLS handshake has no deadline of its
// own) and is replaced as one that never came up. The peer's flight is
// seen when this side is the DTLS server, as the offering side is with a
// mesh or a browser answering (a=setup:active); otherwise, and in a
// browser build, no attempt counts as handshaking.
func (c *conn) handshaking(now time.Time) bool {
	return c.iceUp && c.peerHello.Load() && c.failedAt.IsZero() && now.Sub(c.iceUpAt) <= attemptTimeout
}

// offerResend is the first interval after which an unanswered offer is
// sent again; it doubles up to eight times this.
const offerResend = 150 * time.Millisecond

// offerHold is how long a new offer waits for this side's first
// candidates, so that it carries them. The answering side then knows the
// offering side's candidates before the first connectivity check can
// reach it: a check from a candidate it has not been told of is
// peer-reflexive, which early selection (earlyPair) cannot rank, and an
// offering side that selected early sends its next check only after
// pion's 2 s keepalive interval. Host candidates are gathered within a
// few milliseconds; an offer whose candidates take longer (a relay-only
// attempt waiting for its TURN allocation) leaves after offerHold and
// its candidates trickle after it.
const offerHold = 40 * time.Millisecond

// conn is one connection attempt to a peer: a PeerConnection and its three
// negotiated data channels. A TURN fallback replaces the conn; an ICE
// restart keeps it.
type conn struct {
	gen   uint32
	relay bool
	pc    *webrtc.PeerConnection
	// cancel ends the attempt's TURN dials and socks are its packet
	// sockets; closeConn ends both before pion's Close.
	cancel context.CancelFunc
	socks  attemptSockets
	// early selects a candidate pair before nomination (earlyPair).
	early   *earlyPair
	dcs     [numChannels]*webrtc.DataChannel
	rw      [numChannels]datachannel.ReadWriteCloser
	opened  int
	pending []webrtc.ICECandidateInit
	// outCands are local candidates gathered and not yet signaled.
	outCands []signalCandidate
	// The offering side resends its offer until an answer arrives (a
	// signal sent before the peer subscribed is lost); the answering side
	// answers a repeated offer with its answer again.
	offer       *signal
	offerSentAt time.Time // when it was last sent (when it was made, while held)
	offerSends  int
	offerHeld   bool // waiting for the first candidates (offerHold)
	remoteOffer string
	answer      *signal
	started     time.Time
	// failedAt is when ICE or DTLS failed (zero while the attempt runs).
	failedAt time.Time
	// checkingAt is when ICE started its checks and iceUp is set once it
	// selected a pair (at iceUpAt): an attempt whose checks find none
	// within iceCheckTimeout has failed (see iceCheckTimeout).
	checkingAt time.Time
	iceUp      bool
	iceUpAt    time.Time
	// peerHello is set once the peer's first DTLS flight arrived (see
	// handshaking).
	peerHello atomic.Bool
	dead      atomic.Bool
	// muted stops delivery from a conn that lingers after a kick until
	// its goodbye is acknowledged (linger; loop-owned).
	muted  atomic.Bool
	linger bool
}

// peer is one remote member. Fields above mu belong to the loop goroutine.
type peer struct {
	m       *Mesh
	id      netcode.PeerID
	offerer bool
	created time.Time

	c             *conn
	nextGen       uint32
	lastRestart   time.Time
	lastPing      time.Time
	connectedOnce bool
	// helloAt and helloSends pace the answering side's hellos while no
	// offer came (Config.OnDemand: the offering side offers only when
	// asked, so a lost hello must be repeated).
	helloAt    time.Time
	helloSends int
	// localTypes and remoteTypes are the candidate types gathered and
	// signaled over every attempt; relayTried is set once an attempt with
	// TURN servers ran; pendingRelay marks a TURN attempt that waits for
	// fresh credentials (see Mesh.iceReady).
	localTypes    candTypes
	remoteTypes   candTypes
	relayTried    bool
	pendingRelay  bool
	restartQueued bool // an ICE restart waits for fresh credentials
	// held counts the peer's offers that wait for fresh credentials
	// (afterFreshICE), heldGen is the highest attempt among them, and
	// heldCands keeps the candidates of attempt heldGen or later that
	// arrive meanwhile: they belong to a held offer (a new attempt, or an
	// ICE restart whose candidates carry a ufrag the description still
	// applied lacks), so they wait for it (applyHeldCands).
	held      int
	heldGen   uint32
	heldCands []heldCand
	// tickAt is when tick last looked at the peer; resumedAt is when it
	// last found that this process had not run for an interrupt period
	// (see restartSilence).
	tickAt    time.Time
	resumedAt int64 // mesh clock (ns)
	// turn collects what pion says about the TURN servers.
	turn turnReport

	mu     sync.Mutex // guards the send path below
	state  PeerState
	rw     [numChannels]datachannel.ReadWriteCloser
	dcs    [numChannels]*webrtc.DataChannel
	seqOut uint32
	frame  []byte

	stateA   atomic.Uint32 // PeerState, readable without mu
	lastRecv atomic.Int64  // mesh clock (ns) of the last packet
	lastSend atomic.Int64  // mesh clock (ns) of the last message sent (not pings)
	st       peerStats
}

func (p *peer) loadState() PeerState { return PeerState(p.stateA.Load()) }

func (p *peer) setState(s PeerState) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
	p.stateA.Store(uint32(s))
	p.m.stateChanged()
}

// handlePeer runs on the loop: a member joined or left the room.
func (m *Mesh) handlePeer(id netcode.PeerID, joined bool) {
	if id == m.localID || m.isClosed() {
		return
	}
	m.mu.Lock()
	if joined {
		m.members[id] = true
	} else {
		delete(m.members, id)
		delete(m.wanted, id)
	}
	wanted := !m.cfg.OnDemand || m.wanted[id]
	m.mu.Unlock()
	if !joined {
		m.mu.Lock()
		delete(m.blocked, id)
		delete(m.lastGen, id)
		p := m.peers[id]
		m.mu.Unlock()
		// Once a pair is connected its data path is authoritative: the
		// rendezvous point going away (or a server shutting down and
		// reporting everyone gone) must not end a match. A peer that
		// really leaves closes its mesh, which ends the connection.
		if p != nil && p.loadState() == PeerStateConnecting {
			m.disconnect(p, ReasonLeft, nil)
		}
		return
	}
	if wanted {
		m.ensurePeer(id)
	}
}

// ensurePeer returns the peer, creating it (and starting the offer when
// this side offers) if it is new. It returns nil for a blocked peer.
func (m *Mesh) ensurePeer(id netcode.PeerID) *peer {
	m.mu.Lock()
	if _, ok := m.blocked[id]; ok {
		m.mu.Unlock()
		return nil
	}
	p := m.peers[id]
	if p != nil {
		m.mu.Unlock()
		return p
	}
	p = &peer{
		m:       m,
		id:      id,
		offerer: m.localID < id, // deterministic: no glare
		created: time.Now(),
		frame:   make([]byte, 0, chunkSize+chunkHeader),
		// Attempt numbers keep growing across reconnections, so the
		// other side tells a new attempt from a repeated offer.
		nextGen: m.lastGen[id],
	}
	delete(m.reconnectAt, id)
	p.st.init()
	m.peers[id] = p
	m.mu.Unlock()
	m.emit(EventConnecting{Peer: id})
	if !p.offerer {
		// The offering side may have offered before this mesh subscribed
		// to the signaler, and that offer is gone: ask for it now rather
		// than wait for the repeat.
		// G names the last attempt this side knew of the pair: an
		// on-demand offerer still holding it starts a new one.
		m.sendSignal(id, &signal{T: sigHello, G: p.nextGen})
		p.helloAt, p.helloSends = time.Now(), 1
	}
	if p.offerer {
		relay := m.cfg.RelayOnly || m.cfg.TURNFallbackAfter < 0 && hasRelay(m.ice)
		if err := m.startOffer(p, relay); err != nil {
			m.disconnect(p, ReasonICEFailed, err)
		}
	}
	return p
}

// newConn creates the PeerConnection and the negotiated channels of one
// attempt.
func (m *Mesh) newConn(p *peer, gen uint32, relay bool) (*conn, error) {
	relay = relay || m.cfg.RelayOnly
	ctx, cancel := context.WithCancel(m.ctx)
	c := &conn{gen: gen, relay: relay, cancel: cancel, started: time.Now(), early: &earlyPair{offerer: p.offerer}}
	var se webrtc.SettingEngine
	tuneEngine(&se, &m.cfg, relay, &c.socks)
	tuneTURN(&se, &m.cfg, ctx, m.ice, &p.turn, c.dead.Load)
	tuneEarly(&se, c.early)
	tuneHandshake(&se, &c.peerHello)
	if m.cfg.Tune != nil {
		m.cfg.Tune(p.id, relay, &se)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))
	pcfg := webrtc.Configuration{ICEServers: iceServers(m.ice, relay, m.cfg.HostOnly)}
	if m.cfg.RelayOnly {
		pcfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(pcfg)
	if err != nil {
		cancel()
		return nil, err
	}
	c.pc = pc
	if relay {
		p.relayTried = true
	}
	watch := func(idx int, dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			rw, err := dc.Detach()
			m.post(func() { m.channelOpen(p, c, idx, dc, rw, err) })
		})
	}
	// The Reliable channel is negotiated on both sides (id 0). The others
	// are opened in-band by the offering side: pion v4.2.20 (datachannel
	// v1.6.2) applies a channel's ordering and retransmission limit only
	// after a DCEP exchange, so a negotiated "unreliable" channel would
	// silently be reliable and ordered. Their ids are the offering stack's
	// choice (a browser picks its own whatever the app asks), so the
	// answering side matches them by label. Detached channels are usable
	// at once, so this adds no round trip before the first message.
	for i := range channelSpecs {
		if i != int(netcode.Reliable) && !p.offerer {
			continue
		}
		dc, err := pc.CreateDataChannel(channelSpecs[i].label, channelSpecs[i].init(netcode.Channel(i), m.cfg.maxRetransmits()))
		if err != nil {
			m.closeConn(c)
			return nil, err
		}
		watch(i, dc)
	}
	if !p.offerer {
		pc.OnDataChannel(func(dc *webrtc.DataChannel) {
			ch, ok := channelByLabel(dc.Label())
			if !ok {
				_ = dc.Close() // not one of ours
				return
			}
			watch(int(ch), dc)
		})
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		if cand == nil {
			return
		}
		init := cand.ToJSON()
		c.early.addLocal(cand)
		typ := candTypeOf(cand.Typ.String())
		if typ == candRelay {
			p.turn.gotRelay()
		}
		m.post(func() {
			if c.dead.Load() {
				return
			}
			p.localTypes |= typ
			// Candidates gathered together leave in one signal (see
			// flushCandidates), which spares the rendezvous point's rate
			// limit.
			c.outCands = append(c.outCands, signalCandidate{
				Candidate: init.Candidate, SDPMid: init.SDPMid, SDPMLineIndex: init.SDPMLineIndex,
			})
			if len(c.outCands) == 1 {
				m.candFlush = append(m.candFlush, candFlush{p, c})
			}
		})
	})
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		if s == webrtc.ICEConnectionStateConnected {
			c.early.connected()
		}
		m.post(func() { m.iceState(p, c, s) })
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateFailed {
			m.post(func() { m.attemptFailed(p, c) })
		}
	})
	return c, nil
}

// startOffer begins a new attempt from the offering side. An attempt
// with TURN servers whose credentials need refreshing first is left to
// tick (pendingRelay) until they are fresh.
func (m *Mesh) startOffer(p *peer, relay bool) error {
	relay = relay || m.cfg.RelayOnly
	if relay && !m.iceReady(true) {
		p.pendingRelay = true
		return nil
	}
	p.pendingRelay = false
	p.nextGen++
	c, err := m.newConn(p, p.nextGen, relay)
	if err != nil {
		return err
	}
	m.replaceConn(p, c)
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return err
	}
	c.offer = &signal{T: sigOffer, G: c.gen, SDP: offer.SDP, Relay: relay}
	c.offerSentAt, c.offerHeld = time.Now(), true
	return nil
}

// releaseOffer sends a held offer with the candidates gathered so far;
// those leave the queue of candidates to signal.
func (m *Mesh) releaseOffer(p *peer, c *conn) {
	c.offerHeld = false
	if ld := c.pc.LocalDescription(); ld != nil {
		c.offer.SDP = ld.SDP
	}
	if len(c.outCands) > 0 {
		in := make(map[string]bool)
		for _, line := range sdpCandidates(c.offer.SDP) {
			in[line] = true
		}
		c.outCands = slices.DeleteFunc(c.outCands, func(sc signalCandidate) bool { return in[sc.Candidate] })
	}
	c.offerSentAt, c.offerSends = time.Now(), 1
	m.sendSignal(p.id, c.offer)
}

// replaceConn installs c as p's attempt, closing the previous one.
func (m *Mesh) replaceConn(p *peer, c *conn) {
	old := p.c
	p.c = c
	if old != nil {
		p.mu.Lock()
		p.rw = [numChannels]datachannel.ReadWriteCloser{}
		p.dcs = [numChannels]*webrtc.DataChannel{}
		p.mu.Unlock()
		m.closeConn(old)
	}
}

// closeConn ends an attempt on a goroutine of its own, which Close waits
// for (up to closeWait): pion's Close waits for candidate gathering, and
// a TURN Allocate to a server that does not answer retries for about 8 s.
// The caller's goroutine, usually the loop, never waits for pion.
func (m *Mesh) closeConn(c *conn) {
	if c == nil || c.dead.Swap(true) {
		return
	}
	rws := c.rw
	m.closers.Add(1)
	go func() {
		defer m.closers.Done()
		if c.cancel != nil {
			c.cancel() // ends TURN dials in progress
		}
		c.socks.closeAll() // ends TURN Allocates in progress
		for _, rw := range rws {
			if rw != nil {
				_ = rw.Close()
			}
		}
		if c.pc != nil {
			_ = c.pc.Close()
		}
	}()
}

// sendSignal queues a signal for the sender goroutine, which delivers
// signals in order without holding up the loop.
func (m *Mesh) sendSignal(to netcode.PeerID, s *signal) {
	o := outSignal{to: to, payload: s.marshal(), queued: time.Now(), t: s.T, gen: s.G, restart: s.Restart}
	m.outMu.Lock()
	m.outSeq++
	o.seq = m.outSeq
	// Signals this one makes useless leave the queue: through a slow
	// signaler (each signal waits for the server's acknowledgement, which
	// loss on its connection delays by retransmission timeouts) repeated
	// offers and answers and the candidates of replaced attempts would
	// otherwise hold up the current ones for seconds.
	m.outQ = slices.DeleteFunc(m.outQ, func(q outSignal) bool { return o.supersedes(q) })
	m.outQ = append(m.outQ, o)
	m.outMu.Unlock()
	select {
	case m.outWake <- struct{}{}:
	default:
	}
}

// outSignal is a signal waiting for the sender goroutine.
type outSignal struct {
	to      netcode.PeerID
	payload []byte
	queued  time.Time
	seq     uint64 // names the entry while the sender hands it over
	// t, gen and restart are the signal's type, attempt and restart flag.
	t       string
	gen     uint32
	restart bool
}

// supersedes reports whether o, queued after old, makes old useless to
// its addressee: for the same addressee, an offer replaces a waiting offer
// of an earlier attempt or a repeat of the same one (a repeat carries
// every candidate gathered so far), except that an ICE restart's offer
// leaves the attempt's first offer alone; an answer replaces a waiting
// answer of the same or an earlier attempt; an offer or answer replaces
// the waiting candidates of earlier attempts; a hello replaces a waiting
// hello. Nothing else is dropped (byes, the current attempt's
// candidates).
func (o *outSignal) supersedes(old outSignal) bool {
	if o.to != old.to {
		return false
	}
	switch {
	case o.t == sigOffer && old.t == sigOffer:
		return old.gen < o.gen || old.gen == o.gen && old.restart == o.restart
	case o.t == sigAnswer && old.t == sigAnswer:
		return old.gen <= o.gen
	case (o.t == sigOffer || o.t == sigAnswer) && old.t == sigCand:
		return old.gen < o.gen
	case o.t == sigHello && old.t == sigHello:
		return true
	}
	return false
}

// signalGiveUp is how long the sender keeps retrying a signal the
// signaler refuses (a rate limit, a reconnecting client). A signal lost
// for good shows up as a retried attempt or a connect timeout.
const signalGiveUp = 10 * time.Second

// sender is the goroutine that hands signals to the signaler, one at a
// time and in order for each addressee, retrying with backoff while the
// addressee is still a peer of the mesh. An addressee whose signals are
// refused (one that left the room while its connection still runs, and
// gets ICE restarts nobody can deliver) waits alone: signals to the others
// go past it, so one gone peer cannot hold up a rejoining one's answer.
func (m *Mesh) sender() {
	defer m.readers.Done()
	const firstBackoff = 10 * time.Millisecond
	type retry struct {
		at      time.Time     // not before
		backoff time.Duration // the next pause
	}
	waiting := map[netcode.PeerID]*retry{}
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		// The first signal whose addressee is not waiting out a refusal.
		now := time.Now()
		var next outSignal
		idx, soonest := -1, time.Time{}
		m.outMu.Lock()
		for i, o := range m.outQ {
			r := waiting[o.to]
			if r == nil || !now.Before(r.at) {
				next, idx = o, i
				break
			}
			if soonest.IsZero() || r.at.Before(soonest) {
				soonest = r.at
			}
		}
		if len(m.outQ) == 0 {
			clear(waiting)
		}
		m.outMu.Unlock()
		if idx < 0 {
			var timer <-chan time.Time
			if !soonest.IsZero() {
				wake.Reset(time.Until(soonest))
				timer = wake.C
			}
			select {
			case <-m.ctx.Done():
				return
			case <-m.outWake:
			case <-timer:
			}
			if !wake.Stop() {
				select {
				case <-wake.C:
				default:
				}
			}
			continue
		}
		ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
		err := m.sig.SendSignal(ctx, string(next.to), next.payload)
		cancel()
		if m.ctx.Err() != nil {
			return
		}
		if err != nil && time.Since(next.queued) < signalGiveUp {
			m.mu.Lock()
			_, known := m.peers[next.to]
			m.mu.Unlock()
			if known {
				r := waiting[next.to]
				if r == nil {
					r = &retry{backoff: firstBackoff}
					waiting[next.to] = r
				}
				r.at = time.Now().Add(r.backoff)
				r.backoff = min(2*r.backoff, 500*time.Millisecond)
				continue
			}
		}
		delete(waiting, next.to)
		m.outMu.Lock()
		// sendSignal may have dropped it meanwhile (superseded).
		m.outQ = slices.DeleteFunc(m.outQ, func(q outSignal) bool { return q.seq == next.seq })
		m.outMu.Unlock()
	}
}

// candFlush names an attempt with candidates waiting to be signaled.
type candFlush struct {
	p *peer
	c *conn
}

// flushCandidateSignals runs on the loop after each batch of tasks.
func (m *Mesh) flushCandidateSignals() {
	for i, f := range m.candFlush {
		if !f.c.dead.Load() && f.c.offerHeld && f.p.c == f.c {
			m.releaseOffer(f.p, f.c)
		}
		if !f.c.dead.Load() && len(f.c.outCands) > 0 {
			m.sendSignal(f.p.id, &signal{T: sigCand, G: f.c.gen, Cands: f.c.outCands})
		}
		f.c.outCands = nil
		m.candFlush[i] = candFlush{}
	}
	m.candFlush = m.candFlush[:0]
}

// handleSignal runs on the loop.
func (m *Mesh) handleSignal(from netcode.PeerID, payload []byte) {
	if from == m.localID || m.isClosed() {
		return
	}
	s, err := parseSignal(payload)
	if err != nil {
		m.rejectSignal(from, err)
		return
	}
	if s.T == sigBye {
		m.mu.Lock()
		p := m.peers[from]
		if s.Reason == byeKicked {
			m.blocked[from] = ReasonKickedByPeer
		}
		m.mu.Unlock()
		if p != nil {
			r := ReasonLeft
			if s.Reason == byeKicked {
				r = ReasonKickedByPeer
			}
			m.disconnect(p, r, nil)
		}
		return
	}
	var p *peer
	if s.T == sigOffer || s.T == sigHello {
		m.mu.Lock()
		_, known := m.peers[from]
		m.mu.Unlock()
		p = m.ensurePeer(from)
		if s.T == sigHello && !known {
			return // the offer just went out
		}
	} else {
		m.mu.Lock()
		p = m.peers[from]
		m.mu.Unlock()
	}
	if p == nil {
		return
	}
	if err := m.applySignal(p, &s); err != nil {
		m.rejectSignal(from, err)
	}
}

// rejectInterval bounds EventSignalRejected to one per peer per interval;
// BadSignals counts every rejected signal.
const rejectInterval = time.Second

// rejectSignal runs on the loop: it counts a signal that was not acted on
// and reports it, at most once per rejectInterval per peer.
func (m *Mesh) rejectSignal(from netcode.PeerID, err error) {
	m.badSignals.Add(1)
	now := time.Now()
	if m.rejectedAt == nil || len(m.rejectedAt) > 256 {
		m.rejectedAt = map[netcode.PeerID]time.Time{}
	}
	if last, ok := m.rejectedAt[from]; ok && now.Sub(last) < rejectInterval {
		return
	}
	m.rejectedAt[from] = now
	if !errors.Is(err, ErrBadSignal) {
		err = fmt.Errorf("%w: %w", ErrBadSignal, err)
	}
	m.emit(EventSignalRejected{Peer: from, Err: err})
}

func (m *Mesh) applySignal(p *peer, s *signal) error {
	switch s.T {
	case sigHello:
		c := p.c
		if m.cfg.OnDemand && p.offerer && c != nil && s.G >= c.gen {
			// The answering side no longer holds this attempt (it hung up,
			// or dropped the pair without our hearing): start over with
			// an attempt it cannot take for an old one.
			m.disconnect(p, ReasonLeft, nil)
			m.mu.Lock()
			m.lastGen[p.id] = max(m.lastGen[p.id], s.G)
			m.mu.Unlock()
			m.ensurePeer(p.id)
			return nil
		}
		if !p.offerer || c == nil || c.offer == nil || c.offerHeld || c.pc.RemoteDescription() != nil {
			return nil
		}
		// The offer went out before the peer listened: repeat it now.
		if ld := c.pc.LocalDescription(); ld != nil {
			c.offer.SDP = ld.SDP
		}
		c.offerSentAt = time.Now()
		m.sendSignal(p.id, c.offer)
	case sigOffer:
		if p.offerer {
			return fmt.Errorf("%w: offer from the answering side", ErrBadSignal)
		}
		c := p.c
		if c != nil && s.G > c.gen && p.loadState() != PeerStateConnecting {
			// The peer gave up on the connection we still hold and starts
			// over: it timed out on its side.
			m.disconnect(p, ReasonTimedOut, nil)
			if p = m.ensurePeer(p.id); p == nil {
				return nil
			}
			c = nil
		}
		switch {
		case c == nil || s.G > c.gen:
			if (s.Relay || m.cfg.RelayOnly) && !m.iceReady(true) {
				m.afterFreshICE(p, s)
				return nil
			}
			nc, err := m.newConn(p, s.G, s.Relay)
			if err != nil {
				return err
			}
			m.replaceConn(p, nc)
			c = nc
		case s.G < c.gen:
			return nil // stale
		case s.G == c.gen && !s.Restart && c.answer != nil:
			// A repeated offer: our answer was lost. (A repeat may carry
			// candidates gathered since; ours went separately.)
			m.sendSignal(p.id, c.answer)
			if s.SDP != c.remoteOffer {
				m.addSDPCandidates(p, c, s.SDP)
			}
			return nil
		}
		if s.Restart && c.relay {
			// An ICE restart gathers relay candidates again: with fresh
			// credentials.
			if !m.iceReady(true) {
				m.afterFreshICE(p, s)
				return nil
			}
			m.updateServers(c)
		}
		m.noteSDPCandidates(p, c, m.testDrop(p, s.SDP))
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.testDrop(p, s.SDP)}); err != nil {
			return err
		}
		m.flushCandidates(p, c)
		answer, err := c.pc.CreateAnswer(nil)
		if err != nil {
			return err
		}
		if err := c.pc.SetLocalDescription(answer); err != nil {
			return err
		}
		c.remoteOffer = s.SDP
		c.answer = &signal{T: sigAnswer, G: c.gen, SDP: answer.SDP, Early: earlySelection}
		m.sendSignal(p.id, c.answer)
	case sigAnswer:
		c := p.c
		if !p.offerer || c == nil || s.G != c.gen || c.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			return nil // stale, or a repeat of an answer already applied
		}
		m.noteSDPCandidates(p, c, m.testDrop(p, s.SDP))
		c.early.setPeerEarly(s.Early)
		if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.testDrop(p, s.SDP)}); err != nil {
			return err
		}
		m.flushCandidates(p, c)
	case sigCand:
		if p.held > 0 && s.G >= p.heldGen {
			m.holdCands(p, s) // for an offer that waits for fresh credentials
			return nil
		}
		c := p.c
		if c == nil || s.G != c.gen {
			return nil
		}
		for _, cand := range s.Cands {
			init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex}
			if err := m.addRemoteCandidate(p, c, init); err != nil {
				return err
			}
		}
	}
	return nil
}

// afterFreshICE applies s, an offer, again once the TURN credentials have
// been refreshed (see iceReady), if p is still the mesh's peer then; the
// candidates that came for it meanwhile follow it (applyHeldCands).
func (m *Mesh) afterFreshICE(p *peer, s *signal) {
	sc := *s
	p.held++
	p.heldGen = max(p.heldGen, sc.G)
	m.afterRefresh = append(m.afterRefresh, func() {
		p.held--
		m.mu.Lock()
		cur := m.peers[p.id]
		m.mu.Unlock()
		if cur != p {
			return
		}
		if err := m.applySignal(p, &sc); err != nil {
			m.badSignals.Add(1)
		}
		m.applyHeldCands(p)
	})
}

// heldCand is a candidate of attempt gen kept while an offer is held.
type heldCand struct {
	gen  uint32
	init webrtc.ICECandidateInit
}

// maxHeldCands bounds the candidates a peer keeps for held offers, and
// those an attempt keeps until its remote description is set; past it the
// oldest go.
const maxHeldCands = 4 * maxSignalCands

// holdCands keeps the candidates of s for a held offer.
func (m *Mesh) holdCands(p *peer, s *signal) {
	for _, sc := range s.Cands {
		if len(p.heldCands) >= maxHeldCands {
			p.heldCands = slices.Delete(p.heldCands, 0, 1)
		}
		p.heldCands = append(p.heldCands, heldCand{gen: s.G, init: webrtc.ICECandidateInit{
			Candidate: sc.Candidate, SDPMid: sc.SDPMid, SDPMLineIndex: sc.SDPMLineIndex}})
	}
}

// applyHeldCands runs after a held offer was applied: the kept candidates
// of the current attempt and remote ICE generation go to it; those of a
// later offer still held stay; the rest (an attempt or a generation that
// is over) are dropped.
func (m *Mesh) applyHeldCands(p *peer) {
	if p.held == 0 {
		p.heldGen = 0
	}
	c := p.c
	var remote string
	if c != nil {
		if rd := c.pc.RemoteDescription(); rd != nil {
			remote = sdpUfrag(rd.SDP)
		}
	}
	keep := p.heldCands[:0]
	for _, hc := range p.heldCands {
		u, tagged := candUfrag(hc.init.Candidate)
		switch {
		case c != nil && hc.gen == c.gen && remote != "" && (!tagged || u == remote):
			_ = m.addRemoteCandidate(p, c, hc.init)
		case p.held > 0 && (c == nil || hc.gen >= c.gen):
			keep = append(keep, hc)
		}
	}
	clear(p.heldCands[len(keep):])
	p.heldCands = keep
	if len(keep) == 0 {
		p.heldCands = nil
	}
}

// sdpUfrag returns the first ICE username fragment of a description.
func sdpUfrag(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "a=ice-ufrag:"); ok {
			return u
		}
	}
	return ""
}

// candUfrag returns the ufrag extension of a candidate line (RFC 8839
// §5.1: extension attributes follow the type and related address as name
// and value pairs), which names the ICE generation it belongs to.
func candUfrag(line string) (string, bool) {
	f := strings.Fields(line)
	for i := 8; i+1 < len(f); i += 2 {
		if f[i] == "ufrag" {
			return f[i+1], true
		}
	}
	return "", false
}

// updateServers gives c's next candidate gathering (an ICE restart) the
// mesh's current ICE servers, refreshed credentials included.
func (m *Mesh) updateServers(c *conn) {
	cfg := c.pc.GetConfiguration()
	cfg.ICEServers = iceServers(m.ice, c.relay, m.cfg.HostOnly)
	_ = c.pc.SetConfiguration(cfg)
}

// testDrop removes from a remote description the candidate lines that
// Config.dropCandidate (set by tests) drops.
func (m *Mesh) testDrop(p *peer, sdp string) string {
	if m.cfg.dropCandidate == nil {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	lines = slices.DeleteFunc(lines, func(line string) bool {
		cand, ok := strings.CutPrefix(strings.TrimSpace(line), "a=")
		return ok && strings.HasPrefix(cand, "candidate:") && m.cfg.dropCandidate(p.id, cand)
	})
	return strings.Join(lines, "")
}

// addRemoteCandidate hands one of the peer's candidates to ICE, or keeps
// it until the remote description is set.
func (m *Mesh) addRemoteCandidate(p *peer, c *conn, init webrtc.ICECandidateInit) error {
	if m.cfg.dropCandidate != nil && m.cfg.dropCandidate(p.id, init.Candidate) {
		return nil
	}
	if addr, typ, ok := candidateAddr(init.Candidate); ok {
		p.st.remoteCandidate(addr, typ)
	}
	p.remoteTypes |= candTypeOf(candLineType(init.Candidate))
	c.early.addRemote(init.Candidate)
	if c.pc.RemoteDescription() == nil {
		if len(c.pending) >= maxHeldCands {
			c.pending = slices.Delete(c.pending, 0, 1)
		}
		c.pending = append(c.pending, init)
		return nil
	}
	return c.pc.AddICECandidate(init)
}

// addSDPCandidates adds the candidate lines of a repeated offer.
func (m *Mesh) addSDPCandidates(p *peer, c *conn, sdp string) {
	for _, cand := range sdpCandidates(sdp) {
		_ = m.addRemoteCandidate(p, c, webrtc.ICECandidateInit{Candidate: cand})
	}
}

// noteSDPCandidates records the types of the candidates in a description
// about to be applied (SetRemoteDescription hands them to ICE), for the
// statistics.
func (m *Mesh) noteSDPCandidates(p *peer, c *conn, sdp string) {
	for _, cand := range sdpCandidates(sdp) {
		c.early.addRemote(cand)
		if addr, typ, ok := candidateAddr(cand); ok {
			p.st.remoteCandidate(addr, typ)
		}
		p.remoteTypes |= candTypeOf(candLineType(cand))
	}
}

// sdpCandidates returns the candidate lines of a description, without
// their "a=" prefix.
func sdpCandidates(sdp string) []string {
	var out []string
	for _, line := range strings.Split(sdp, "\n") {
		line = strings.TrimSpace(line)
		if cand, ok := strings.CutPrefix(line, "a="); ok && strings.HasPrefix(cand, "candidate:") {
			out = append(out, cand)
		}
	}
	return out
}

func (m *Mesh) flushCandidates(p *peer, c *conn) {
	for _, init := range c.pending {
		_ = c.pc.AddICECandidate(init)
	}
	c.pending = nil
}

// attemptFailed runs on the loop when an attempt's ICE or DTLS failed
// before the peer ever connected: the offering side starts over at once
// (with relays if it had already fallen back), within ConnectTimeout.
func (m *Mesh) attemptFailed(p *peer, c *conn) {
	if c.dead.Load() || p.c != c || !p.offerer || p.loadState() != PeerStateConnecting || !c.failedAt.IsZero() {
		return
	}
	// The next attempt starts from tick after a pause that grows with the
	// attempts: a host too loaded to finish handshakes in time is not
	// helped by more of them at once.
	c.failedAt = time.Now()
}

// retryPause is the pause after a failed attempt number gen.
func retryPause(gen uint32) time.Duration {
	return min(100*time.Millisecond<<min(gen-1, 5), 2*time.Second)
}

// iceState runs on the loop. The offering side restarts ICE when a
// connected pair stops answering; a failure before the first connection is
// left to the fallback and connect timers. ICE's own verdict is not enough:
// its disconnected state does not follow the data (with its 2.5 s timeout
// it was seen to report disconnected after 0.85 s without data, around a
// one-second pause of a peer's process, as if only its consent checks,
// every 2 s, counted), and a restart drops the pair at once. Only the
// mesh's silence (restartSilence past restartAfter, as tick applies it)
// restarts ICE.
func (m *Mesh) iceState(p *peer, c *conn, s webrtc.ICEConnectionState) {
	if c.dead.Load() || p.c != c {
		return
	}
	switch s {
	case webrtc.ICEConnectionStateChecking:
		if c.checkingAt.IsZero() {
			c.checkingAt = time.Now()
		}
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		if !c.iceUp {
			c.iceUp, c.iceUpAt = true, time.Now()
		}
	}
	if !p.offerer || !p.connectedOnce {
		return
	}
	if m.restartSilence(p) <= restartAfter(&m.cfg) {
		return
	}
	if s != webrtc.ICEConnectionStateDisconnected && s != webrtc.ICEConnectionStateFailed {
		return
	}
	m.restartICE(p, c)
}

// iceCheckTimeout is how long an attempt's ICE checks may run without
// finding a working candidate pair before the attempt counts as failed
// (attemptFailed): three times DisconnectAfter (7.5 s by default). pion's
// ICE agent would fail it itself after its disconnected plus failed
// timeouts, but the mesh turns its failed state off (see tuneEngine).
func iceCheckTimeout(cfg *Config) time.Duration { return 3 * cfg.DisconnectAfter }

// restartAfter is how long a connected peer must be silent before the
// offering side restarts ICE: three interrupt periods (1.5 s by default).
// pion's ICE restart drops the selected pair and closes its sockets at
// once, so a restart turns a silence that would have ended by itself (a
// peer process that did not run for a second on a loaded machine, a
// burst of loss) into an outage that lasts until the new checks and the
// signaling round trip complete. Waiting longer lets such a silence end on
// the old pair; only a path that stays dead gets restarted.
func restartAfter(cfg *Config) time.Duration { return 3 * cfg.InterruptAfter }

// restartEvery is the least time between two ICE restarts of a peer: two
// interrupt periods (1 s by default), so that a restart under way, which
// needs a signaling round trip and new checks, is not torn down by the
// next one.
func restartEvery(cfg *Config) time.Duration { return 2 * cfg.InterruptAfter }

// restartSilence is how long the peer has been silent as far as the
// decision to restart ICE goes: not counting a time during which this
// process did not run (tick found it had not looked at the peer for an
// interrupt period), since the peer's packets of that time wait unread
// in the socket.
func (m *Mesh) restartSilence(p *peer) time.Duration {
	return time.Duration(m.now() - max(p.lastRecv.Load(), p.resumedAt))
}

// restartICE runs on the loop: the offering side of a pair that stopped
// answering restarts ICE on the same connection, at most once per
// restartEvery.
func (m *Mesh) restartICE(p *peer, c *conn) {
	if c == nil || c.dead.Load() || p.c != c || !p.offerer || !p.connectedOnce {
		return
	}
	if time.Since(p.lastRestart) < restartEvery(&m.cfg) {
		return
	}
	if c.relay {
		// The restart gathers relay candidates again: with fresh
		// credentials, so it waits for their refresh.
		if !m.iceReady(true) {
			if !p.restartQueued {
				p.restartQueued = true
				m.afterRefresh = append(m.afterRefresh, func() {
					p.restartQueued = false
					m.restartICE(p, c)
				})
			}
			return
		}
		m.updateServers(c)
	}
	p.lastRestart = time.Now()
	p.st.restarts.Add(1)
	offer, err := c.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		return
	}
	m.sendSignal(p.id, &signal{T: sigOffer, G: c.gen, SDP: offer.SDP, Restart: true, Relay: c.relay})
}

// channelOpen runs on the loop when one of an attempt's channels opens.
func (m *Mesh) channelOpen(p *peer, c *conn, idx int, dc *webrtc.DataChannel, rw datachannel.ReadWriteCloser, err error) {
	if err != nil || c.dead.Load() || p.c != c || c.rw[idx] != nil {
		if rw != nil {
			_ = rw.Close()
		}
		return
	}
	c.dcs[idx] = dc
	c.rw[idx] = rw
	c.opened++
	if c.opened < numChannels {
		return
	}
	p.mu.Lock()
	p.rw = c.rw
	p.dcs = c.dcs
	p.seqOut = 0
	p.mu.Unlock()
	p.lastRecv.Store(m.now())
	p.st.reset()
	p.st.candidates(c.pc)
	p.connectedOnce = true
	p.setState(PeerStateConnected)
	for i := range c.rw {
		m.readers.Add(1)
		go m.read(p, c, netcode.Channel(i), c.rw[i])
	}
	m.emit(EventConnected{Peer: p.id})
	p.lastPing = time.Now()
	p.sendPing(m)
}

// disconnect runs on the loop: it ends the peer's connection and forgets
// it. A peer that timed out or could not be reached is tried again (see
// endPeer).
func (m *Mesh) disconnect(p *peer, r DisconnectReason, err error) {
	m.endPeer(p, r, err, r == ReasonTimedOut || r == ReasonICEFailed)
}

// endPeer runs on the loop: it ends the peer's connection and forgets it.
// When retry is set, the peer is still in the room and this side offers,
// a new attempt starts after Config.ReconnectAfter.
func (m *Mesh) endPeer(p *peer, r DisconnectReason, err error, retry bool) {
	m.mu.Lock()
	if m.peers[p.id] != p {
		m.mu.Unlock()
		return
	}
	delete(m.peers, p.id)
	if r == ReasonKicked {
		m.blocked[p.id] = r
	}
	gen := p.nextGen
	if p.c != nil {
		gen = max(gen, p.c.gen)
	}
	m.lastGen[p.id] = gen
	// A peer still in the room that timed out, could not be reached or
	// dropped the connection without a goodbye is tried again: its
	// offering side starts over after a pause.
	if retry && p.offerer && !m.cfg.NoReconnect && m.members[p.id] && (!m.cfg.OnDemand || m.wanted[p.id]) {
		m.reconnectAt[p.id] = time.Now().Add(m.cfg.ReconnectAfter)
	}
	m.mu.Unlock()
	p.mu.Lock()
	p.rw = [numChannels]datachannel.ReadWriteCloser{}
	p.dcs = [numChannels]*webrtc.DataChannel{}
	p.mu.Unlock()
	p.setState(PeerStateDisconnected)
	if c := p.c; c == nil || !c.linger {
		m.closeConn(c) // a lingering conn is closed by its kick
	}
	m.in.wakeAll()
	m.emit(EventDisconnected{Peer: p.id, Reason: r, Err: err})
}

func (m *Mesh) kick(id netcode.PeerID) error {
	m.mu.Lock()
	p := m.peers[id]
	m.mu.Unlock()
	if p == nil {
		return &PeerError{Peer: id, Op: "kick", Err: ErrUnknownPeer}
	}
	m.sayBye(p, byeCodeKicked)
	m.sendSignal(id, &signal{T: sigBye, Reason: byeKicked})
	m.disconnect(p, ReasonKicked, nil)
	return nil
}

// sayBye runs on the loop before a disconnect: it sends a goodbye frame
// with code on the reliable channel, mutes the connection and keeps it
// open until the frame is acknowledged (at most byeLinger), then closes
// it.
func (m *Mesh) sayBye(p *peer, code byte) {
	p.mu.Lock()
	rw, dc := p.rw[netcode.Reliable], p.dcs[netcode.Reliable]
	p.mu.Unlock()
	c := p.c
	if rw == nil || dc == nil || c == nil {
		return
	}
	// The connection closes once the goodbye is acknowledged: closing at
	// once may abort the association before the frame leaves.
	flushed := make(chan struct{})
	var once sync.Once
	dc.SetBufferedAmountLowThreshold(0)
	dc.OnBufferedAmountLow(func() { once.Do(func() { close(flushed) }) })
	if _, err := rw.Write([]byte{frameBye, code}); err != nil || dc.BufferedAmount() == 0 {
		once.Do(func() { close(flushed) })
	}
	c.muted.Store(true) // nothing more from the peer is delivered
	c.linger = true
	m.readers.Add(1)
	go func() {
		defer m.readers.Done()
		t := time.NewTimer(byeLinger)
		defer t.Stop()
		select {
		case <-flushed:
		case <-t.C:
		case <-m.ctx.Done():
		}
		m.closeConn(c)
	}()
}

// byeLinger bounds the wait for a kicked peer's acknowledgement of its
// goodbye before the connection closes anyway.
const byeLinger = 500 * time.Millisecond

// closeAll runs on the loop at Close: every connection ends.
func (m *Mesh) closeAll() {
	m.mu.Lock()
	peers := make([]*peer, 0, len(m.peers))
	for _, p := range m.peers {
		peers = append(peers, p)
	}
	m.peers = map[netcode.PeerID]*peer{}
	m.mu.Unlock()
	for _, p := range peers {
		p.mu.Lock()
		rw := p.rw[netcode.Reliable]
		p.rw = [numChannels]datachannel.ReadWriteCloser{}
		p.dcs = [numChannels]*webrtc.DataChannel{}
		p.mu.Unlock()
		if rw != nil {
			_, _ = rw.Write([]byte{frameBye, byeCodeLeft})
		}
		p.setState(PeerStateDisconnected)
		m.closeConn(p.c)
	}
	m.in.wakeAll()
}

// tick runs on the loop every few milliseconds: fallback, timeouts,
// liveness and pings.
func (m *Mesh) tick(now time.Time) {
	m.mu.Lock()
	peers := make([]*peer, 0, len(m.peers))
	for _, p := range m.peers {
		peers = append(peers, p)
	}
	var due []netcode.PeerID
	for id, at := range m.reconnectAt {
		if now.After(at) {
			due = append(due, id)
			delete(m.reconnectAt, id)
		}
	}
	m.mu.Unlock()
	for _, id := range due {
		m.mu.Lock()
		member := m.members[id]
		m.mu.Unlock()
		if member {
			m.ensurePeer(id)
		}
	}
	cfg := &m.cfg
	for _, p := range peers {
		switch st := p.loadState(); st {
		case PeerStateConnecting:
			if now.Sub(p.created) > cfg.ConnectTimeout {
				m.disconnect(p, ReasonICEFailed, p.connectError(p.relayTried, hasRelay(m.ice), now.Sub(p.created)))
				continue
			}
			if p.offerer && p.pendingRelay {
				if m.iceReady(true) {
					if err := m.startOffer(p, true); err != nil {
						m.disconnect(p, ReasonICEFailed, err)
					}
				}
				continue
			}
			c := p.c
			if !p.offerer && c == nil && cfg.OnDemand && now.Sub(p.helloAt) > offerResend<<min(p.helloSends, 4) {
				p.helloAt = now
				p.helloSends++
				m.sendSignal(p.id, &signal{T: sigHello, G: p.nextGen})
			}
			if !p.offerer || c == nil {
				continue
			}
			if !c.iceUp && !c.checkingAt.IsZero() && now.Sub(c.checkingAt) > iceCheckTimeout(cfg) {
				m.attemptFailed(p, c)
			}
			if c.offerHeld && now.Sub(c.offerSentAt) >= offerHold {
				m.releaseOffer(p, c)
			}
			if c.offer != nil && !c.offerHeld && c.pc.RemoteDescription() == nil &&
				now.Sub(c.offerSentAt) > offerResend<<min(c.offerSends-1, 3) {
				c.offerSentAt = now
				c.offerSends++
				if ld := c.pc.LocalDescription(); ld != nil {
					// Include the candidates gathered so far: the
					// signals that carried them may be lost too.
					c.offer.SDP = ld.SDP
				}
				m.sendSignal(p.id, c.offer)
			}
			var err error
			handshaking := c.handshaking(now)
			switch age := now.Sub(c.started); {
			case !c.relay && !handshaking && cfg.TURNFallbackAfter > 0 && hasRelay(m.ice) && age > cfg.TURNFallbackAfter:
				err = m.startOffer(p, true)
			case !c.failedAt.IsZero() && now.Sub(c.failedAt) > retryPause(c.gen):
				err = m.startOffer(p, c.relay)
			case !handshaking && age > attemptTimeout*time.Duration(min(c.gen, 4)):
				// A lost signal or a handshake lost on a loaded host:
				// try again rather than wait for ConnectTimeout.
				err = m.startOffer(p, c.relay)
			}
			if err != nil {
				m.disconnect(p, ReasonICEFailed, err)
			}
		case PeerStateConnected, PeerStateInterrupted:
			if !p.tickAt.IsZero() && now.Sub(p.tickAt) > cfg.InterruptAfter {
				// This process did not run (stopped, or starved of
				// CPU): the silence is its own, not the path's.
				p.resumedAt = m.now()
			}
			p.tickAt = now
			silent := time.Duration(m.now() - p.lastRecv.Load())
			switch {
			case silent > cfg.DisconnectAfter:
				m.disconnect(p, ReasonTimedOut, nil)
				continue
			case silent > cfg.InterruptAfter && st == PeerStateConnected:
				p.setState(PeerStateInterrupted)
				m.emit(EventInterrupted{Peer: p.id})
			case m.restartSilence(p) > restartAfter(cfg):
				// The mesh's own silence decides, not ICE's consent
				// checks, which go out only every two seconds.
				m.restartICE(p, p.c)
			case silent <= cfg.InterruptAfter && st == PeerStateInterrupted:
				p.setState(PeerStateConnected)
				m.emit(EventResumed{Peer: p.id})
			}
			// While this side's own messages keep the peer informed,
			// pings only refresh the measurements.
			every := cfg.PingInterval
			if time.Duration(m.now()-p.lastSend.Load()) < cfg.PingInterval {
				every = max(every, cfg.BusyPingInterval)
			}
			if now.Sub(p.lastPing) >= every {
				p.lastPing = now
				p.sendPing(m)
			}
			p.st.tickRates(now)
		}
	}
}
