package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

// Config configures a Service. The zero value is valid.
type Config struct {
	// Queues are the queues players may enqueue in. Nil means
	// DefaultQueues().
	Queues []matchmaker.QueueConfig
	// Interval is the time between matching passes. Zero means 200 ms.
	Interval time.Duration
	// Store keeps ratings. Nil means a fresh MemoryStore.
	Store Store
	// Rating parameterises rating updates and match quality. The zero value
	// is openskill's default Plackett-Luce model.
	Rating matchmaker.RatingConfig
	// MaxTicketsPerIP is the most waiting tickets enqueued from one IP
	// address; beyond it mm.enqueue is answered with CodeTooManyTickets.
	// (A player, its auth subject, holds one waiting ticket at most.) Zero
	// means 32; negative means no limit.
	MaxTicketsPerIP int
	// SessionTTL is how long results of a match are accepted. Zero means
	// 2 h.
	SessionTTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs. Nil means none.
	Logger *slog.Logger
	// OnPass, when set, is called after each matching pass, before its
	// matches are delivered, with the time the engine took for it
	// (Matchmaker.Process, measured on the real clock) and what it produced.
	// It runs on the goroutine of the pass (the matching loop, or a caller
	// of Pass), must return quickly and must not call the Service. Metrics
	// exporters use it: the matches made per queue and each matched
	// ticket's wait (MatchedTicket.Waited) are in res.
	OnPass func(took time.Duration, res matchmaker.Result)
}

// DefaultQueues returns the queues of a zero Config: "1v1" and "5v5" with a
// skill window (in Mu units) that widens from 3 to 6 after 10 s and to 12
// after 30 s, and "ffa", a free-for-all of 8 players that accepts 6 after
// 20 s and 4 after 40 s.
func DefaultQueues() []matchmaker.QueueConfig {
	skill := matchmaker.Rule{Kind: matchmaker.RuleSkill, Value: 3, Steps: []matchmaker.Step{
		{After: 10 * time.Second, Value: 6}, {After: 30 * time.Second, Value: 12}}}
	return []matchmaker.QueueConfig{
		{Name: "1v1", Rules: []matchmaker.Rule{skill}},
		{Name: "5v5", Shape: matchmaker.Shape{TeamSize: 5}, Rules: []matchmaker.Rule{skill}},
		{Name: "ffa", Shape: matchmaker.Shape{Teams: 8, MinTeamsSteps: []matchmaker.Step{
			{After: 20 * time.Second, Value: 6}, {After: 40 * time.Second, Value: 4}}}, Rules: []matchmaker.Rule{skill}},
	}
}

// Service serves a Matchmaker over a signaling Server: it registers the
// mm.* handlers, runs matching passes on a ticker, puts every match into a
// fresh room, and applies reported results to the rating store.
type Service struct {
	srv   *signaling.Server
	svc   *signaling.Service // the mm.* handlers, served by a cluster's leader
	mm    *matchmaker.Matchmaker
	cfg   Config
	log   *slog.Logger
	stop  chan struct{}
	done  chan struct{}
	close sync.Once

	mu         sync.Mutex
	closed     bool
	rater      *matchmaker.Rater
	byPeer     map[string]string // peer -> waiting ticket id
	subject    map[string]string // peer -> store key (auth subject, "" when anonymous), for waiting peers
	bySubject  map[string]string // store key -> waiting ticket id: one ticket per player across connections
	ticketIP   map[string]string // waiting ticket id -> the address that enqueued it
	perIP      map[string]int    // waiting tickets by address
	consent    map[string]string // party member -> leader it agreed to join
	consentKey map[string]string // party member -> its store key
	sessions   map[string]*session
	requesters map[string]int // peer -> pending backfill requests it made (session.req)

	applyMu sync.Mutex // serializes rating updates: read, rate and write as one step
}

type session struct {
	host     string
	backfill string       // pending backfill request id
	req      *backfillRec // the last backfill request accepted, until it is filled, withdrawn or dropped
	queue    string
	teams    [][]string        // peer ids per team
	capacity []int             // players per team at the start: a backfill never goes past it
	keys     map[string]string // peer -> store key ("" when anonymous); the session's players
	reports  map[string]string // voter (see voter) -> canonical ranks
	ranks    map[string][]float64
	at       time.Time
	applied  bool
	disputed bool // two players reported different results: nothing is applied

	requesting bool // a backfill request is being prepared
	gen        int  // backfills delivered; a backfill prepared at another gen is stale

	// The last backfill: its newcomers, when it was recorded, and while
	// it is recorded but its newcomers are not in the room yet, the
	// session's players and teams before it (put back when the room
	// refuses the newcomers; a new leader takes the newcomers not in the
	// room out of the session), and the backfill request it filled.
	added      []string
	fill       string
	backfilled time.Time
	prev       *backfillPrev
}

// backfillPrev is a session's state before a backfill not yet delivered.
type backfillPrev struct {
	teams   [][]string
	keys    map[string]string
	reports map[string]string
	ranks   map[string][]float64
}

