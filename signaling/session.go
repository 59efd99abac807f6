package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// conn is one WebSocket connection. Its reader goroutine owns the fields
// below the line; a writer goroutine runs only while its session has frames
// queued.
type conn struct {
	srv      *Server
	ws       *websocket.Conn
	ip       string
	remote   string
	identity Identity
	created  int64 // unix nanoseconds
	ctx      context.Context
	cancel   context.CancelFunc

	lastSeen  atomic.Int64 // unix nanoseconds of the last frame or pong
	lastPing  int64        // owned by the sweeper
	slot      uint8        // the sweeper's batch
	sess      atomic.Pointer[session]
	closeOnce sync.Once
	timedOut  atomic.Bool // the sweeper has closed it for a timeout

	limiter *rate.Limiter // messages; taken only by the reader goroutine
}

// outFrame is an encoded message waiting in a session's queue. t is the
// unix time in nanoseconds a relayed signal arrived (0 for other frames),
// for the relay latency histogram.
type outFrame struct {
	b []byte
	t int64
}

// session is a peer: its id, room seat and send queue outlive any one
// connection while a resume is possible.
type session struct {
	srv      *Server
	id       string
	identity Identity
	ip       string // the address that opened it; counted in Server.sessIP

	// guarded by srv.mu
	room          *room
	interruptedAt int64 // unix nanoseconds; 0 while a connection is attached
	nonce         string

	// cluster mode, guarded by srv.cl.mu: the room the peer is in (as its
	// client was told) and a join waiting for the replica to show it.
	croom, pendRoom, pendCid string

	mu      sync.Mutex // guards the fields below
	c       *conn      // attached connection; nil while interrupted
	queue   []outFrame
	queued  int64 // bytes in queue
	writing bool  // a flush goroutine is running
	pingDue bool
	gone    bool
}

// enqueue appends frame to the send queue and makes sure a writer runs.
// The queue is bounded in messages (SendQueueLen) and in bytes
// (SendQueueBytes; a frame always fits an empty queue), and every queue
// together by the server's MaxQueuedBytes: over that budget a frame is
// taken only by an empty queue. A frame that does not fit returns
// ErrQueueFull and disconnects a live consumer with CodeSlowConsumer (the
// queue stays for a resume, within the same bounds).
func (s *session) enqueue(frame []byte, t int64) error {
	srv := s.srv
	n := int64(len(frame))
	s.mu.Lock()
	if s.gone {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownPeer, s.id)
	}
	if len(s.queue) > 0 && (len(s.queue) >= srv.cfg.SendQueueLen ||
		s.queued+n > int64(srv.cfg.SendQueueBytes) ||
		srv.queued.Load()+n > srv.cfg.MaxQueuedBytes) {
		c := s.c
		s.mu.Unlock()
		if c != nil {
			srv.log.Info("slow consumer disconnected", "peer", s.id)
			srv.countError(CodeSlowConsumer)
			c.closeAsync(websocket.ClosePolicyViolation, CodeSlowConsumer)
		}
		return ErrQueueFull
	}
	s.queue = append(s.queue, outFrame{frame, t})
	s.queued += n
	srv.queued.Add(n)
	s.startWriterLocked()
	s.mu.Unlock()
	return nil
}

// inlineWriteTimeout bounds a relayed signal written on the goroutine that
// routes it (writeThrough): only a peer whose socket buffer is full makes
// that write wait, and such a peer is disconnected as a slow consumer
// rather than holding up the sender or a cluster node's message handler.
const inlineWriteTimeout = 100 * time.Millisecond

// writeThrough is enqueue for a relayed signal: when the session's queue
// is empty and no writer runs, the caller writes the frame to the socket
// itself (a frame the kernel takes at once), which saves the hand-off to
// a writer goroutine and puts the signal on the wire before the sender's
// ack. Otherwise it queues the frame behind the others, as enqueue does.
// The frame stays in the queue while it is written, so that a failed
// write leaves it there for a resume.
func (s *session) writeThrough(frame []byte, t int64) error {
	s.mu.Lock()
	c := s.c
	if c == nil || s.gone || s.writing || s.pingDue || len(s.queue) > 0 {
		s.mu.Unlock()
		return s.enqueue(frame, t)
	}
	n := int64(len(frame))
	s.queue = append(s.queue, outFrame{frame, t})
	s.queued += n
	s.srv.queued.Add(n)
	s.writing = true
	s.mu.Unlock()
	s.srv.wg.Add(1)
	s.writeLoop(c, true)
	return nil
}

