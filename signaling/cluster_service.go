package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
)

// Cluster-wide services
//
// An extension service (the lobbies, the matchmaker) registered with
// Server.Service keeps its state on one node of a cluster at a time: the
// service's leader. The leader holds the key lead.<name> of the backplane's
// store ({"node":"a"}), renews it by compare-and-set every serviceRenew
// and steps down when it could not renew for serviceHold. Every node
// watches the key; a node takes it over (compare-and-set on the revision
// it saw) when the key is gone, when it has not changed for serviceLease,
// or when its holder stopped heart-beating (Backplane.OnNode). A node that
// closes gives the key up at once.
//
// A request of a service's type that reaches another node is forwarded to
// the leader (node message "svc": the peer, its identity, remote address
// and envelope), which serves it on one of serviceWorkers goroutines
// (chosen by peer, so one peer's requests keep their order) and answers
// through the caller's node (node message "send", with the request's
// cid). While no live leader is known the caller gets CodeUnavailable and
// retries; a request in flight to a leader that is then seen down is
// answered with CodeUnavailable by the node that forwarded it.
//
// The leader persists what must survive it in the store, under
// svc.<name>.<key> (Service.Save, newest value per key), and a new leader
// is handed those records and the set of live sessions before it serves
// anything (ServiceConfig.Lead). Nothing the leader changed is made known
// before its records are in the store: a reply (Request.Reply,
// ReplyError) and a push (Service.Send) wait until everything saved before
// them is written (acked by the store), so a change a client was told of
// survives the leader's death. Writes are grouped: the records saved
// while a write is in flight go out together in the next one, and the
// replies and pushes waiting for them are released, in order, when it is
// acked. A leader whose writes keep failing for serviceHold (no quorum)
// steps down: the replies waiting are answered CodeUnavailable, the pushes
// dropped, and the next leader starts from the store, so a change that
// was never acknowledged is not half kept. The leader learns that
// a peer has ended, on any node, from the deletion of its sess.<id>
// record (ServiceConfig.OnPeerGone).

// Timing of service leadership.
const (
	serviceRenew   = 500 * time.Millisecond
	serviceHold    = 2 * time.Second // a leader that could not renew for this long steps down
	serviceLease   = 3 * time.Second // a key unchanged for this long may be taken over
	serviceTick    = 250 * time.Millisecond
	serviceWorkers = 4
	serviceQueue   = 1024                   // forwarded requests waiting per worker
	serviceRetry   = 250 * time.Millisecond // the wait suggested with CodeUnavailable
	serviceWriters = 32                     // records of one batch written at once
	maxHeld        = 100_000                // replies and pushes waiting for writes; past it, refused
	serviceFlush   = time.Second            // a closing leader's last write
)

// ServiceConfig configures a cluster-wide service (Server.Service).
type ServiceConfig struct {
	// Lead is called when this node becomes the service's leader, before
	// any request is served, with the service's records and the live
	// sessions; ctx ends when the node stops leading. On a single node it
	// is called once, from Service.Start, with no records. An error gives
	// the leadership up.
	Lead func(ctx context.Context, st ServiceState) error
	// Follow is called when this node stops leading after Lead: the
	// service drops its state (the next leader loads it from the store).
	Follow func()
	// OnPeerGone is called on the leader for every session that ends for
	// good on any node (on a single node: Server.OnPeerGone). It runs on
	// one goroutine, one call at a time.
	OnPeerGone func(peer string)
}

// ServiceState is what a new leader starts from.
type ServiceState struct {
	// Records are the service's records in the store (Service.Save) by key.
	Records map[string][]byte
	live    map[string]bool
}

// Live reports whether peer has a session on some node of the cluster
// (always true on a single node): a new leader drops the state of peers
// that ended while no leader was watching.
func (st ServiceState) Live(peer string) bool { return st.live == nil || st.live[peer] }

// Service is an extension service whose handlers run on one node of a
// cluster, its leader (see Server.Service). On a single node it is served
// locally. Its methods are safe for concurrent use.
type Service struct {
	srv     *Server
	name    string
	cfg     ServiceConfig
	leadKey string
	prefix  string
	start   sync.Once

	mu        sync.Mutex
	handlers  map[string]Handler
	leader    string // node named by the lead key, "" when there is none
	leaderRev uint64
	seenAt    time.Time // when this node saw the lead key change
	leading   bool
	ready     chan struct{} // closed once Lead has returned
	lctx      context.Context
	lcancel   context.CancelFunc
	myRev     uint64
	renewedAt time.Time
	revs      map[string]uint64     // record key -> revision this leader wrote or loaded
	dirty     map[string]svcPending // records waiting to be written
	inflight  int                   // records the writer is writing now
	seq       uint64                // records saved in this leadership
	durable   uint64                // of those, how many are known written (a prefix)
	held      []svcHeld             // replies and pushes waiting for seq <= durable, in order
	releasing bool                  // a goroutine is delivering held replies and pushes
	flushed   chan struct{}         // closed when the writer has exited (after its last write)
	gone      []string              // peers gone, for OnPeerGone
	kick      chan struct{}         // the writer has work
	goneKick  chan struct{}
	work      [serviceWorkers]chan svcJob
}

type svcPending struct {
	value []byte
	del   bool
}