// voter is who a report counts for: the player (its store key), or the
// peer when anonymous.
func voter(peer, key string) string {
	if key != "" {
		return "sub:" + key
	}
	return "peer:" + peer
}

// New registers the service's handlers on srv and starts its matching
// loop. The loop stops at Close or when srv closes.
func New(srv *signaling.Server, cfg Config) (*Service, error) {
	if cfg.Queues == nil {
		cfg.Queues = DefaultQueues()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	if cfg.MaxTicketsPerIP == 0 {
		cfg.MaxTicketsPerIP = 32
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 2 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		srv:        srv,
		mm:         matchmaker.New(matchmaker.Config{Now: cfg.Now, Rating: cfg.Rating}),
		cfg:        cfg,
		log:        cfg.Logger,
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		rater:      matchmaker.NewRater(cfg.Rating),
		byPeer:     map[string]string{},
		subject:    map[string]string{},
		bySubject:  map[string]string{},
		ticketIP:   map[string]string{},
		perIP:      map[string]int{},
		consent:    map[string]string{},
		consentKey: map[string]string{},
		sessions:   map[string]*session{},
		requesters: map[string]int{},
	}
	for _, q := range cfg.Queues {
		if err := s.mm.AddQueue(q); err != nil {
			return nil, err
		}
	}
	s.svc = srv.Service("mm", signaling.ServiceConfig{Lead: s.lead, Follow: s.follow, OnPeerGone: s.peerGone})
	s.svc.Handle(TypeEnqueue, s.handleEnqueue)
	s.svc.Handle(TypeCancel, s.handleCancel)
	s.svc.Handle(TypeStatus, s.handleStatus)
	s.svc.Handle(TypeStats, s.handleStats)
	s.svc.Handle(TypeResult, s.handleResult)
	s.svc.Handle(TypeParty, s.handleParty)
	s.svc.Handle(TypeBackfill, s.handleBackfill)
	s.svc.Start()
	go s.run()
	return s, nil
}

// Matchmaker returns the engine, for statistics and backfill requests.
func (s *Service) Matchmaker() *matchmaker.Matchmaker { return s.mm }

// Close stops the matching loop and waits for it. Requests after Close are
// answered with CodeClosed. Close is idempotent.
func (s *Service) Close() error {
	s.close.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
	})
	<-s.done
	return nil
}

func (s *Service) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.srv.Done():
			s.mu.Lock()
			s.closed = true
			s.mu.Unlock()
			return
		case <-t.C:
			if s.svc.Leading() {
				s.pass()
			}
		}
	}
}

// Pass runs one matching pass now and delivers its matches. The loop calls
// it every Interval; tests may call it to step the service. After Close it
// returns ErrClosed.
func (s *Service) Pass() error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s.pass()
	return nil
}

func (s *Service) pass() {
	start := time.Now()
	at := s.cfg.Now() // the pass's time: a requeued ticket's wait is reckoned from it
	res := s.mm.Process()
	if s.cfg.OnPass != nil {
		s.cfg.OnPass(time.Since(start), res)
	}
	for _, t := range res.Expired {
		s.mu.Lock()
		s.forgetLocked(t)
		s.mu.Unlock()
		for _, p := range t.Players {
			_ = s.send(p.ID, TypeExpired, TicketData{Ticket: t.ID, Queue: t.Queue})
		}
	}
	// A match's session enters the store before its room is made (the
	// room makes the match known); its tickets leave the store once the
	// room exists, and mm.matched waits for that. A next leader that finds
	// a ticket whose players are in the room of a session recorded after
	// the ticket was enqueued drops the ticket (see lead): a matched ticket
	// never waits again, and a ticket never goes without its match.
	// A backfill goes the same way: the session's new teams enter the
	// store before the newcomers enter the room, their tickets leave it
	// once they are in, and the pushes wait for both.
	ready := make([]bool, len(res.Matches))
	for i, m := range res.Matches {
		if m.Backfill != "" {
			ready[i] = s.recordBackfill(m, at)
		} else {
			s.recordSession(m)
			ready[i] = true
		}
	}
	if !s.flush(len(res.Matches)) {
		return
	}
	for i, m := range res.Matches {
		if ready[i] {
			s.deliver(m, at)
		}
	}
	now := s.cfg.Now()
	s.mu.Lock()
	for id, ss := range s.sessions {
		if now.Sub(ss.at) > s.cfg.SessionTTL {
			if ss.backfill != "" {
				_ = s.mm.CancelBackfill(ss.backfill)
			}
			s.clearBackfillLocked(id, ss)
			delete(s.sessions, id)
			s.removeRecord("s." + id)
		}
	}
	s.mu.Unlock()
}

// flushWait bounds a pass's wait for its records to be written (a leader
// whose writes fail steps down sooner).
const flushWait = 10 * time.Second

// send pushes a message to peer: on a cluster once the records saved
// before are written (signaling.Service.Send).
func (s *Service) send(peer, typ string, v any) error { return s.svc.Send(peer, typ, v) }

