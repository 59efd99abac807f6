package signaling

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// ClientConfig configures a Client. The zero value is valid.
type ClientConfig struct {
	// Token is sent as the "token" query parameter for the server's
	// Authenticator. Empty means none.
	Token string
	// Header is added to the upgrade request. Nil means none. Browsers
	// (js/wasm) set the headers themselves and ignore it.
	Header http.Header
	// NetDialContext dials the TCP connection. Nil means net.Dialer.
	// Ignored on js/wasm, where the browser dials.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLSConfig configures wss:// connections. Nil means the system roots.
	// Ignored on js/wasm, where the browser checks certificates.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds each connection attempt, from dial to
	// welcome. Zero means 10 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write. Zero means 10 s.
	WriteTimeout time.Duration
	// MaxMessageSize is the largest frame accepted from the server. Zero
	// means 1 MiB.
	MaxMessageSize int64
	// IdleTimeout is how long the client waits for a frame from the server
	// (its pings included) before it drops the connection and reconnects.
	// Zero means twice the ping interval the server announced in welcome
	// plus 10 s; a positive value is raised to at least twice that
	// interval, so the server's regular pings always keep the connection.
	// With a server that announces no ping interval there is no limit.
	// A LAN lobby client (lobby.DialLAN) sets a few seconds, against a
	// host that pings every second.
	IdleTimeout time.Duration
	// URLs lists more servers of the same cluster (ws:// or wss://). Dial
	// tries its own URL first and then these in order; a reconnect tries
	// the server it was connected to first and then the others, so a
	// client whose node died or was drained resumes its session on
	// another node. Empty means the one URL given to Dial.
	URLs []string
	// DisableReconnect turns automatic reconnection off: after a drop the
	// client stays disconnected and its calls return ErrDisconnected.
	DisableReconnect bool
	// MinBackoff and MaxBackoff bound the delay between reconnect attempts,
	// which doubles from MinBackoff up to MaxBackoff, with jitter. Zero
	// means 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// EventBuffer is the capacity of the Events channel. The client never
	// waits for that channel: an event that finds it full is dropped and
	// counted (Client.DroppedEvents). Zero means 256.
	EventBuffer int
	// EarlySignals bounds the signals kept while no SubscribeSignals
	// subscription with an onSignal callback exists (typically between Join
	// and the application's first SubscribeSignals), to be handed to the
	// next one that subscribes. Past the bound, later signals are dropped
	// and counted (DroppedSignals). Zero means 256; negative keeps none.
	// The memory held is bounded by EarlySignals times the server's
	// message size limit (16 KiB by default: 4 MiB at most).
	EarlySignals int
	// Logger receives debug logs. Nil means none.
	Logger *slog.Logger
}

// RoomInfo describes the room a Join put the client in.
type RoomInfo struct {
	// Name is the room's name (server-chosen for JoinNext).
	Name string
	// Peers lists the other members in join order.
	Peers []string
	// Seats, in a match room, lists the seat holders in seat order, this
	// client included (see Client.Seats).
	Seats []string
}

// Client is a connection to a signaling Server that survives drops: it
// reconnects with backoff and takes its session back with the resume token.
// All methods are safe for concurrent use.
//
// What the server pushes reaches three kinds of consumer, none of which
// waits for another: the callbacks of SubscribeSignals (the mesh: signals
// and room membership), subscriptions (Subscribe: the extension messages a
// protocol such as lobby or matchmaker claims, each on a bounded queue of
// its own), and the Events channel (everything else, for the application,
// dropped and counted when the application does not keep up).
type Client struct {
	url  string   // the server of the current (or last) connection
	urls []string // every server to try, Dial's first
	cfg  ClientConfig
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	wmu sync.Mutex // serializes writes to ws

	cbMu sync.Mutex // held while callbacks run: one at a time

	mu        sync.Mutex
	ws        wsConn        // nil while disconnected
	up        chan struct{} // closed while ws != nil
	id        string
	resume    string
	room      string
	peers     []string
	ticket    string   // rejoin ticket of the seat in room, or ""
	seats     []string // seat holders of a match room, in seat order
	ice       []ICEServer
	pingEvery time.Duration
	pending   map[string]chan reply
	seq       uint64
	subs      map[int]*subscription
	msgSubs   map[int]*Subscription
	subSeq    int
	eventsOn  bool
	closed    bool
	events    chan Event
	early     []earlySignal // signals waiting for a subscriber
	dropped   uint64        // signals no subscriber took

	evDropped atomic.Uint64 // events the Events channel had no room for

	evMu    sync.Mutex // guards evq
	evq     []appEvent // waiting for the pump goroutine
	evWake  chan struct{}
	evSpace chan struct{}
}