// dropQueueLocked empties the queue and gives its bytes back to the
// server's budget. s.mu must be held.
func (s *session) dropQueueLocked() {
	s.srv.queued.Add(-s.queued)
	s.queued = 0
	s.queue = nil
}

// enqueueFront puts frame before everything queued (the welcome of a resume).
func (s *session) enqueueFront(frame []byte) {
	s.mu.Lock()
	s.queue = append([]outFrame{{b: frame}}, s.queue...)
	s.queued += int64(len(frame))
	s.srv.queued.Add(int64(len(frame)))
	s.startWriterLocked()
	s.mu.Unlock()
}

// ping sends c a keep-alive ping. When nothing is queued and no writer
// runs, the caller (the sweeper) writes it itself, within
// inlineWriteTimeout, instead of starting a writer goroutine for it;
// otherwise the writer sends it before the next frame.
func (s *session) ping(c *conn) {
	s.mu.Lock()
	if s.c != c || s.gone {
		s.mu.Unlock()
		return
	}
	if s.writing || len(s.queue) > 0 {
		s.pingDue = true
		s.startWriterLocked()
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(min(s.srv.cfg.WriteTimeout, inlineWriteTimeout)))
	s.mu.Lock()
	s.writing = false
	if err == nil {
		s.startWriterLocked() // frames queued meanwhile
	}
	s.mu.Unlock()
	if err != nil {
		s.writeFailed(c, err)
	}
}

// writeFailed closes c after a failed write: a write that timed out
// within inlineWriteTimeout found the peer's socket full, a slow consumer.
func (s *session) writeFailed(c *conn, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.srv.log.Info("slow consumer disconnected", "peer", s.id)
		s.srv.countError(CodeSlowConsumer)
		c.closeAsync(websocket.ClosePolicyViolation, CodeSlowConsumer)
		return
	}
	c.closeAsync(websocket.CloseAbnormalClosure, "write failed")
}

func (s *session) startWriterLocked() {
	if s.c == nil || s.writing || (len(s.queue) == 0 && !s.pingDue) {
		return
	}
	s.writing = true
	s.srv.wg.Add(1)
	go s.writeLoop(s.c, false)
}

// writeLoop writes queued frames to c until the queue is empty, c is no
// longer the session's connection, or a write fails. A frame leaves the
// queue only once written. With inline set it runs on writeThrough's
// caller: it writes the head frame within inlineWriteTimeout and hands
// whatever else is queued to a writer goroutine.
func (s *session) writeLoop(c *conn, inline bool) {
	defer s.srv.wg.Done()
	wt := s.srv.cfg.WriteTimeout
	if inline {
		wt = min(wt, inlineWriteTimeout)
	}
	for first := true; ; first = false {
		s.mu.Lock()
		if s.c != c || s.gone || (len(s.queue) == 0 && !s.pingDue) {
			s.writing = false
			s.startWriterLocked() // a resume may have attached a new connection meanwhile
			s.mu.Unlock()
			return
		}
		if inline && !first {
			// More came meanwhile: a writer goroutine takes it on.
			s.srv.wg.Add(1)
			go s.writeLoop(c, false)
			s.mu.Unlock()
			return
		}
		ping := s.pingDue
		s.pingDue = false
		var f outFrame
		if !ping {
			f = s.queue[0]
		}
		s.mu.Unlock()

		var err error
		if ping {
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(wt))
		} else {
			c.ws.SetWriteDeadline(time.Now().Add(wt))
			err = c.ws.WriteMessage(websocket.TextMessage, f.b)
		}
		if err != nil {
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			if inline {
				s.writeFailed(c, err)
				return
			}
			c.closeAsync(websocket.CloseAbnormalClosure, "write failed")
			return
		}
		if ping {
			continue
		}
		if f.t != 0 {
			s.srv.stats.observeRelay(time.Now().UnixNano() - f.t)
		}
		s.mu.Lock()
		// The frame written is at the head unless a resume put its welcome
		// in front meanwhile (enqueueFront): find it behind those, so a
		// frame the client already read is not sent again after the resume.
		if i := slices.IndexFunc(s.queue, func(q outFrame) bool { return &q.b[0] == &f.b[0] }); i >= 0 {
			if i == 0 {
				s.queue[0] = outFrame{}
				s.queue = s.queue[1:]
			} else {
				s.queue = slices.Delete(s.queue, i, i+1)
			}
			s.queued -= int64(len(f.b))
			s.srv.queued.Add(-int64(len(f.b)))
			if len(s.queue) == 0 {
				s.queue = nil
			}
		}
		s.mu.Unlock()
	}
}

