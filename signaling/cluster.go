package signaling

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Cluster mode
//
// With a Backplane (NewClusterServer), rooms live in the backplane's store
// and every node keeps a replica of them, fed by one Watch: the replica is
// the only source of room events and joined replies, so every member sees
// one room's changes in the order of the store's revisions, whichever node
// made them. A request that changes a room (join, leave, resume) writes the
// room's record with compare-and-set and lets the watch deliver the
// result. Signals go straight to the target's node (Backplane.Send), which
// checks the membership again, stamps nothing new (the sender's node has
// stamped "from") and answers the sender's node with the ack or error.
//
// A session belongs to the node that holds its connection (memberRec.Node,
// sessRec.Node). A resume on another node takes it over by
// compare-and-set on its sess record; the old node, if alive, drops its
// copy when it sees the room record (or a takeover message) name the new
// node. When a node goes silent (Backplane.OnNode), the live node with the
// smallest name marks its members away (peer_interrupted) and, after
// ResumeGrace, removes them (peer_left) and their sess records.

// roomRec is a room's record in the backplane (key room.<hex name>).
type roomRec struct {
	Cap     int         `json:"cap"`
	Private bool        `json:"private,omitempty"`
	Members []memberRec `json:"members"`
	Seats   []string    `json:"seats,omitempty"`
	// Replaced maps a seat's earlier holders to the seat, for their
	// rejoin tickets (a rejoin replaced them).
	Replaced map[string]int `json:"replaced,omitempty"`
}

type memberRec struct {
	ID   string `json:"id"`
	Node string `json:"node"`
	Away bool   `json:"away,omitempty"`
}

// sessRec is a session's record (key sess.<id>).
type sessRec struct {
	Node    string `json:"node"`
	Nonce   string `json:"nonce"`
	Subject string `json:"subject,omitempty"`
}

// nodeMsg is a message between nodes (Backplane.Send).
type nodeMsg struct {
	T        string          `json:"t"` // sig, ack, takeover, send, moved
	From     string          `json:"from,omitempty"`
	FromNode string          `json:"fn,omitempty"`
	To       string          `json:"to,omitempty"`
	Room     string          `json:"room,omitempty"`
	Cid      string          `json:"cid,omitempty"`
	Code     string          `json:"code,omitempty"`
	Msg      string          `json:"msg,omitempty"`
	Data     json.RawMessage `json:"-"`            // after the header's newline, byte for byte
	T0       int64           `json:"t0,omitempty"` // unix ns the sender's node read the signal (sig, and echoed in its ack)
}

// encodeNodeMsg frames m as its JSON header, a newline and its data.
func encodeNodeMsg(m nodeMsg) []byte {
	h, _ := marshalJSON(m)
	return append(append(h, '\n'), m.Data...)
}

func decodeNodeMsg(b []byte) (nodeMsg, error) {
	var m nodeMsg
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return m, errors.New("node message without header")
	}
	if err := json.Unmarshal(b[:i], &m); err != nil {
		return m, err
	}
	if i+1 < len(b) {
		m.Data = b[i+1:]
	}
	return m, nil
}

type croom struct {
	rev uint64
	rec roomRec
}

// clusterState is a Server's view of its cluster. mu is taken after
// Server.mu, never before.
type clusterState struct {
	bp   Backplane
	node string

	applyMu sync.Mutex // one applyRoom at a time: the watch's, or one ahead of it

	mu       sync.Mutex
	rooms    map[string]*croom
	peerRoom map[string]string // member id -> room, from the replica
	moved    map[string]string // member id -> node that took it over, until the replica shows it
	live     map[string]bool   // other nodes heard from
	dead     map[string]time.Time
	marked   map[string]bool // dead nodes whose members are marked away
	minority bool            // this node heard no majority of the nodes it knows (a cut)
	cutOff   bool            // and the nodes it does not hear are a majority: the cluster goes on without it
	cutSince time.Time       // since when cutOff holds
	shed     bool            // the local clients were told to move during this cut
}

// isCutOff reports whether the nodes this one does not hear form a
// majority of those it knows: a cut leaves the cluster working on the
// other side, so its clients are better served there. (In a cluster of
// two, or a cut into halves, no side has a majority: the node keeps its
// clients.)
func (cl *clusterState) isCutOff() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.cutOff
}

// othersMajorityLocked reports whether the nodes this one knows but does
// not hear are a majority of those it knows, itself included. cl.mu held.
func (cl *clusterState) othersMajorityLocked() bool {
	silent, known := 0, 1
	for _, up := range cl.live {
		known++
		if !up {
			silent++
		}
	}
	return 2*silent > known
}

func roomKey(name string) string { return "room." + hex.EncodeToString([]byte(name)) }
func sessKey(id string) string   { return "sess." + id }

func roomKeyName(key string) (string, bool) {
	h, ok := strings.CutPrefix(key, "room.")
	if !ok {
		return "", false
	}
	b, err := hex.DecodeString(h)
	return string(b), err == nil
}

// NewClusterServer is NewServer for one node of a cluster: rooms, resume
// state and signals are shared with the other nodes through bp. It reads
// the cluster's token key and a replica of the rooms before it returns.
func NewClusterServer(ctx context.Context, cfg Config, bp Backplane) (*Server, error) {
	s := NewServer(cfg)
	cl := &clusterState{bp: bp, node: bp.Node(), rooms: map[string]*croom{}, peerRoom: map[string]string{}, moved: map[string]string{},
		live: map[string]bool{}, dead: map[string]time.Time{}, marked: map[string]bool{}}
	key := []byte(randomHex(32))
	if _, err := bp.Create(ctx, "key.token", key); err != nil {
		if !errors.Is(err, ErrBackplaneConflict) {
			s.Close()
			return nil, fmt.Errorf("signaling: cluster token key: %w", err)
		}
		// Another node created it; a replica may not show it yet.
		e, err := bp.Get(ctx, "key.token")
		for i := 0; errors.Is(err, ErrBackplaneNotFound) && i < 100 && ctx.Err() == nil; i++ {
			time.Sleep(20 * time.Millisecond)
			e, err = bp.Get(ctx, "key.token")
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("signaling: cluster token key: %w", err)
		}
		key = e.Value
	}
	s.mu.Lock()
	s.tokenKey = key
	s.cl = cl
	s.mu.Unlock()
	bp.Receive(s.onNodeMsg)
	bp.OnNode(s.onNode)
	if err := bp.Watch(s.ctx, "room.", s.applyRoom); err != nil {
		s.Close()
		return nil, fmt.Errorf("signaling: cluster watch: %w", err)
	}
	s.wg.Add(1)
	go s.reaper()
	return s, nil
}