// maxQueuedEvents bounds the deliveries waiting behind slow SubscribeSignals
// callbacks; past it the reader waits (and the server eventually sees a
// slow consumer).
const maxQueuedEvents = 4096

// appEvent is one thing that happened, for the application: callbacks for
// the subscriptions that existed when it happened, and an Events entry.
type appEvent struct {
	subs   []*subscription
	isPeer bool
	peer   string
	joined bool
	isSig  bool
	from   string
	data   []byte
	ev     Event
}

// earlySignal is a signal that arrived while nobody subscribed.
type earlySignal struct {
	room, from string
	data       []byte
}

// defaultEarlySignals is ClientConfig.EarlySignals' zero value.
const defaultEarlySignals = 256

type reply struct {
	env Envelope
	err error
}

type subscription struct {
	key      int
	onSignal func(from string, payload []byte)
	onPeer   func(peer string, joined bool)
}

// Dial connects to the server at rawURL (ws:// or wss://), says hello and
// returns once the server has welcomed the client. cfg may be nil. On
// cancel of ctx it returns an error satisfying errors.Is(err,
// context.Canceled).
func Dial(ctx context.Context, rawURL string, cfg *ClientConfig) (*Client, error) {
	c := &Client{url: rawURL, pending: make(map[string]chan reply), subs: make(map[int]*subscription)}
	if cfg != nil {
		c.cfg = *cfg
	}
	if c.cfg.HandshakeTimeout <= 0 {
		c.cfg.HandshakeTimeout = 10 * time.Second
	}
	if c.cfg.WriteTimeout <= 0 {
		c.cfg.WriteTimeout = 10 * time.Second
	}
	if c.cfg.MaxMessageSize <= 0 {
		c.cfg.MaxMessageSize = 1 << 20
	}
	if c.cfg.MinBackoff <= 0 {
		c.cfg.MinBackoff = 100 * time.Millisecond
	}
	if c.cfg.MaxBackoff <= 0 {
		c.cfg.MaxBackoff = 5 * time.Second
	}
	if c.cfg.EventBuffer <= 0 {
		c.cfg.EventBuffer = 256
	}
	switch {
	case c.cfg.EarlySignals == 0:
		c.cfg.EarlySignals = defaultEarlySignals
	case c.cfg.EarlySignals < 0:
		c.cfg.EarlySignals = 0
	}
	c.log = c.cfg.Logger
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.events = make(chan Event, c.cfg.EventBuffer)
	c.evWake = make(chan struct{}, 1)
	c.evSpace = make(chan struct{}, 1)
	c.up = make(chan struct{})
	c.urls = append([]string{rawURL}, c.cfg.URLs...)
	var ws wsConn
	var w WelcomeData
	var err error
	for _, u := range c.urls {
		c.url = u
		if ws, w, _, err = c.handshake(ctx, ""); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	c.ctx, c.stop = context.WithCancel(context.Background())
	c.attach(ws, w)
	c.wg.Add(2)
	go c.run(ws)
	go c.pump()
	return c, nil
}

// handshake dials, says hello (with resume, if any) and waits for welcome.
// A refused resume falls back to a fresh session on the same connection.
func (c *Client) handshake(ctx context.Context, resume string) (wsConn, WelcomeData, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	defer cancel()
	u, err := url.Parse(c.url)
	if err != nil {
		return nil, WelcomeData{}, false, fmt.Errorf("signaling: dial: %w", err)
	}
	if c.cfg.Token != "" {
		q := u.Query()
		q.Set("token", c.cfg.Token)
		u.RawQuery = q.Encode()
	}
	ws, err := dialWS(ctx, u.String(), &c.cfg)
	if err != nil {
		return nil, WelcomeData{}, false, err
	}
	stopWatch := context.AfterFunc(ctx, func() { ws.setReadDeadline(time.Now()) })
	defer stopWatch()
	fail := func(err error) (wsConn, WelcomeData, bool, error) {
		ws.close()
		if ctx.Err() != nil {
			err = fmt.Errorf("signaling: handshake: %w", ctx.Err())
		}
		return nil, WelcomeData{}, false, err
	}
	hello := func(tok string) error {
		b, _ := encodeWith(Envelope{Type: TypeHello, Cid: "hello"}, HelloData{Versions: []int{ProtocolVersion}, Resume: tok})
		return ws.writeText(b, c.cfg.WriteTimeout)
	}
	if err := hello(resume); err != nil {
		return fail(fmt.Errorf("signaling: hello: %w", err))
	}
	for {
		data, err := ws.readText()
		if err != nil {
			return fail(fmt.Errorf("signaling: handshake: %w", err))
		}
		env, err := Decode(data)
		if err != nil {
			continue
		}
		switch {
		case env.Type == TypeWelcome:
			var w WelcomeData
			if err := json.Unmarshal(env.Data, &w); err != nil || w.ID == "" {
				return fail(fmt.Errorf("signaling: bad welcome"))
			}
			if !stopWatch() {
				// ctx ended as the welcome came: the deadline has already
				// been cut, and the connection with it.
				return fail(fmt.Errorf("signaling: handshake: %w", context.Cause(ctx)))
			}
			ws.setReadDeadline(time.Time{})
			return ws, w, w.Resumed, nil
		case env.Type == TypeError && env.Cid == "hello":
			e := decodeError(env)
			if resume != "" && (e.Code == CodeInvalidToken || e.Code == CodeResumeExpired) {
				c.log.Debug("resume refused, starting a new session", "code", e.Code)
				resume = ""
				if err := hello(""); err != nil {
					return fail(fmt.Errorf("signaling: hello: %w", err))
				}
				continue
			}
			return fail(e)
		}
	}
}

func decodeError(env Envelope) *Error {
	var ed ErrorData
	if err := json.Unmarshal(env.Data, &ed); err != nil || ed.Code == "" {
		return &Error{Code: CodeInternal, Message: "malformed error from server"}
	}
	e := &Error{Code: ed.Code, Message: ed.Message}
	if ed.RetryMs > 0 {
		e.RetryAfter = time.Duration(min(ed.RetryMs, maxRetryMs)) * time.Millisecond
	}
	return e
}

// maxRetryMs caps the retry wait a server may suggest.
const maxRetryMs = 10_000

// attach makes ws the live connection and applies w. It returns the room
// the client lost (a failed resume) and, for a resume, the members that
// left or joined while it was away, so that callbacks hear of them.
func (c *Client) attach(ws wsConn, w WelcomeData) (left string, gone, came []string, subs []*subscription, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "", nil, nil, nil, false
	}
	subs = c.subsLocked()
	c.ws = ws
	close(c.up)
	switch {
	case !w.Resumed && c.room != "":
		left, gone = c.room, c.peers
	case w.Resumed && w.Room == c.room:
		for _, p := range c.peers {
			if !slices.Contains(w.Peers, p) {
				gone = append(gone, p)
			}
		}
		for _, p := range w.Peers {
			if !slices.Contains(c.peers, p) {
				came = append(came, p)
			}
		}
	}
	c.id, c.resume, c.ice = w.ID, w.Resume, w.ICEServers
	c.room, c.peers = w.Room, slices.Clone(w.Peers)
	c.pingEvery = time.Duration(w.PingIntervalMs) * time.Millisecond
	return left, gone, came, subs, true
}