// closeWith sends a close frame with code and reason and closes the socket;
// the reader goroutine then tears the connection down. Safe to call more
// than once and from any goroutine; it blocks for at most a second.
func (c *conn) closeWith(code int, reason string) {
	c.closeOnce.Do(func() {
		c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		c.ws.Close()
	})
}

// closeAsync is closeWith on a goroutine the server owns, for callers that
// must not block (the sweeper, a sender meeting a full queue).
func (c *conn) closeAsync(code int, reason string) {
	c.srv.wg.Add(1)
	go func() {
		defer c.srv.wg.Done()
		c.closeWith(code, reason)
	}()
}

func (c *conn) readLoop() {
	s := c.srv
	defer s.wg.Done()
	c.ws.SetReadLimit(int64(4*s.cfg.MaxMessageSize + 1024))
	c.ws.SetPongHandler(func(string) error {
		c.lastSeen.Store(time.Now().UnixNano())
		return nil
	})
	// A ping takes a token from the connection's bucket like a message;
	// one that finds it empty is not answered (control frames carry no
	// cid to answer with an error).
	c.ws.SetPingHandler(func(data string) error {
		now := time.Now().UnixNano()
		c.lastSeen.Store(now)
		if !allowAt(c.limiter, now) {
			s.countError(CodeRateLimited)
			return nil
		}
		err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return err
		}
		return nil
	})
	var err error
	for err == nil {
		var mt int
		var r io.Reader
		if mt, r, err = c.ws.NextReader(); err == nil {
			err = c.readOne(mt, r)
		}
	}
	c.teardown(err)
}

// readOne reads and serves one frame. It is kept out of readLoop so that
// the stack of a reader blocked in NextReader stays small: with tens of
// thousands of idle connections, every byte of it counts.
//
//go:noinline
func (c *conn) readOne(mt int, r io.Reader) error {
	s := c.srv
	limit := s.cfg.MaxMessageSize
	now := time.Now().UnixNano()
	c.lastSeen.Store(now)
	buf := framePool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			framePool.Put(buf)
		}
	}()
	err := readFrame(r, buf, limit)
	// Every frame, malformed or not, takes a token.
	allowed := allowAt(c.limiter, now)
	switch {
	case err == nil && !allowed:
		env, _ := Decode(buf.Bytes()) // for the cid, if there is one
		c.replyError(env.Cid, CodeRateLimited, fmt.Sprintf("more than %g messages per second", s.cfg.RatePerSec))
	case errors.Is(err, errTooLarge) && !allowed:
		c.replyError("", CodeRateLimited, fmt.Sprintf("more than %g messages per second", s.cfg.RatePerSec))
	case errors.Is(err, errTooLarge):
		c.replyError("", CodeTooLarge, fmt.Sprintf("message larger than %d bytes", limit))
	case err != nil:
		return err
	case mt == websocket.BinaryMessage:
		c.replyError("", CodeBinaryUnsupported, "binary frames are not part of the protocol")
	case !utf8.Valid(buf.Bytes()):
		// RFC 6455 §8.1: a text frame that is not UTF-8 fails the
		// connection with 1007.
		s.countError(CodeInvalidUTF8)
		c.closeWith(websocket.CloseInvalidFramePayloadData, CodeInvalidUTF8)
		return errInvalidUTF8
	default:
		c.handleFrame(buf.Bytes(), now)
	}
	return nil
}

var errInvalidUTF8 = errors.New("invalid UTF-8 in a text frame")