// flush waits until a pass's records are written; false when this node
// no longer leads (the pool went with the leadership, and the next leader
// starts from the store).
func (s *Service) flush(matches int) bool {
	if matches == 0 || !s.clustered() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushWait)
	defer cancel()
	if err := s.svc.Flush(ctx); err != nil {
		s.log.Warn("matchmaker: matches not delivered: records not written", "matches", matches, "err", err)
		return false
	}
	return true
}

// recordSession records the session of new match m (a backfill's session
// exists already).
func (s *Service) recordSession(m matchmaker.Match) {
	if m.Backfill != "" {
		return
	}
	teams, peers, _ := roster(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make(map[string]string, len(peers))
	for _, p := range peers {
		keys[p] = s.subject[p]
	}
	capacity := make([]int, len(teams))
	for i, t := range teams {
		capacity[i] = len(t)
	}
	s.sessions[m.Session] = &session{host: m.Host, queue: m.Queue, teams: teams, capacity: capacity, keys: keys,
		reports: map[string]string{}, ranks: map[string][]float64{}, at: s.cfg.Now()}
	s.saveSessionLocked(m.Session, s.sessions[m.Session])
}

// deliver puts the players of a match (its session recorded) into its
// room, takes their tickets out of the waiting maps and the store, and
// tells them; at is the time of the pass that made it.
func (s *Service) deliver(m matchmaker.Match, at time.Time) {
	if m.Backfill != "" {
		s.deliverBackfill(m, at)
		return
	}
	_, peers, team := roster(m)
	s.mu.Lock()
	ss := s.sessions[m.Session]
	s.mu.Unlock()
	if ss == nil {
		return // the leadership (and the pool) went meanwhile
	}
	if err := s.srv.CreateRoom(m.Session, peers); err != nil {
		// A player left between the pass and now. Put every ticket back in
		// the queue rather than lose the request, and tell its players;
		// a ticket whose player cannot be told is gone and is cancelled.
		s.log.Info("matchmaker: match not delivered, requeueing", "session", m.Session, "err", err)
		keys := s.claim(peers)
		s.mu.Lock()
		delete(s.sessions, m.Session)
		s.removeRecord("s." + m.Session)
		s.mu.Unlock()
		for _, mt := range m.Tickets {
			s.requeue(mt, keys, at)
		}
		return
	}
	s.claim(peers)
	s.mu.Lock()
	teams := ss.teams
	s.mu.Unlock()
	for _, p := range peers {
		d := MatchedData{Session: m.Session, Room: m.Session, Queue: m.Queue, Peers: peers, Host: m.Host,
			Teams: teams, Team: team[p], Region: m.Region, Quality: m.Quality}
		if err := s.send(p, TypeMatched, d); err != nil {
			s.log.Info("matchmaker: matched not sent", "peer", p, "err", err)
		}
	}
}

// roster returns the peer ids of a match by team, all of them in team
// order, and the team of each.
func roster(m matchmaker.Match) (teams [][]string, peers []string, team map[string]int) {
	teams = make([][]string, len(m.Teams))
	team = map[string]int{}
	for i, t := range m.Teams {
		for _, p := range t {
			teams[i] = append(teams[i], p.ID)
			peers = append(peers, p.ID)
			team[p.ID] = i
		}
	}
	return teams, peers, team
}

// claim takes matched players out of the waiting maps and returns their
// store keys.
func (s *Service) claim(players []string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make(map[string]string, len(players))
	for _, p := range players {
		k := s.subject[p]
		keys[p] = k
		if k != "" && s.bySubject[k] == s.byPeer[p] {
			delete(s.bySubject, k)
		}
		s.releaseTicketLocked(s.byPeer[p])
		delete(s.byPeer, p)
		delete(s.subject, p)
	}
	return keys
}

// backfillNewcomers returns the players of backfill match m.
func backfillNewcomers(m matchmaker.Match) []string {
	var added []string
	for _, mt := range m.Tickets {
		for _, p := range mt.Ticket.Players {
			added = append(added, p.ID)
		}
	}
	return added
}

// recordBackfill checks backfill match m against its session and records
// the session with the backfill's teams, before the newcomers enter the
// room; false when the backfill is not delivered (the session is gone or
// over, superseded by a later request, or a newcomer is one of its
// players already): its newcomers wait again.
func (s *Service) recordBackfill(m matchmaker.Match, at time.Time) bool {
	added := backfillNewcomers(m)
	teams, peers, _ := roster(m)
	s.mu.Lock()
	keys := make(map[string]string, len(added))
	for _, p := range added {
		keys[p] = s.subject[p]
	}
	ss := s.sessions[m.Session]
	mine := ss != nil && ss.backfill == m.Backfill
	ok := mine && ss.prev == nil
	if ok {
		// The request's record stays until the newcomers are in the
		// room (deliverBackfill), after the session's record with them.
		ss.backfill = ""
		// A newcomer must not be a player of the session already (the
		// same player on another connection), and no team may pass its
		// size at the start.
		inSession := map[string]bool{}
		for _, k := range ss.keys {
			if k != "" {
				inSession[k] = true
			}
		}
		for _, p := range added {
			if k := keys[p]; k != "" && inSession[k] {
				ok = false
			}
		}
		for i, t := range teams {
			if i >= len(ss.capacity) || len(t) > ss.capacity[i] {
				ok = false
			}
		}
	}
	if !ok {
		if mine {
			// The request is dropped with its match.
			s.clearBackfillLocked(m.Session, ss)
		}
		s.mu.Unlock()
		keys = s.claim(added)
		for _, mt := range m.Tickets {
			s.requeue(mt, keys, at)
		}
		return false
	}
	ss.gen++
	// The session now has the backfill's teams: the players who stayed
	// and the newcomers. Those who left no longer take part in results.
	ss.prev = &backfillPrev{teams: ss.teams, keys: ss.keys, reports: ss.reports, ranks: ss.ranks}
	old := ss.keys
	ss.keys = make(map[string]string, len(peers))
	for _, p := range peers {
		if k, ok := old[p]; ok {
			ss.keys[p] = k
		} else {
			ss.keys[p] = keys[p]
		}
	}
	ss.teams = teams
	ss.reports = map[string]string{}
	ss.ranks = map[string][]float64{}
	ss.added = added
	ss.fill = m.Backfill
	ss.backfilled = s.cfg.Now()
	s.saveSessionLocked(m.Session, ss)
	s.mu.Unlock()
	return true
}

// deliverBackfill puts the newcomers of backfill match m (its session
// recorded with them by recordBackfill) into the running session's room,
// takes their tickets out of the waiting maps and the store, and tells
// everyone.
func (s *Service) deliverBackfill(m matchmaker.Match, at time.Time) {
	added := backfillNewcomers(m)
	teams, peers, team := roster(m)
	s.mu.Lock()
	ss := s.sessions[m.Session]
	s.mu.Unlock()
	if ss == nil {
		return // the leadership (and the pool) went meanwhile
	}
	if err := s.srv.AddToRoom(m.Session, added); err != nil {
		s.log.Info("matchmaker: backfill not delivered, requeueing", "session", m.Session, "err", err)
		s.mu.Lock()
		if p := ss.prev; p != nil {
			ss.teams, ss.keys, ss.reports, ss.ranks = p.teams, p.keys, p.reports, p.ranks
		}
		ss.prev, ss.added, ss.fill, ss.backfilled = nil, nil, "", time.Time{}
		s.saveSessionLocked(m.Session, ss)
		if r := ss.req; r != nil && r.Request.ID == m.Backfill {
			// A newcomer left: the request waits again, under its id and
			// with its wait (the others' tickets too; the newcomer's is
			// dropped). The room gone or full: the request is dropped.
			if !errors.Is(err, signaling.ErrUnknownPeer) || !s.reissueBackfillLocked(m.Session, ss) {
				s.clearBackfillLocked(m.Session, ss)
			}
		}
		s.mu.Unlock()
		keys := s.claim(added)
		for _, mt := range m.Tickets {
			s.requeue(mt, keys, at)
		}
		return
	}
	keys := s.claim(added)
	s.mu.Lock()
	ss.prev = nil
	host := ss.host
	s.saveSessionLocked(m.Session, ss)
	if r := ss.req; r != nil && r.Request.ID == m.Backfill {
		s.clearBackfillLocked(m.Session, ss) // filled: after the session's record with the newcomers
	}
	s.mu.Unlock()
	for _, p := range peers {
		if _, isNew := keys[p]; isNew {
			d := MatchedData{Session: m.Session, Room: m.Session, Queue: m.Queue, Peers: peers, Host: host,
				Teams: teams, Team: team[p], Region: m.Region, Quality: m.Quality}
			_ = s.send(p, TypeMatched, d)
		} else {
			_ = s.send(p, TypeBackfilled, BackfilledData{Session: m.Session, Backfill: m.Backfill, Added: added, Teams: teams})
		}
	}
}

func (s *Service) handleBackfill(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	var d BackfillData
	if err := decode(req.Envelope.Data, &d); err != nil {
		_ = req.ReplyError(CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	ss := s.sessions[d.Session]
	if _, in := ss.keysOf(req.Peer); !in {
		s.mu.Unlock()
		_ = req.ReplyError(CodeUnknownMatch, "no such session, or the sender does not play in it")
		return
	}
	if ss.applied {
		s.mu.Unlock()
		_ = req.ReplyError(CodeAlreadyRated, "the session is over: its result was applied")
		return
	}
	missing := map[string]bool{}
	for _, p := range d.Missing {
		if _, ok := ss.keys[p]; !ok || p == req.Peer {
			s.mu.Unlock()
			_ = req.ReplyError(CodeInvalidBackfill, fmt.Sprintf("peer %q is not another player of the session", p))
			return
		}
		// Only a player who left the session's room for good (gone, or in
		// another room) may be replaced; one waiting to resume is still
		// a player.
		if room, ok := s.srv.PeerRoom(p); ok && room == d.Session {
			s.mu.Unlock()
			_ = req.ReplyError(CodeStillPresent, fmt.Sprintf("peer %q is still in the session (or may resume)", p))
			return
		}
		missing[p] = true
	}
	if len(missing) == 0 {
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalidBackfill, "no missing player")
		return
	}
	open := make([]int, len(ss.teams))
	stay := make([][]string, len(ss.teams))
	for i, t := range ss.teams {
		for _, p := range t {
			if missing[p] {
				open[i]++
			} else {
				stay[i] = append(stay[i], p)
			}
		}
	}
	keys := make(map[string]string, len(ss.keys))
	for p, k := range ss.keys {
		keys[p] = k
	}
	if ss.requesting {
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalidBackfill, "another backfill request for this session is in progress")
		return
	}
	ss.requesting = true
	gen := ss.gen
	prev := ss.backfill
	queue, host := ss.queue, ss.host
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		ss.requesting = false
		s.mu.Unlock()
	}
	if missing[host] {
		host = req.Peer
	}
	teams := make([][]matchmaker.Player, len(stay))
	for i, t := range stay {
		for _, p := range t {
			r, err := s.ratingOf(req.Context(), keys[p])
			if err != nil {
				done()
				_ = req.ReplyError(CodeInternal, "rating store: "+err.Error())
				return
			}
			teams[i] = append(teams[i], matchmaker.Player{ID: p, Rating: r})
		}
	}
	if prev != "" {
		_ = s.mm.CancelBackfill(prev)
	}
	br := matchmaker.BackfillRequest{Queue: queue, Session: d.Session, Host: host, Teams: teams, OpenSlots: open}
	id, err := s.mm.RequestBackfill(br)
	if err != nil {
		s.mu.Lock()
		ss.requesting = false
		s.withdrawnLocked(d.Session, ss, prev)
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalidBackfill, err.Error())
		return
	}
	s.mu.Lock()
	ss.requesting = false
	// A pass that took the request before it was the session's dropped
	// it (recordBackfill): the engine no longer holds it.
	made, held := s.mm.BackfillRequestedAt(id)
	if ss.gen != gen || ss.applied || !held {
		// A backfill was delivered (or the result applied) while this one
		// was prepared from the teams before it: withdraw it.
		s.withdrawnLocked(d.Session, ss, prev)
		s.mu.Unlock()
		_ = s.mm.CancelBackfill(id)
		_ = req.ReplyError(CodeInvalidBackfill, "the session changed meanwhile: ask again")
		return
	}
	br.ID = id
	rec := backfillRec{Request: br, Peer: req.Peer, At: made.UnixMilli()}
	// The request's record, and the session's new host, are written
	// before the reply.
	s.setBackfillLocked(d.Session, ss, rec)
	ss.host = host
	s.saveSessionLocked(d.Session, ss)
	s.mu.Unlock()
	_ = req.Reply(BackfillReply{Backfill: id, OpenSlots: open})
}