func (c *Client) readDeadline() time.Time {
	c.mu.Lock()
	p := c.pingEvery
	c.mu.Unlock()
	if p <= 0 {
		return time.Time{}
	}
	if c.cfg.IdleTimeout > 0 {
		return time.Now().Add(max(c.cfg.IdleTimeout, 2*p))
	}
	return time.Now().Add(2*p + 10*time.Second)
}

// run owns the connection: it reads until the connection drops, then
// reconnects, until Close.
func (c *Client) run(ws wsConn) {
	defer c.wg.Done()
	for {
		err := c.readLoop(ws)
		c.mu.Lock()
		c.ws = nil
		c.up = make(chan struct{})
		closed := c.closed
		pend := c.pending
		c.pending = make(map[string]chan reply)
		c.mu.Unlock()
		ws.close()
		for _, ch := range pend {
			ch <- reply{err: ErrDisconnected}
		}
		if closed {
			return
		}
		c.log.Debug("disconnected", "err", err)
		c.toSubs(Disconnected{Err: err})
		c.emit(Disconnected{Err: err})
		if c.cfg.DisableReconnect {
			<-c.ctx.Done()
			return
		}
		ws = c.reconnect()
		if ws == nil {
			return
		}
	}
}

func (c *Client) reconnect() wsConn {
	backoff := c.cfg.MinBackoff
	for {
		c.mu.Lock()
		tok := c.resume
		c.mu.Unlock()
		ws, w, resumed, err := c.handshake(c.ctx, tok)
		for i := 1; err != nil && i < len(c.urls) && c.ctx.Err() == nil; i++ {
			// The next server of the list: the current one is down or
			// draining.
			c.mu.Lock()
			c.url = c.urls[(slices.Index(c.urls, c.url)+1)%len(c.urls)]
			c.mu.Unlock()
			ws, w, resumed, err = c.handshake(c.ctx, tok)
		}
		if err == nil {
			left, gone, came, subs, ok := c.attach(ws, w)
			if !ok {
				ws.close()
				return nil
			}
			c.log.Debug("reconnected", "id", w.ID, "resumed", resumed)
			for _, p := range gone {
				d := appEvent{subs: subs, isPeer: true, peer: p}
				if left == "" {
					d.ev = PeerLeft{Room: w.Room, Peer: p}
				}
				c.post(d)
			}
			if left != "" {
				c.emit(Left{Room: left})
			}
			for _, p := range came {
				c.post(appEvent{subs: subs, isPeer: true, peer: p, joined: true, ev: PeerJoined{Room: w.Room, Peer: p}})
			}
			c.mu.Lock()
			ev := Reconnected{ID: w.ID, Resumed: resumed, URL: c.url}
			c.mu.Unlock()
			c.toSubs(ev)
			c.emit(ev)
			return ws
		}
		c.log.Debug("reconnect failed", "err", err, "backoff", backoff)
		d := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-c.ctx.Done():
			return nil
		case <-time.After(d):
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

func (c *Client) readLoop(ws wsConn) error {
	ws.onPing(c.readDeadline)
	c.mu.Lock()
	pinged := c.pingEvery > 0
	c.mu.Unlock()
	if pinged {
		// The server's pings and the read deadline watch the connection:
		// TCP keep-alive probes would only add packets.
		ws.noKeepAlive()
	}
	if !serverPingsVisible {
		stop := c.keepAlive(ws)
		defer stop()
	}
	for {
		ws.setReadDeadline(c.readDeadline())
		data, err := ws.readText()
		if err != nil {
			return err
		}
		env, err := Decode(data)
		if err != nil {
			c.log.Debug("undecodable message from server", "err", err)
			continue
		}
		c.dispatch(env)
	}
}

// keepAlive sends an application ping (answered with pong, which renews the
// read deadline) every ping interval the server announced, for transports
// that hide the server's own pings. The returned stop ends the goroutine
// and waits for it.
func (c *Client) keepAlive(ws wsConn) (stop func()) {
	c.mu.Lock()
	every := c.pingEvery
	c.mu.Unlock()
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b, _ := Encode(Envelope{Type: TypePing})
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if c.write(ws, b) != nil {
					return
				}
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// dispatch applies one message from the server.
func (c *Client) dispatch(env Envelope) {
	switch env.Type {
	case TypeJoined:
		var jd JoinedData
		if env.Room == "" || json.Unmarshal(env.Data, &jd) != nil || slices.Contains(jd.Peers, "") {
			c.log.Debug("malformed joined from server", "data", string(env.Data))
			break
		}
		c.mu.Lock()
		oldRoom, oldPeers := c.room, c.peers
		c.room, c.peers, c.ticket, c.seats = env.Room, slices.Clone(jd.Peers), jd.Ticket, slices.Clone(jd.Seats)
		subs := c.subsLocked()
		c.mu.Unlock()
		if oldRoom != env.Room {
			for _, p := range oldPeers {
				c.post(appEvent{subs: subs, isPeer: true, peer: p})
			}
			for _, p := range jd.Peers {
				c.post(appEvent{subs: subs, isPeer: true, peer: p, joined: true})
			}
		}
		c.emit(Joined{Room: env.Room, Peers: jd.Peers})
	case TypeLeft:
		c.mu.Lock()
		oldPeers := c.peers
		c.room, c.peers, c.ticket, c.seats = "", nil, "", nil
		subs := c.subsLocked()
		c.mu.Unlock()
		for _, p := range oldPeers {
			c.post(appEvent{subs: subs, isPeer: true, peer: p})
		}
		c.emit(Left{Room: env.Room})
	case TypePeerJoined, TypePeerLeft, TypePeerInterrupted, TypePeerResumed:
		var pd PeerData
		if json.Unmarshal(env.Data, &pd) != nil || pd.Peer == "" {
			return
		}
		// Membership changes apply once: after a resume, the welcome's
		// member list may already include what queued events repeat.
		c.mu.Lock()
		inRoom := env.Room == c.room
		member := slices.Contains(c.peers, pd.Peer)
		switch {
		case !inRoom:
		case env.Type == TypePeerJoined && !member:
			c.peers = append(c.peers, pd.Peer)
			if c.seats != nil {
				if i := slices.Index(c.seats, pd.Replaces); pd.Replaces != "" && i >= 0 {
					c.seats = slices.Clone(c.seats)
					c.seats[i] = pd.Peer
				} else if !slices.Contains(c.seats, pd.Peer) {
					c.seats = append(slices.Clip(c.seats), pd.Peer)
				}
			}
		case env.Type == TypePeerLeft && member:
			c.peers = slices.DeleteFunc(slices.Clone(c.peers), func(p string) bool { return p == pd.Peer })
		case env.Type == TypePeerJoined, env.Type == TypePeerLeft:
			inRoom = false // nothing changed
		}
		subs := c.subsLocked()
		c.mu.Unlock()
		if !inRoom {
			return
		}
		switch env.Type {
		case TypePeerJoined:
			c.post(appEvent{subs: subs, isPeer: true, peer: pd.Peer, joined: true, ev: PeerJoined{Room: env.Room, Peer: pd.Peer, Replaces: pd.Replaces}})
		case TypePeerLeft:
			c.post(appEvent{subs: subs, isPeer: true, peer: pd.Peer, ev: PeerLeft{Room: env.Room, Peer: pd.Peer}})
		case TypePeerInterrupted:
			c.emit(PeerInterrupted{Room: env.Room, Peer: pd.Peer})
		case TypePeerResumed:
			c.emit(PeerResumed{Room: env.Room, Peer: pd.Peer})
		}
	case TypeSignal:
		c.mu.Lock()
		subs := c.subsLocked()
		taken := slices.ContainsFunc(subs, func(s *subscription) bool { return s.onSignal != nil })
		if !taken {
			// Nobody listens yet: keep it for the first subscriber.
			if len(c.early) < c.cfg.EarlySignals {
				c.early = append(c.early, earlySignal{room: env.Room, from: env.From, data: env.Data})
			} else {
				c.dropped++
				c.log.Debug("signal dropped: no subscriber and the early buffer is full", "from", env.From)
			}
		}
		c.mu.Unlock()
		d := appEvent{subs: subs, isSig: true, from: env.From, data: env.Data}
		if !taken {
			// A signal a callback takes is the mesh's; only the others
			// are shown to the application.
			d.ev = Signal{Room: env.Room, From: env.From, Data: env.Data}
		}
		c.post(d)
	case TypeWelcome, TypeAck, TypeReply, TypePong, TypeError:
	default:
		if env.Cid == "" {
			m := Message{Type: env.Type, From: env.From, Room: env.Room, Data: env.Data}
			if subs := c.claimed(env.Type); len(subs) > 0 {
				for _, s := range subs {
					s.offer(m)
				}
			} else {
				c.emit(m)
			}
		}
	}
	if env.Cid != "" {
		c.mu.Lock()
		ch := c.pending[env.Cid]
		delete(c.pending, env.Cid)
		c.mu.Unlock()
		if ch != nil {
			if env.Type == TypeError {
				ch <- reply{env: env, err: decodeError(env)}
			} else {
				ch <- reply{env: env}
			}
		}
	}
}

// subsLocked returns the subscriptions in registration order. c.mu is held.
func (c *Client) subsLocked() []*subscription {
	if len(c.subs) == 0 {
		return nil
	}
	out := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		out = append(out, sub)
	}
	slices.SortFunc(out, func(a, b *subscription) int { return a.key - b.key })
	return out
}

// claimed returns the subscriptions that claim message type typ.
func (c *Client) claimed(typ string) []*Subscription {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Subscription
	for _, s := range c.msgSubs {
		if s.claims(typ) {
			out = append(out, s)
		}
	}
	return out
}

// toSubs offers a connection event to every subscription.
func (c *Client) toSubs(ev Event) {
	c.mu.Lock()
	subs := make([]*Subscription, 0, len(c.msgSubs))
	for _, s := range c.msgSubs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.offer(ev)
	}
}

// emit posts ev for the Events channel.
func (c *Client) emit(ev Event) { c.post(appEvent{ev: ev}) }

// post queues d for the pump goroutine. Events are kept only once Events
// has been called. Past maxQueuedEvents the caller (the reader) waits.
func (c *Client) post(d appEvent) {
	c.mu.Lock()
	on := c.eventsOn
	c.mu.Unlock()
	if !on {
		d.ev = nil
	}
	if d.ev == nil && len(d.subs) == 0 {
		return
	}
	c.evMu.Lock()
	for len(c.evq) >= maxQueuedEvents {
		c.evMu.Unlock()
		select {
		case <-c.evSpace:
		case <-c.ctx.Done():
			return
		}
		c.evMu.Lock()
	}
	c.evq = append(c.evq, d)
	c.evMu.Unlock()
	select {
	case c.evWake <- struct{}{}:
	default:
	}
}

// pump runs callbacks and feeds the Events channel in the order things
// happened, apart from the reader, so that a callback that makes a
// blocking call does not stop the client from reading its replies. It
// never waits for the Events channel.
func (c *Client) pump() {
	defer c.wg.Done()
	defer close(c.events)
	for {
		c.evMu.Lock()
		for len(c.evq) == 0 {
			c.evMu.Unlock()
			select {
			case <-c.evWake:
			case <-c.ctx.Done():
				return
			}
			c.evMu.Lock()
		}
		d := c.evq[0]
		c.evq[0] = appEvent{}
		c.evq = c.evq[1:]
		if len(c.evq) == 0 {
			c.evq = nil
		}
		c.evMu.Unlock()
		select {
		case c.evSpace <- struct{}{}:
		default:
		}
		if len(d.subs) > 0 {
			c.runCallbacks(d)
		}
		if d.ev != nil {
			select {
			case c.events <- d.ev:
			default:
				c.evDropped.Add(1)
			}
		}
	}
}

func (c *Client) runCallbacks(d appEvent) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	for _, sub := range d.subs {
		c.mu.Lock()
		active := c.subs[sub.key] == sub
		c.mu.Unlock()
		switch {
		case !active:
		case d.isPeer && sub.onPeer != nil:
			sub.onPeer(d.peer, d.joined)
		case d.isSig && sub.onSignal != nil:
			sub.onSignal(d.from, d.data)
		}
	}
}

