package signaling

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures a Server. The zero value is a valid development
// configuration: anonymous access, same-origin browsers, default limits.
type Config struct {
	// Auth is consulted before every upgrade. Nil means Anonymous.
	Auth Authenticator
	// CheckOrigin decides whether a browser's Origin may connect. Nil
	// accepts requests without an Origin header and requests whose Origin
	// host equals the Host header (gorilla's default).
	CheckOrigin func(r *http.Request) bool

	// MaxMessageSize is the largest text frame a peer may send; larger
	// frames are answered with CodeTooLarge (and frames over four times the
	// limit close the connection). Zero means DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxRoomSize is the most members a room holds. Zero means 16.
	MaxRoomSize int
	// MaxRooms is the most rooms the server holds. Zero means 100,000.
	MaxRooms int
	// MaxSessions is the most sessions (live or waiting to resume) the
	// server holds. Zero means 1,000,000.
	MaxSessions int
	// MaxConnsPerIP is the most open connections from one IP address. Zero
	// means 64; negative means no limit.
	MaxConnsPerIP int
	// RatePerSec and RateBurst shape each connection's token bucket: a
	// message that finds it empty is answered with CodeRateLimited. Zero
	// means 50 messages per second and a burst of 100.
	RatePerSec float64
	RateBurst  int
	// SendQueueLen is how many messages may wait to be written to one peer;
	// when a message finds the queue full the connection is closed with
	// CodeSlowConsumer (its queue is kept for a resume). Zero means 256.
	SendQueueLen int
	// SendQueueBytes bounds the bytes waiting for one peer in the same way,
	// whether its connection is live or it waits to resume; a message
	// always fits an empty queue. Zero means 128 KiB.
	SendQueueBytes int
	// MaxQueuedBytes is the server-wide budget of the send queues: once
	// the queues together hold this much, a message is accepted only by an
	// empty queue and a peer that has fallen behind is disconnected with
	// CodeSlowConsumer. Zero means 32 MiB.
	MaxQueuedBytes int64
	// MaxSessionsPerIP is the most sessions (live or waiting to resume)
	// opened from one IP address; hello beyond it is answered with
	// CodeTooManySessions. Zero means twice MaxConnsPerIP (128 by
	// default); negative means no limit.
	MaxSessionsPerIP int
	// MaxSessionsPerSubject is the most sessions (live or waiting to
	// resume) of one authenticated subject, from any address; hello beyond
	// it is answered with CodeTooManySessions. Zero means 8; negative
	// means no limit. Anonymous sessions are counted per IP only.
	MaxSessionsPerSubject int

	// PingInterval is how often the server pings each connection. Zero
	// means 25 s.
	PingInterval time.Duration
	// IdleTimeout closes a connection that sent nothing (not even a pong)
	// for this long: the read deadline. Zero means 2×PingInterval + 10 s.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write: the write deadline. Zero means 10 s.
	WriteTimeout time.Duration
	// HelloTimeout closes a connection that has not said hello in time.
	// Zero means 10 s.
	HelloTimeout time.Duration
	// ResumeGrace is how long a session whose connection dropped waits for
	// a resume before it is gone for good. Zero means 30 s; negative
	// disables resume.
	ResumeGrace time.Duration
	// RejoinTTL is how long a rejoin ticket (JoinedData.Ticket, issued
	// to every member of a match room) stays valid. Zero means 1 h;
	// negative issues no tickets.
	RejoinTTL time.Duration

	// ICEServers are pushed to every client in welcome as they are.
	ICEServers []ICEServer
	// TURNURLs, with TURNSecret set, are pushed as one more ICE server with
	// per-session TURN REST credentials (see TURNCredentials). Empty
	// TURNSecret means no TURN entry.
	TURNURLs   []string
	TURNSecret string
	// TURNTTL is the lifetime of TURN credentials. Zero means 1 h.
	TURNTTL time.Duration

	// Logger receives structured logs. Nil means no logs.
	Logger *slog.Logger
	// OnPeerGone, if set, is called once for every session that ends for
	// good (it left, closed normally, or its resume grace expired), after
	// the server has removed it. It runs on a server goroutine without
	// locks held and must not block for long.
	OnPeerGone func(peer string)
}