// Node returns the cluster node name of the server, or "" for a single
// node.
func (s *Server) Node() string {
	if s.cl == nil {
		return ""
	}
	return s.cl.node
}

var (
	errCASFull   = &Error{Code: CodeRoomFull, Message: "room is full"}
	errCASClosed = &Error{Code: CodeRoomClosed, Message: "room accepts no joins by name"}
	errCASNoop   = errors.New("no change")
)

// casRoom applies fn to the room's record (nil when absent) until the
// write succeeds; fn returns the new record (nil deletes the room),
// errCASNoop to write nothing, or an error to abort.
func (cl *clusterState) casRoom(ctx context.Context, name string, fn func(*roomRec) (*roomRec, error)) error {
	return cl.casRoomSince(ctx, name, 0, fn)
}

// casRoomSince is casRoom on a record at least as new as revision since:
// an older read (a replica that has not caught up) is read again.
func (cl *clusterState) casRoomSince(ctx context.Context, name string, since uint64, fn func(*roomRec) (*roomRec, error)) error {
	key := roomKey(name)
	for attempt := range 64 {
		var cur *roomRec
		var rev uint64
		e, err := cl.bp.Get(ctx, key)
		switch {
		case errors.Is(err, ErrBackplaneNotFound) && since == 0:
		case errors.Is(err, ErrBackplaneNotFound):
			conflictBackoff(ctx, attempt)
			continue
		case err != nil:
			return err
		case e.Rev < since:
			conflictBackoff(ctx, attempt)
			continue
		default:
			cur = new(roomRec)
			if err := json.Unmarshal(e.Value, cur); err != nil {
				return fmt.Errorf("signaling: room record %q: %w", name, err)
			}
			rev = e.Rev
		}
		next, err := fn(cur)
		if errors.Is(err, errCASNoop) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case next == nil && cur == nil:
			return nil
		case next == nil:
			err = cl.bp.Delete(ctx, key, rev)
		case cur == nil:
			b, _ := json.Marshal(next)
			_, err = cl.bp.Create(ctx, key, b)
		default:
			b, _ := json.Marshal(next)
			_, err = cl.bp.Update(ctx, key, b, rev)
		}
		if errors.Is(err, ErrBackplaneConflict) {
			// Reads may come from a replica that lags behind: back off.
			conflictBackoff(ctx, attempt)
			continue
		}
		return err
	}
	return errors.New("signaling: room record: too much contention")
}

// clusterErrMsg is the message of an error a cluster operation answers
// with: the backplane's error, said to come from the cluster once.
func clusterErrMsg(err error) string {
	if m := err.Error(); strings.HasPrefix(m, "cluster: ") {
		return m
	}
	return "cluster: " + err.Error()
}

// storeRetry is the wait suggested with CodeUnavailable when the store
// could not be written (no quorum: a network cut, or JetStream electing
// a leader for the bucket after a node died).
const storeRetry = time.Second

// replyClusterErr answers cid with the failure of a cluster operation: a
// coded *Error as it is; anything else is a cluster condition (the store
// unreachable or without quorum, a timeout, contention), answered with
// CodeUnavailable and a retry hint, never CodeInternal. The request was
// not applied, or its write may land later, which a retry tolerates
// (joining a room one is in answers joined).
func (c *conn) replyClusterErr(cid string, err error) {
	var e *Error
	if errors.As(err, &e) {
		c.replyError(cid, e.Code, e.Message)
		return
	}
	c.replyRetry(cid, "the cluster's store is unavailable now, retry: "+clusterErrMsg(err), storeRetry)
}

// refuseOnMinority answers cid with CodeUnavailable, at once, and returns
// true when this node hears no majority of the nodes it knows: it is on
// the small side of a network cut, where the store has no quorum and a
// write would only time out.
func (c *conn) refuseOnMinority(cid string) bool {
	cl := c.srv.cl
	cl.mu.Lock()
	minority := cl.minority
	cl.mu.Unlock()
	if minority {
		c.replyRetry(cid, "this node is cut off from most of the cluster, retry (or connect to another node)", storeRetry)
	}
	return minority
}

// conflictBackoff waits a little longer after each conflict, with jitter.
func conflictBackoff(ctx context.Context, attempt int) {
	d := time.Duration(min(attempt+1, 20)) * time.Millisecond
	d = d/2 + time.Duration(mrand.Int64N(int64(d)))
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func memberIndex(rec *roomRec, id string) int {
	for i, m := range rec.Members {
		if m.ID == id {
			return i
		}
	}
	return -1
}

// removeMember is a casRoom function removing id (only while it belongs
// to node, when node is set).
func removeMember(id, node string) func(*roomRec) (*roomRec, error) {
	return func(rec *roomRec) (*roomRec, error) {
		if rec == nil {
			return nil, errCASNoop
		}
		i := memberIndex(rec, id)
		if i < 0 || (node != "" && rec.Members[i].Node != node) {
			return nil, errCASNoop
		}
		rec.Members = slices.Delete(rec.Members, i, i+1)
		if len(rec.Members) == 0 {
			return nil, nil
		}
		return rec, nil
	}
}

func (s *Server) opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, 5*time.Second)
}

// background runs fn on a goroutine the server owns.
func (s *Server) background(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		fn(ctx)
	}()
}