// Events returns the channel of events for the application, in the order
// they happened: room changes, peers joining, leaving, interrupted and
// resumed, Disconnected and Reconnected, signals that no SubscribeSignals
// callback takes, and pushed messages of types no Subscription claims.
// Nothing is queued for it until the first call to Events. The client
// never waits for the channel: an event that finds its buffer
// (ClientConfig.EventBuffer) full is dropped and counted (DroppedEvents),
// so an application that stops reading loses events but holds back neither
// the mesh's callbacks, nor subscriptions, nor replies to calls. The
// channel is closed when the client is closed.
func (c *Client) Events() <-chan Event {
	c.mu.Lock()
	c.eventsOn = true
	c.mu.Unlock()
	return c.events
}

// DroppedEvents returns how many events the Events channel had no room for.
func (c *Client) DroppedEvents() uint64 { return c.evDropped.Load() }

// ID returns the client's server-assigned peer id. It changes only when a
// reconnect fails to resume the session.
func (c *Client) ID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// LocalID returns the client's peer id while it is in a room, "" otherwise.
// With SendSignal and SubscribeSignals it satisfies netcode.Signaler.
func (c *Client) LocalID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.room == "" {
		return ""
	}
	return c.id
}

// Room returns the name of the client's room, or "".
func (c *Client) Room() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room
}