// svcHeld is a reply or push waiting until the records saved before it
// are written: send delivers it, fail (nil for a push) answers it
// CodeUnavailable instead.
type svcHeld struct {
	seq        uint64
	send, fail func()
}

type svcJob struct {
	h   Handler
	req *Request
}

// svcFwd is a forwarded request (node message "svc", after the header).
type svcFwd struct {
	Svc      string          `json:"svc"`
	Identity Identity        `json:"id"`
	Addr     string          `json:"addr,omitempty"`
	Env      json.RawMessage `json:"env"`
}

// Service registers a cluster-wide service called name (letters, digits,
// '-' and '_'): on a cluster node its handlers (Service.Handle) run on the
// service's leader, one node of the cluster elected through the
// backplane, and the leader keeps its state there (see ServiceConfig); on
// a single node it is served locally, like Server.Handle. Register the
// handlers, then call Start. It panics if name is invalid or registered
// twice.
func (s *Server) Service(name string, cfg ServiceConfig) *Service {
	if name == "" || len(name) > 32 || strings.ContainsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) {
		panic(fmt.Sprintf("signaling: invalid service name %q", name))
	}
	v := &Service{srv: s, name: name, cfg: cfg, leadKey: "lead." + name, prefix: "svc." + name + ".",
		handlers: map[string]Handler{}, revs: map[string]uint64{}, dirty: map[string]svcPending{},
		kick: make(chan struct{}, 1), goneKick: make(chan struct{}, 1), ready: make(chan struct{}), flushed: make(chan struct{})}
	s.mu.Lock()
	if s.services == nil {
		s.services = map[string]*Service{}
	}
	if _, dup := s.services[name]; dup {
		s.mu.Unlock()
		panic(fmt.Sprintf("signaling: service %q registered twice", name))
	}
	s.services[name] = v
	s.mu.Unlock()
	if s.cl == nil {
		v.leading = true
		v.lctx = s.ctx
		return v
	}
	for i := range v.work {
		v.work[i] = make(chan svcJob, serviceQueue)
	}
	return v
}

// Start begins serving the service once its handlers are registered: on
// a single node it calls Lead (at once, on this goroutine); on a cluster
// node it joins the election of the service's leader. Until then a
// cluster node forwards requests to the leader, if there is one. Start is
// idempotent.
func (v *Service) Start() {
	v.start.Do(func() {
		s := v.srv
		if s.cl == nil {
			if v.cfg.OnPeerGone != nil {
				s.OnPeerGone(v.cfg.OnPeerGone)
			}
			if v.cfg.Lead != nil {
				if err := v.cfg.Lead(s.ctx, ServiceState{Records: map[string][]byte{}}); err != nil {
					s.log.Error("service: lead failed", "service", v.name, "err", err)
				}
			}
			close(v.ready)
			return
		}
		for i := range v.work {
			s.wg.Add(1)
			go v.worker(v.work[i])
		}
		s.wg.Add(3)
		go v.elect()
		go v.writer()
		go v.goner()
	})
}

// Services returns the services registered with Service, by name.
func (s *Server) Services() []*Service {
	s.mu.RLock()
	out := make([]*Service, 0, len(s.services))
	for _, v := range s.services {
		out = append(out, v)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Service) int { return strings.Compare(a.name, b.name) })
	return out
}

// Name returns the service's name.
func (v *Service) Name() string { return v.name }

// Clustered reports whether the service runs on a cluster (its records
// are stored); on a single node Save and Remove do nothing.
func (v *Service) Clustered() bool { return v.srv.cl != nil }

// Leader returns the node leading the service ("" while there is none;
// the server's Node, "", on a single node).
func (v *Service) Leader() string {
	if v.srv.cl == nil {
		return ""
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.leader
}

// Pending returns how many saved records have not reached the store yet
// (0 on a single node).
func (v *Service) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.dirty) + v.inflight
}

// Leading reports whether this node leads the service and serves it.
func (v *Service) Leading() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.leading {
		return false
	}
	select {
	case <-v.ready:
		return true
	default:
		return false
	}
}

// Handle registers h for messages of type msgType, as Server.Handle does;
// on a cluster node the messages are served by the service's leader,
// wherever they arrive. A forwarded request's Context ends when the
// leader stops leading; its Reply and ReplyError go back through the
// sender's node. On the leader a reply waits until the records the
// service saved before it are written (Save); Reply then returns nil
// without knowing whether the frame reached the sender's queue.
func (v *Service) Handle(msgType string, h Handler) {
	if h == nil {
		panic("signaling: nil service handler")
	}
	v.mu.Lock()
	v.handlers[msgType] = h
	v.mu.Unlock()
	v.srv.Handle(msgType, func(req *Request) { v.dispatch(h, req) })
}

// Save stores value under key (letters, digits, '-', '_', '=' and '.') in
// the cluster's store, for the next leader. Writes happen on a goroutine
// of the service, newest value per key, several at once; the replies to
// requests this leader serves and the pushes sent with Service.Send after
// Save wait until it is written. A value saved while the node does not
// lead is dropped. On a single node Save does nothing.
func (v *Service) Save(key string, value []byte) {
	v.pend(key, svcPending{value: value})
}

// Remove deletes key from the cluster's store (see Save).
func (v *Service) Remove(key string) {
	v.pend(key, svcPending{del: true})
}