// teardown runs once the reader stops: it releases the connection and
// either interrupts its session (resume possible) or ends it.
func (c *conn) teardown(err error) {
	s := c.srv
	c.cancel()
	c.closeWith(websocket.CloseNormalClosure, "")
	normal := websocket.IsCloseError(err, websocket.CloseNormalClosure)
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.slots[c.slot], c)
	s.releaseIPLocked(c.ip)
	sess := c.sess.Load()
	if sess == nil {
		s.mu.Unlock()
		return
	}
	sess.mu.Lock()
	attached := sess.c == c
	if attached {
		sess.c = nil
	}
	sess.mu.Unlock()
	if !attached || s.sessions[sess.id] != sess {
		s.mu.Unlock()
		return
	}
	if s.cl != nil && s.closed && !normal {
		// A cluster node that stops hands its sessions to the others: they
		// resume there, or the cluster removes them after ResumeGrace.
		s.mu.Unlock()
		return
	}
	if normal || s.cfg.ResumeGrace < 0 || s.closed {
		s.mu.Unlock()
		s.removeSession(sess)
		return
	}
	sess.interruptedAt = time.Now().UnixNano()
	s.interrupted[sess] = struct{}{}
	var out []delivery
	if r := sess.room; r != nil {
		ev := peerEvent(TypePeerInterrupted, r.name, sess.id)
		for _, m := range r.members {
			if m != sess {
				out = append(out, delivery{m, ev})
			}
		}
	}
	s.mu.Unlock()
	if s.cl != nil {
		s.cinterrupted(sess)
	}
	s.log.Debug("session interrupted", "peer", sess.id, "err", err)
	deliver(out)
}

// send queues a frame for this connection's session, or writes it
// directly before there is one.
func (c *conn) send(frame []byte) {
	if sess := c.sess.Load(); sess != nil {
		sess.enqueue(frame, 0)
		return
	}
	c.ws.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		c.closeAsync(websocket.CloseAbnormalClosure, "write failed")
	}
}

func (c *conn) replyError(cid, code, msg string) {
	c.srv.countError(code)
	b, _ := encodeWith(Envelope{Type: TypeError, Cid: cid}, ErrorData{Code: code, Message: msg})
	c.send(b)
}

// replyRetry answers cid with CodeUnavailable and a retry hint.
func (c *conn) replyRetry(cid, msg string, after time.Duration) {
	c.srv.countError(CodeUnavailable)
	b, _ := encodeWith(Envelope{Type: TypeError, Cid: cid}, ErrorData{Code: CodeUnavailable, Message: msg, RetryMs: int(after / time.Millisecond)})
	c.send(b)
}

func (c *conn) reply(typ, cid string, data any) {
	b, _ := encodeWith(Envelope{Type: typ, Cid: cid}, data)
	c.send(b)
}

func (c *conn) handleFrame(frame []byte, now int64) {
	s := c.srv
	env, err := Decode(frame)
	if err != nil {
		var e *Error
		errors.As(err, &e)
		c.replyError(env.Cid, e.Code, e.Message)
		return
	}
	s.stats.msgsIn.Add(1)
	sess := c.sess.Load()
	if env.Type == TypeHello {
		c.hello(env)
		return
	}
	if sess == nil {
		c.replyError(env.Cid, CodeHelloRequired, "the first message must be hello")
		return
	}
	if env.From != "" && env.From != sess.id {
		c.replyError(env.Cid, CodeForgedSender, "from must be empty or your own id")
		return
	}
	env.From = sess.id
	if s.cl != nil {
		switch env.Type {
		case TypeJoin:
			c.join(sess, env)
			return
		case TypeLeave:
			c.cleave(sess, env)
			return
		case TypeSignal:
			if env.To == "" || len(env.Data) == 0 {
				c.replyError(env.Cid, CodeBadRequest, "signal needs to and data")
				return
			}
			c.csignal(sess, env, now)
			return
		}
	}
	switch env.Type {
	case TypeJoin:
		c.join(sess, env)
	case TypeLeave:
		s.mu.Lock()
		if sess.room == nil {
			s.mu.Unlock()
			c.replyError(env.Cid, CodeNotInRoom, "not in a room")
			return
		}
		name := sess.room.name
		out := s.leaveLocked(sess, nil)
		s.mu.Unlock()
		deliver(out)
		b, _ := encodeWith(Envelope{Type: TypeLeft, Cid: env.Cid, Room: name}, nil)
		sess.enqueue(b, 0)
	case TypeSignal:
		c.signal(sess, env, now)
	case TypeRejoin:
		c.rejoin(sess, env)
	case TypePing:
		c.reply(TypePong, env.Cid, nil)
	default:
		s.mu.RLock()
		h := s.handlers[env.Type]
		s.mu.RUnlock()
		if h == nil {
			c.replyError(env.Cid, CodeUnknownType, fmt.Sprintf("unknown message type %q", env.Type))
			return
		}
		h(&Request{Peer: sess.id, Identity: sess.identity, RemoteAddr: c.remote, Envelope: env, ctx: c.ctx, srv: s, sess: sess})
	}
}