// cluster-mode join.
func (c *conn) cjoin(sess *session, env Envelope, next int) {
	s := c.srv
	cl := s.cl
	ctx, cancel := s.opCtx()
	defer cancel()
	cl.mu.Lock()
	cur := sess.croom
	if next == 0 && cur == env.Room {
		cl.mu.Unlock()
		c.cjoinedAgain(sess, env.Cid, cur)
		return
	}
	cl.mu.Unlock()
	if c.refuseOnMinority(env.Cid) {
		return
	}
	cl.mu.Lock()
	sess.croom = ""
	cl.mu.Unlock()
	if cur != "" {
		if err := cl.casRoom(ctx, cur, removeMember(sess.id, "")); err != nil {
			cl.mu.Lock()
			if sess.croom == "" && cl.peerRoom[sess.id] == cur {
				sess.croom = cur // still a member: a retry leaves it again
			}
			cl.mu.Unlock()
			c.replyClusterErr(env.Cid, err)
			return
		}
	}
	me := memberRec{ID: sess.id, Node: cl.node}
	pend := func(name string) {
		cl.mu.Lock()
		sess.pendRoom, sess.pendCid = name, env.Cid
		cl.mu.Unlock()
	}
	fail := func(err error) {
		cl.mu.Lock()
		sess.pendRoom, sess.pendCid = "", ""
		cl.mu.Unlock()
		c.replyClusterErr(env.Cid, err)
	}
	if next == 0 {
		pend(env.Room)
		err := cl.casRoom(ctx, env.Room, func(rec *roomRec) (*roomRec, error) {
			switch {
			case rec == nil:
				return &roomRec{Cap: s.cfg.MaxRoomSize, Members: []memberRec{me}}, nil
			case rec.Private:
				return nil, errCASClosed
			case memberIndex(rec, me.ID) >= 0:
				return nil, errCASNoop
			case len(rec.Members) >= rec.Cap:
				return nil, &Error{Code: CodeRoomFull, Message: fmt.Sprintf("room holds %d peers", rec.Cap)}
			}
			rec.Members = append(rec.Members, me)
			return rec, nil
		})
		if err != nil {
			fail(err)
		}
		return
	}
	openKey := "open." + hex.EncodeToString([]byte(env.Room)) + "." + itoa(next)
	for attempt := range 64 {
		if attempt > 0 {
			conflictBackoff(ctx, attempt)
		}
		e, err := cl.bp.Get(ctx, openKey)
		if errors.Is(err, ErrBackplaneNotFound) {
			name := env.Room + "#" + randomHex(8)
			var rev uint64
			rev, err = cl.bp.Create(ctx, openKey, []byte(name))
			if errors.Is(err, ErrBackplaneConflict) {
				continue
			}
			e = BackplaneEntry{Key: openKey, Value: []byte(name), Rev: rev}
		}
		if err != nil {
			fail(err)
			return
		}
		name := string(e.Value)
		pend(name)
		full := false
		err = cl.casRoom(ctx, name, func(rec *roomRec) (*roomRec, error) {
			if rec == nil {
				rec = &roomRec{Cap: next, Private: true}
			}
			if len(rec.Members) >= rec.Cap {
				return nil, errCASFull
			}
			rec.Members = append(rec.Members, me)
			rec.Seats = append(rec.Seats, me.ID)
			full = len(rec.Members) >= rec.Cap
			return rec, nil
		})
		if err == errCASFull || (err == nil && full) {
			cl.bp.Delete(ctx, openKey, e.Rev) // a conflict means another joiner did it
		}
		if err == errCASFull {
			continue
		}
		if err != nil {
			fail(err)
		}
		return
	}
	fail(errors.New("next group: too much contention"))
}

// cjoinedAgain answers a join of the room the session is in.
func (c *conn) cjoinedAgain(sess *session, cid, name string) {
	s := c.srv
	cl := s.cl
	cl.mu.Lock()
	var jd JoinedData
	if r := cl.rooms[name]; r != nil {
		jd = s.cjoinedData(sess, name, &r.rec)
	}
	cl.mu.Unlock()
	b, _ := encodeWith(Envelope{Type: TypeJoined, Cid: cid, Room: name}, jd)
	sess.enqueue(b, 0)
}

// cjoinedData builds joined for sess from a room record. cl.mu held.
func (s *Server) cjoinedData(sess *session, name string, rec *roomRec) JoinedData {
	jd := JoinedData{Peers: make([]string, 0, len(rec.Members))}
	for _, m := range rec.Members {
		if m.ID != sess.id {
			jd.Peers = append(jd.Peers, m.ID)
		}
	}
	if rec.Private {
		jd.Seats = slices.Clone(rec.Seats)
		jd.Ticket = s.ticketFor(sess, name)
	}
	return jd
}

func (c *conn) cleave(sess *session, env Envelope) {
	s := c.srv
	cl := s.cl
	cl.mu.Lock()
	name := sess.croom
	cl.mu.Unlock()
	if name == "" {
		c.replyError(env.Cid, CodeNotInRoom, "not in a room")
		return
	}
	if c.refuseOnMinority(env.Cid) {
		return
	}
	cl.mu.Lock()
	sess.croom = ""
	cl.mu.Unlock()
	ctx, cancel := s.opCtx()
	defer cancel()
	if err := cl.casRoom(ctx, name, removeMember(sess.id, "")); err != nil {
		cl.mu.Lock()
		if sess.croom == "" && cl.peerRoom[sess.id] == name {
			sess.croom = name // still a member: a retry leaves it again
		}
		cl.mu.Unlock()
		c.replyClusterErr(env.Cid, err)
		return
	}
	b, _ := encodeWith(Envelope{Type: TypeLeft, Cid: env.Cid, Room: name}, nil)
	sess.enqueue(b, 0)
}