func (v *Service) pend(key string, p svcPending) {
	if v.srv.cl == nil {
		return
	}
	v.mu.Lock()
	if v.leading {
		v.dirty[key] = p
		v.seq++
	}
	v.mu.Unlock()
	select {
	case v.kick <- struct{}{}:
	default:
	}
}

func shard(peer string) int {
	h := fnv.New32a()
	h.Write([]byte(peer))
	return int(h.Sum32() % serviceWorkers)
}

// dispatch serves req here, queues it for the leader's workers, or
// forwards it to the leader.
func (v *Service) dispatch(h Handler, req *Request) {
	s := v.srv
	if s.cl == nil {
		h(req)
		return
	}
	v.mu.Lock()
	leading, leader, ready := v.leading, v.leader, v.ready
	v.mu.Unlock()
	if leading {
		select {
		case <-ready:
			req.svc = v
			h(req)
		default:
			v.queue(h, req)
		}
		return
	}
	if leader == "" || !s.nodeLive(leader) {
		req.replyRetry(fmt.Sprintf("the %s service is electing a leader: retry", v.name), serviceRetry)
		return
	}
	env, err := Encode(req.Envelope)
	if err != nil {
		req.ReplyError(CodeBadRequest, "cannot forward the request")
		return
	}
	body, _ := json.Marshal(svcFwd{Svc: v.name, Identity: req.Identity, Addr: req.RemoteAddr, Env: env})
	b := encodeNodeMsg(nodeMsg{T: "svc", From: req.Peer, FromNode: s.cl.node, Data: body})
	cid := req.Envelope.Cid
	if cid != "" && !s.trackFwd(req.Peer, cid, leader, v.name) {
		req.replyRetry(fmt.Sprintf("the %s service is busy: retry", v.name), serviceRetry)
		return
	}
	if err := s.cl.bp.Send(leader, b); err != nil {
		if cid != "" {
			s.answeredFwd(req.Peer, cid)
		}
		req.replyRetry(fmt.Sprintf("the %s service's leader is unreachable: retry", v.name), serviceRetry)
		return
	}
	if cid != "" && !s.nodeLive(leader) {
		// Seen down while the request was on its way: answer it here
		// (its reply, should one come, is ignored by the client).
		s.failFwds(leader)
	}
}

func (v *Service) queue(h Handler, req *Request) {
	select {
	case v.work[shard(req.Peer)] <- svcJob{h, req}:
	default:
		req.replyRetry(fmt.Sprintf("the %s service is busy: retry", v.name), serviceRetry)
	}
}

// worker serves queued requests once the service is ready, or refuses
// them when the node stops leading.
func (v *Service) worker(ch chan svcJob) {
	defer v.srv.wg.Done()
	for {
		var j svcJob
		select {
		case <-v.srv.ctx.Done():
			return
		case j = <-ch:
		}
		v.mu.Lock()
		leading, ready, lctx := v.leading, v.ready, v.lctx
		v.mu.Unlock()
		if leading {
			select {
			case <-ready:
			case <-lctx.Done():
				leading = false
			}
		}
		if !leading {
			j.req.replyRetry(fmt.Sprintf("the %s service's leader changed: retry", v.name), serviceRetry)
			continue
		}
		j.req.ctx = lctx
		j.req.svc = v
		j.h(j.req)
	}
}