func (c *conn) hello(env Envelope) {
	s := c.srv
	if c.sess.Load() != nil {
		c.replyError(env.Cid, CodeBadRequest, "hello already received")
		return
	}
	var h HelloData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &h); err != nil {
			c.replyError(env.Cid, CodeBadRequest, "invalid hello data")
			return
		}
	}
	ok := len(h.Versions) == 0
	for _, v := range h.Versions {
		ok = ok || v == ProtocolVersion
	}
	if !ok {
		c.replyError(env.Cid, CodeUnsupportedVersion, fmt.Sprintf("server speaks version %d", ProtocolVersion))
		c.closeAsync(websocket.CloseProtocolError, CodeUnsupportedVersion)
		return
	}
	if s.cl != nil && s.cl.isCutOff() {
		// Cut off from most of the cluster: a session opened or resumed
		// here could not be stored. The client tries its next server.
		c.replyRetry(env.Cid, "this node is cut off from most of the cluster: connect to another node, or retry", storeRetry)
		c.closeAsync(websocket.CloseTryAgainLater, CodeUnavailable)
		return
	}
	if h.Resume != "" {
		c.resume(env, h.Resume)
		return
	}
	sess := &session{srv: s, id: randomHex(8), identity: c.identity, ip: c.ip, nonce: randomHex(8)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeServerFull, "server is full")
		c.closeAsync(websocket.CloseTryAgainLater, CodeServerFull)
		return
	}
	if s.cfg.MaxSessionsPerIP > 0 && s.sessIP[c.ip] >= s.cfg.MaxSessionsPerIP {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeTooManySessions, fmt.Sprintf("%d sessions (live or waiting to resume) from %s", s.cfg.MaxSessionsPerIP, c.ip))
		c.closeAsync(websocket.ClosePolicyViolation, CodeTooManySessions)
		return
	}
	if sub := c.identity.Subject; sub != "" && s.cfg.MaxSessionsPerSubject > 0 && s.sessSub[sub] >= s.cfg.MaxSessionsPerSubject {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeTooManySessions, fmt.Sprintf("%d sessions (live or waiting to resume) of %q", s.cfg.MaxSessionsPerSubject, sub))
		c.closeAsync(websocket.ClosePolicyViolation, CodeTooManySessions)
		return
	}
	for s.sessions[sess.id] != nil {
		sess.id = randomHex(8)
	}
	s.sessions[sess.id] = sess
	s.sessIP[c.ip]++
	if sub := c.identity.Subject; sub != "" {
		s.sessSub[sub]++
	}
	sess.c = c
	c.sess.Store(sess)
	w := s.welcomeLocked(sess, false)
	nonce := sess.nonce
	s.mu.Unlock()
	s.stats.sessionsOpened.Add(1)
	if s.cl != nil {
		s.cstore(sess, nonce, true)
	}
	s.log.Debug("session opened", "peer", sess.id, "remote", c.remote, "subject", c.identity.Subject)
	b, _ := encodeWith(Envelope{Type: TypeWelcome, Cid: env.Cid}, w)
	sess.enqueue(b, 0)
}