// requeue puts a matched ticket back in its queue, under a new id, with
// the wait it had when pass at matched it: its rules' widening and its
// place among the longest-waiting go on from there.
func (s *Service) requeue(mt matchmaker.MatchedTicket, keys map[string]string, at time.Time) {
	t := mt.Ticket
	t.ID = ""
	id, err := s.mm.EnqueueSince(t, at.Add(-mt.Waited))
	if err != nil {
		s.log.Info("matchmaker: requeue failed", "players", len(t.Players), "err", err)
		return
	}
	t.ID = id
	s.mu.Lock()
	for _, p := range t.Players {
		s.byPeer[p.ID] = id
		s.subject[p.ID] = keys[p.ID]
		if k := keys[p.ID]; k != "" {
			s.bySubject[k] = id
		}
	}
	s.saveTicketLocked(t)
	s.mu.Unlock()
	for _, p := range t.Players {
		if err := s.send(p.ID, TypeRequeued, TicketData{Ticket: id, Queue: t.Queue}); err != nil {
			// That player is gone: the ticket (its whole party) is off.
			s.dropTicket(id, p.ID)
			return
		}
	}
}

// releaseTicketLocked takes ticket id off its address's count.
func (s *Service) releaseTicketLocked(id string) {
	if id != "" {
		s.removeRecord("t." + id)
	}
	ip, ok := s.ticketIP[id]
	if !ok {
		return
	}
	delete(s.ticketIP, id)
	if s.perIP[ip] <= 1 {
		delete(s.perIP, ip)
	} else {
		s.perIP[ip]--
	}
}