// nodeLive reports whether node is this one or not known to be down.
func (s *Server) nodeLive(node string) bool {
	cl := s.cl
	if node == cl.node {
		return true
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	up, known := cl.live[node]
	return up || !known
}

// onServiceMsg serves a request forwarded by another node.
func (s *Server) onServiceMsg(m nodeMsg) {
	var f svcFwd
	if json.Unmarshal(m.Data, &f) != nil {
		return
	}
	env, err := Decode(f.Env)
	if err != nil {
		return
	}
	env.From = m.From
	s.hint(m.From, m.FromNode)
	s.mu.RLock()
	v := s.services[f.Svc]
	var h Handler
	if v != nil {
		v.mu.Lock()
		h = v.handlers[env.Type]
		v.mu.Unlock()
	}
	s.mu.RUnlock()
	req := &Request{Peer: m.From, Identity: f.Identity, RemoteAddr: f.Addr, Envelope: env, ctx: s.ctx, srv: s, origin: m.FromNode}
	if h == nil {
		req.ReplyError(CodeUnknownType, fmt.Sprintf("unknown message type %q", env.Type))
		return
	}
	v.mu.Lock()
	leading := v.leading
	v.mu.Unlock()
	if !leading {
		req.replyRetry(fmt.Sprintf("the %s service's leader changed: retry", v.name), serviceRetry)
		return
	}
	v.queue(h, req)
}

// replyVia delivers a reply frame to peer through node; cid names the
// request it answers, so that node stops waiting for it.
func (s *Server) replyVia(node, peer, cid string, frame []byte) error {
	if node == s.cl.node {
		s.mu.RLock()
		sess := s.sessions[peer]
		s.mu.RUnlock()
		if sess == nil {
			return fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
		}
		return sess.enqueue(frame, 0)
	}
	return s.cl.bp.Send(node, encodeNodeMsg(nodeMsg{T: "send", To: peer, Cid: cid, Data: frame}))
}

// Forwarded requests in flight
//
// A node that forwards a service request to the leader remembers it
// (peer, cid) until the leader's reply passes through (node message
// "send" with the cid). When the leader is seen down first (it died,
// or a cut), the request is answered here with CodeUnavailable, which
// the client retries with the next leader, instead of waiting for a
// reply that will never come.

type fwdKey struct{ peer, cid string }

type fwdReq struct {
	node, svc string
	at        time.Time
}

// Bounds of the forwarded requests a node remembers: past maxFwds a
// request is refused (CodeUnavailable) rather than remembered, and one
// unanswered after fwdTTL (a handler that never replies) is forgotten.
const (
	maxFwds = 100_000
	fwdTTL  = time.Minute
)

// trackFwd remembers a request forwarded to node; false when too many
// are in flight.
func (s *Server) trackFwd(peer, cid, node, svc string) bool {
	s.fwdMu.Lock()
	defer s.fwdMu.Unlock()
	if s.fwds == nil {
		s.fwds = map[fwdKey]fwdReq{}
	}
	if len(s.fwds) >= maxFwds {
		return false
	}
	s.fwds[fwdKey{peer, cid}] = fwdReq{node: node, svc: svc, at: time.Now()}
	return true
}

// answeredFwd forgets a forwarded request once its reply came through.
func (s *Server) answeredFwd(peer, cid string) {
	s.fwdMu.Lock()
	delete(s.fwds, fwdKey{peer, cid})
	s.fwdMu.Unlock()
}

// failFwds answers every request forwarded to node (a node seen down)
// with CodeUnavailable, and forgets those older than fwdTTL.
func (s *Server) failFwds(node string) {
	type fail struct {
		k fwdKey
		r fwdReq
	}
	var out []fail
	now := time.Now()
	s.fwdMu.Lock()
	for k, r := range s.fwds {
		switch {
		case r.node == node:
			out = append(out, fail{k, r})
			delete(s.fwds, k)
		case now.Sub(r.at) > fwdTTL:
			delete(s.fwds, k)
		}
	}
	s.fwdMu.Unlock()
	for _, f := range out {
		s.mu.RLock()
		sess := s.sessions[f.k.peer]
		s.mu.RUnlock()
		if sess == nil {
			continue
		}
		s.countError(CodeUnavailable)
		b, _ := encodeWith(Envelope{Type: TypeError, Cid: f.k.cid}, ErrorData{Code: CodeUnavailable,
			Message: fmt.Sprintf("the %s service's leader %s went down with the request in flight: retry", f.r.svc, node), RetryMs: int(serviceRetry / time.Millisecond)})
		sess.enqueue(b, 0)
	}
	if len(out) > 0 {
		s.log.Info("cluster: requests in flight to a leader that went down answered unavailable", "node", node, "requests", len(out))
	}
}

type leadRec struct {
	Node string `json:"node"`
}

// elect runs the service's leadership: it watches the lead key and takes
// it when it may, renews it while leading, and gives it up at Close.
func (v *Service) elect() {
	s := v.srv
	defer s.wg.Done()
	err := s.cl.bp.Watch(s.ctx, "lead.", func(e BackplaneEntry) {
		if e.Key != v.leadKey {
			return
		}
		var r leadRec
		if !e.Deleted {
			json.Unmarshal(e.Value, &r)
		}
		v.mu.Lock()
		v.leader, v.leaderRev, v.seenAt = r.Node, e.Rev, time.Now()
		if e.Deleted {
			v.leaderRev = 0
		}
		lost := v.leading && r.Node != s.cl.node
		v.mu.Unlock()
		if lost {
			s.log.Warn("service: another node took the leadership", "service", v.name, "leader", r.Node)
			v.stepDown()
		}
	})
	if err != nil {
		s.log.Error("service: watch failed", "service", v.name, "err", err)
	}
	t := time.NewTicker(serviceTick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			<-v.flushed // the writer's last write, bounded by serviceFlush
			v.mu.Lock()
			leading, rev := v.leading, v.myRev
			v.mu.Unlock()
			if leading {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				s.cl.bp.Delete(ctx, v.leadKey, rev) // the next leader need not wait for the lease
				cancel()
				v.stepDown()
			}
			return
		case <-t.C:
		}
		v.step()
	}
}

func (v *Service) step() {
	s := v.srv
	cl := s.cl
	ctx, cancel := context.WithTimeout(s.ctx, serviceHold)
	defer cancel()
	me, _ := json.Marshal(leadRec{Node: cl.node})
	now := time.Now()
	v.mu.Lock()
	leading, leader, rev, seen, renewed, myRev := v.leading, v.leader, v.leaderRev, v.seenAt, v.renewedAt, v.myRev
	v.mu.Unlock()
	if leading {
		if now.Sub(renewed) < serviceRenew {
			return
		}
		nr, err := cl.bp.Update(ctx, v.leadKey, me, myRev)
		switch {
		case err == nil:
			v.mu.Lock()
			v.myRev, v.renewedAt = nr, now
			v.mu.Unlock()
		case errors.Is(err, ErrBackplaneConflict) || errors.Is(err, ErrBackplaneNotFound):
			s.log.Warn("service: leadership lost", "service", v.name)
			v.stepDown()
		case time.Since(renewed) > serviceHold:
			s.log.Warn("service: leadership not renewed; stepping down", "service", v.name, "err", err)
			v.stepDown()
		}
		return
	}
	var nr uint64
	var err error
	switch {
	case leader == "" && rev == 0:
		nr, err = cl.bp.Create(ctx, v.leadKey, me)
	case leader == cl.node || now.Sub(seen) > serviceLease || !s.nodeLive(leader):
		// Its holder is gone (or it is this node's from before a
		// restart): take it over.
		nr, err = cl.bp.Update(ctx, v.leadKey, me, rev)
	default:
		return
	}
	if err != nil {
		if !errors.Is(err, ErrBackplaneConflict) {
			s.log.Debug("service: leadership not taken", "service", v.name, "err", err)
		}
		return
	}
	v.become(nr, now)
}