func (c Config) withDefaults() Config {
	if c.RejoinTTL == 0 {
		c.RejoinTTL = time.Hour
	}
	if c.Auth == nil {
		c.Auth = Anonymous{}
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxRoomSize <= 0 {
		c.MaxRoomSize = 16
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = 100_000
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 1_000_000
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 64
	}
	if c.RatePerSec <= 0 {
		c.RatePerSec = 50
	}
	if c.RateBurst <= 0 {
		c.RateBurst = 100
	}
	if c.SendQueueLen <= 0 {
		c.SendQueueLen = 256
	}
	if c.SendQueueBytes <= 0 {
		c.SendQueueBytes = 128 << 10
	}
	if c.MaxQueuedBytes <= 0 {
		c.MaxQueuedBytes = 32 << 20
	}
	if c.MaxSessionsPerSubject == 0 {
		c.MaxSessionsPerSubject = 8
	}
	if c.MaxSessionsPerIP == 0 {
		c.MaxSessionsPerIP = 2 * c.MaxConnsPerIP // negative stays negative: no limit
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2*c.PingInterval + 10*time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = 10 * time.Second
	}
	if c.ResumeGrace == 0 {
		c.ResumeGrace = 30 * time.Second
	}
	if c.TURNTTL <= 0 {
		c.TURNTTL = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Handler serves one extension message type registered with Server.Handle.
// It runs on the sending connection's reader goroutine: while it runs, that
// connection reads nothing more, so a handler must return quickly and hand
// long work to its own goroutine (req stays valid there; Reply may be
// called later from any goroutine).
type Handler func(req *Request)

// Request is one extension message as a Handler sees it.
type Request struct {
	// Peer is the sender's server-assigned id.
	Peer string
	// Identity is what the sender authenticated as.
	Identity Identity
	// RemoteAddr is the sender's network address.
	RemoteAddr string
	// Envelope is the decoded message, From already stamped with Peer.
	Envelope Envelope

	ctx    context.Context
	srv    *Server
	sess   *session
	origin string   // the sender's node, for a request a cluster service's leader serves for another node
	svc    *Service // the cluster service whose leader serves it: replies wait for its saves (Service.Save)
}

// Context returns a context that is canceled when the sender's connection
// closes or the server shuts down.
func (r *Request) Context() context.Context { return r.ctx }

// Reply answers the request with a message of type reply carrying data and
// the request's cid.
func (r *Request) Reply(data any) error {
	b, err := encodeWith(Envelope{Type: TypeReply, Cid: r.Envelope.Cid}, data)
	if err != nil {
		return err
	}
	return r.send(b)
}

// send queues a reply frame for the sender, through its node when the
// request was forwarded. A request a cluster service's leader serves is
// answered once what the service saved before the reply is in the store.
func (r *Request) send(b []byte) error {
	if r.svc != nil {
		return r.svc.holdReply(r, b)
	}
	return r.deliver(b)
}

func (r *Request) deliver(b []byte) error {
	if r.origin != "" {
		return r.srv.replyVia(r.origin, r.Peer, r.Envelope.Cid, b)
	}
	return r.sess.enqueue(b, 0)
}

// ReplyError answers the request with an error of the given code (one of
// the Code constants or a service's own stable code) and message.
func (r *Request) ReplyError(code, msg string) error {
	r.srv.countError(code)
	b, err := encodeWith(Envelope{Type: TypeError, Cid: r.Envelope.Cid}, ErrorData{Code: code, Message: msg})
	if err != nil {
		return err
	}
	return r.send(b)
}

// replyRetry answers the request with CodeUnavailable and a suggested
// wait before a retry (ErrorData.RetryMs).
func (r *Request) replyRetry(msg string, after time.Duration) error {
	r.srv.countError(CodeUnavailable)
	b, err := encodeWith(Envelope{Type: TypeError, Cid: r.Envelope.Cid}, ErrorData{Code: CodeUnavailable, Message: msg, RetryMs: int(after / time.Millisecond)})
	if err != nil {
		return err
	}
	return r.send(b)
}

// Server is the signaling rendezvous point: an http.Handler that upgrades
// requests to WebSocket sessions. Create it with NewServer; all methods are
// safe for concurrent use.
type Server struct {
	cfg      Config
	upgrader websocket.Upgrader
	ctx      context.Context
	cancel   context.CancelFunc
	tokenKey []byte
	log      *slog.Logger

	cl *clusterState // nil for a single node; set before serving

	mu       sync.RWMutex
	closed   bool
	sessions map[string]*session
	// interrupted holds the sessions waiting for a resume (interruptedAt
	// set), so that the sweeper looks for expired ones among them only.
	interrupted map[*session]struct{}
	rooms       map[string]*room
	open        map[string]*room // next=N groups still filling, by name+"\x00"+N
	conns       map[*conn]struct{}
	slots       [sweepSlots]map[*conn]struct{} // conns by sweep slot, so a sweep tick visits only its own
	perIP       map[string]int                 // open connections by IP
	sessIP      map[string]int                 // sessions by the IP that opened them
	sessSub     map[string]int                 // sessions by authenticated subject
	handlers    map[string]Handler
	goneFns     []func(string)
	services    map[string]*Service // cluster-wide services by name
	hintMu      sync.Mutex
	hints       map[string]string // cluster: peer -> the node its last service request came from

	queued atomic.Int64   // bytes in every session's send queue
	wg     sync.WaitGroup // every goroutine the server owns
	stats  serverStats

	fwdMu sync.Mutex
	fwds  map[fwdKey]fwdReq // cluster: service requests forwarded to a leader, not answered yet
}

// NewServer returns a Server for cfg and starts its housekeeping goroutine
// (keep-alives, timeouts, resume expiry); Close or Shutdown stops it.
func NewServer(cfg Config) *Server {
	cfg = cfg.withDefaults()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("signaling: crypto/rand failed: " + err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:         cfg,
		ctx:         ctx,
		cancel:      cancel,
		tokenKey:    key,
		log:         cfg.Logger,
		sessions:    make(map[string]*session),
		interrupted: make(map[*session]struct{}),
		rooms:       make(map[string]*room),
		open:        make(map[string]*room),
		conns:       make(map[*conn]struct{}),
		perIP:       make(map[string]int),
		sessIP:      make(map[string]int),
		sessSub:     make(map[string]int),
		handlers:    make(map[string]Handler),
	}
	for i := range s.slots {
		s.slots[i] = make(map[*conn]struct{})
	}
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		WriteBufferPool:  &sync.Pool{},
		CheckOrigin:      func(*http.Request) bool { return true }, // checked before Upgrade
		HandshakeTimeout: cfg.HelloTimeout,
	}
	if cfg.OnPeerGone != nil {
		s.goneFns = append(s.goneFns, cfg.OnPeerGone)
	}
	s.handlers[TypeICE] = s.serveICE
	s.stats.init()
	s.wg.Add(1)
	go s.sweep()
	return s
}

// coreTypes are the types the server itself serves or sends; they cannot be
// registered with Handle.
var coreTypes = map[string]bool{
	TypeHello: true, TypeJoin: true, TypeLeave: true, TypeSignal: true, TypePing: true,
	TypeWelcome: true, TypeJoined: true, TypeLeft: true, TypePeerJoined: true, TypePeerLeft: true,
	TypePeerInterrupted: true, TypePeerResumed: true, TypeAck: true, TypeReply: true,
	TypePong: true, TypeError: true, TypeRejoin: true,
}

// Handle registers h for messages of type msgType, for example "mm.enqueue".
// It panics if msgType is a core type, empty, or already registered: a
// registration error is a programming error. Messages of types without a
// handler are answered with CodeUnknownType.
func (s *Server) Handle(msgType string, h Handler) {
	if msgType == "" || len(msgType) > MaxTypeLen || !printable(msgType) || coreTypes[msgType] || h == nil {
		panic(fmt.Sprintf("signaling: cannot register handler for %q", msgType))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.handlers[msgType]; dup {
		panic(fmt.Sprintf("signaling: handler for %q registered twice", msgType))
	}
	s.handlers[msgType] = h
}

// OnPeerGone adds fn to the functions called when a session ends for good
// (see Config.OnPeerGone).
func (s *Server) OnPeerGone(fn func(peer string)) {
	s.mu.Lock()
	s.goneFns = append(s.goneFns, fn)
	s.mu.Unlock()
}

// Send pushes a message of type msgType with data to a peer. It returns
// ErrUnknownPeer if the peer has no session and ErrQueueFull if its send
// queue is full. A message to a peer whose connection dropped waits in its
// queue for the resume.
func (s *Server) Send(peer string, msgType string, data any) error {
	if msgType == "" {
		return fmt.Errorf("signaling: Send: empty type")
	}
	b, err := encodeWith(Envelope{Type: msgType}, data)
	if err != nil {
		return err
	}
	s.mu.RLock()
	closed := s.closed
	sess := s.sessions[peer]
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if sess == nil && s.cl != nil {
		return s.csendHinted(peer, b)
	}
	if sess == nil {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
	}
	return sess.enqueue(b, 0)
}

// CreateRoom puts peers, in order, into a fresh room called name that
// accepts no joins by name. Each peer leaves its previous room (its
// members get peer_left), receives joined with the members before it, and
// the members before it receive peer_joined. The room may hold up to
// max(len(peers), Config.MaxRoomSize) members.
func (s *Server) CreateRoom(name string, peers []string) error {
	if !validRoomName(name) {
		return fmt.Errorf("%w: %q", ErrInvalidRoom, name)
	}
	if s.cl != nil && len(peers) > 0 {
		return s.ccreateRoom(name, peers, false)
	}
	if len(peers) == 0 {
		return fmt.Errorf("signaling: CreateRoom %q: no peers", name)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := s.rooms[name]; ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrRoomExists, name)
	}
	if len(s.rooms) >= s.cfg.MaxRooms {
		s.mu.Unlock()
		return ErrTooManyRooms
	}
	members := make([]*session, 0, len(peers))
	for i, p := range peers {
		sess := s.sessions[p]
		if sess == nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrUnknownPeer, p)
		}
		if slices.Contains(peers[:i], p) {
			s.mu.Unlock()
			return fmt.Errorf("signaling: CreateRoom: peer %q listed twice", p)
		}
		members = append(members, sess)
	}
	r := &room{name: name, private: true, capacity: max(len(peers), s.cfg.MaxRoomSize)}
	s.rooms[name] = r
	var out []delivery
	for _, sess := range members {
		out = s.leaveLocked(sess, out)
		out = s.joinLocked(sess, r, "", out)
	}
	s.mu.Unlock()
	deliver(out)
	return nil
}

