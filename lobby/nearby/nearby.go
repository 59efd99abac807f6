package nearby

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Config is what both modes share. The zero value is valid.
type Config struct {
	// Identity is the player's key pair. Nil means a fresh random one (a
	// new player id on every start).
	Identity *Identity
	// Profile is what others see once the player is visible.
	Profile Profile
	// Visible advertises the player from the start. False means nothing
	// is advertised until SetVisible(true): the player can still browse,
	// and send and receive messages.
	Visible bool
	// DeliveryTimeout is how long a message or invitation is retransmitted
	// before Send or Invite gives up with ErrUndelivered. Zero means 10 s.
	DeliveryTimeout time.Duration
	// MaxPending bounds the unacknowledged messages to one player. Zero
	// means 64; beyond it Send returns ErrBusy.
	MaxPending int
	// HistoryLen bounds the history of each conversation. Zero means 100.
	HistoryLen int
	// RateLimit and RateBurst limit the messages, invitations and answers
	// taken from one sender (a token bucket, golang.org/x/time/rate); the
	// excess is dropped unacknowledged, so a well-behaved sender
	// retransmits it later. Zero means 5 per second with a burst of 20.
	RateLimit rate.Limit
	RateBurst int
	// EventBuffer is the capacity of Events. When it is full the oldest
	// event is dropped and counted (DroppedEvents). Zero means 256.
	EventBuffer int
}