// Peers returns the other members of the client's room, in join order.
func (c *Client) Peers() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.peers)
}

// ICEServers returns the STUN/TURN servers the server pushed in its last
// welcome, TURN credentials included.
func (c *Client) ICEServers() []ICEServer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ice)
}

// call sends env with a fresh cid and waits for the answer. While the
// client is reconnecting it waits for the connection (or ctx) first.
func (c *Client) call(ctx context.Context, env Envelope) (Envelope, error) {
	if err := ctx.Err(); err != nil {
		// Not sent: a reply could otherwise win the race with ctx below.
		return Envelope{}, fmt.Errorf("signaling: %s: %w", env.Type, err)
	}
	c.mu.Lock()
	for c.ws == nil && !c.closed && !c.cfg.DisableReconnect {
		up := c.up
		c.mu.Unlock()
		select {
		case <-up:
		case <-ctx.Done():
			return Envelope{}, fmt.Errorf("signaling: %s: waiting for reconnect: %w", env.Type, ctx.Err())
		}
		c.mu.Lock()
	}
	if c.closed {
		c.mu.Unlock()
		return Envelope{}, ErrClosed
	}
	ws := c.ws
	if ws == nil {
		c.mu.Unlock()
		return Envelope{}, ErrDisconnected
	}
	c.seq++
	env.Cid = strconv.FormatUint(c.seq, 36)
	ch := make(chan reply, 1)
	c.pending[env.Cid] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, env.Cid)
		c.mu.Unlock()
	}
	b, err := Encode(env)
	if err != nil {
		forget()
		return Envelope{}, err
	}
	if err := c.write(ws, b); err != nil {
		forget()
		return Envelope{}, err
	}
	select {
	case r := <-ch:
		return r.env, r.err
	case <-ctx.Done():
		forget()
		return Envelope{}, fmt.Errorf("signaling: %s: %w", env.Type, ctx.Err())
	}
}