// AddToRoom puts connected peers, in order, into the existing room called
// name, a private one made by CreateRoom included: the matchmaker uses it to
// backfill a running session. As with CreateRoom, each peer leaves its
// previous room (its members get peer_left), receives joined with the
// members before it, and the members before it receive peer_joined. Peers
// already in the room are left alone. Nothing changes on error.
func (s *Server) AddToRoom(name string, peers []string) error {
	if s.cl != nil {
		return s.ccreateRoom(name, peers, true)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	r := s.rooms[name]
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownRoom, name)
	}
	members := make([]*session, 0, len(peers))
	seen := make(map[*session]bool, len(peers))
	n := len(r.members)
	for _, p := range peers {
		sess := s.sessions[p]
		if sess == nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrUnknownPeer, p)
		}
		if sess.room != r && !seen[sess] {
			seen[sess] = true
			members = append(members, sess)
			n++
		}
	}
	if n > r.capacity {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q holds %d", ErrRoomFull, name, r.capacity)
	}
	var out []delivery
	for _, sess := range members {
		out = s.leaveLocked(sess, out)
		out = s.joinLocked(sess, r, "", out)
	}
	s.mu.Unlock()
	deliver(out)
	return nil
}

// PeerRoom returns the room peer is in; ok is false when peer has no
// session (it left for good, or its resume grace ran out). A peer waiting
// to resume is still in its room.
func (s *Server) PeerRoom(peer string) (room string, ok bool) {
	s.mu.RLock()
	local := s.sessions[peer] != nil
	s.mu.RUnlock()
	if !local && s.cl != nil {
		return s.cpeerRoom(peer) // a session of another node
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sess := s.sessions[peer]
	if sess == nil {
		return "", false
	}
	if sess.room != nil {
		room = sess.room.name
	}
	if s.cl != nil {
		s.cl.mu.Lock()
		room = s.cl.peerRoom[peer]
		s.cl.mu.Unlock()
	}
	return room, true
}

// Sessions returns the number of sessions, live or waiting to resume.
func (s *Server) Sessions() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

// Rooms returns the number of rooms.
func (s *Server) Rooms() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.rooms)
}