func (s *Server) welcomeLocked(sess *session, resumed bool) WelcomeData {
	w := WelcomeData{
		ID:             sess.id,
		Resume:         s.resumeToken(sess.id, sess.nonce),
		Resumed:        resumed,
		ICEServers:     s.iceServers(sess.id),
		PingIntervalMs: s.cfg.PingInterval.Milliseconds(),
		ResumeGraceMs:  max(s.cfg.ResumeGrace.Milliseconds(), 0),
		Limits: LimitsData{
			MaxMessageSize: s.cfg.MaxMessageSize,
			MaxRoomSize:    s.cfg.MaxRoomSize,
			RatePerSec:     s.cfg.RatePerSec,
			RateBurst:      s.cfg.RateBurst,
		},
	}
	if sess.room != nil {
		w.Room = sess.room.name
		w.Peers = sess.room.peerIDs(sess)
	}
	if s.cl != nil {
		s.cwelcomeRoom(sess, &w)
	}
	return w
}

func (c *conn) resume(env Envelope, tok string) {
	s := c.srv
	id, nonce, ok := s.parseResumeToken(tok)
	if !ok {
		c.replyError(env.Cid, CodeInvalidToken, "resume token not issued by this server")
		return
	}
	s.mu.Lock()
	sess := s.sessions[id]
	if sess == nil && s.cl != nil && s.cfg.ResumeGrace >= 0 {
		s.mu.Unlock()
		c.cresume(env, id, nonce)
		return
	}
	if sess == nil || s.cfg.ResumeGrace < 0 {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeResumeExpired, "the session is gone")
		return
	}
	if sess.nonce != nonce && s.cl != nil && sess.identity.Subject == c.identity.Subject {
		// A newer token: another node may have taken the session over
		// while this one was cut off, and this copy is stale. The
		// session's record decides.
		s.mu.Unlock()
		c.cresumeStale(env, sess, nonce)
		return
	}
	if sess.nonce != nonce || sess.identity.Subject != c.identity.Subject {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeInvalidToken, "resume token superseded or for another identity")
		return
	}
	sess.nonce = randomHex(8)
	wasInterrupted := sess.interruptedAt != 0
	sess.interruptedAt = 0
	delete(s.interrupted, sess)
	sess.mu.Lock()
	old := sess.c
	sess.c = c
	sess.mu.Unlock()
	c.sess.Store(sess)
	w := s.welcomeLocked(sess, true)
	nonce = sess.nonce
	var out []delivery
	if r := sess.room; r != nil {
		if !wasInterrupted {
			ev := peerEvent(TypePeerInterrupted, r.name, sess.id)
			for _, m := range r.members {
				if m != sess {
					out = append(out, delivery{m, ev})
				}
			}
		}
		ev := peerEvent(TypePeerResumed, r.name, sess.id)
		for _, m := range r.members {
			if m != sess {
				out = append(out, delivery{m, ev})
			}
		}
	}
	s.mu.Unlock()
	if old != nil {
		old.closeAsync(websocket.ClosePolicyViolation, CodeReplaced)
	}
	s.stats.resumes.Add(1)
	if s.cl != nil {
		s.cstore(sess, nonce, false)
		s.background(func(ctx context.Context) { s.setMember(ctx, sess.id, false, "") })
	}
	s.log.Debug("session resumed", "peer", sess.id, "remote", c.remote)
	b, _ := encodeWith(Envelope{Type: TypeWelcome, Cid: env.Cid}, w)
	sess.enqueueFront(b)
	deliver(out)
}