func (c Config) withDefaults() Config {
	if c.DeliveryTimeout <= 0 {
		c.DeliveryTimeout = 10 * time.Second
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 64
	}
	if c.HistoryLen <= 0 {
		c.HistoryLen = 100
	}
	if c.RateLimit <= 0 {
		c.RateLimit = 5
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 20
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	c.Profile = c.Profile.withDefaults()
	return c
}

// Protocol constants of the reliable streams (docs/nearby.md).
const (
	window      = 32                     // data packets in flight per stream
	recvWindow  = 64                     // out-of-order packets a receiver buffers
	initialRTO  = 200 * time.Millisecond // the least retransmission timeout
	maxRTO      = time.Second            // the most
	maxStreams  = 256                    // receive streams, conversations, routes kept
	packetRate  = 2000                   // packets per second verified (all senders)
	packetBurst = 500
)

// route is where packets to a player go: a UDP address on a LAN, a
// server peer id online.
type route struct {
	addr netip.AddrPort
	peer string
}

// link carries packets.
type link interface {
	send(r route, b []byte) error
	// routeFor returns a route to a player not seen yet, when the link
	// can reach any player by id (through a server).
	routeFor(id string) (route, bool)
	close()
}

// presence publishes this player's record.
type presence interface {
	publish(ctx context.Context, p Profile) error
	withdraw(ctx context.Context) error
	close()
}

// inbound is a packet as a link received it. fromID is set by links whose
// other end vouches for the sender (the server); empty means derive it
// from the packet's key.
type inbound struct {
	b      []byte
	src    route
	fromID string
}

type outMsg struct {
	seq     uint64
	typ     byte
	payload []byte
	first   time.Time
	sent    time.Time // last transmission
	next    time.Time
	rto     time.Duration // zero until the first transmission
	tries   int
	done    chan error
}

type outStream struct {
	epoch   uint64
	nextSeq uint64
	queue   []*outMsg
	used    time.Time
	// srtt and rttvar estimate the round trip (RFC 6298), from packets
	// acknowledged after one transmission (Karn's rule).
	srtt, rttvar time.Duration
}

// rto is the first retransmission timeout of a packet: RFC 6298's
// srtt + 4·rttvar, at least initialRTO and at most maxRTO.
func (st *outStream) rto() time.Duration {
	if st.srtt == 0 {
		return initialRTO
	}
	return min(max(st.srtt+4*st.rttvar, initialRTO), maxRTO)
}

func (st *outStream) sample(rtt time.Duration) {
	if st.srtt == 0 {
		st.srtt, st.rttvar = rtt, rtt/2
		return
	}
	d := st.srtt - rtt
	if d < 0 {
		d = -d
	}
	st.rttvar = (3*st.rttvar + d) / 4
	st.srtt = (7*st.srtt + rtt) / 8
}

type inStream struct {
	epoch uint64
	next  uint64
	buf   map[uint64]*Packet
	lim   *rate.Limiter
	used  time.Time
}

// Nearby is a player's view of the players around it, and its mailbox.
// Create it with StartLAN or StartOnline. Its methods are safe for
// concurrent use.
type Nearby struct {
	cfg   Config
	ident *Identity
	myID  string
	epoch uint64
	link  link
	pres  presence

	ops    chan func()
	in     chan inbound
	quit   chan struct{}
	wg     sync.WaitGroup
	events chan Event

	closeOnce sync.Once
	pubMu     sync.Mutex // serializes publish and withdraw
	idMu      sync.Mutex
	pubID     string // myID, for ID

	dropped, malformed, limited, retransmits atomic.Uint64

	// Owned by the loop goroutine.
	profile  Profile
	visible  bool
	players  map[string]Player
	byInst   map[string]string // presence instance -> player id
	routes   map[string]route
	out      map[string]*outStream
	ins      map[string]*inStream
	blocked  map[string]bool
	history  map[string][]HistoryEntry
	nextInv  uint64
	pktLim   *rate.Limiter
	buf      []byte
	timer    *time.Timer
	timerDue time.Time
}

func newNearby(cfg Config, myID string) *Nearby {
	cfg = cfg.withDefaults()
	return &Nearby{
		cfg: cfg, ident: cfg.Identity, myID: myID, pubID: myID,
		ops:     make(chan func()),
		in:      make(chan inbound, 256),
		quit:    make(chan struct{}),
		events:  make(chan Event, cfg.EventBuffer),
		profile: cfg.Profile,
		players: map[string]Player{}, byInst: map[string]string{}, routes: map[string]route{},
		out: map[string]*outStream{}, ins: map[string]*inStream{}, blocked: map[string]bool{},
		history: map[string][]HistoryEntry{},
		pktLim:  rate.NewLimiter(packetRate, packetBurst),
	}
}

func (n *Nearby) start() {
	n.wg.Add(1)
	go n.loop()
}

// ID returns this player's id. Online it can change when the connection
// comes back as a new session of an anonymous player.
func (n *Nearby) ID() string {
	n.idMu.Lock()
	defer n.idMu.Unlock()
	return n.pubID
}

// setID changes the player id (loop goroutine only).
func (n *Nearby) setID(id string) {
	n.myID = id
	n.idMu.Lock()
	n.pubID = id
	n.idMu.Unlock()
}

// Identity returns this player's key pair (nil online without one).
func (n *Nearby) Identity() *Identity { return n.ident }

// Events returns the channel of changes, messages and invitations. It is
// closed by Close.
func (n *Nearby) Events() <-chan Event { return n.events }

// DroppedEvents counts events dropped because Events was full.
func (n *Nearby) DroppedEvents() uint64 { return n.dropped.Load() }

// Stats counts what a Nearby dropped and resent. Counters only grow.
type Stats struct {
	// Malformed counts packets and payloads dropped as malformed (bad
	// encoding, bad signature, addressed to another player).
	Malformed uint64
	// Limited counts packets dropped by the rate limits.
	Limited uint64
	// Retransmits counts data packets sent again for want of an
	// acknowledgement.
	Retransmits uint64
}

// Stats returns the counters.
func (n *Nearby) Stats() Stats {
	return Stats{Malformed: n.malformed.Load(), Limited: n.limited.Load(), Retransmits: n.retransmits.Load()}
}

// call runs f on the loop goroutine.
func (n *Nearby) call(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	select {
	case n.ops <- func() { done <- f() }:
	case <-n.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}

// SetVisible opts in to (true) or out of (false) being listed by others.
// Opting out withdraws the record with a goodbye.
func (n *Nearby) SetVisible(ctx context.Context, visible bool) error {
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	var p Profile
	var was bool
	if err := n.call(ctx, func() error { p, was = n.profile, n.visible; return nil }); err != nil {
		return err
	}
	if visible == was {
		return nil
	}
	if visible {
		if err := p.check(); err != nil {
			return err
		}
	}
	var err error
	if visible {
		err = n.pres.publish(ctx, p)
	} else {
		err = n.pres.withdraw(ctx)
	}
	if err != nil {
		return err
	}
	return n.call(context.Background(), func() error { n.visible = visible; return nil })
}

// Visible reports whether the player is advertised.
func (n *Nearby) Visible() bool {
	var v bool
	_ = n.call(context.Background(), func() error { v = n.visible; return nil })
	return v
}

// SetProfile changes the name, status or game; a visible player's record
// is updated at once.
func (n *Nearby) SetProfile(ctx context.Context, p Profile) error {
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return err
	}
	n.pubMu.Lock()
	defer n.pubMu.Unlock()
	var vis bool
	if err := n.call(ctx, func() error { n.profile, vis = p, n.visible; return nil }); err != nil {
		return err
	}
	if vis {
		return n.pres.publish(ctx, p)
	}
	return nil
}

// SetStatus changes only the status (see SetProfile).
func (n *Nearby) SetStatus(ctx context.Context, s Status) error {
	var p Profile
	if err := n.call(ctx, func() error { p = n.profile; return nil }); err != nil {
		return err
	}
	p.Status = s
	return n.SetProfile(ctx, p)
}

// Players returns the visible players now, this one excluded, sorted by
// name then id.
func (n *Nearby) Players() []Player {
	var out []Player
	_ = n.call(context.Background(), func() error {
		for _, p := range n.players {
			out = append(out, p)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Block drops every message, invitation and answer from id from now on
// (silently: the sender sees them undelivered), and refuses to send to
// it. Unblock lifts it.
func (n *Nearby) Block(id string) {
	_ = n.call(context.Background(), func() error { n.blocked[id] = true; return nil })
}

// Unblock lifts a Block.
func (n *Nearby) Unblock(id string) {
	_ = n.call(context.Background(), func() error { delete(n.blocked, id); return nil })
}

// Blocked reports whether id is blocked.
func (n *Nearby) Blocked(id string) bool {
	var b bool
	_ = n.call(context.Background(), func() error { b = n.blocked[id]; return nil })
	return b
}

// History returns the conversation with id, oldest first: at most
// Config.HistoryLen messages, for at most 256 conversations.
func (n *Nearby) History(id string) []HistoryEntry {
	var h []HistoryEntry
	_ = n.call(context.Background(), func() error { h = slices.Clone(n.history[id]); return nil })
	return h
}

// Send sends a direct message to player to and waits for its
// acknowledgement. Messages to one player are delivered once and in the
// order they were sent. If ctx ends first the message may still be
// delivered later.
func (n *Nearby) Send(ctx context.Context, to, text string) error {
	if err := checkText(text); err != nil {
		return err
	}
	return n.send(ctx, to, PayloadText, []byte(text))
}

// Invite sends an invitation to player to and waits for its
// acknowledgement; it returns the invitation's id, which the answer
// (InviteAnswered) carries. inv.ID is set by Invite.
func (n *Nearby) Invite(ctx context.Context, to string, inv Invitation) (uint64, error) {
	if err := inv.check(); err != nil {
		return 0, err
	}
	if err := n.call(ctx, func() error { n.nextInv++; inv.ID = n.nextInv; return nil }); err != nil {
		return 0, err
	}
	b, _ := json.Marshal(inv)
	if len(b) > MaxPayload {
		return 0, fmt.Errorf("%w: invitation of %d bytes", ErrInvalid, len(b))
	}
	return inv.ID, n.send(ctx, to, PayloadInvite, b)
}

// Answer accepts or declines an invitation from player from, waiting for
// the acknowledgement.
func (n *Nearby) Answer(ctx context.Context, from string, inviteID uint64, accept bool) error {
	b, _ := json.Marshal(inviteReply{ID: inviteID, Accept: accept})
	return n.send(ctx, from, PayloadInviteReply, b)
}

// Post queues a direct message to player to without waiting: the
// returned channel yields nil once it is acknowledged, or the error that
// ended it (ErrUndelivered, ErrClosed). Messages posted to one player are
// delivered in the order of the Post calls.
func (n *Nearby) Post(to, text string) (<-chan error, error) {
	if err := checkText(text); err != nil {
		return nil, err
	}
	return n.post(context.Background(), to, PayloadText, []byte(text))
}

func (n *Nearby) send(ctx context.Context, to string, typ byte, payload []byte) error {
	done, err := n.post(ctx, to, typ, payload)
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.quit:
		return ErrClosed
	}
}

func (n *Nearby) post(ctx context.Context, to string, typ byte, payload []byte) (<-chan error, error) {
	var done chan error
	err := n.call(ctx, func() error {
		switch {
		case n.blocked[to]:
			return fmt.Errorf("%w: %s", ErrBlocked, to)
		case to == n.myID:
			return fmt.Errorf("%w: sending to oneself", ErrInvalid)
		}
		if _, ok := n.routes[to]; !ok {
			r, ok := n.link.routeFor(to)
			if !ok {
				return fmt.Errorf("%w: %s", ErrUnknownPlayer, to)
			}
			n.setRoute(to, r)
		}
		st := n.out[to]
		if st == nil {
			if len(n.out) >= maxStreams {
				n.evictOut()
			}
			st = &outStream{epoch: n.nextEpoch(), nextSeq: 1}
			n.out[to] = st
		}
		st.used = time.Now()
		if len(st.queue) >= n.cfg.MaxPending {
			return ErrBusy
		}
		now := time.Now()
		done = make(chan error, 1)
		st.queue = append(st.queue, &outMsg{seq: st.nextSeq, typ: typ, payload: payload, first: now, next: now, done: done})
		st.nextSeq++
		n.flush(now)
		return nil
	})
	return done, err
}

// Close withdraws the record (goodbye), stops the Nearby and waits for
// its goroutines; unacknowledged sends fail with ErrClosed. Idempotent.
func (n *Nearby) Close() error {
	n.closeOnce.Do(func() {
		n.pubMu.Lock()
		n.pres.close()
		n.pubMu.Unlock()
		close(n.quit)
		n.link.close()
		n.wg.Wait()
		close(n.events)
	})
	return nil
}

func (n *Nearby) loop() {
	defer n.wg.Done()
	n.timer = time.NewTimer(time.Hour)
	defer n.timer.Stop()
	for {
		select {
		case <-n.quit:
			for _, st := range n.out {
				for _, m := range st.queue {
					m.done <- ErrClosed
				}
			}
			return
		case f := <-n.ops:
			f()
		case p := <-n.in:
			n.handle(p, time.Now())
		case <-n.timer.C:
			n.timerDue = time.Time{}
			n.flush(time.Now())
		}
	}
}

// flush (re)transmits what is due, fails what timed out and arms the timer.
func (n *Nearby) flush(now time.Time) {
	var next time.Time
	for to, st := range n.out {
		for i := 0; i < len(st.queue); {
			m := st.queue[i]
			if now.Sub(m.first) >= n.cfg.DeliveryTimeout {
				m.done <- fmt.Errorf("%w: to %s", ErrUndelivered, to)
				st.queue = slices.Delete(st.queue, i, i+1)
				continue
			}
			if i < window {
				if !m.next.After(now) {
					if m.tries == 0 {
						m.rto = st.rto()
					} else {
						n.retransmits.Add(1)
						m.rto = min(2*m.rto, maxRTO)
					}
					m.tries++
					m.sent = now
					n.transmit(to, st, m)
					m.next = now.Add(m.rto)
				}
				if next.IsZero() || m.next.Before(next) {
					next = m.next
				}
			}
			if dl := m.first.Add(n.cfg.DeliveryTimeout); next.IsZero() || dl.Before(next) {
				next = dl
			}
			i++
		}
	}
	if !next.IsZero() && (n.timerDue.IsZero() || next.Before(n.timerDue)) {
		n.timerDue = next
		n.timer.Reset(max(next.Sub(now), 0))
	}
}

func (n *Nearby) transmit(to string, st *outStream, m *outMsg) {
	r, ok := n.routes[to]
	if !ok {
		return
	}
	p := Packet{Kind: KindData, To: to, Epoch: st.epoch, Seq: m.seq, Base: st.queue[0].seq, Type: m.typ, Payload: m.payload}
	b, err := p.AppendSigned(n.buf[:0], n.ident)
	if err != nil {
		return
	}
	n.buf = b
	_ = n.link.send(r, b)
}

// nextEpoch returns the epoch of a new send stream: the time in unix
// milliseconds, and always more than the last one, so that a stream
// started again after its state was evicted is new to the receiver.
func (n *Nearby) nextEpoch() uint64 {
	n.epoch = max(n.epoch+1, uint64(time.Now().UnixMilli()))
	return n.epoch
}

// evictOut forgets the idle send stream used least recently; when every
// stream has messages waiting, it keeps them all.
func (n *Nearby) evictOut() {
	var oldest string
	var at time.Time
	for k, v := range n.out {
		if len(v.queue) == 0 && (oldest == "" || v.used.Before(at)) {
			oldest, at = k, v.used
		}
	}
	if oldest != "" {
		delete(n.out, oldest)
	}
}

// failStream ends every message waiting for to with err.
func (n *Nearby) failStream(to string, err error) {
	st := n.out[to]
	if st == nil {
		return
	}
	for _, m := range st.queue {
		m.done <- fmt.Errorf("%w: %s", err, to)
	}
	st.queue = nil
	delete(n.routes, to)
}

func (n *Nearby) emit(ev Event) {
	for {
		select {
		case n.events <- ev:
			return
		default:
		}
		select {
		case <-n.events:
			n.dropped.Add(1)
		default:
		}
	}
}

// handle takes one packet from a link.
func (n *Nearby) handle(in inbound, now time.Time) {
	if !n.pktLim.AllowN(now, 1) {
		n.limited.Add(1)
		return
	}
	p, err := ParsePacket(in.b)
	if err != nil || p.To != n.myID {
		n.malformed.Add(1)
		return
	}
	from := in.fromID
	if from == "" {
		from = KeyID(p.Key)
	}
	if from == n.myID || n.blocked[from] {
		return
	}
	switch p.Kind {
	case KindAck:
		n.handleAck(from, p)
	case KindData:
		n.handleData(from, in.src, p, now)
	}
}

func (n *Nearby) handleAck(from string, p *Packet) {
	st := n.out[from]
	if st == nil || p.Epoch != st.epoch {
		return
	}
	kept := st.queue[:0]
	for _, m := range st.queue {
		acked := m.seq <= p.Seq
		if d := m.seq - p.Seq - 2; m.seq >= p.Seq+2 && d < 64 && p.SACK&(1<<d) != 0 {
			acked = true
		}
		if !acked {
			kept = append(kept, m)
			continue
		}
		if m.tries == 1 {
			st.sample(time.Since(m.sent))
		}
		if m.typ == PayloadText {
			n.remember(from, HistoryEntry{At: time.Now(), Outgoing: true, Text: string(m.payload)})
		}
		m.done <- nil
	}
	clear(st.queue[len(kept):])
	st.queue = kept
	n.flush(time.Now()) // the window may have moved
}

func (n *Nearby) handleData(from string, src route, p *Packet, now time.Time) {
	st := n.ins[from]
	if st != nil && p.Epoch < st.epoch {
		return // an old stream: a replay or a late packet
	}
	if st == nil || p.Epoch > st.epoch {
		lim := rate.NewLimiter(n.cfg.RateLimit, n.cfg.RateBurst)
		if st != nil {
			lim = st.lim
		} else if len(n.ins) >= maxStreams {
			n.evictStream()
		}
		st = &inStream{epoch: p.Epoch, next: p.Base, buf: map[uint64]*Packet{}, lim: lim}
		n.ins[from] = st
	}
	st.used = now
	if p.Base > st.next { // the sender gave up on what lies before Base
		for s := range st.buf {
			if s < p.Base {
				delete(st.buf, s)
			}
		}
		st.next = p.Base
		n.drain(from, st, src, now)
	}
	_, have := st.buf[p.Seq]
	switch {
	case p.Seq < st.next || have:
		// A duplicate: acknowledge again.
	case p.Seq >= st.next+recvWindow:
		return
	case !st.lim.AllowN(now, 1):
		n.limited.Add(1)
		return // unacknowledged: retransmitted later
	default:
		cp := *p
		cp.Payload = slices.Clone(p.Payload)
		cp.Key = slices.Clone(p.Key)
		st.buf[p.Seq] = &cp
		n.setRoute(from, src)
		n.drain(from, st, src, now)
	}
	ack := Packet{Kind: KindAck, To: from, Epoch: p.Epoch, Seq: st.next - 1}
	for s := range st.buf {
		if d := s - st.next - 1; s > st.next && d < 64 {
			ack.SACK |= 1 << d
		}
	}
	if b, err := ack.AppendSigned(n.buf[:0], n.ident); err == nil {
		n.buf = b
		_ = n.link.send(src, b)
	}
}

func (n *Nearby) drain(from string, st *inStream, src route, now time.Time) {
	for {
		p, ok := st.buf[st.next]
		if !ok {
			return
		}
		delete(st.buf, st.next)
		st.next++
		n.deliver(from, src, p, now)
	}
}

func (n *Nearby) sender(from string, src route, p *Packet) Sender {
	s := Sender{ID: from, Addr: src.addr}
	if src.peer == "" {
		s.Key = p.Key
	}
	if pl, ok := n.players[from]; ok {
		s.Name = pl.Name
	}
	return s
}

func (n *Nearby) deliver(from string, src route, p *Packet, now time.Time) {
	s := n.sender(from, src, p)
	switch p.Type {
	case PayloadText:
		text := string(p.Payload)
		if checkText(text) != nil {
			n.malformed.Add(1)
			return
		}
		n.remember(from, HistoryEntry{At: now, Text: text})
		n.emit(MessageReceived{From: s, Text: text, At: now})
	case PayloadInvite:
		inv, err := ParseInvitation(p.Payload)
		if err != nil {
			n.malformed.Add(1)
			return
		}
		n.emit(InviteReceived{From: s, Invitation: inv, At: now})
	case PayloadInviteReply:
		r, err := parseInviteReply(p.Payload)
		if err != nil {
			n.malformed.Add(1)
			return
		}
		n.emit(InviteAnswered{From: s, ID: r.ID, Accepted: r.Accept})
	default:
		n.malformed.Add(1) // a payload type of a later version: acknowledged, skipped
	}
}

func (n *Nearby) remember(id string, e HistoryEntry) {
	h, ok := n.history[id]
	if !ok && len(n.history) >= maxStreams {
		var oldest string
		var at time.Time
		for k, v := range n.history {
			if last := v[len(v)-1].At; oldest == "" || last.Before(at) {
				oldest, at = k, last
			}
		}
		delete(n.history, oldest)
	}
	h = append(h, e)
	if len(h) > n.cfg.HistoryLen {
		h = slices.Delete(h, 0, len(h)-n.cfg.HistoryLen)
	}
	n.history[id] = h
}

func (n *Nearby) evictStream() {
	var oldest string
	var at time.Time
	for k, v := range n.ins {
		if oldest == "" || v.used.Before(at) {
			oldest, at = k, v.used
		}
	}
	delete(n.ins, oldest)
}

func (n *Nearby) setRoute(id string, r route) {
	if _, ok := n.routes[id]; !ok && len(n.routes) >= 4*maxStreams {
		for k := range n.routes {
			if _, vis := n.players[k]; !vis && len(n.out[k].queueOrNil()) == 0 {
				delete(n.routes, k)
				break
			}
		}
	}
	n.routes[id] = r
}

func (st *outStream) queueOrNil() []*outMsg {
	if st == nil {
		return nil
	}
	return st.queue
}

// presenceUpdate applies one change of another player's record, seen
// under instance (a DNS-SD instance name, or the id online). A nil
// player means the instance went away.
func (n *Nearby) presenceUpdate(instance string, pl *Player) {
	oldID, had := n.byInst[instance]
	if pl == nil {
		if !had {
			return
		}
		delete(n.byInst, instance)
		for _, id := range n.byInst {
			if id == oldID {
				return // the player shows under another instance too
			}
		}
		if old, ok := n.players[oldID]; ok {
			delete(n.players, oldID)
			n.emit(PlayerLeft{Player: old})
		}
		return
	}
	if pl.ID == n.myID {
		return
	}
	if had && oldID != pl.ID {
		n.presenceUpdate(instance, nil)
	}
	n.byInst[instance] = pl.ID
	old, known := n.players[pl.ID]
	if !known && len(n.players) >= 4*maxStreams {
		return
	}
	n.players[pl.ID] = *pl
	if pl.Addr.IsValid() || pl.Key == nil {
		r := route{addr: pl.Addr}
		if pl.Key == nil {
			r = route{peer: instance}
		}
		n.setRoute(pl.ID, r)
	}
	switch {
	case !known:
		n.emit(PlayerJoined{Player: *pl})
	case old.Profile != pl.Profile || old.Addr != pl.Addr:
		n.emit(PlayerChanged{Player: *pl, Old: old})
	}
}