func (c *conn) csignal(sess *session, env Envelope, now int64) {
	s := c.srv
	cl := s.cl
	cl.mu.Lock()
	name := sess.croom
	var target memberRec
	found := false
	if r := cl.rooms[name]; r != nil && name != "" {
		if i := memberIndex(&r.rec, env.To); i >= 0 {
			target, found = r.rec.Members[i], true
			if n, ok := cl.moved[target.ID]; ok {
				target.Node = n
			}
		}
	}
	cl.mu.Unlock()
	if name == "" {
		c.replyError(env.Cid, CodeNotInRoom, "join a room first")
		return
	}
	if !found && name != "" {
		// This node's replica may not show a member that has just joined
		// through another node: ask the store.
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		if e, err := cl.bp.Get(ctx, roomKey(name)); err == nil {
			var rec roomRec
			if json.Unmarshal(e.Value, &rec) == nil && memberIndex(&rec, sess.id) >= 0 {
				if i := memberIndex(&rec, env.To); i >= 0 {
					target, found = rec.Members[i], true
				}
			}
		}
		cancel()
	}
	if !found {
		c.replyError(env.Cid, CodeUnknownPeer, fmt.Sprintf("no peer %q in room %q", env.To, name))
		return
	}
	if !json.Valid(env.Data) {
		c.replyError(env.Cid, CodeBadRequest, "signal data is not valid JSON")
		return
	}
	if target.Node != cl.node {
		if !s.nodeLive(target.Node) {
			// Its node is down or cut off from this one: nothing would
			// answer. The peer may resume on another node meanwhile.
			c.replyRetry(env.Cid, fmt.Sprintf("peer %q is on node %s, which is unreachable now: retry", target.ID, target.Node), storeRetry)
			return
		}
		b := encodeNodeMsg(nodeMsg{T: "sig", From: sess.id, FromNode: cl.node, To: target.ID, Room: name, Cid: env.Cid, Data: env.Data, T0: now})
		if err := cl.bp.Send(target.Node, b); err != nil {
			c.replyError(env.Cid, CodePeerUnavailable, fmt.Sprintf("peer %q: %v", target.ID, err))
			return
		}
		s.stats.clusterSent.Add(1)
		return
	}
	code, msg := s.deliverSignal(sess.id, target.ID, name, env.Data, now)
	if code != "" {
		c.replyError(env.Cid, code, msg)
		return
	}
	if env.Cid != "" {
		c.ack(sess, env.Cid)
	}
}

// deliverSignal enqueues a signal for a local member of room.
func (s *Server) deliverSignal(from, to, room string, data json.RawMessage, t0 int64) (code, msg string) {
	s.mu.RLock()
	target := s.sessions[to]
	s.mu.RUnlock()
	ok := false
	if target != nil {
		s.cl.mu.Lock()
		ok = target.croom == room
		s.cl.mu.Unlock()
	}
	if !ok {
		return CodeUnknownPeer, fmt.Sprintf("no peer %q in room %q", to, room)
	}
	b, err := Encode(Envelope{Type: TypeSignal, From: from, To: to, Room: room, Data: data})
	if err != nil {
		return CodeBadRequest, "signal data is not valid JSON"
	}
	if err := target.writeThrough(b, t0); err != nil {
		return CodePeerUnavailable, fmt.Sprintf("peer %q cannot take more messages now", to)
	}
	s.stats.relayed.Add(1)
	return "", ""
}

// onNodeMsg serves the messages of other nodes.
func (s *Server) onNodeMsg(b []byte) {
	m, err := decodeNodeMsg(b)
	if err != nil {
		return
	}
	switch m.T {
	case "sig":
		now := time.Now().UnixNano()
		t0 := m.T0
		if d := now - t0; d < 0 || d > int64(time.Second) {
			t0 = now
		}
		s.stats.clusterRecv.Add(1)
		code, msg := s.deliverSignal(m.From, m.To, m.Room, m.Data, t0)
		if m.Cid != "" || code != "" {
			// The ack carries the sender node's own t0 back, for its
			// round-trip histogram.
			b := encodeNodeMsg(nodeMsg{T: "ack", To: m.From, Cid: m.Cid, Code: code, Msg: msg, T0: m.T0})
			s.cl.bp.Send(m.FromNode, b)
		}
	case "ack":
		if m.T0 != 0 {
			s.stats.observeClusterRTT(time.Now().UnixNano() - m.T0)
		}
		s.mu.RLock()
		sess := s.sessions[m.To]
		s.mu.RUnlock()
		if sess == nil {
			return
		}
		var b []byte
		if m.Code == "" {
			b, _ = encodeWith(Envelope{Type: TypeAck, Cid: m.Cid}, nil)
		} else {
			s.countError(m.Code)
			b, _ = encodeWith(Envelope{Type: TypeError, Cid: m.Cid}, ErrorData{Code: m.Code, Message: m.Msg})
		}
		sess.writeThrough(b, 0)
	case "moved":
		if m.FromNode != s.cl.node {
			s.cl.mu.Lock()
			if s.cl.peerRoom[m.To] != "" {
				s.cl.moved[m.To] = m.FromNode
			}
			s.cl.mu.Unlock()
		}
		s.mu.RLock()
		sess := s.sessions[m.To]
		s.mu.RUnlock()
		if sess != nil && m.FromNode != s.cl.node {
			s.dropMoved(sess)
		}
	case "takeover":
		s.mu.RLock()
		sess := s.sessions[m.To]
		s.mu.RUnlock()
		if sess != nil {
			s.dropMoved(sess)
		}
	case "svc":
		s.onServiceMsg(m)
	case "room":
		s.onRoomMsg(m)
	case "send":
		if m.Cid != "" {
			s.answeredFwd(m.To, m.Cid)
		}
		s.mu.RLock()
		sess := s.sessions[m.To]
		s.mu.RUnlock()
		if sess != nil && json.Valid(m.Data) {
			sess.enqueue(m.Data, 0)
		} else if sess == nil && m.FromNode != "" {
			s.sendMissed(m) // sent on a hint: the peer may have moved
		}
	}
}

// dropMoved forgets a session another node has taken over, without
// OnPeerGone: it lives on there.
func (s *Server) dropMoved(sess *session) {
	s.mu.Lock()
	if s.sessions[sess.id] != sess {
		s.mu.Unlock()
		return
	}
	s.forgetSessionLocked(sess)
	s.mu.Unlock()
	sess.mu.Lock()
	sess.gone = true
	c := sess.c
	sess.dropQueueLocked()
	sess.mu.Unlock()
	if c != nil {
		c.closeAsync(websocket.ClosePolicyViolation, CodeReplaced)
	}
	s.log.Debug("session moved to another node", "peer", sess.id)
}