// writeHTTPError refuses an upgrade with status and an error envelope as
// the body.
func writeHTTPError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := encodeWith(Envelope{Type: TypeError}, ErrorData{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// ServeHTTP upgrades r to a WebSocket session. Before the upgrade it checks,
// in order: that r is an upgrade (400 CodeBadRequest), origin (403
// CodeForbiddenOrigin), authentication (401 CodeUnauthorized), shutdown
// (503 CodeShutdown), the per-IP connection limit (429
// CodeTooManyConnections) and the session limit (503 CodeServerFull).
// It returns as soon as the connection is upgraded; the session lives on in
// a goroutine the server owns.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeHTTPError(w, http.StatusBadRequest, CodeBadRequest, "expected a WebSocket upgrade")
		return
	}
	if !s.checkOrigin(r) {
		s.countError(CodeForbiddenOrigin)
		writeHTTPError(w, http.StatusForbidden, CodeForbiddenOrigin, "origin not allowed")
		return
	}
	id, err := s.cfg.Auth.Authenticate(r)
	if err != nil {
		s.countError(CodeUnauthorized)
		writeHTTPError(w, http.StatusUnauthorized, CodeUnauthorized, err.Error())
		return
	}
	ip := r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		writeHTTPError(w, http.StatusServiceUnavailable, CodeShutdown, "server is shutting down")
		return
	case s.cfg.MaxConnsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxConnsPerIP:
		s.mu.Unlock()
		s.countError(CodeTooManyConnections)
		writeHTTPError(w, http.StatusTooManyRequests, CodeTooManyConnections, "too many connections from "+ip)
		return
	case len(s.conns) >= s.cfg.MaxSessions || len(s.sessions) >= s.cfg.MaxSessions:
		s.mu.Unlock()
		s.countError(CodeServerFull)
		writeHTTPError(w, http.StatusServiceUnavailable, CodeServerFull, "server is full")
		return
	}
	s.perIP[ip]++
	s.mu.Unlock()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.mu.Lock()
		s.releaseIPLocked(ip)
		s.mu.Unlock()
		return // Upgrade already wrote the HTTP error.
	}
	noTCPKeepAlive(ws.NetConn())
	now := time.Now().UnixNano()
	c := &conn{srv: s, ws: ws, ip: ip, remote: r.RemoteAddr, identity: id, created: now, limiter: s.newLimiter()}
	c.lastSeen.Store(now)
	// Spread the first ping over one interval, so that sessions that
	// arrive together (a restart, a load test) are not pinged together.
	c.lastPing = now - mrand.Int64N(int64(s.cfg.PingInterval))
	c.slot = uint8(mrand.IntN(sweepSlots))
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	if s.closed {
		s.releaseIPLocked(ip)
		s.mu.Unlock()
		c.cancel()
		ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, CodeShutdown), time.Now().Add(time.Second))
		ws.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.slots[c.slot][c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.connsOpened.Add(1)
	go c.readLoop()
}