func (c *conn) join(sess *session, env Envelope) {
	s := c.srv
	var jd JoinData
	if len(env.Data) > 0 {
		if err := json.Unmarshal(env.Data, &jd); err != nil {
			c.replyError(env.Cid, CodeBadRequest, "invalid join data")
			return
		}
	}
	if !validRoomName(env.Room) {
		c.replyError(env.Cid, CodeInvalidRoom, "room names are 1-64 bytes of letters, digits and -_.:#@")
		return
	}
	if jd.Next != 0 && (jd.Next < 2 || jd.Next > s.cfg.MaxRoomSize) {
		c.replyError(env.Cid, CodeInvalidRoom, fmt.Sprintf("next must be between 2 and %d", s.cfg.MaxRoomSize))
		return
	}
	if s.cl != nil {
		c.cjoin(sess, env, jd.Next)
		return
	}
	s.mu.Lock()
	var r *room
	if jd.Next == 0 {
		r = s.rooms[env.Room]
		switch {
		case r == sess.room && r != nil:
			// Already there: answer joined again.
		case r != nil && r.private:
			s.mu.Unlock()
			c.replyError(env.Cid, CodeRoomClosed, "room accepts no joins by name")
			return
		case r != nil && len(r.members) >= r.capacity:
			s.mu.Unlock()
			c.replyError(env.Cid, CodeRoomFull, fmt.Sprintf("room holds %d peers", r.capacity))
			return
		case r == nil && len(s.rooms) >= s.cfg.MaxRooms:
			s.mu.Unlock()
			c.replyError(env.Cid, CodeTooManyRooms, "server holds its maximum number of rooms")
			return
		case r == nil:
			r = &room{name: env.Room, capacity: s.cfg.MaxRoomSize}
			s.rooms[r.name] = r
		}
	} else {
		key := env.Room + "\x00" + itoa(jd.Next)
		r = s.open[key]
		if r == nil {
			if len(s.rooms) >= s.cfg.MaxRooms {
				s.mu.Unlock()
				c.replyError(env.Cid, CodeTooManyRooms, "server holds its maximum number of rooms")
				return
			}
			// The group's name is unguessable (64 random bits), and checked
			// against the rooms that exist.
			name := env.Room + "#" + randomHex(8)
			for s.rooms[name] != nil {
				name = env.Room + "#" + randomHex(8)
			}
			r = &room{name: name, private: true, capacity: jd.Next, openKey: key}
			s.rooms[name] = r
			s.open[key] = r
		}
	}
	var out []delivery
	if sess.room == r {
		jd := JoinedData{Peers: r.peerIDs(sess)}
		if _, ok := r.seatOf[sess.id]; ok {
			jd.Ticket = s.rejoinTicketLocked(sess, r)
			jd.Seats = slices.Clone(r.holder)
		}
		b, _ := encodeWith(Envelope{Type: TypeJoined, Cid: env.Cid, Room: r.name}, jd)
		out = append(out, delivery{sess, b})
	} else {
		out = s.leaveLocked(sess, out)
		if s.rooms[r.name] != r { // leaving emptied and deleted the target (cannot happen, but be safe)
			s.rooms[r.name] = r
		}
		out = s.joinLocked(sess, r, env.Cid, out)
	}
	s.mu.Unlock()
	deliver(out)
}

func (c *conn) signal(sess *session, env Envelope, now int64) {
	s := c.srv
	if env.To == "" {
		c.replyError(env.Cid, CodeBadRequest, "signal needs to")
		return
	}
	if len(env.Data) == 0 {
		c.replyError(env.Cid, CodeBadRequest, "signal needs data")
		return
	}
	s.mu.RLock()
	r := sess.room
	var target *session
	var roomName string
	if r != nil {
		roomName = r.name
		for _, m := range r.members {
			if m.id == env.To {
				target = m
				break
			}
		}
	}
	s.mu.RUnlock()
	if r == nil {
		c.replyError(env.Cid, CodeNotInRoom, "join a room first")
		return
	}
	if target == nil {
		c.replyError(env.Cid, CodeUnknownPeer, fmt.Sprintf("no peer %q in room %q", env.To, roomName))
		return
	}
	b, err := Encode(Envelope{Type: TypeSignal, From: sess.id, To: target.id, Room: roomName, Data: env.Data})
	if err != nil {
		c.replyError(env.Cid, CodeBadRequest, "signal data is not valid JSON")
		return
	}
	if err := target.writeThrough(b, now); err != nil {
		c.replyError(env.Cid, CodePeerUnavailable, fmt.Sprintf("peer %q cannot take more messages now", target.id))
		return
	}
	s.stats.relayed.Add(1)
	if env.Cid != "" {
		c.ack(sess, env.Cid)
	}
}

// ack answers a relayed signal: written through like the signal, on the
// goroutine that routed it.
func (c *conn) ack(sess *session, cid string) {
	b, _ := encodeWith(Envelope{Type: TypeAck, Cid: cid}, nil)
	sess.writeThrough(b, 0)
}