// forgetSessionLocked removes sess from the session tables. s.mu held.
func (s *Server) forgetSessionLocked(sess *session) {
	delete(s.sessions, sess.id)
	delete(s.interrupted, sess)
	if n := s.sessIP[sess.ip]; n <= 1 {
		delete(s.sessIP, sess.ip)
	} else {
		s.sessIP[sess.ip] = n - 1
	}
	if sub := sess.identity.Subject; sub != "" {
		if n := s.sessSub[sub]; n <= 1 {
			delete(s.sessSub, sub)
		} else {
			s.sessSub[sub] = n - 1
		}
	}
}

// applyRoom applies one change of a room record to the replica and tells
// the local members what changed.
func (s *Server) applyRoom(e BackplaneEntry) {
	if s.ctx.Err() != nil {
		return
	}
	name, ok := roomKeyName(e.Key)
	if !ok {
		return
	}
	var nr *roomRec
	if !e.Deleted {
		nr = new(roomRec)
		if err := json.Unmarshal(e.Value, nr); err != nil {
			s.log.Warn("bad room record", "room", name, "err", err)
			return
		}
	}
	cl := s.cl
	cl.applyMu.Lock()
	defer cl.applyMu.Unlock()
	s.log.Debug("cluster: room record", "room", name, "rev", e.Rev, "deleted", e.Deleted, "value", string(e.Value))
	var out []delivery
	var drop []*session
	var unaway []string
	s.mu.RLock()
	cl.mu.Lock()
	old := cl.rooms[name]
	if old != nil && e.Rev <= old.rev {
		cl.mu.Unlock()
		s.mu.RUnlock()
		return
	}
	var om, nm []memberRec
	var oldSeats []string
	if old != nil {
		om, oldSeats = old.rec.Members, old.rec.Seats
	}
	if nr != nil {
		nm = nr.Members
		cl.rooms[name] = &croom{rev: e.Rev, rec: *nr}
	} else {
		delete(cl.rooms, name)
	}
	oldBy := make(map[string]memberRec, len(om))
	for _, m := range om {
		oldBy[m.ID] = m
	}
	newBy := make(map[string]memberRec, len(nm))
	for _, m := range nm {
		newBy[m.ID] = m
		cl.peerRoom[m.ID] = name
		if n, ok := cl.moved[m.ID]; ok && n == m.Node {
			delete(cl.moved, m.ID)
		}
	}
	for _, m := range om {
		if _, ok := newBy[m.ID]; !ok {
			delete(cl.moved, m.ID)
		}
	}
	for _, m := range om {
		if _, ok := newBy[m.ID]; !ok && cl.peerRoom[m.ID] == name {
			delete(cl.peerRoom, m.ID)
		}
	}
	replaces := map[string]string{}
	if nr != nil {
		for i, id := range nr.Seats {
			if i < len(oldSeats) && oldSeats[i] != id {
				replaces[id] = oldSeats[i]
			}
		}
	}
	// Departures first, so that a replaced seat reads left then joined.
	for _, o := range om {
		if _, ok := newBy[o.ID]; ok {
			continue
		}
		if sess := s.sessions[o.ID]; sess != nil && o.Node == cl.node && sess.croom == name {
			sess.croom = ""
			b, _ := encodeWith(Envelope{Type: TypeLeft, Room: name}, nil)
			out = append(out, delivery{sess, b})
		}
	}
	for _, m := range nm {
		sess := s.sessions[m.ID]
		if sess == nil {
			continue
		}
		if m.Node != cl.node {
			drop = append(drop, sess)
			continue
		}
		if m.Away && sess.interruptedAt == 0 {
			// Another node took this one for dead (a network cut) and
			// marked its member away, but its connection is here.
			unaway = append(unaway, m.ID)
		}
		if _, was := oldBy[m.ID]; !was || (sess.croom != name && sess.pendRoom == name) {
			cid := ""
			if sess.pendRoom == name {
				cid = sess.pendCid
				sess.pendRoom, sess.pendCid = "", ""
			}
			b, _ := encodeWith(Envelope{Type: TypeJoined, Cid: cid, Room: name}, s.cjoinedData(sess, name, nr))
			out = append(out, delivery{sess, b})
			sess.croom = name
			continue
		}
		if sess.croom != name {
			continue
		}
		for _, o := range om {
			if _, ok := newBy[o.ID]; !ok {
				out = append(out, delivery{sess, peerEvent(TypePeerLeft, name, o.ID)})
			}
		}
		for _, x := range nm {
			if x.ID == m.ID {
				continue
			}
			o, had := oldBy[x.ID]
			switch {
			case !had:
				b, _ := encodeWith(Envelope{Type: TypePeerJoined, Room: name}, PeerData{Peer: x.ID, Replaces: replaces[x.ID]})
				out = append(out, delivery{sess, b})
			case !o.Away && x.Away:
				out = append(out, delivery{sess, peerEvent(TypePeerInterrupted, name, x.ID)})
			case o.Away && !x.Away:
				out = append(out, delivery{sess, peerEvent(TypePeerResumed, name, x.ID)})
			case o.Node != x.Node:
				out = append(out, delivery{sess, peerEvent(TypePeerInterrupted, name, x.ID)},
					delivery{sess, peerEvent(TypePeerResumed, name, x.ID)})
			}
		}
	}
	cl.mu.Unlock()
	s.mu.RUnlock()
	deliver(out)
	for _, sess := range drop {
		s.dropMoved(sess)
	}
	for _, id := range unaway {
		s.background(func(ctx context.Context) { s.syncAway(ctx, id) })
	}
}