func (s *Server) releaseIPLocked(ip string) {
	if n := s.perIP[ip]; n <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip] = n - 1
	}
}

func (s *Server) checkOrigin(r *http.Request) bool {
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// Close is Shutdown without a deadline: it closes every connection (with a
// close frame carrying CodeShutdown, each write bounded by a second) and
// waits for the server's goroutines. The frames queued before (a last
// Send) are written first, while the queues keep shrinking: at most 0.5 s
// without progress, 5 s in all. Neither Close nor Shutdown calls
// OnPeerGone. Both are idempotent.
func (s *Server) Close() error {
	s.beginClose()
	s.wg.Wait()
	return nil
}

// Shutdown stops accepting sessions, closes every WebSocket with a close
// frame carrying CodeShutdown (net/http's own Shutdown does not close
// hijacked connections), and waits for the server's goroutines or for ctx.
// On cancel it returns an error satisfying errors.Is(err, ctx.Err()).
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginClose()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("signaling: shutdown: %w", ctx.Err())
	}
}

// Done returns a channel that is closed when the server begins to close
// (Close or Shutdown). Services built on the server, such as the
// matchmaker's, stop their own goroutines when it is closed.
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

func (s *Server) beginClose() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	queued := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		queued = append(queued, ss)
	}
	s.mu.Unlock()
	drainQueues(queued)
	s.cancel()
	var wg sync.WaitGroup
	// Close in parallel batches so that a few stuck peers cannot hold the
	// others' close frames back.
	const workers = 8
	ch := make(chan *conn)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range ch {
				c.closeWith(websocket.CloseGoingAway, CodeShutdown)
			}
		}()
	}
	for _, c := range conns {
		ch <- c
	}
	close(ch)
	wg.Wait()
}