// become makes this node the leader and loads the service's state on a
// goroutine; requests wait for it.
func (v *Service) become(rev uint64, at time.Time) {
	s := v.srv
	v.mu.Lock()
	v.leading, v.myRev, v.renewedAt = true, rev, at
	v.leader = s.cl.node
	v.ready = make(chan struct{})
	v.lctx, v.lcancel = context.WithCancel(s.ctx)
	v.revs = map[string]uint64{}
	v.gone = nil
	v.seq, v.durable, v.held = 0, 0, nil
	lctx, ready := v.lctx, v.ready
	v.mu.Unlock()
	s.log.Info("service: leading", "service", v.name, "node", s.cl.node)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		st, err := v.load(lctx)
		if err == nil && v.cfg.Lead != nil {
			err = v.cfg.Lead(lctx, st)
		}
		if err != nil {
			if lctx.Err() == nil {
				s.log.Error("service: lead failed; giving it up", "service", v.name, "err", err)
				v.stepDown()
				v.mu.Lock()
				mine := v.myRev
				v.mu.Unlock()
				ctx, cancel := context.WithTimeout(s.ctx, time.Second)
				s.cl.bp.Delete(ctx, v.leadKey, mine) // only if nobody took it meanwhile
				cancel()
			}
			return
		}
		close(ready)
		select {
		case v.goneKick <- struct{}{}:
		default:
		}
	}()
}

// load reads the service's records and the live sessions, and starts
// watching the sessions for OnPeerGone.
func (v *Service) load(lctx context.Context) (ServiceState, error) {
	bp := v.srv.cl.bp
	st := ServiceState{Records: map[string][]byte{}, live: map[string]bool{}}
	revs := map[string]uint64{}
	rctx, cancel := context.WithCancel(lctx)
	var rmu sync.Mutex // the watch's goroutine may still deliver after Watch returns
	sealed := false
	err := bp.Watch(rctx, v.prefix, func(e BackplaneEntry) {
		k, ok := strings.CutPrefix(e.Key, v.prefix)
		rmu.Lock()
		defer rmu.Unlock()
		if !ok || sealed {
			return
		}
		if e.Deleted {
			delete(st.Records, k)
			delete(revs, k)
			return
		}
		st.Records[k] = e.Value
		revs[k] = e.Rev
	})
	rmu.Lock()
	sealed = true
	rmu.Unlock()
	cancel()
	if err != nil {
		return st, err
	}
	var mu sync.Mutex
	initial := true
	err = bp.Watch(lctx, "sess.", func(e BackplaneEntry) {
		id, ok := strings.CutPrefix(e.Key, "sess.")
		if !ok {
			return
		}
		mu.Lock()
		if initial {
			st.live[id] = !e.Deleted
			mu.Unlock()
			return
		}
		mu.Unlock()
		if e.Deleted {
			v.srv.dropHint(id)
			v.mu.Lock()
			if v.lctx == lctx {
				v.gone = append(v.gone, id)
			}
			v.mu.Unlock()
			select {
			case v.goneKick <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return st, err
	}
	mu.Lock()
	initial = false
	live := make(map[string]bool, len(st.live))
	for id, ok := range st.live {
		if ok {
			live[id] = true
		}
	}
	mu.Unlock()
	st.live = live
	v.mu.Lock()
	if v.lctx == lctx {
		for k, r := range revs {
			v.revs[k] = r
		}
	}
	v.mu.Unlock()
	return st, nil
}

// stepDown stops leading: requests waiting are refused, pending writes
// dropped, the replies waiting for them answered CodeUnavailable (their
// changes may or may not be in the store: a retry finds out), the pushes
// waiting dropped, and the service told to drop its state.
func (v *Service) stepDown() {
	v.mu.Lock()
	if !v.leading {
		v.mu.Unlock()
		return
	}
	v.leading = false
	if v.leader == v.srv.cl.node {
		v.leader = ""
	}
	v.lcancel()
	v.dirty = map[string]svcPending{}
	held := v.held
	v.held, v.seq, v.durable = nil, 0, 0
	v.gone = nil
	var loaded bool
	select {
	case <-v.ready:
		loaded = true
	default:
	}
	v.mu.Unlock()
	// Before Follow, which takes the service's own lock: a caller of
	// Flush may hold it.
	for _, h := range held {
		if h.fail != nil {
			h.fail()
		}
	}
	v.srv.log.Info("service: no longer leading", "service", v.name)
	if loaded && v.cfg.Follow != nil {
		v.cfg.Follow()
	}
}

// goner calls OnPeerGone on the leader, once it is ready.
func (v *Service) goner() {
	s := v.srv
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-v.goneKick:
		}
		for {
			v.mu.Lock()
			ready := false
			select {
			case <-v.ready:
				ready = v.leading
			default:
			}
			if !ready || len(v.gone) == 0 {
				v.mu.Unlock()
				break
			}
			ids := v.gone
			v.gone = nil
			v.mu.Unlock()
			if v.cfg.OnPeerGone != nil {
				for _, id := range ids {
					v.cfg.OnPeerGone(id)
				}
			}
		}
	}
}

// writer writes the saved records, newest value per key, the keys of a
// batch at once; records saved meanwhile wait for the next batch. When a
// batch is written, the replies and pushes waiting for it are released.
// Failed keys are written again every serviceTick; after serviceHold of
// failures the leader steps down. When the server closes, the writer
// writes what is pending one last time (bounded by serviceFlush).
func (v *Service) writer() {
	s := v.srv
	defer s.wg.Done()
	defer close(v.flushed)
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var failingSince time.Time
	for {
		closing := false
		select {
		case <-s.ctx.Done():
			closing = true
		case <-v.kick:
		case <-retry.C:
		}
		closing = closing || s.ctx.Err() != nil
		v.mu.Lock()
		batch := v.dirty
		v.dirty = map[string]svcPending{}
		upto := v.seq
		lctx := v.lctx
		leading := v.leading
		v.inflight = len(batch)
		v.mu.Unlock()
		if !leading {
			v.mu.Lock()
			v.inflight = 0
			v.mu.Unlock()
			if closing {
				return
			}
			failingSince = time.Time{}
			continue
		}
		ctx, cancel := lctx, context.CancelFunc(func() {})
		if closing {
			// The leadership's context has ended with the server's: the
			// last write gets a short one of its own.
			ctx, cancel = context.WithTimeout(context.Background(), serviceFlush)
		}
		failed := v.writeBatch(ctx, lctx, batch)
		cancel()
		v.mu.Lock()
		v.inflight = 0
		if !failed && v.lctx == lctx && v.leading && upto > v.durable {
			v.durable = upto
		}
		v.mu.Unlock()
		if !failed {
			failingSince = time.Time{}
			v.release()
		}
		if closing {
			return
		}
		if failed && lctx.Err() == nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) >= serviceHold {
				s.log.Warn("service: records not written; stepping down", "service", v.name)
				failingSince = time.Time{}
				v.giveUp()
				continue
			}
			retry.Reset(serviceTick)
		}
	}
}