// forgetLocked removes the peers of ticket t from the service's maps.
func (s *Service) forgetLocked(t matchmaker.Ticket) {
	s.releaseTicketLocked(t.ID)
	for _, p := range t.Players {
		if s.byPeer[p.ID] == t.ID {
			if k := s.subject[p.ID]; k != "" && s.bySubject[k] == t.ID {
				delete(s.bySubject, k)
			}
			delete(s.byPeer, p.ID)
			delete(s.subject, p.ID)
		}
	}
}

// dropTicket cancels a waiting ticket on behalf of peer `by` and tells the
// ticket's other players with mm.canceled. It returns the ticket.
func (s *Service) dropTicket(id, by string) (matchmaker.Ticket, error) {
	t, err := s.mm.Ticket(id)
	if err != nil {
		return t, err
	}
	if err := s.mm.Cancel(id); err != nil {
		return t, err
	}
	s.mu.Lock()
	s.forgetLocked(t)
	s.mu.Unlock()
	for _, p := range t.Players {
		if p.ID != by {
			_ = s.send(p.ID, TypeCanceled, CanceledData{Ticket: id, Queue: t.Queue, By: by})
		}
	}
	return t, nil
}

func (s *Service) isClosed(req *signaling.Request) bool {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		_ = req.ReplyError(CodeClosed, "matchmaker is closed")
	}
	return closed
}