func (c *Client) write(ws wsConn, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := ws.writeText(b, c.cfg.WriteTimeout); err != nil {
		ws.close() // the reader notices and reconnects
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	return nil
}

// Join joins the room called name (creating it if needed), leaving the
// current room first.
func (c *Client) Join(ctx context.Context, name string) (RoomInfo, error) {
	return c.join(ctx, name, 0)
}

// JoinNext joins the group of the next n arrivals for name: a fresh room of
// their own, named by the server, that fills up as they arrive (watch for
// PeerJoined events or poll Peers).
func (c *Client) JoinNext(ctx context.Context, name string, n int) (RoomInfo, error) {
	if n < 2 {
		return RoomInfo{}, &Error{Code: CodeInvalidRoom, Message: "next must be at least 2"}
	}
	return c.join(ctx, name, n)
}

func (c *Client) join(ctx context.Context, name string, n int) (RoomInfo, error) {
	env := Envelope{Type: TypeJoin, Room: name}
	if n > 0 {
		env.Data = marshalData(JoinData{Next: n})
	}
	r, err := c.callRetry(ctx, env)
	if err != nil {
		return RoomInfo{}, err
	}
	var jd JoinedData
	if err := json.Unmarshal(r.Data, &jd); err != nil {
		return RoomInfo{}, fmt.Errorf("signaling: bad joined: %w", err)
	}
	return RoomInfo{Name: r.Room, Peers: jd.Peers, Seats: jd.Seats}, nil
}

// RejoinTicket returns the rejoin ticket of the client's seat in its match
// room (a next=N group, or a room the server made with CreateRoom, such as
// a matchmaker's or a lobby's match), or "" in other rooms. A process that
// keeps it (on disk, on its command line) can, after a restart, take its
// seat back with Rejoin on a fresh Client.
func (c *Client) RejoinTicket() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ticket
}