// syncAway makes a local session's member entry say what its connection
// says: away while interrupted, not away while connected. Only the owner
// writes that flag, except for a node that takes the owner for dead, and
// when the owner was only cut off, it sets the flag back after the heal
// (peer_resumed for the others). The flag is read from the session at the
// time of each write, so a drop or resume racing with it wins. It retries
// until ctx ends.
func (s *Server) syncAway(ctx context.Context, id string) {
	cl := s.cl
	for ctx.Err() == nil {
		cl.mu.Lock()
		name := cl.peerRoom[id]
		var since uint64
		if r := cl.rooms[name]; r != nil {
			since = r.rev
		}
		cl.mu.Unlock()
		if name == "" {
			return
		}
		// Each attempt is bounded: right after a heal the store may
		// leave a write unanswered, and this node's copy of it may be
		// behind its watch (hence since).
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := cl.casRoomSince(actx, name, since, func(rec *roomRec) (*roomRec, error) {
			if rec == nil {
				return nil, errCASNoop
			}
			i := memberIndex(rec, id)
			if i < 0 || rec.Members[i].Node != cl.node {
				return nil, errCASNoop
			}
			s.mu.RLock()
			sess := s.sessions[id]
			away := sess != nil && sess.interruptedAt != 0
			s.mu.RUnlock()
			if sess == nil || rec.Members[i].Away == away {
				return nil, errCASNoop
			}
			rec.Members[i].Away = away
			return rec, nil
		})
		cancel()
		if err == nil {
			return
		}
		s.log.Debug("cluster: member update failed; retrying", "peer", id, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// setMember updates id's member entry in its room: away, and the node
// taking it over (node "" keeps it). It retries until ctx ends, since a
// takeover must reach the store.
func (s *Server) setMember(ctx context.Context, id string, away bool, onlyNode string) {
	cl := s.cl
	for ctx.Err() == nil {
		cl.mu.Lock()
		name := cl.peerRoom[id]
		cl.mu.Unlock()
		if name == "" {
			return
		}
		err := cl.casRoom(ctx, name, func(rec *roomRec) (*roomRec, error) {
			if rec == nil {
				return nil, errCASNoop
			}
			i := memberIndex(rec, id)
			if i < 0 {
				return nil, errCASNoop
			}
			m := &rec.Members[i]
			if onlyNode != "" && m.Node != onlyNode {
				return nil, errCASNoop
			}
			if m.Away == away && m.Node == cl.node {
				return nil, errCASNoop
			}
			m.Away = away
			if onlyNode == "" {
				m.Node = cl.node
			}
			return rec, nil
		})
		if err == nil {
			return
		}
		s.log.Debug("cluster: member update failed; retrying", "peer", id, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// cinterrupted marks a local session's member away.
func (s *Server) cinterrupted(sess *session) {
	s.background(func(ctx context.Context) { s.setMember(ctx, sess.id, true, s.cl.node) })
}

// cgone removes a session that ended for good from its room and the store.
func (s *Server) cgone(sess *session) {
	cl := s.cl
	cl.mu.Lock()
	name := cl.peerRoom[sess.id]
	sess.croom = ""
	cl.mu.Unlock()
	s.background(func(ctx context.Context) {
		if name != "" {
			cl.casRoom(ctx, name, removeMember(sess.id, cl.node))
		}
		// A replica may not show a record written a moment ago (a
		// short session): look again for a while rather than leave it.
		for range 50 {
			e, err := cl.bp.Get(ctx, sessKey(sess.id))
			if err == nil {
				var r sessRec
				if json.Unmarshal(e.Value, &r) != nil || r.Node != cl.node {
					return // taken over by another node
				}
				if err = cl.bp.Delete(ctx, sessKey(sess.id), e.Rev); err == nil {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// cstore writes a local session's record: for a new session (fresh) it
// creates it in one round trip, else it updates it with the new nonce.
func (s *Server) cstore(sess *session, nonce string, fresh bool) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	b, _ := json.Marshal(sessRec{Node: s.cl.node, Nonce: nonce, Subject: sess.identity.Subject})
	key := sessKey(sess.id)
	err := ErrBackplaneConflict
	if fresh {
		_, err = s.cl.bp.Create(ctx, key, b)
	}
	if errors.Is(err, ErrBackplaneConflict) {
		var e BackplaneEntry
		e, err = s.cl.bp.Get(ctx, key)
		switch {
		case errors.Is(err, ErrBackplaneNotFound) && !fresh:
			s.expireRemoved(sess)
			return
		case errors.Is(err, ErrBackplaneNotFound):
			_, err = s.cl.bp.Create(ctx, key, b)
		case err == nil:
			_, err = s.cl.bp.Update(ctx, key, b, e.Rev)
		}
	}
	if err != nil {
		s.log.Warn("cluster: session record not stored; retrying", "peer", sess.id, "err", err)
		s.background(func(ctx context.Context) {
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
				s.mu.RLock()
				cur := s.sessions[sess.id] == sess && sess.nonce == nonce
				s.mu.RUnlock()
				if !cur {
					return
				}
				if e, err := s.cl.bp.Get(ctx, key); errors.Is(err, ErrBackplaneNotFound) {
					if !fresh {
						s.expireRemoved(sess)
						return
					}
					if _, err := s.cl.bp.Create(ctx, key, b); err == nil {
						return
					}
				} else if err == nil {
					if _, err := s.cl.bp.Update(ctx, key, b, e.Rev); err == nil {
						return
					}
				}
			}
		})
	}
}

// expireRemoved ends a local session whose record the cluster removed
// (the majority side of a cut longer than the resume grace did, while
// this node was cut off) although it resumed here: its connection is
// closed with CodeResumeExpired, and the client's resume then fails the
// same way, so it starts a new session and joins its room again.
func (s *Server) expireRemoved(sess *session) {
	sess.mu.Lock()
	c := sess.c
	sess.mu.Unlock()
	s.log.Info("cluster: session removed by the cluster while this node was cut off; ending it", "peer", sess.id)
	s.removeSession(sess)
	if c != nil {
		c.closeAsync(websocket.ClosePolicyViolation, CodeResumeExpired)
	}
}

// cresumeStale serves a resume whose token is newer than this node's copy
// of the session: when the session's record shows another node holding
// it with the token's nonce (it was taken over while this node was cut
// off), the stale copy is dropped and the session taken over again here.
func (c *conn) cresumeStale(env Envelope, sess *session, nonce string) {
	s := c.srv
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	e, err := s.cl.bp.Get(ctx, sessKey(sess.id))
	cancel()
	var rec sessRec
	if err != nil || json.Unmarshal(e.Value, &rec) != nil || rec.Nonce != nonce || rec.Node == s.cl.node {
		c.replyError(env.Cid, CodeInvalidToken, "resume token superseded or for another identity")
		return
	}
	s.dropMoved(sess)
	c.cresume(env, sess.id, nonce)
}

// cresume takes over a session another node held (it died, or the client
// moved): the session record proves the token's nonce, the replica gives
// its room.
func (c *conn) cresume(env Envelope, id, nonce string) {
	s := c.srv
	cl := s.cl
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	e, err := cl.bp.Get(ctx, sessKey(id))
	if errors.Is(err, ErrBackplaneNotFound) {
		c.replyError(env.Cid, CodeResumeExpired, "the session is gone")
		return
	}
	if err != nil {
		// The store cannot tell now: the client tries again (another
		// node, or this one after its backoff) with the same token.
		c.replyClusterErr(env.Cid, err)
		return
	}
	var rec sessRec
	if json.Unmarshal(e.Value, &rec) != nil || rec.Nonce != nonce || rec.Subject != c.identity.Subject {
		c.replyError(env.Cid, CodeInvalidToken, "resume token superseded or for another identity")
		return
	}
	oldNode := rec.Node
	sess := &session{srv: s, id: id, identity: c.identity, ip: c.ip, nonce: randomHex(8)}
	rec.Node, rec.Nonce = cl.node, sess.nonce
	b, _ := json.Marshal(rec)
	if _, err := cl.bp.Update(ctx, sessKey(id), b, e.Rev); errors.Is(err, ErrBackplaneConflict) {
		c.replyError(env.Cid, CodeInvalidToken, "resume token superseded")
		return
	} else if err != nil {
		// The store has no quorum right now (its leader died with the
		// node, say): take the session anyway and store it later.
		s.log.Info("cluster: session record update failed; resuming anyway", "peer", id, "err", err)
		s.background(func(ctx context.Context) { s.cstore(sess, sess.nonce, false) })
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if old := s.sessions[id]; old != nil {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeInvalidToken, "resume token superseded")
		return
	}
	s.sessions[id] = sess
	s.sessIP[c.ip]++
	if sub := c.identity.Subject; sub != "" {
		s.sessSub[sub]++
	}
	sess.c = c
	c.sess.Store(sess)
	cl.mu.Lock()
	sess.croom = cl.peerRoom[id]
	if sess.croom != "" {
		cl.moved[id] = cl.node
	}
	cl.mu.Unlock()
	w := s.welcomeLocked(sess, true)
	s.mu.Unlock()
	if oldNode != cl.node {
		// Until the room record names this node (its store may be
		// electing a leader), every node routes id's signals here.
		cl.bp.Broadcast(encodeNodeMsg(nodeMsg{T: "moved", To: id, FromNode: cl.node}))
	}
	s.background(func(ctx context.Context) { s.setMember(ctx, id, false, "") })
	s.stats.resumes.Add(1)
	s.log.Debug("session taken over from another node", "peer", id, "from", oldNode)
	wb, _ := encodeWith(Envelope{Type: TypeWelcome, Cid: env.Cid}, w)
	sess.enqueueFront(wb)
}

// cwelcomeRoom fills a welcome's room from the replica. s.mu held.
func (s *Server) cwelcomeRoom(sess *session, w *WelcomeData) {
	cl := s.cl
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if sess.croom == "" {
		return
	}
	w.Room = sess.croom
	if r := cl.rooms[sess.croom]; r != nil {
		for _, m := range r.rec.Members {
			if m.ID != sess.id {
				w.Peers = append(w.Peers, m.ID)
			}
		}
	}
}

func (s *Server) onNode(node string, up bool) {
	cl := s.cl
	cl.mu.Lock()
	cl.live[node] = up
	if up {
		delete(cl.dead, node)
		delete(cl.marked, node)
	} else if _, ok := cl.dead[node]; !ok {
		cl.dead[node] = time.Now()
	}
	was, wasCut := cl.minority, cl.cutOff
	cl.minority = !cl.majorityLocked()
	cl.cutOff = cl.othersMajorityLocked()
	if cl.cutOff && !wasCut {
		cl.cutSince = time.Now()
	}
	if !cl.cutOff {
		cl.shed = false
	}
	var ids []string
	if was && !cl.minority {
		// Back with the majority after a cut: the others took this node
		// for dead and marked its members away. Set each connected one
		// back now, without waiting for this node's watch to catch up.
		for id, name := range cl.peerRoom {
			if r := cl.rooms[name]; r != nil {
				if i := memberIndex(&r.rec, id); i >= 0 && r.rec.Members[i].Node == cl.node {
					ids = append(ids, id)
				}
			}
		}
	}
	cl.mu.Unlock()
	if !up {
		s.failFwds(node)
	}
	for _, id := range ids {
		s.background(func(ctx context.Context) { s.syncAway(ctx, id) })
	}
}

// majorityLocked reports whether this node hears a majority of the nodes
// it knows, itself included. cl.mu held.
func (cl *clusterState) majorityLocked() bool {
	heard, known := 1, 1
	for _, up := range cl.live {
		known++
		if up {
			heard++
		}
	}
	return 2*heard > known
}

// reaper cleans up after dead nodes, on the live node with the smallest
// name: it marks their members away, then after ResumeGrace removes them
// and their session records.
func (s *Server) reaper() {
	defer s.wg.Done()
	cl := s.cl
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	grace := max(s.cfg.ResumeGrace, 0)
	for tick := 1; ; tick++ {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		if tick%40 == 0 {
			s.failFwds("") // only forgets those unanswered for fwdTTL
		}
		type job struct {
			node  string
			purge bool
			rooms []string
		}
		var jobs []job
		cl.mu.Lock()
		leader := true
		for n, up := range cl.live {
			if up && n < cl.node {
				leader = false
			}
		}
		if !cl.majorityLocked() {
			// This node hears no majority of the nodes it knows: it is
			// likely on the small side of a network cut, where the store
			// has no quorum. Reaping is the majority's job; a write queued
			// here could land after the heal and mark live nodes' members
			// away or remove them.
			leader = false
		}
		shed := false
		if cl.cutOff && !cl.shed && grace > 0 && time.Since(cl.cutSince) >= grace/2 {
			// Cut off for half the resume grace: the majority will remove
			// this node's members when the grace ends. Close the clients'
			// connections so that those that know another node resume
			// there in time (hello is refused here meanwhile).
			cl.shed, shed = true, true
		}
		if leader {
			for node, since := range cl.dead {
				purge := time.Since(since) > grace
				if !purge && cl.marked[node] {
					continue
				}
				j := job{node: node, purge: purge}
				for name, r := range cl.rooms {
					for _, m := range r.rec.Members {
						if m.Node == node {
							j.rooms = append(j.rooms, name)
							break
						}
					}
				}
				jobs = append(jobs, j)
			}
		}
		cl.mu.Unlock()
		if shed {
			s.shedClients()
		}
		for _, j := range jobs {
			ok := s.reap(j.node, j.purge, j.rooms)
			cl.mu.Lock()
			_, still := cl.dead[j.node] // not back up meanwhile
			if ok && still && j.purge {
				// Forgotten: a node that never comes back must not count
				// against the majority for ever.
				delete(cl.dead, j.node)
				delete(cl.marked, j.node)
				delete(cl.live, j.node)
			} else if ok && still {
				cl.marked[j.node] = true
			}
			cl.mu.Unlock()
		}
	}
}

// shedClients closes every local client connection with
// CodeUnavailable (1013, try again later): the clients reconnect, to
// another node when they know one, and resume there.
func (s *Server) shedClients() {
	var conns []*conn
	s.mu.RLock()
	for _, sess := range s.sessions {
		sess.mu.Lock()
		if sess.c != nil {
			conns = append(conns, sess.c)
		}
		sess.mu.Unlock()
	}
	s.mu.RUnlock()
	s.log.Warn("cluster: cut off from most of the cluster for half the resume grace; closing client connections so that they move", "connections", len(conns))
	for _, c := range conns {
		c.closeAsync(websocket.CloseTryAgainLater, CodeUnavailable)
	}
}

func (s *Server) reap(node string, purge bool, rooms []string) bool {
	cl := s.cl
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	ok := true
	for _, name := range rooms {
		err := cl.casRoom(ctx, name, func(rec *roomRec) (*roomRec, error) {
			if rec == nil {
				return nil, errCASNoop
			}
			changed := false
			out := rec.Members[:0]
			for _, m := range rec.Members {
				if m.Node == node {
					if purge {
						changed = true
						continue
					}
					if !m.Away {
						m.Away, changed = true, true
					}
				}
				out = append(out, m)
			}
			rec.Members = out
			if !changed {
				return nil, errCASNoop
			}
			if len(rec.Members) == 0 {
				return nil, nil
			}
			return rec, nil
		})
		if err != nil {
			ok = false
		}
	}
	if !purge || !ok {
		return ok
	}
	keys, err := cl.bp.Keys(ctx, "sess.")
	if err != nil {
		return false
	}
	for _, k := range keys {
		e, err := cl.bp.Get(ctx, k)
		if err != nil {
			continue
		}
		var r sessRec
		if json.Unmarshal(e.Value, &r) == nil && r.Node == node {
			cl.bp.Delete(ctx, k, e.Rev)
		}
	}
	s.log.Info("cluster: dead node's sessions removed", "node", node)
	return true
}

// ccreateRoom is CreateRoom in cluster mode: the peers may be sessions
// of any node.
func (s *Server) ccreateRoom(name string, peers []string, add bool) error {
	err := s.ccreateRoomStore(name, peers, add)
	if err == nil || errors.Is(err, ErrUnknownPeer) || errors.Is(err, ErrRoomExists) || errors.Is(err, ErrUnknownRoom) || errors.Is(err, ErrRoomFull) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (s *Server) ccreateRoomStore(name string, peers []string, add bool) error {
	cl := s.cl
	ctx, cancel := s.opCtx()
	defer cancel()
	nodes, err := s.peerNodes(ctx, peers)
	if err != nil {
		return err
	}
	for _, p := range peers {
		cl.mu.Lock()
		cur := cl.peerRoom[p]
		cl.mu.Unlock()
		if cur != "" && cur != name {
			if err := cl.casRoom(ctx, cur, removeMember(p, "")); err != nil {
				return err
			}
		}
	}
	err = cl.casRoom(ctx, name, func(rec *roomRec) (*roomRec, error) {
		switch {
		case !add && rec != nil:
			return nil, fmt.Errorf("%w: %q", ErrRoomExists, name)
		case add && rec == nil:
			return nil, fmt.Errorf("%w: %q", ErrUnknownRoom, name)
		case rec == nil:
			rec = &roomRec{Cap: max(len(peers), s.cfg.MaxRoomSize), Private: true}
		}
		n := len(rec.Members)
		for _, p := range peers {
			if memberIndex(rec, p) < 0 {
				n++
			}
		}
		if n > rec.Cap {
			return nil, fmt.Errorf("%w: %q holds %d", ErrRoomFull, name, rec.Cap)
		}
		for _, p := range peers {
			if memberIndex(rec, p) < 0 {
				rec.Members = append(rec.Members, memberRec{ID: p, Node: nodes[p]})
				rec.Seats = append(rec.Seats, p)
			}
		}
		return rec, nil
	})
	if err == nil {
		s.pushRoom(ctx, name, nodes)
	}
	return err
}

// csend pushes a frame to a session of another node.
func (s *Server) csend(peer string, frame []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	e, err := s.cl.bp.Get(ctx, sessKey(peer))
	if err != nil {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
	}
	var r sessRec
	if json.Unmarshal(e.Value, &r) != nil || r.Node == s.cl.node {
		return fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
	}
	b := encodeNodeMsg(nodeMsg{T: "send", To: peer, Data: frame})
	return s.cl.bp.Send(r.Node, b)
}
