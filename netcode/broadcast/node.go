package broadcast

import (
	"errors"
	"hash/fnv"
	"slices"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Stats counts a node's traffic and work.
type Stats struct {
	BytesSent     uint64 // broadcast payload bytes handed to the transport
	MessagesSent  uint64
	Children      int    // current children
	Attaches      uint64 // parents taken (the first included)
	Rejected      uint64 // messages rejected
	EventsDropped uint64 // events lost to a full channel
	Frames        int    // next frame the node lacks (frames below it were received)
}

// child is one spectator this node feeds.
type child struct {
	id       netcode.PeerID
	have     int // next frame to send it
	lastAck  time.Time
	lastSent time.Time
	free     int // spare slots it reports in its subtree
	size     int
	holder   netcode.PeerID // the shallowest node of its subtree with a free slot, as it reports
	hdepth   int            // how far below the child that node is
	endSent  bool
}

// node is the tree logic shared by Source (a root) and Spectator. It is
// driven by tick on the owner's goroutine.
type node struct {
	t    netcode.Transport
	cfg  Config
	root bool
	cap  int
	now  time.Time

	// The stream: frames lo..hi-1 are held in recs.
	recs   [][]byte
	lo, hi int
	floor  int // frames at or above it are not dropped (the spectator's next frame)

	// A state received from the parent, waiting for the spectator to load.
	state      []byte
	stateFrame int
	hasState   bool
	// stateFn gives a state for a child whose next frame is below lo.
	stateFn func(dst []byte) (int, []byte, bool)
	stBuf   []byte

	end struct {
		frame int
		sum   uint64
		ok    bool
	}
	beat uint64 // a root's own; a spectator's: the parent's latest

	parent    netcode.PeerID
	attached  bool
	path      []netcode.PeerID // ancestors, root first, ending with parent
	beatAt    time.Time        // when the parent's beat last grew
	heardAt   time.Time        // when the parent last sent frames or a heartbeat
	holdSince time.Time        // the parent said it holds (zero: it does not)
	ackAt     time.Time
	gapFrom   time.Time // last sign of the previous parent (zero: none yet)
	resyncAt  time.Time

	cands []netcode.PeerID
	tried map[netcode.PeerID]bool
	// tries are the joins in flight, oldest first: one at a time for a
	// first join, up to maxAttempts while re-attaching (hedged joins).
	tries   []*attempt
	hedgeAt time.Time // when the newest join started
	burst   int       // joins to start without waiting for hedge
	// abandoned: candidates given up while their connection was being
	// made, hung up once the node has a parent (at most maxAbandoned).
	abandoned []netcode.PeerID
	lostAt    time.Time      // when the node lost its parent
	lost      netcode.PeerID // the parent this node lost, named in its joins
	standby   netcode.PeerID // the grandparent it keeps a connection to
	// upHolder is the node with a free slot its root's tree names (the
	// root's holder, passed down in frames): where a new joiner goes.
	upHolder netcode.PeerID
	// upAlt is a second one, under another child of the root (the
	// root's alternate holder, passed down too): asked after upHolder
	// when the node re-attaches, in case upHolder went down with its
	// parent.
	upAlt  netcode.PeerID
	rounds int
	// suspects: peers the game said may be gone without a word
	// (PeerSuspect), with when; at most maxSuspects, each for HoldTimeout.
	suspects map[netcode.PeerID]time.Time

	kids []*child

	rx     msg
	tx     []byte
	batch  [][]byte
	events eventQueue
	stats  Stats
	onMsg  func(netcode.PeerID, netcode.Channel, []byte)
}

func newNode(t netcode.Transport, cfg Config, root bool) *node {
	n := &node{t: t, cfg: cfg, root: root, recs: make([][]byte, cfg.BufferFrames),
		tried: map[netcode.PeerID]bool{}, suspects: map[netcode.PeerID]time.Time{}, events: newEventQueue(cfg.EventBuffer), now: cfg.Clock()}
	n.cap = cfg.Fanout
	if root {
		n.cap = cfg.RootFanout
		n.attached = true
	}
	n.onMsg = n.handle
	return n
}

// send encodes m and sends it to peer on the reliable channel.
func (n *node) send(to netcode.PeerID, m *msg) error {
	n.tx = appendMsg(n.tx[:0], m)
	err := n.t.Send(to, netcode.Reliable, n.tx)
	if err == nil {
		n.stats.BytesSent += uint64(len(n.tx))
		n.stats.MessagesSent++
	}
	return err
}

// hangup drops the connection to a peer this node no longer talks to.
func (n *node) hangup(peer netcode.PeerID) {
	if n.cfg.Hangup == nil || n.attached && peer == n.parent || n.kid(peer) != nil || n.trying(peer) != nil || peer == n.standby ||
		n.root && slices.Contains(n.cfg.Roots, peer) {
		return
	}
	n.cfg.Hangup(peer)
}

func (n *node) dial(to netcode.PeerID) {
	if n.cfg.Dial != nil {
		n.cfg.Dial(to)
	}
}

// tick handles what arrived, keeps the parent link and feeds the
// children.
func (n *node) tick() {
	n.now = n.cfg.Clock()
	n.t.Poll(n.onMsg)
	if n.root {
		n.beat++
	} else {
		n.keepParent()
	}
	n.feed()
}

// keepParent watches the parent's beat, acknowledges, and joins a new
// parent while detached.
func (n *node) keepParent() {
	if n.attached {
		// The parent is alive while it speaks (a heartbeat every
		// FlushInterval); the stream is alive while the beat grows. A
		// parent that speaks while its beat is frozen is itself looking
		// for a parent (or in a cycle): keep it for HoldTimeout.
		live := n.now.Sub(n.heardAt) < n.parentTimeout() && n.now.Sub(n.beatAt) < n.cfg.HoldTimeout
		if !live {
			n.detach(DetachSilent)
		} else if n.now.Sub(n.ackAt) >= n.cfg.FlushInterval {
			n.ackAt = n.now
			free, size := n.capacity()
			h, d := n.holderAt()
			_ = n.send(n.parent, &msg{typ: msgAck, have: n.hi, free: free, size: size, holder: h, hdepth: d})
		}
	}
	if n.attached {
		return
	}
	n.keepJoins()
}

// attempt is one join in flight: the candidate, when it was dialed, and
// whether (since when) the transport took a join for it.
type attempt struct {
	peer   netcode.PeerID
	start  time.Time
	sent   bool
	sentAt time.Time // the first join the transport took
	joinAt time.Time // the latest join sent
}

const (
	// connectWait is how many JoinTimeouts a join waits for the
	// connection to its candidate before it gives up on it.
	connectWait = 8
	// maxAttempts bounds the joins in flight while re-attaching, and
	// maxDialing those of them still waiting for a new connection (each
	// costs both ends a WebRTC handshake).
	maxAttempts = 4
	maxDialing  = 3
	// hedgeWindow is how many JoinTimeouts after the loss of its parent a
	// node hedges its joins (1 s by default); after that it asks one
	// candidate at a time again, so that a machine too starved to set up
	// connections in time is not flooded with more of them.
	hedgeWindow = 4
)

// hedge is how long a re-attaching node waits for an answer before it
// asks the next candidate too: two FlushIntervals, at most JoinTimeout/2.
func (n *node) hedge() time.Duration { return min(2*n.cfg.FlushInterval, n.cfg.JoinTimeout/2) }

// keepJoins drives the joins of a detached node. A join is answered
// within JoinTimeout of the transport taking it, or given up; a join
// whose connection is still being made is given up after connectWait
// JoinTimeouts, at once when its candidate is suspected meanwhile (its
// process died with the parent's, typically), and after 2 JoinTimeouts
// when every place in flight is taken. A first join asks one candidate at
// a time. A re-attaching node (it lost a parent) asks the next candidate
// too whenever hedge passes without an answer, up to maxAttempts at once
// and for hedgeWindow JoinTimeouts, so that a dead candidate that nobody
// suspects yet costs it hedge, not seconds; the first accept wins and the
// others are told leave.
func (n *node) keepJoins() {
	full := len(n.tries) >= maxAttempts || n.dialing() >= maxDialing
	for i := 0; i < len(n.tries); i++ {
		a := n.tries[i]
		wait := connectWait * n.cfg.JoinTimeout
		if full {
			wait = 2 * n.cfg.JoinTimeout
		}
		switch {
		case a.sent && n.now.Sub(a.sentAt) >= n.cfg.JoinTimeout,
			!a.sent && (n.now.Sub(a.start) >= wait || n.suspected(a.peer)):
			// A connection still being made is left to finish (on a
			// starved machine one may take seconds, and the next round
			// may need it); it is ended once the node has a parent.
			if !a.sent {
				n.abandon(a.peer)
			}
			n.dropAttempt(a.peer, a.sent)
			i--
		case n.now.Sub(a.joinAt) >= n.cfg.FlushInterval:
			n.sendJoin(a)
		}
	}
	for range maxAttempts {
		hedging := n.lost != "" && n.now.Sub(n.lostAt) < hedgeWindow*n.cfg.JoinTimeout
		if len(n.tries) > 0 && (!hedging || len(n.tries) >= maxAttempts || n.dialing() >= maxDialing ||
			n.burst <= 0 && n.now.Sub(n.hedgeAt) < n.hedge()) {
			return
		}
		if n.burst > 0 {
			n.burst--
		}
		var c netcode.PeerID
		if len(n.tries) == 0 {
			c = n.nextCandidate()
		} else {
			c = n.hedgeCandidate()
		}
		if c == "" {
			return
		}
		a := &attempt{peer: c, start: n.now, joinAt: n.now}
		n.tries = append(n.tries, a)
		n.hedgeAt = n.now
		n.dial(c)
		n.sendJoin(a)
		if !a.sent && c == n.standby {
			// The connection kept to the grandparent is gone: so is it,
			// most likely. Ask the next candidate now.
			n.dropAttempt(c, false)
			n.burst++
		}
	}
}

// dialing counts the joins in flight still waiting for their connection.
func (n *node) dialing() int {
	d := 0
	for _, a := range n.tries {
		if !a.sent {
			d++
		}
	}
	return d
}

// maxAbandoned bounds the connections a node leaves to finish.
const maxAbandoned = 16

// abandon notes a connection left to finish.
func (n *node) abandon(peer netcode.PeerID) {
	if !slices.Contains(n.abandoned, peer) && len(n.abandoned) < maxAbandoned {
		n.abandoned = append(n.abandoned, peer)
	}
}

// trying returns the join in flight to peer, or nil.
func (n *node) trying(peer netcode.PeerID) *attempt {
	for _, a := range n.tries {
		if a.peer == peer {
			return a
		}
	}
	return nil
}

// dropAttempt gives up the join to peer (it is not asked again this
// round); hang: also drop the connection to it.
func (n *node) dropAttempt(peer netcode.PeerID, hang bool) {
	n.tries = slices.DeleteFunc(n.tries, func(a *attempt) bool { return a.peer == peer })
	n.tried[peer] = true
	if hang {
		n.hangup(peer)
	}
}

// endAttempts ends every join in flight but the one to keep (the parent
// that accepted): a candidate that was sent a join is told leave, so a
// slot it gave is free again at once.
func (n *node) endAttempts(keep netcode.PeerID) {
	tries := n.tries
	n.tries = nil
	for _, a := range tries {
		if a.peer == keep {
			continue
		}
		if a.sent {
			_ = n.send(a.peer, &msg{typ: msgLeave})
		}
		n.hangup(a.peer)
	}
	for _, p := range n.abandoned {
		if p != keep {
			n.hangup(p)
		}
	}
	n.abandoned = n.abandoned[:0]
}

// sendJoin sends a join for attempt a; the answer is awaited for
// JoinTimeout from the first send the transport took (a connection made
// on demand takes a moment), and the join is repeated every FlushInterval
// meanwhile.
func (n *node) sendJoin(a *attempt) {
	a.joinAt = n.now
	if err := n.send(a.peer, &msg{typ: msgJoin, have: n.hi, lost: n.lost}); err == nil && !a.sent {
		a.sent, a.sentAt = true, n.now
	}
}

// hedgeCandidate pops the next peer to ask besides the joins in flight:
// as nextCandidate, but a player only once the newest join has waited
// JoinTimeout/2, so that the orphans of a relay do not all make new
// connections to the players at once (a player that sets up dozens of
// WebRTC connections at once falls silent to its own relays).
func (n *node) hedgeCandidate() netcode.PeerID {
	if n.now.Sub(n.hedgeAt) >= n.cfg.JoinTimeout/2 {
		return n.nextCandidate()
	}
	i := slices.IndexFunc(n.cands, func(c netcode.PeerID) bool {
		return !slices.Contains(n.cfg.Roots, c) && c != n.cfg.Self && n.trying(c) == nil && !n.tried[c] && !n.suspected(c)
	})
	if i < 0 {
		return ""
	}
	c := n.cands[i]
	n.cands = slices.Delete(n.cands, i, i+1)
	return c
}

// nextCandidate pops the next peer to ask, skipping those tried this
// round, suspected or asked already; when none is left it starts a new
// round with the entry points (or the roots), where it takes a suspected
// one rather than none. "": every candidate is being asked.
func (n *node) nextCandidate() netcode.PeerID {
	ok := func(c netcode.PeerID) bool { return c != n.cfg.Self && n.trying(c) == nil }
	for len(n.cands) > 0 {
		c := n.cands[0]
		n.cands = n.cands[1:]
		if ok(c) && !n.tried[c] && !n.suspected(c) {
			return c
		}
	}
	clear(n.tried)
	n.rounds++
	if n.rounds == 1 && len(n.cfg.Entry) > 0 {
		n.cands = append(n.cands[:0], n.cfg.Entry...)
	}
	n.cands = append(n.cands, n.rootOrder()...)
	if i := slices.IndexFunc(n.cands, func(c netcode.PeerID) bool { return ok(c) && !n.suspected(c) }); i >= 0 {
		c := n.cands[i]
		n.cands = slices.Delete(n.cands, 0, i+1)
		return c
	}
	for len(n.cands) > 0 {
		c := n.cands[0]
		n.cands = n.cands[1:]
		if ok(c) {
			return c
		}
	}
	return ""
}

// rootOrder lists the roots starting at one picked by this node's id, so
// that spectators spread over the players.
func (n *node) rootOrder() []netcode.PeerID {
	h := fnv.New32a()
	h.Write([]byte(n.cfg.Self))
	k := int(h.Sum32() % uint32(len(n.cfg.Roots)))
	return append(slices.Clone(n.cfg.Roots[k:]), n.cfg.Roots[:k]...)
}

// capacity returns the spare slots in this node's subtree and its size.
func (n *node) capacity() (free, size int) {
	if !n.root && len(n.path) >= n.cfg.MaxDepth {
		free = 0
	} else {
		free = n.cap - len(n.kids)
	}
	size = 1
	for _, k := range n.kids {
		free += k.free
		size += k.size
	}
	return min(free, maxCount), min(size, maxCount)
}

// keepStandby keeps a connection to the grandparent, so that a re-attach
// after the parent's loss needs no new connection (over WebRTC a new one
// costs hundreds of milliseconds). A player so holds connections to at
// most RootFanout × Fanout grandchildren besides its relays.
func (n *node) keepStandby() {
	var want netcode.PeerID
	if len(n.path) >= 2 {
		want = n.path[len(n.path)-2]
	}
	if want == n.standby {
		return
	}
	old := n.standby
	n.standby = want
	if old != "" {
		n.hangup(old)
	}
	if want != "" {
		n.dial(want)
	}
}

// hasSlot reports whether this node accepts a child now.
func (n *node) hasSlot() bool {
	return n.attached && len(n.kids) < n.cap && (n.root || len(n.path) < n.cfg.MaxDepth)
}

// holder names the node of this subtree a joiner should go to.
func (n *node) holder() netcode.PeerID { h, _ := n.holderAt(); return h }

// holderAt returns the shallowest node of this subtree with a free slot
// (this one when it has one; among equals the child with the most free
// slots), and how far below this node it is, so that the tree fills
// breadth-first.
func (n *node) holderAt() (netcode.PeerID, int) {
	if n.hasSlot() {
		return n.cfg.Self, 0
	}
	var best *child
	for _, k := range n.kids {
		if k.holder == "" || n.now.Sub(k.lastAck) >= n.cfg.ParentTimeout/2 {
			continue
		}
		if best == nil || k.hdepth < best.hdepth || k.hdepth == best.hdepth && k.free > best.free {
			best = k
		}
	}
	if best == nil {
		return "", 0
	}
	return best.holder, min(best.hdepth+1, maxPath)
}

// rootHolders returns a root's holder and an alternate: the best holder
// among the children other than the one that gave the first, so that
// the two lie in different subtrees ("" when there is none).
func (n *node) rootHolders() (best, alt netcode.PeerID) {
	best = n.holder()
	var pick *child
	for _, k := range n.kids {
		if k.holder == "" || k.holder == best || k.id == best || n.now.Sub(k.lastAck) >= n.cfg.ParentTimeout/2 {
			continue
		}
		if pick == nil || k.hdepth < pick.hdepth || k.hdepth == pick.hdepth && k.free > pick.free {
			pick = k
		}
	}
	if pick != nil {
		alt = pick.holder
	}
	return best, alt
}

// detach drops the parent and starts looking for another: its
// grandparent first, then the roots.
func (n *node) detach(why DetachReason) {
	if !n.attached {
		return
	}
	old := n.parent
	n.lost, n.lostAt = old, n.now
	n.attached = false
	n.gapFrom = n.heardAt
	n.holdSince = time.Time{}
	if why != DetachLeft && why != DetachGone {
		_ = n.send(old, &msg{typ: msgLeave})
	}
	n.cands = n.cands[:0]
	if len(n.path) >= 2 {
		n.cands = append(n.cands, n.path[len(n.path)-2])
	}
	for _, h := range []netcode.PeerID{n.upHolder, n.upAlt} {
		if h != "" && h != n.cfg.Self && h != old && !slices.Contains(n.cands, h) {
			n.cands = append(n.cands, h) // where the tree had room, as the root last said
		}
	}
	n.cands = append(n.cands, n.rootOrder()...)
	clear(n.tried)
	n.tried[old] = true
	n.rounds = 1
	n.tries = nil
	// The grandparent and the tree's free slot are asked at once: the
	// grandparent may have gone down with the parent (one process, one
	// machine), and it has one slot for the parent's children.
	n.burst = 2
	n.hangup(old)
	n.events.emit(EventDetached{Parent: old, Reason: why})
}

// maxSuspects bounds the peers a node remembers as suspected.
const maxSuspects = 64

// peerSuspect notes that peer may be gone without a word.
func (n *node) peerSuspect(peer netcode.PeerID) {
	now := n.cfg.Clock()
	for id, at := range n.suspects {
		if now.Sub(at) >= n.cfg.HoldTimeout {
			delete(n.suspects, id)
		}
	}
	if _, ok := n.suspects[peer]; ok || len(n.suspects) < maxSuspects {
		n.suspects[peer] = now
	}
}

// suspected reports whether peer was suspected within HoldTimeout.
func (n *node) suspected(peer netcode.PeerID) bool {
	at, ok := n.suspects[peer]
	return ok && n.now.Sub(at) < n.cfg.HoldTimeout
}

// parentTimeout is how long the parent may be silent: ParentTimeout, or
// two FlushIntervals (two missed heartbeats) once it is suspected.
func (n *node) parentTimeout() time.Duration {
	if n.suspected(n.parent) {
		return min(n.cfg.ParentTimeout, 2*n.cfg.FlushInterval)
	}
	return n.cfg.ParentTimeout
}

// PeerGone tells the node that peer left the match or its connection
// ended (the mesh's EventDisconnected): a parent is replaced at once, a
// child forgotten.
func (n *node) peerGone(peer netcode.PeerID) {
	if !n.root && n.attached && peer == n.parent {
		n.detach(DetachGone)
	}
	n.dropKid(peer, false)
}

func (n *node) kid(id netcode.PeerID) *child {
	for _, k := range n.kids {
		if k.id == id {
			return k
		}
	}
	return nil
}

func (n *node) dropKid(id netcode.PeerID, bye bool) {
	i := slices.IndexFunc(n.kids, func(k *child) bool { return k.id == id })
	if i < 0 {
		return
	}
	n.kids = slices.Delete(n.kids, i, i+1)
	if bye {
		_ = n.send(id, &msg{typ: msgLeave})
	}
	n.hangup(id)
	n.events.emit(EventChildLeft{Peer: id})
}

func (n *node) myPath() []netcode.PeerID {
	p := append(slices.Clone(n.path), n.cfg.Self)
	if n.root {
		p = []netcode.PeerID{n.cfg.Self}
	}
	return p
}

func (n *node) reject(from netcode.PeerID, err error) {
	var we *WireError
	if errors.As(err, &we) {
		we.Peer = from
	}
	n.stats.Rejected++
	n.events.emit(EventRejected{Err: err})
}

// handle is the Poll callback: data is valid only during the call.
func (n *node) handle(from netcode.PeerID, _ netcode.Channel, data []byte) {
	m := &n.rx
	if err := parseMsg(data, m); err != nil {
		n.reject(from, err)
		return
	}
	switch m.typ {
	case msgJoin:
		if m.lost != "" && m.lost != from && n.kid(m.lost) != nil {
			// A child of that child lost it: it is gone (or cut off)
			// for its subtree; its slot goes to the orphans.
			n.dropKid(m.lost, true)
		}
		n.handleJoin(from, m.have, m.lost)
	case msgAck:
		if k := n.kid(from); k != nil {
			k.lastAck = n.now
			k.free, k.size, k.holder, k.hdepth = m.free, m.size, m.holder, m.hdepth
			k.have = max(k.have, m.have)
		} else {
			_ = n.send(from, &msg{typ: msgLeave}) // not (or no longer) our child
		}
	case msgLeave:
		if !n.root && n.attached && from == n.parent {
			n.detach(DetachLeft)
		}
		n.dropKid(from, false)
	case msgAccept:
		n.handleAccept(from, m.ids)
	case msgRedirect:
		if n.root || n.attached || n.trying(from) == nil {
			return
		}
		n.dropAttempt(from, false)
		n.burst = 1 // its first candidate is asked at once
		var front []netcode.PeerID
		for _, id := range m.ids {
			if !n.tried[id] && id != n.cfg.Self && !slices.Contains(front, id) {
				front = append(front, id)
			}
		}
		n.cands = append(front, n.cands...)
		if len(n.cands) > 4*maxCandidates {
			n.cands = n.cands[:4*maxCandidates]
		}
		n.hangup(from)
	case msgFrames:
		if n.root || !n.attached || from != n.parent {
			return // a previous parent's late message
		}
		n.heardAt = n.now
		n.upHolder, n.upAlt = m.holder, m.alt
		if m.beat > n.beat || n.beatAt.IsZero() {
			n.beat, n.beatAt = m.beat, n.now
		}
		if m.flags&flagHold != 0 {
			if n.holdSince.IsZero() {
				n.holdSince = n.now
			}
		} else {
			n.holdSince = time.Time{}
		}
		if m.start > n.hi {
			// A gap: ask the parent again from our frame (rare: a
			// parent that dropped us and took us back).
			if n.now.Sub(n.resyncAt) >= n.cfg.ParentTimeout {
				n.resyncAt = n.now
				_ = n.send(from, &msg{typ: msgJoin, have: n.hi})
			}
			return
		}
		for i, r := range m.records {
			f := m.start + i
			if f < n.hi {
				continue
			}
			if !n.store(f, r) {
				break
			}
		}
	case msgState:
		if n.root || !n.attached || from != n.parent || m.frame < n.hi {
			return
		}
		n.state = append(n.state[:0], m.state...)
		n.stateFrame, n.hasState = m.frame, true
		n.lo, n.hi, n.floor = m.frame, m.frame, m.frame
	case msgEnd:
		if n.root || from != n.parent || n.end.ok {
			return
		}
		n.end.frame, n.end.sum, n.end.ok = m.frame, m.checksum, true
	}
}

// store appends frame f (== hi) to the buffer; it refuses (false) when the
// buffer is full of frames the spectator has not simulated yet.
func (n *node) store(f int, rec []byte) bool {
	if f != n.hi {
		return false
	}
	if n.hi-n.lo >= len(n.recs) {
		if n.lo >= n.floor && !n.root {
			return false
		}
		n.lo++
	}
	i := f % len(n.recs)
	n.recs[i] = append(n.recs[i][:0], rec...)
	n.hi++
	if n.root {
		n.floor = n.hi
	}
	return true
}

func (n *node) record(f int) []byte { return n.recs[f%len(n.recs)] }

func (n *node) handleJoin(from netcode.PeerID, have int, lost netcode.PeerID) {
	if k := n.kid(from); k != nil {
		k.have, k.lastAck, k.endSent = have, n.now, false
		_ = n.send(from, &msg{typ: msgAccept, ids: n.myPath()})
		return
	}
	var reason byte
	var cands []netcode.PeerID
	switch {
	case !n.attached:
		reason = redirectDetached
	case !n.root && lost == "" && n.upHolder != "" && n.upHolder != n.cfg.Self && n.upHolder != from &&
		!slices.Contains(n.path, from):
		// A new spectator: send it where the tree has room nearest the
		// root, so that the tree stays shallow whoever it asked.
		reason, cands = redirectFull, []netcode.PeerID{n.upHolder}
	case slices.Contains(n.path, from):
		reason, cands = redirectCycle, n.rootOrder()
	case !n.root && len(n.path) >= n.cfg.MaxDepth:
		reason = redirectDepth
	case len(n.kids) < n.cap:
		n.kids = append(n.kids, &child{id: from, have: have, lastAck: n.now})
		_ = n.send(from, &msg{typ: msgAccept, ids: n.myPath()})
		n.events.emit(EventChildJoined{Peer: from})
		return
	default:
		reason = redirectFull
		kids := slices.Clone(n.kids)
		slices.SortStableFunc(kids, func(a, b *child) int { return b.free - a.free })
		// Nodes with a free slot first (one hop), then the children
		// with the most room. A child that has not acknowledged lately
		// may be gone: do not send a joiner to wait on it.
		for _, k := range kids {
			if k.holder != "" && k.holder != from && k.free > 0 && n.now.Sub(k.lastAck) < n.cfg.ParentTimeout/2 && !slices.Contains(cands, k.holder) {
				cands = append(cands, k.holder)
			}
		}
		for _, k := range kids {
			if n.now.Sub(k.lastAck) < n.cfg.ParentTimeout/2 && !slices.Contains(cands, k.id) {
				cands = append(cands, k.id)
			}
		}
	}
	if len(cands) > maxCandidates {
		cands = cands[:maxCandidates]
	}
	_ = n.send(from, &msg{typ: msgRedirect, reason: reason, ids: cands})
}

func (n *node) handleAccept(from netcode.PeerID, path []netcode.PeerID) {
	if n.root {
		return
	}
	switch {
	case n.attached && from == n.parent:
	case !n.attached && n.trying(from) != nil:
	default:
		_ = n.send(from, &msg{typ: msgLeave}) // a late answer: free the slot
		n.hangup(from)
		return
	}
	if path[len(path)-1] != from || slices.Contains(path, n.cfg.Self) || len(path) > n.cfg.MaxDepth {
		if n.attached {
			n.detach(DetachCycle)
		} else {
			n.dropAttempt(from, false)
			_ = n.send(from, &msg{typ: msgLeave})
			n.hangup(from)
		}
		return
	}
	n.path = append(n.path[:0], path...)
	n.keepStandby()
	if !n.attached {
		n.attached, n.parent, n.lost = true, from, ""
		n.endAttempts(from)
		n.beatAt, n.heardAt, n.beat, n.holdSince, n.ackAt = n.now, n.now, 0, time.Time{}, time.Time{}
		n.stats.Attaches++
		var gap time.Duration
		if !n.gapFrom.IsZero() {
			gap = n.now.Sub(n.gapFrom)
		}
		n.events.emit(EventAttached{Parent: from, Frame: n.hi, Depth: len(path), Gap: gap})
	}
	for _, k := range n.kids { // the path changed: tell the subtree
		_ = n.send(k.id, &msg{typ: msgAccept, ids: n.myPath()})
	}
}

// feed sends every child what it lacks, every FlushInterval.
func (n *node) feed() {
	var flags byte
	if !n.root && !n.attached {
		flags = flagHold
	}
	for i := 0; i < len(n.kids); i++ {
		k := n.kids[i]
		if n.now.Sub(k.lastAck) >= 2*n.cfg.ParentTimeout+n.cfg.FlushInterval {
			n.dropKid(k.id, true)
			i--
			continue
		}
		if n.now.Sub(k.lastSent) < n.cfg.FlushInterval {
			continue
		}
		if err := n.feedKid(k, flags); err != nil {
			n.dropKid(k.id, true)
			i--
		}
	}
	n.stats.Children = len(n.kids)
	n.stats.Frames = n.hi
	n.stats.EventsDropped = n.events.dropped
}

func (n *node) feedKid(k *child, flags byte) error {
	k.lastSent = n.now
	up, alt := n.upHolder, n.upAlt
	if n.root {
		up, alt = n.rootHolders()
	}
	if k.have < n.lo && n.stateFn != nil {
		f, st, ok := n.stateFn(n.stBuf[:0])
		n.stBuf = st
		if ok && f >= n.lo && f <= n.hi && len(st) <= maxState {
			if err := n.send(k.id, &msg{typ: msgState, frame: f, state: st}); err != nil {
				return err
			}
			k.have = f
		}
	}
	sent := false
	if k.have >= n.lo {
		for budget := 4; budget > 0 && k.have < n.hi; budget-- {
			cnt := min(n.hi-k.have, maxBatch)
			n.batch = n.batch[:0]
			for f := k.have; f < k.have+cnt; f++ {
				n.batch = append(n.batch, n.record(f))
			}
			if err := n.send(k.id, &msg{typ: msgFrames, flags: flags, beat: n.beat, start: k.have, records: n.batch, holder: up, alt: alt}); err != nil {
				return err
			}
			k.have += cnt
			sent = true
		}
	}
	if !sent {
		if err := n.send(k.id, &msg{typ: msgFrames, flags: flags, beat: n.beat, start: min(k.have, n.hi), holder: up, alt: alt}); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	}
	if n.end.ok && !k.endSent && k.have >= n.end.frame {
		if err := n.send(k.id, &msg{typ: msgEnd, frame: n.end.frame, checksum: n.end.sum}); err != nil {
			return err
		}
		k.endSent = true
	}
	return nil
}

// leave says goodbye to the parent and the children.
func (n *node) leave() {
	if !n.root && n.attached {
		_ = n.send(n.parent, &msg{typ: msgLeave})
	}
	n.endAttempts("")
	for _, k := range n.kids {
		_ = n.send(k.id, &msg{typ: msgLeave})
	}
	n.kids = nil
	n.attached = n.root
}

func (n *node) children() []netcode.PeerID {
	out := make([]netcode.PeerID, len(n.kids))
	for i, k := range n.kids {
		out[i] = k.id
	}
	return out
}