// Seats returns the peer holding each seat of the client's match room, in
// seat order (first arrival; a Server.CreateRoom's peer order), itself
// included, or nil in other rooms. Every member sees the same order; a
// rejoin replaces its seat's entry in place.
func (c *Client) Seats() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seats)
}

// Rejoin takes back the seat of ticket (another Client's RejoinTicket,
// typically of this process before it restarted) in its match room: the
// client leaves its current room, the seat's old holder is removed from
// the room if it is still there, and the members see PeerLeft for it and
// PeerJoined with Replaces naming it. The client then holds a fresh
// ticket. Errors carry CodeInvalidTicket, CodeTicketExpired (the ticket
// expired, or the room is gone) or CodeRoomFull.
func (c *Client) Rejoin(ctx context.Context, ticket string) (RoomInfo, error) {
	r, err := c.callRetry(ctx, Envelope{Type: TypeRejoin, Data: marshalData(RejoinData{Ticket: ticket})})
	if err != nil {
		return RoomInfo{}, err
	}
	var jd JoinedData
	if err := json.Unmarshal(r.Data, &jd); err != nil {
		return RoomInfo{}, fmt.Errorf("signaling: bad joined: %w", err)
	}
	return RoomInfo{Name: r.Room, Peers: jd.Peers, Seats: jd.Seats}, nil
}

// Leave leaves the current room.
func (c *Client) Leave(ctx context.Context) error {
	_, err := c.callRetry(ctx, Envelope{Type: TypeLeave})
	return err
}

// Signal relays data, a JSON value, to peer to in the same room and waits
// for the server to accept it.
func (c *Client) Signal(ctx context.Context, to string, data json.RawMessage) error {
	if !json.Valid(data) || !utf8.Valid(data) { // the server closes a connection for invalid UTF-8
		return ErrNotJSON
	}
	_, err := c.call(ctx, Envelope{Type: TypeSignal, To: to, Data: data})
	return err
}

// SendSignal is Signal with a []byte payload, for netcode.Signaler.
func (c *Client) SendSignal(ctx context.Context, to string, payload []byte) error {
	return c.Signal(ctx, to, payload)
}