// writeBatch writes batch, serviceWriters keys at once. A key that fails
// goes back to the pending records unless a newer value is there; it
// reports whether one failed.
func (v *Service) writeBatch(ctx, lctx context.Context, batch map[string]svcPending) bool {
	var (
		wg     sync.WaitGroup
		fmu    sync.Mutex
		failed bool
	)
	sem := make(chan struct{}, serviceWriters)
	for k, p := range batch {
		sem <- struct{}{}
		wg.Add(1)
		one := func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := v.write(ctx, lctx, k, p)
			if err == nil {
				return
			}
			fmu.Lock()
			failed = true
			fmu.Unlock()
			v.srv.log.Debug("service: record not written; retrying", "service", v.name, "key", k, "err", err)
			v.mu.Lock()
			if _, newer := v.dirty[k]; !newer && v.leading && v.lctx == lctx {
				v.dirty[k] = p
			}
			v.mu.Unlock()
		}
		if len(batch) == 1 {
			one() // the common case at a low rate: no goroutine
		} else {
			go one()
		}
	}
	wg.Wait()
	return failed
}

// giveUp steps down and deletes the lead key, if this node still holds
// it, so that the next leader need not wait for the lease.
func (v *Service) giveUp() {
	s := v.srv
	v.stepDown()
	v.mu.Lock()
	mine := v.myRev
	v.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, time.Second)
	s.cl.bp.Delete(ctx, v.leadKey, mine)
	cancel()
}

// hold delivers a reply or push now, when nothing saved before it is
// still to be written, or else keeps it until it is. It fails with
// ErrUnavailable when the node no longer leads or too much waits.
func (v *Service) hold(send, fail func()) error {
	v.mu.Lock()
	switch {
	case !v.leading || len(v.held) >= maxHeld:
		v.mu.Unlock()
		return fmt.Errorf("%w: the %s service's leader changed or is busy", ErrUnavailable, v.name)
	case len(v.held) == 0 && !v.releasing && v.seq <= v.durable:
		v.mu.Unlock()
		send()
		return nil
	}
	v.held = append(v.held, svcHeld{seq: v.seq, send: send, fail: fail})
	v.mu.Unlock()
	return nil
}

// holdReply holds reply frame b to req (see hold); a reply that cannot
// wait is answered CodeUnavailable at once.
func (v *Service) holdReply(req *Request, b []byte) error {
	fail := func() {
		v.srv.countError(CodeUnavailable)
		eb, _ := encodeWith(Envelope{Type: TypeError, Cid: req.Envelope.Cid}, ErrorData{Code: CodeUnavailable,
			Message: fmt.Sprintf("the %s service's leader could not store the change: retry", v.name), RetryMs: int(serviceRetry / time.Millisecond)})
		req.deliver(eb)
	}
	if err := v.hold(func() { req.deliver(b) }, fail); err != nil {
		fail()
	}
	return nil
}