// Close and Shutdown first let the frames queued before them (a last
// push, such as the lobby.kicked a LAN host sends every member as it
// closes) be written, before the close frames go out: they wait while the
// queues shrink, until closeStall passes without progress (a peer that
// stopped reading) or closeDrain in all.
const (
	closeStall = 500 * time.Millisecond
	closeDrain = 5 * time.Second
)

// drainQueues waits until none of sessions has a connection with frames
// still to write, as long as those queues keep shrinking (see
// closeStall, closeDrain). New frames cannot come: the server is closed
// to Send.
func drainQueues(sessions []*session) {
	start := time.Now()
	progress, last := start, int64(-1)
	for {
		var left int64
		sessions = slices.DeleteFunc(sessions, func(ss *session) bool {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			if ss.c == nil || ss.gone || len(ss.queue) == 0 {
				return true
			}
			left += ss.queued
			return false
		})
		now := time.Now()
		if len(sessions) == 0 || now.Sub(start) >= closeDrain {
			return
		}
		if last < 0 || left < last {
			progress = now
		}
		last = left
		if now.Sub(progress) >= closeStall {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// room is a set of sessions. Guarded by Server.mu.
type room struct {
	name     string
	members  []*session // join order
	private  bool       // not joinable by name (next=N groups, CreateRoom)
	capacity int
	openKey  string // key in Server.open while a next=N group fills

	// Seats of a private room, for rejoin tickets: every peer that ever
	// joined has a seat; holder names the peer holding each seat now.
	seatOf map[string]int
	holder []string
}

func (r *room) peerIDs(except *session) []string {
	ids := make([]string, 0, len(r.members))
	for _, m := range r.members {
		if m != except {
			ids = append(ids, m.id)
		}
	}
	return ids
}

// delivery is a frame to enqueue after Server.mu is released.
type delivery struct {
	to    *session
	frame []byte
}

func deliver(out []delivery) {
	for _, d := range out {
		d.to.enqueue(d.frame, 0) // a full queue disconnects the consumer; nothing else to do
	}
}

func peerEvent(typ, roomName, peer string) []byte {
	b, _ := encodeWith(Envelope{Type: typ, Room: roomName}, PeerData{Peer: peer})
	return b
}

// joinLocked adds sess to r, queueing joined for it (with cid) and
// peer_joined for the others.
func (s *Server) joinLocked(sess *session, r *room, cid string, out []delivery) []delivery {
	return s.joinSeatLocked(sess, r, cid, -1, out)
}

// joinSeatLocked is joinLocked for a rejoin: sess takes seat (a fresh
// seat when negative) and peer_joined names the seat's previous holder.
func (s *Server) joinSeatLocked(sess *session, r *room, cid string, seat int, out []delivery) []delivery {
	jd := JoinedData{Peers: r.peerIDs(nil)}
	replaces := ""
	if r.private {
		if r.seatOf == nil {
			r.seatOf = make(map[string]int)
		}
		if seat < 0 {
			seat = len(r.holder)
			r.holder = append(r.holder, sess.id)
		} else {
			replaces = r.holder[seat]
			r.holder[seat] = sess.id
		}
		r.seatOf[sess.id] = seat
		jd.Ticket = s.rejoinTicketLocked(sess, r)
		jd.Seats = slices.Clone(r.holder)
	}
	joined, _ := encodeWith(Envelope{Type: TypeJoined, Cid: cid, Room: r.name}, jd)
	out = append(out, delivery{sess, joined})
	ev, _ := encodeWith(Envelope{Type: TypePeerJoined, Room: r.name}, PeerData{Peer: sess.id, Replaces: replaces})
	for _, m := range r.members {
		out = append(out, delivery{m, ev})
	}
	r.members = append(r.members, sess)
	sess.room = r
	if r.openKey != "" && len(r.members) >= r.capacity {
		delete(s.open, r.openKey)
		r.openKey = ""
	}
	return out
}

// leaveLocked removes sess from its room, if any, queueing peer_left for
// the others, and deletes the room when it is empty.
func (s *Server) leaveLocked(sess *session, out []delivery) []delivery {
	r := sess.room
	if r == nil {
		return out
	}
	sess.room = nil
	for i, m := range r.members {
		if m == sess {
			r.members = append(r.members[:i], r.members[i+1:]...)
			break
		}
	}
	if len(r.members) == 0 {
		delete(s.rooms, r.name)
		if r.openKey != "" {
			delete(s.open, r.openKey)
		}
		return out
	}
	ev := peerEvent(TypePeerLeft, r.name, sess.id)
	for _, m := range r.members {
		out = append(out, delivery{m, ev})
	}
	return out
}

// removeSession ends sess for good and calls the OnPeerGone hooks.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	if s.sessions[sess.id] != sess {
		s.mu.Unlock()
		return
	}
	s.forgetSessionLocked(sess)
	out := s.leaveLocked(sess, nil)
	fns := s.goneFns
	closed := s.closed
	s.mu.Unlock()
	sess.mu.Lock()
	sess.gone = true
	sess.dropQueueLocked()
	sess.mu.Unlock()
	deliver(out)
	if s.cl != nil && !closed {
		s.cgone(sess)
	}
	if closed {
		return
	}
	s.log.Debug("session gone", "peer", sess.id)
	for _, fn := range fns {
		fn(sess.id)
	}
}

// resume token: id "." nonce "." base64url(HMAC-SHA256(key, id "." nonce))
func (s *Server) resumeToken(id, nonce string) string {
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte(id + "." + nonce))
	return id + "." + nonce + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (s *Server) parseResumeToken(tok string) (id, nonce string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	want := s.resumeToken(parts[0], parts[1])
	if !hmac.Equal([]byte(tok), []byte(want)) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("signaling: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// iceServers returns the ICE servers to push to peer.
func (s *Server) iceServers(peer string) []ICEServer {
	out := append([]ICEServer(nil), s.cfg.ICEServers...)
	if s.cfg.TURNSecret != "" && len(s.cfg.TURNURLs) > 0 {
		user, pass := TURNCredentials(s.cfg.TURNSecret, peer, s.cfg.TURNTTL, time.Now())
		out = append(out, ICEServer{URLs: s.cfg.TURNURLs, Username: user, Credential: pass})
	}
	return out
}

// sweep is the server's one housekeeping goroutine: it pings, enforces the
// hello and idle timeouts, and expires interrupted sessions. A shared
// ticker instead of per-connection timers keeps idle sessions cheap.
func (s *Server) sweep() {
	defer s.wg.Done()
	interval := min(time.Second, s.cfg.PingInterval/4, s.cfg.HelloTimeout/4)
	if s.cfg.ResumeGrace > 0 {
		interval = min(interval, s.cfg.ResumeGrace/4)
	}
	interval = max(interval, 5*time.Millisecond)
	// The connections are split into sweepSlots slots, and the slots are
	// visited one after another, evenly over each interval, by ticks of
	// the housekeeping goroutine; a tick visits every slot that has come
	// due since the last, so that a round takes one interval whatever the
	// ticks' period. That period decides how the pings of an interval go
	// out: in bursts of about sweepBurst per tick, so that no burst of ping
	// writes, and of the pongs they bring back, holds up a relay for long,
	// and no more ticks than that needs, since every tick wakes this
	// process and the clients' with it. It is set again at each round from
	// the number of connections: between interval/sweepSlots (at least a
	// millisecond) and interval/16.
	slotDur := interval / sweepSlots
	minTick, maxTick := max(slotDur, time.Millisecond), max(interval/16, time.Millisecond)
	tick := maxTick
	t := time.NewTicker(tick)
	defer t.Stop()
	var conns []*conn
	var expired []*session
	start := time.Now()
	visited := int64(0) // slots visited since start
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		due := int64(time.Since(start) / slotDur)
		// A sweeper that was held up longer than a round visits each slot
		// once, not once per round missed.
		visited = max(visited, due-sweepSlots)
		for ; visited < due; visited++ {
			slot := uint8(visited % sweepSlots)
			if slot == 0 {
				s.mu.RLock()
				n := len(s.conns)
				s.mu.RUnlock()
				if d := sweepTick(n, s.cfg.PingInterval, minTick, maxTick); d != tick {
					tick = d
					t.Reset(tick)
				}
			}
			s.sweepSlot(slot, &conns, &expired)
		}
	}
}

// sweepBurst is about how many pings one tick of the housekeeping
// goroutine sends.
const sweepBurst = 8

// sweepTick is the period of the housekeeping goroutine's ticks with n
// connections pinged every ping interval: sweepBurst pings' worth of
// time, within [lo, hi].
func sweepTick(n int, ping, lo, hi time.Duration) time.Duration {
	if n <= 0 {
		return hi
	}
	return min(max(time.Duration(int64(ping)*sweepBurst/int64(n)), lo), hi)
}

// sweepSlot is one step of sweep: it visits the connections of one slot
// (and, for slot 0, the interrupted sessions). conns and expired are
// scratch space, kept from one call to the next.
func (s *Server) sweepSlot(slot uint8, conns *[]*conn, expired *[]*session) {
	cs, ex := (*conns)[:0], (*expired)[:0]
	now := time.Now().UnixNano()
	s.mu.RLock()
	for c := range s.slots[slot] {
		cs = append(cs, c)
	}
	if slot == 0 {
		for sess := range s.interrupted {
			if now-sess.interruptedAt > int64(s.cfg.ResumeGrace) {
				ex = append(ex, sess)
			}
		}
	}
	s.mu.RUnlock()
	for _, c := range cs {
		switch {
		case c.sess.Load() == nil && now-c.created > int64(s.cfg.HelloTimeout),
			now-c.lastSeen.Load() > int64(s.cfg.IdleTimeout):
			if c.timedOut.CompareAndSwap(false, true) {
				s.countError(CodeTimeout)
				c.closeAsync(websocket.ClosePolicyViolation, CodeTimeout)
			}
		case now-c.lastPing >= int64(s.cfg.PingInterval):
			c.lastPing = now // only the sweeper reads or writes lastPing after creation
			if sess := c.sess.Load(); sess != nil {
				sess.ping(c)
			}
		}
	}
	for _, sess := range ex {
		s.mu.Lock()
		still := sess.interruptedAt != 0 && now-sess.interruptedAt > int64(s.cfg.ResumeGrace)
		s.mu.Unlock()
		if still {
			s.log.Debug("resume grace expired", "peer", sess.id)
			s.removeSession(sess)
		}
	}
	clear(cs) // no references kept to closed connections
	clear(ex)
	*conns, *expired = cs[:0], ex[:0]
}

// sweepSlots is how many batches the housekeeping goroutine splits the
// connections into: with the default interval of a second, a slot every
// 4 ms, so that a tick can be as short as that.
const sweepSlots = 250

var errTooLarge = errors.New("too large")

// readFrame reads one message of at most limit bytes into buf.
func readFrame(r io.Reader, buf *bytes.Buffer, limit int) error {
	buf.Reset()
	n, err := buf.ReadFrom(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return err
	}
	if n > int64(limit) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		return errTooLarge
	}
	return nil
}

var framePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// marshalData is json.Marshal for payloads that cannot fail.
func marshalData(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("signaling: marshal: " + err.Error())
	}
	return b
}