// SubscribeSignals registers callbacks for signals and for peers joining
// (joined=true) or leaving (false) the client's room. Members already in the
// room are reported before SubscribeSignals returns; each later change is
// reported once. Signals that arrived while no subscription had an
// onSignal callback (up to ClientConfig.EarlySignals of them) go to the
// first such subscription, in arrival order, also before SubscribeSignals
// returns and before any later signal; those from a room the client has
// since left are dropped and counted (DroppedSignals). A signal that a
// callback takes is not posted to the Events channel. Callbacks run one at
// a time on the client's delivery goroutine (not its reader), which never
// waits for the Events channel or for subscriptions; they should return
// quickly. While they are slow, up to 4096 deliveries wait behind them;
// past that the client stops reading from the server until they catch up.
// They may call the client's methods, blocking ones included, and the
// returned cancel function, but not SubscribeSignals or Close. After cancel
// returns, only a callback already running may still finish. It satisfies
// netcode.Signaler.
func (c *Client) SubscribeSignals(onSignal func(from string, payload []byte), onPeer func(peer string, joined bool)) (cancel func()) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	c.mu.Lock()
	c.subSeq++
	key := c.subSeq
	c.subs[key] = &subscription{key: key, onSignal: onSignal, onPeer: onPeer}
	peers := slices.Clone(c.peers)
	var early []earlySignal
	if onSignal != nil {
		early = c.early
		c.early = nil
		early = slices.DeleteFunc(early, func(e earlySignal) bool {
			stale := c.room == "" || e.room != c.room
			if stale {
				c.dropped++
			}
			return stale
		})
	}
	c.mu.Unlock()
	if onPeer != nil {
		for _, p := range peers {
			onPeer(p, true)
		}
	}
	for _, e := range early {
		onSignal(e.from, e.data)
	}
	return func() {
		c.mu.Lock()
		delete(c.subs, key)
		c.mu.Unlock()
	}
}

// DroppedSignals returns how many signals from peers reached the client
// but no SubscribeSignals callback: those that arrived while nobody
// subscribed and the early buffer (ClientConfig.EarlySignals) was full, and
// buffered ones from a room the client had left when a subscriber came.
// Those signals also appear on the Events channel, if it is used.
func (c *Client) DroppedSignals() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Request sends an extension message of type msgType (for example
// "mm.enqueue") with data and waits for the server's answer: the data of a
// reply (or of any other answer carrying the request's cid), or a *Error for
// an error reply. A request answered with CodeUnavailable (a cluster
// service electing a new leader; the server did not act on it) is sent
// again, after the server's suggested wait (Error.RetryAfter) or 50 ms
// doubling up to 1 s, until ctx ends.
func (c *Client) Request(ctx context.Context, msgType string, data any) (json.RawMessage, error) {
	env := Envelope{Type: msgType}
	if data != nil {
		b, ok := data.(json.RawMessage)
		if !ok {
			var err error
			if b, err = json.Marshal(data); err != nil {
				return nil, fmt.Errorf("signaling: request %s: %w", msgType, err)
			}
		}
		if !json.Valid(b) || !utf8.Valid(b) {
			// The server closes a connection (1007) for a frame that is
			// not UTF-8: refuse here rather than lose the connection.
			return nil, fmt.Errorf("%w: request %s data is not valid UTF-8 JSON", ErrNotJSON, msgType)
		}
		env.Data = b
	}
	r, err := c.callRetry(ctx, env)
	if err != nil {
		return nil, err
	}
	return r.Data, nil
}

// callRetry is call, sending the request again while the server answers
// CodeUnavailable (a cluster condition; the server did not act on it):
// after the server's RetryAfter when it gave one, else after 50 ms
// doubling up to 1 s, until ctx ends, when it returns the last error.
func (c *Client) callRetry(ctx context.Context, env Envelope) (Envelope, error) {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		r, err := c.call(ctx, env)
		var se *Error
		if !errors.As(err, &se) || se.Code != CodeUnavailable {
			return r, err
		}
		d := wait
		if se.RetryAfter > 0 {
			d = se.RetryAfter
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return r, err
		case <-t.C:
		}
	}
}

// Ping measures one round trip to the server.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	t := time.Now()
	if _, err := c.call(ctx, Envelope{Type: TypePing}); err != nil {
		return 0, err
	}
	return time.Since(t), nil
}

// Close ends the session for good (the server tells the room peer_left at
// once, without waiting for the resume grace), stops reconnecting and waits
// for the client's goroutines. Calls waiting for answers return
// ErrDisconnected; later calls return ErrClosed. The Events channel and
// every subscription's channel are closed. It must not be called from
// a SubscribeSignals callback. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	ws := c.ws
	if ws == nil {
		close(c.up) // wake calls waiting for a reconnect; they see closed
	}
	c.mu.Unlock()
	c.stop()
	if ws != nil {
		c.wmu.Lock()
		ws.closeNormal(time.Second)
		c.wmu.Unlock()
		// Let the server's close frame arrive so the read loop ends on a
		// clean close; the deadline bounds the wait.
		ws.setReadDeadline(time.Now().Add(time.Second))
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.mu.Lock()
		if c.ws != nil {
			c.ws.close()
		}
		c.mu.Unlock()
		<-done
	}
	c.mu.Lock()
	subs := c.msgSubs
	c.msgSubs = nil
	c.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
	return nil
}