func replyErr(req *signaling.Request, err error) {
	code := CodeInternal
	switch {
	case errors.Is(err, matchmaker.ErrUnknownQueue):
		code = CodeUnknownQueue
	case errors.Is(err, matchmaker.ErrInvalidTicket):
		code = CodeInvalidTicket
	case errors.Is(err, matchmaker.ErrAlreadyQueued), errors.Is(err, matchmaker.ErrDuplicateTicket):
		code = CodeAlreadyQueued
	case errors.Is(err, matchmaker.ErrPoolFull):
		code = CodePoolFull
	case errors.Is(err, matchmaker.ErrNotFound):
		code = CodeNotFound
	}
	_ = req.ReplyError(code, err.Error())
}

func (s *Service) handleEnqueue(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	d, err := DecodeEnqueue(req.Envelope.Data)
	if err != nil {
		_ = req.ReplyError(CodeBadRequest, err.Error())
		return
	}
	key := subjectOf(req)
	if len(d.Party)+1 > matchmaker.MaxPartySize {
		_ = req.ReplyError(CodeInvalidTicket, "party too large")
		return
	}
	// Members' store keys were recorded when they agreed (mm.party).
	s.mu.Lock()
	keys := map[string]string{req.Peer: key}
	subjects := map[string]bool{}
	if key != "" {
		subjects[key] = true
	}
	for _, m := range d.Party {
		if _, dup := keys[m]; dup {
			s.mu.Unlock()
			_ = req.ReplyError(CodeInvalidTicket, "party lists a player twice")
			return
		}
		if s.consent[m] != req.Peer {
			s.mu.Unlock()
			_ = req.ReplyError(CodePartyNotReady, fmt.Sprintf("peer %q has not agreed (mm.party) to join this leader", m))
			return
		}
		keys[m] = s.consentKey[m]
		if k := keys[m]; k != "" {
			if subjects[k] {
				s.mu.Unlock()
				_ = req.ReplyError(CodeInvalidTicket, "party lists one player (two connections of one subject) twice")
				return
			}
			subjects[k] = true
		}
	}
	s.mu.Unlock()
	players := make([]matchmaker.Player, 0, len(d.Party)+1)
	var rating matchmaker.Rating
	for i, p := range append([]string{req.Peer}, d.Party...) {
		r, err := s.ratingOf(req.Context(), keys[p])
		if err != nil {
			_ = req.ReplyError(CodeInternal, "rating store: "+err.Error())
			return
		}
		if i == 0 {
			rating = r
		}
		players = append(players, matchmaker.Player{ID: p, Rating: r})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ip := req.RemoteAddr
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	if s.cfg.MaxTicketsPerIP > 0 && s.perIP[ip] >= s.cfg.MaxTicketsPerIP {
		_ = req.ReplyError(CodeTooManyTickets, fmt.Sprintf("%s holds %d waiting tickets", ip, s.cfg.MaxTicketsPerIP))
		return
	}
	for _, p := range players {
		if _, dup := s.byPeer[p.ID]; dup {
			_ = req.ReplyError(CodeAlreadyQueued, fmt.Sprintf("peer %q already waits in a ticket", p.ID))
			return
		}
		if p.ID != req.Peer && s.consent[p.ID] != req.Peer {
			_ = req.ReplyError(CodePartyNotReady, fmt.Sprintf("peer %q withdrew", p.ID))
			return
		}
		if k := keys[p.ID]; k != "" && s.bySubject[k] != "" {
			_ = req.ReplyError(CodeAlreadyQueued, fmt.Sprintf("player %q already waits in a ticket (on another connection)", k))
			return
		}
	}
	id, err := s.mm.Enqueue(matchmaker.Ticket{Queue: d.Queue, Players: players,
		Strings: d.Strings, Numbers: d.Numbers, Tags: d.Tags, Latencies: d.Latencies})
	if err != nil {
		replyErr(req, err)
		return
	}
	s.ticketIP[id] = ip
	s.perIP[ip]++
	for _, p := range players {
		s.byPeer[p.ID] = id
		s.subject[p.ID] = keys[p.ID]
		if k := keys[p.ID]; k != "" {
			s.bySubject[k] = id
		}
		if _, agreed := s.consent[p.ID]; agreed {
			delete(s.consent, p.ID)
			delete(s.consentKey, p.ID)
			s.saveConsentLocked(p.ID)
		}
	}
	s.saveTicketLocked(matchmaker.Ticket{ID: id, Queue: d.Queue, Players: players,
		Strings: d.Strings, Numbers: d.Numbers, Tags: d.Tags, Latencies: d.Latencies})
	_ = req.Reply(TicketData{Ticket: id, Queue: d.Queue, Rating: &rating, Party: d.Party})
	for _, p := range d.Party {
		_ = s.send(p, TypeEnqueued, TicketData{Ticket: id, Queue: d.Queue, Party: append([]string{req.Peer}, d.Party...)})
	}
}

// subjectOf is the store key of the sender: its authenticated subject, or
// "" for an anonymous peer, whose ratings are never stored.
func subjectOf(req *signaling.Request) string { return req.Identity.Subject }

// keysOf reports the store key of peer and whether it plays in ss (nil
// included).
func (ss *session) keysOf(peer string) (string, bool) {
	if ss == nil {
		return "", false
	}
	k, ok := ss.keys[peer]
	return k, ok
}

// ratingOf returns the stored rating of key, or a fresh one for a key
// never rated or "" (anonymous).
func (s *Service) ratingOf(ctx context.Context, key string) (matchmaker.Rating, error) {
	if key == "" {
		return s.rater.NewRating(), nil
	}
	r, ok, err := s.cfg.Store.Get(ctx, key)
	if err != nil {
		return r, err
	}
	if !ok {
		r = s.rater.NewRating()
	}
	return r, nil
}

func (s *Service) handleParty(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	var d PartyData
	if err := decode(req.Envelope.Data, &d); err != nil {
		_ = req.ReplyError(CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byPeer[req.Peer]; dup {
		_ = req.ReplyError(CodeAlreadyQueued, "the sender already waits in a ticket")
		return
	}
	if d.Leader == "" || d.Leader == req.Peer {
		delete(s.consent, req.Peer)
		delete(s.consentKey, req.Peer)
	} else {
		s.consent[req.Peer] = d.Leader
		s.consentKey[req.Peer] = subjectOf(req)
	}
	s.saveConsentLocked(req.Peer)
	_ = req.Reply(d)
}

func (s *Service) handleCancel(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	s.mu.Lock()
	id, ok := s.byPeer[req.Peer]
	s.mu.Unlock()
	if !ok {
		_ = req.ReplyError(CodeNotFound, "the sender has no waiting ticket")
		return
	}
	t, err := s.dropTicket(id, req.Peer)
	if err != nil {
		replyErr(req, err)
		return
	}
	_ = req.Reply(TicketData{Ticket: id, Queue: t.Queue})
}

func (s *Service) handleStatus(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	s.mu.Lock()
	id, ok := s.byPeer[req.Peer]
	s.mu.Unlock()
	if !ok {
		_ = req.ReplyError(CodeNotFound, "the sender has no waiting ticket")
		return
	}
	st, err := s.mm.Status(id)
	if err != nil {
		replyErr(req, err)
		return
	}
	_ = req.Reply(StatusData{Ticket: st.ID, Queue: st.Queue, WaitedMs: st.Waited.Milliseconds(), Ahead: st.Ahead})
}

func (s *Service) handleStats(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	var d StatsRequest
	if err := decode(req.Envelope.Data, &d); err != nil {
		_ = req.ReplyError(CodeBadRequest, err.Error())
		return
	}
	st, err := s.mm.Stats(d.Queue)
	if err != nil {
		replyErr(req, err)
		return
	}
	_ = req.Reply(StatsData{Queue: st.Queue, Tickets: st.Tickets, Players: st.Players,
		WaitP50Ms: st.WaitP50.Milliseconds(), WaitP95Ms: st.WaitP95.Milliseconds(), WaitP99Ms: st.WaitP99.Milliseconds(),
		MatchedP50Ms: st.MatchedP50.Milliseconds(), MatchedP95Ms: st.MatchedP95.Milliseconds(),
		Matches: st.Matches, Matched: st.Matched, Expired: st.Expired, Canceled: st.Canceled})
}

func (s *Service) handleResult(req *signaling.Request) {
	if s.isClosed(req) {
		return
	}
	d, err := DecodeResult(req.Envelope.Data)
	if err != nil {
		_ = req.ReplyError(CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	ss := s.sessions[d.Session]
	key, in := ss.keysOf(req.Peer)
	if !in {
		s.mu.Unlock()
		_ = req.ReplyError(CodeUnknownMatch, "no such session, or the sender did not play in it")
		return
	}
	if ss.applied {
		s.mu.Unlock()
		_ = req.ReplyError(CodeAlreadyRated, "the session's result was applied already")
		return
	}
	if ss.disputed {
		s.mu.Unlock()
		_ = req.ReplyError(CodeDisputed, "players reported different results: the session is not rated")
		return
	}
	if len(d.Ranks) != len(ss.teams) {
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalidResult, fmt.Sprintf("%d ranks for %d teams", len(d.Ranks), len(ss.teams)))
		return
	}
	canon := fmt.Sprint(normalize(d.Ranks))
	for _, c := range ss.reports {
		if c != canon {
			// Reports disagree: the session is disputed for good and
			// nobody's rating changes.
			ss.disputed = true
			s.saveSessionLocked(d.Session, ss)
			s.mu.Unlock()
			s.log.Info("matchmaker: result disputed", "session", d.Session)
			_ = req.ReplyError(CodeDisputed, "another player reported a different result: the session is not rated")
			return
		}
	}
	ss.reports[voter(req.Peer, key)] = canon
	ss.ranks[canon] = d.Ranks
	agree := len(ss.reports)
	players := map[string]bool{}
	for p, k := range ss.keys {
		players[voter(p, k)] = true
	}
	needed := len(players)/2 + 1
	reply := ResultReply{Accepted: true, Reports: agree, Needed: needed}
	if agree < needed {
		s.saveSessionLocked(d.Session, ss)
		s.mu.Unlock()
		_ = req.Reply(reply)
		return
	}
	ss.applied = true
	s.saveSessionLocked(d.Session, ss)
	// Rate the players who played this game: a backfill delivered while
	// the result is applied changes ss.teams and ss.keys.
	teams := make([][]string, len(ss.teams))
	for i, team := range ss.teams {
		teams[i] = append([]string(nil), team...)
	}
	keys := make(map[string]string, len(ss.keys))
	for p, k := range ss.keys {
		keys[p] = k
	}
	s.mu.Unlock()

	rated, err := s.apply(req.Context(), teams, keys, d.Ranks)
	if err != nil {
		s.mu.Lock()
		ss.applied = false
		s.saveSessionLocked(d.Session, ss)
		s.mu.Unlock()
		_ = req.ReplyError(CodeInternal, err.Error())
		return
	}
	if rec, ok := s.cfg.Store.(ResultRecorder); ok {
		subs := make([][]string, len(teams))
		for i, team := range teams {
			for _, p := range team {
				subs[i] = append(subs[i], keys[p])
			}
		}
		if err := rec.RecordResult(req.Context(), d.Session, queueOf(ss, &s.mu), subs, d.Ranks); err != nil {
			s.log.Warn("matchmaker: result not recorded", "session", d.Session, "err", err)
		}
	}
	reply.Applied = true
	_ = req.Reply(reply)
	for _, team := range teams {
		for _, p := range team {
			_ = s.send(p, TypeRated, RatedData{Session: d.Session, Ratings: rated})
		}
	}
}

func queueOf(ss *session, mu *sync.Mutex) string {
	mu.Lock()
	defer mu.Unlock()
	return ss.queue
}

// normalize maps ranks to their dense order so that {1,2} and {10,20} agree.
func normalize(ranks []float64) []int {
	out := make([]int, len(ranks))
	for i, r := range ranks {
		for _, o := range ranks {
			if o < r {
				out[i]++
			}
		}
	}
	return out
}

// apply updates the ratings of the players of a game (peer ids by team,
// and their store keys) and stores them. The returned map is keyed by peer
// id.
func (s *Service) apply(ctx context.Context, players [][]string, keys map[string]string, ranks []float64) (map[string]matchmaker.Rating, error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	teams := make([][]matchmaker.Rating, len(players))
	for i, team := range players {
		for _, p := range team {
			r, err := s.ratingOf(ctx, keys[p])
			if err != nil {
				return nil, err
			}
			teams[i] = append(teams[i], r)
		}
	}
	s.mu.Lock()
	err := s.rater.Rate(teams, ranks)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	byKey := map[string]matchmaker.Rating{}
	byPeer := map[string]matchmaker.Rating{}
	for i, team := range players {
		for j, p := range team {
			if keys[p] != "" { // anonymous players' ratings are not stored
				byKey[keys[p]] = teams[i][j]
			}
			byPeer[p] = teams[i][j]
		}
	}
	if len(byKey) > 0 {
		if err := s.cfg.Store.Put(ctx, byKey); err != nil {
			return nil, err
		}
	}
	return byPeer, nil
}

func (s *Service) peerGone(peer string) {
	s.mu.Lock()
	if s.requesters[peer] > 0 {
		// Its pending backfill requests are withdrawn, as its ticket is.
		for sid, ss := range s.sessions {
			if r := ss.req; r != nil && r.Peer == peer && ss.backfill == r.Request.ID {
				_ = s.mm.CancelBackfill(ss.backfill)
				s.clearBackfillLocked(sid, ss)
			}
		}
	}
	id, ok := s.byPeer[peer]
	if _, agreed := s.consent[peer]; agreed {
		delete(s.consent, peer)
		delete(s.consentKey, peer)
		s.saveConsentLocked(peer)
	}
	s.mu.Unlock()
	if ok {
		_, _ = s.dropTicket(id, peer)
	}
}