// release delivers, in order, the held replies and pushes whose records
// are written. One goroutine delivers at a time; others leave theirs to it.
func (v *Service) release() {
	v.mu.Lock()
	if v.releasing {
		v.mu.Unlock()
		return
	}
	v.releasing = true
	for {
		n := 0
		for n < len(v.held) && v.held[n].seq <= v.durable {
			n++
		}
		if n == 0 {
			break
		}
		out := v.held[:n:n]
		if n == len(v.held) {
			v.held = nil
		} else {
			v.held = slices.Clone(v.held[n:])
		}
		v.mu.Unlock()
		for _, h := range out {
			h.send()
		}
		v.mu.Lock()
	}
	v.releasing = false
	v.mu.Unlock()
}

// Flush waits until everything the service saved before the call is
// written (see Save). It returns ErrUnavailable when this node stops
// leading first, or ctx's error; on a single node it returns nil at once.
func (v *Service) Flush(ctx context.Context) error {
	if v.srv.cl == nil {
		return nil
	}
	done := make(chan error, 1)
	err := v.hold(func() { done <- nil }, func() {
		done <- fmt.Errorf("%w: the %s service's leader stepped down", ErrUnavailable, v.name)
	})
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Send pushes a message to peer as Server.Send does, after everything the
// service saved before the call is written (see Save): a peer is never
// told of a change that a next leader would not know. On a single node it
// is Server.Send. It returns ErrUnknownPeer when the peer has no session,
// ErrUnavailable when this node does not lead the service; whether the
// message then reaches the peer's queue is not reported.
func (v *Service) Send(peer, msgType string, data any) error {
	s := v.srv
	if s.cl == nil {
		return s.Send(peer, msgType, data)
	}
	if msgType == "" {
		return fmt.Errorf("signaling: Send: empty type")
	}
	b, err := encodeWith(Envelope{Type: msgType}, data)
	if err != nil {
		return err
	}
	deliver, err := s.route(peer)
	if err != nil {
		return err
	}
	return v.hold(func() { deliver(b) }, nil)
}

// route finds where a frame for peer goes: its session here, the node its
// last service request came from (which forwards it if the peer moved),
// or the node its sess record names.
func (s *Server) route(peer string) (func([]byte), error) {
	s.mu.RLock()
	closed := s.closed
	sess := s.sessions[peer]
	s.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	if sess != nil {
		return func(b []byte) { sess.enqueue(b, 0) }, nil
	}
	s.hintMu.Lock()
	node := s.hints[peer]
	s.hintMu.Unlock()
	if node != "" && node != s.cl.node && s.nodeLive(node) {
		return func(b []byte) {
			s.cl.bp.Send(node, encodeNodeMsg(nodeMsg{T: "send", To: peer, FromNode: s.cl.node, Data: b}))
		}, nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	e, err := s.cl.bp.Get(ctx, sessKey(peer))
	if err != nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
	}
	var r sessRec
	if json.Unmarshal(e.Value, &r) != nil || r.Node == s.cl.node || r.Node == "" {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, peer)
	}
	return func(b []byte) { s.cl.bp.Send(r.Node, encodeNodeMsg(nodeMsg{T: "send", To: peer, Data: b})) }, nil
}

func (v *Service) write(ctx, lctx context.Context, key string, p svcPending) error {
	bp := v.srv.cl.bp
	ctx, cancel := context.WithTimeout(ctx, serviceHold)
	defer cancel()
	full := v.prefix + key
	v.mu.Lock()
	rev, known := v.revs[key]
	v.mu.Unlock()
	setRev := func(r uint64, ok bool) {
		v.mu.Lock()
		if v.lctx == lctx {
			if ok {
				v.revs[key] = r
			} else {
				delete(v.revs, key)
			}
		}
		v.mu.Unlock()
	}
	if p.del {
		err := bp.Delete(ctx, full, 0)
		if err == nil || errors.Is(err, ErrBackplaneNotFound) {
			setRev(0, false)
			return nil
		}
		return err
	}
	var nr uint64
	var err error
	if known {
		nr, err = bp.Update(ctx, full, p.value, rev)
	} else {
		nr, err = bp.Create(ctx, full, p.value)
	}
	if errors.Is(err, ErrBackplaneConflict) {
		// Written by someone else meanwhile (a previous leader, late):
		// this leader's value wins.
		e, gerr := bp.Get(ctx, full)
		switch {
		case errors.Is(gerr, ErrBackplaneNotFound):
			nr, err = bp.Create(ctx, full, p.value)
		case gerr != nil:
			err = gerr
		default:
			nr, err = bp.Update(ctx, full, p.value, e.Rev)
		}
	}
	if err != nil {
		return err
	}
	setRev(nr, true)
	return nil
}

// peerNodes returns the node holding each peer's session: this node's
// own sessions, and the others' from their sess records.
func (s *Server) peerNodes(ctx context.Context, peers []string) (map[string]string, error) {
	nodes := make(map[string]string, len(peers))
	var remote []string
	s.mu.RLock()
	for _, p := range peers {
		if s.sessions[p] != nil {
			nodes[p] = s.cl.node
		} else {
			remote = append(remote, p)
		}
	}
	s.mu.RUnlock()
	for _, p := range remote {
		e, err := s.cl.bp.Get(ctx, sessKey(p))
		if errors.Is(err, ErrBackplaneNotFound) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, p)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: session of %q: %w", ErrUnavailable, p, err)
		}
		var r sessRec
		if json.Unmarshal(e.Value, &r) != nil || r.Node == "" {
			return nil, fmt.Errorf("%w: %q", ErrUnknownPeer, p)
		}
		nodes[p] = r.Node
	}
	return nodes, nil
}

// cpeerRoom is PeerRoom for a peer without a session on this node: the
// room from the replica, the session from the store.
func (s *Server) cpeerRoom(peer string) (string, bool) {
	s.cl.mu.Lock()
	room := s.cl.peerRoom[peer]
	s.cl.mu.Unlock()
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	if _, err := s.cl.bp.Get(ctx, sessKey(peer)); err != nil {
		return "", false
	}
	return room, true
}

// pushRoom makes the nodes of a room's new members (this one included)
// apply its record now, before anything this node sends them next (node
// messages keep their order per sender): a member gets joined before the
// lobby's started or the matchmaker's matched, as on a single node.
func (s *Server) pushRoom(ctx context.Context, name string, nodes map[string]string) {
	byNode := map[string][]string{}
	for p, n := range nodes {
		byNode[n] = append(byNode[n], p)
	}
	for n, peers := range byNode {
		if n == s.cl.node {
			s.applyRoomNow(ctx, name, peers)
			continue
		}
		b, _ := json.Marshal(peers)
		s.cl.bp.Send(n, encodeNodeMsg(nodeMsg{T: "room", Room: name, Data: b}))
	}
}

// onRoomMsg serves "room": apply a room's latest record now.
func (s *Server) onRoomMsg(m nodeMsg) {
	var peers []string
	if json.Unmarshal(m.Data, &peers) != nil || len(peers) > 4*s.cfg.MaxRoomSize {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	s.applyRoomNow(ctx, m.Room, peers)
}

// applyRoomNow applies the room's record ahead of the watch (which skips
// it, and anything older, when it gets there), once the store shows the
// peers in it: a read may come from a replica a little behind the write.
// It gives up after roomWait and leaves it to the watch.
func (s *Server) applyRoomNow(ctx context.Context, name string, peers []string) {
	if !validRoomName(name) {
		return
	}
	deadline := time.Now().Add(roomWait)
	for {
		e, err := s.cl.bp.Get(ctx, roomKey(name))
		if err != nil {
			return
		}
		var rec roomRec
		if json.Unmarshal(e.Value, &rec) != nil {
			return
		}
		all := true
		for _, p := range peers {
			all = all && memberIndex(&rec, p) >= 0
		}
		if all {
			s.applyRoom(e)
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// roomWait bounds applyRoomNow's wait for a replica to catch up.
const roomWait = 250 * time.Millisecond

// InRoom reports whether peer is a member of the room called room (one
// waiting to resume included). On a cluster it reads the room's record
// from the store, so a change made through another node a moment ago
// counts even before this node's replica shows it.
func (s *Server) InRoom(peer, room string) bool {
	if s.cl == nil {
		cur, ok := s.PeerRoom(peer)
		return ok && cur == room
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	e, err := s.cl.bp.Get(ctx, roomKey(room))
	if err != nil {
		return false
	}
	var rec roomRec
	return json.Unmarshal(e.Value, &rec) == nil && memberIndex(&rec, peer) >= 0
}

// maxHints bounds the peer-to-node hints a node keeps; past it they are
// forgotten all at once and learned again.
const maxHints = 100_000

// hint records that peer's session was on node (a service request came
// from there), so that Send need not read its sess record.
func (s *Server) hint(peer, node string) {
	s.hintMu.Lock()
	if s.hints == nil || len(s.hints) >= maxHints {
		s.hints = map[string]string{}
	}
	s.hints[peer] = node
	s.hintMu.Unlock()
}

func (s *Server) dropHint(peer string) {
	s.hintMu.Lock()
	delete(s.hints, peer)
	s.hintMu.Unlock()
}

// csendHinted is csend through the node a hint names, when it is alive:
// that node forwards the frame if the peer has moved on (sendMissed).
func (s *Server) csendHinted(peer string, frame []byte) error {
	s.hintMu.Lock()
	node := s.hints[peer]
	s.hintMu.Unlock()
	if node == "" || node == s.cl.node || !s.nodeLive(node) {
		return s.csend(peer, frame)
	}
	return s.cl.bp.Send(node, encodeNodeMsg(nodeMsg{T: "send", To: peer, FromNode: s.cl.node, Data: frame}))
}

// sendMissed forwards a frame sent here on a hint to the node that holds
// the peer's session now, once.
func (s *Server) sendMissed(m nodeMsg) {
	if !json.Valid(m.Data) {
		return
	}
	frame := m.Data
	s.background(func(ctx context.Context) {
		e, err := s.cl.bp.Get(ctx, sessKey(m.To))
		if err != nil {
			return
		}
		var r sessRec
		if json.Unmarshal(e.Value, &r) != nil || r.Node == s.cl.node || r.Node == "" {
			return
		}
		s.cl.bp.Send(r.Node, encodeNodeMsg(nodeMsg{T: "send", To: m.To, Data: frame}))
	})
}
