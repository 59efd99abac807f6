package service

import (
	"cmp"
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

// On a cluster of signaling servers the service is a signaling.Service
// called "mm": one node, the leader, holds the pool of every queue, runs
// the passes and serves every mm.* request (the other nodes forward them).
// The leader saves each waiting ticket (key "t."+id, ticketRec) and each
// running session (key "s."+id, sessionRec) in the cluster's store; a node
// that takes the leadership over puts the tickets of live players back in
// their queues under the same ids, oldest first, each with its enqueue
// time (ticketRec.At: its wait, and with it the widening of the rules,
// goes on where it was), except the tickets of a match made known (their
// players are in the room of a session recorded after their enqueue: the
// old leader made the room but its removal of the tickets was not
// written), and takes the sessions' results from there. It
// also saves each party consent not yet used by an enqueue (key
// "c."+member, consentRec), which a new leader keeps for live members.
// Every reply and push waits until the records saved before it are
// written (signaling.Service). A backfill's session is saved with its
// newcomers (sessionRec.Added, Backfilled, Pending) before they enter the
// room: a new leader drops the tickets of newcomers in the room and takes
// those not in it out of the session. It also saves each pending backfill
// request (key "b."+session, backfillRec: one per session, a newer request
// overwrites it) before mm.backfill is answered, and removes it when the
// request is withdrawn, dropped or its session ends, or once it is filled:
// after the session's record with the newcomers (sessionRec.Fill names the
// request) is written and they are in the room. A new leader, once it has
// the sessions and tickets, puts each request whose session it has and
// whose requester is still connected back under its id and with the time
// it was made (matchmaker.RequestBackfillSince), unless the session shows
// it filled: its newcomers in the room. Newcomers of a filled request
// taken out of the session (not in the room) make it pending again, so a
// request ends filled or pending, never both or neither.

// ticketRec is a waiting ticket as the cluster's store keeps it.
type ticketRec struct {
	Ticket matchmaker.Ticket `json:"ticket"`
	Keys   map[string]string `json:"keys,omitempty"` // peer -> store key
	IP     string            `json:"ip,omitempty"`
	At     int64             `json:"at,omitempty"` // enqueued at, unix ms (the engine's clock)
}

// backfillRec is a pending backfill request (mm.backfill) as the
// cluster's store keeps it: the request as the engine took it (its id,
// the session's players who stay, with their ratings, and the open
// slots), the peer that asked, and when.
type backfillRec struct {
	Request matchmaker.BackfillRequest `json:"request"`
	Peer    string                     `json:"peer"`
	At      int64                      `json:"at,omitempty"` // requested at, unix ms (the engine's clock)
}

// consentRec is a party member's consent (mm.party) as the cluster's
// store keeps it.
type consentRec struct {
	Leader string `json:"leader"`
	Key    string `json:"key,omitempty"` // the member's store key
}

// sessionRec is a running session as the cluster's store keeps it.
type sessionRec struct {
	Host     string               `json:"host"`
	Queue    string               `json:"queue"`
	Teams    [][]string           `json:"teams"`
	Capacity []int                `json:"capacity"`
	Keys     map[string]string    `json:"keys"`
	Reports  map[string]string    `json:"reports,omitempty"`
	Ranks    map[string][]float64 `json:"ranks,omitempty"`
	At       int64                `json:"at"` // unix ms
	Applied  bool                 `json:"applied,omitempty"`
	Disputed bool                 `json:"disputed,omitempty"`
	// The last backfill: its newcomers, when it was recorded (unix ms),
	// whether the newcomers may not be in the room yet (recorded before
	// they entered it), and the id of the backfill request it filled.
	Added      []string `json:"added,omitempty"`
	Backfilled int64    `json:"backfilled,omitempty"`
	Pending    bool     `json:"pending,omitempty"`
	Fill       string   `json:"fill,omitempty"`
}

func (s *Service) clustered() bool { return s.svc != nil && s.svc.Clustered() }

// saveTicketLocked stores waiting ticket t for the next leader.
func (s *Service) saveTicketLocked(t matchmaker.Ticket) {
	if !s.clustered() {
		return
	}
	r := ticketRec{Ticket: t, Keys: map[string]string{}, IP: s.ticketIP[t.ID]}
	if at, ok := s.mm.EnqueuedAt(t.ID); ok {
		r.At = at.UnixMilli()
	}
	for _, p := range t.Players {
		if k := s.subject[p.ID]; k != "" {
			r.Keys[p.ID] = k
		}
	}
	b, err := json.Marshal(r)
	if err == nil {
		s.svc.Save("t."+t.ID, b)
	}
}

// saveSessionLocked stores session id for the next leader.
func (s *Service) saveSessionLocked(id string, ss *session) {
	if !s.clustered() {
		return
	}
	r := sessionRec{Host: ss.host, Queue: ss.queue, Teams: ss.teams, Capacity: ss.capacity,
		Keys: ss.keys, Reports: ss.reports, Ranks: ss.ranks, At: ss.at.UnixMilli(), Applied: ss.applied, Disputed: ss.disputed,
		Added: ss.added, Pending: ss.prev != nil, Fill: ss.fill}
	if !ss.backfilled.IsZero() {
		r.Backfilled = ss.backfilled.UnixMilli()
	}
	b, err := json.Marshal(r)
	if err == nil {
		s.svc.Save("s."+id, b)
	}
}

// setBackfillLocked makes r the pending backfill request of session id
// (replacing any other) and stores it for the next leader.
func (s *Service) setBackfillLocked(id string, ss *session, r backfillRec) {
	if ss.req != nil {
		s.unrequestLocked(ss.req.Peer)
	}
	ss.backfill = r.Request.ID
	ss.req = &r
	s.requesters[r.Peer]++
	if !s.clustered() {
		return
	}
	b, err := json.Marshal(r)
	if err == nil {
		s.svc.Save("b."+id, b)
	}
}

// clearBackfillLocked forgets session id's backfill request (filled,
// withdrawn or dropped; the caller cancels it in the engine if needed)
// and removes its record.
func (s *Service) clearBackfillLocked(id string, ss *session) {
	ss.backfill = ""
	if ss.req == nil {
		return
	}
	s.unrequestLocked(ss.req.Peer)
	ss.req = nil
	s.removeRecord("b." + id)
}

func (s *Service) unrequestLocked(peer string) {
	if s.requesters[peer] <= 1 {
		delete(s.requesters, peer)
	} else {
		s.requesters[peer]--
	}
}

// withdrawnLocked forgets session id's request prev, which the engine no
// longer holds (a newer request cancelled it), unless it is being
// delivered.
func (s *Service) withdrawnLocked(id string, ss *session, prev string) {
	if prev != "" && ss.backfill == prev {
		s.clearBackfillLocked(id, ss)
	}
}

// reissueBackfillLocked puts session id's request (ss.req) back in the
// engine under its id, with the time it was made; false when the engine
// refuses it.
func (s *Service) reissueBackfillLocked(id string, ss *session) bool {
	r := ss.req
	var since time.Time
	if r.At > 0 {
		since = time.UnixMilli(r.At)
	}
	if _, err := s.mm.RequestBackfillSince(r.Request, since); err != nil {
		s.log.Info("matchmaker: backfill request not restored", "session", id, "backfill", r.Request.ID, "err", err)
		return false
	}
	ss.backfill = r.Request.ID
	return true
}

// saveConsentLocked stores member's consent for the next leader, or
// removes it when the member has none.
func (s *Service) saveConsentLocked(member string) {
	if !s.clustered() {
		return
	}
	leader, ok := s.consent[member]
	if !ok {
		s.svc.Remove("c." + member)
		return
	}
	b, err := json.Marshal(consentRec{Leader: leader, Key: s.consentKey[member]})
	if err == nil {
		s.svc.Save("c."+member, b)
	}
}

func (s *Service) removeRecord(key string) {
	if s.clustered() {
		s.svc.Remove(key)
	}
}

// lead loads the pool and the sessions when this node becomes the
// service's leader.
func (s *Service) lead(_ context.Context, st signaling.ServiceState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	tickets, sessions := 0, 0
	type saved struct {
		key string
		rec ticketRec
	}
	var waiting []saved
	// The sessions' players, for the tickets of a match made known (its
	// room made) whose removal was not written.
	type made struct {
		id string
		at int64
	}
	inSession := map[string][]made{}
	for k, b := range st.Records {
		if id, ok := strings.CutPrefix(k, "s."); ok {
			var r sessionRec
			if json.Unmarshal(b, &r) == nil {
				for p := range r.Keys {
					at := r.At
					if r.Backfilled > at && slices.Contains(r.Added, p) {
						at = r.Backfilled // joined by the backfill
					}
					inSession[p] = append(inSession[p], made{id, at})
				}
			}
		}
	}
	matched := func(r ticketRec) bool {
		if len(r.Ticket.Players) == 0 {
			return false
		}
		first := r.Ticket.Players[0].ID
		for _, m := range inSession[first] {
			if m.at < r.At {
				continue // a session before this ticket's enqueue
			}
			all := true
			for _, p := range r.Ticket.Players[1:] {
				all = all && slices.ContainsFunc(inSession[p.ID], func(o made) bool { return o.id == m.id })
			}
			if all && s.srv.InRoom(first, m.id) {
				return true
			}
		}
		return false
	}
	for k, b := range st.Records {
		if !strings.HasPrefix(k, "t.") {
			continue
		}
		var r ticketRec
		if json.Unmarshal(b, &r) != nil || r.Ticket.ID == "" {
			s.svc.Remove(k)
			continue
		}
		waiting = append(waiting, saved{k, r})
	}
	// Oldest first: each ticket's wait goes on from its enqueue time
	// (records without one, from an older version, last: they start now).
	at := func(r ticketRec) int64 {
		if r.At <= 0 {
			return math.MaxInt64
		}
		return r.At
	}
	slices.SortFunc(waiting, func(a, b saved) int {
		return cmp.Or(cmp.Compare(at(a.rec), at(b.rec)), strings.Compare(a.key, b.key))
	})
	for _, w := range waiting {
		k, r := w.key, w.rec
		live := true
		for _, p := range r.Ticket.Players {
			live = live && st.Live(p.ID)
		}
		if !live {
			s.svc.Remove(k)
			continue
		}
		if matched(r) {
			s.log.Info("matchmaker: ticket of a match made known dropped", "ticket", r.Ticket.ID)
			s.svc.Remove(k)
			continue
		}
		var since time.Time
		if r.At > 0 {
			since = time.UnixMilli(r.At)
		}
		if _, err := s.mm.EnqueueSince(r.Ticket, since); err != nil {
			s.log.Info("matchmaker: ticket not restored", "ticket", r.Ticket.ID, "err", err)
			s.svc.Remove(k)
			continue
		}
		id := r.Ticket.ID
		if r.IP != "" {
			s.ticketIP[id] = r.IP
			s.perIP[r.IP]++
		}
		for _, p := range r.Ticket.Players {
			s.byPeer[p.ID] = id
			s.subject[p.ID] = r.Keys[p.ID]
			if key := r.Keys[p.ID]; key != "" {
				s.bySubject[key] = id
			}
		}
		tickets++
	}
	consents := 0
	for k, b := range st.Records {
		switch {
		case strings.HasPrefix(k, "c."):
			var r consentRec
			member := strings.TrimPrefix(k, "c.")
			if json.Unmarshal(b, &r) != nil || r.Leader == "" || !st.Live(member) || !st.Live(r.Leader) || s.byPeer[member] != "" {
				s.svc.Remove(k)
				continue
			}
			s.consent[member] = r.Leader
			s.consentKey[member] = r.Key
			consents++
		case strings.HasPrefix(k, "s."):
			var r sessionRec
			if json.Unmarshal(b, &r) != nil {
				s.svc.Remove(k)
				continue
			}
			ss := &session{host: r.Host, queue: r.Queue, teams: r.Teams, capacity: r.Capacity, keys: r.Keys,
				reports: r.Reports, ranks: r.Ranks, at: time.UnixMilli(r.At), applied: r.Applied, disputed: r.Disputed}
			if ss.keys == nil {
				ss.keys = map[string]string{}
			}
			if ss.reports == nil {
				ss.reports = map[string]string{}
			}
			if ss.ranks == nil {
				ss.ranks = map[string][]float64{}
			}
			id := strings.TrimPrefix(k, "s.")
			ss.added, ss.fill = r.Added, r.Fill
			if r.Backfilled > 0 {
				ss.backfilled = time.UnixMilli(r.Backfilled)
			}
			if r.Pending && s.dropAbsentLocked(id, ss) {
				s.saveSessionLocked(id, ss)
			}
			s.sessions[id] = ss
			sessions++
		}
	}
	// Backfill requests, once the sessions (their newcomers not in the
	// room taken out) and the tickets are in.
	backfills := 0
	for k, b := range st.Records {
		id, ok := strings.CutPrefix(k, "b.")
		if !ok {
			continue
		}
		var r backfillRec
		if json.Unmarshal(b, &r) != nil || r.Request.ID == "" || r.Request.Session != id {
			s.svc.Remove(k)
			continue
		}
		ss := s.sessions[id]
		switch {
		case ss == nil:
			// The session ended.
		case ss.fill == r.Request.ID:
			// Filled: its newcomers are in the session (and the room);
			// the record's removal was not written.
		case !st.Live(r.Peer):
			// The requester is gone: its request is withdrawn, as its
			// ticket would be.
		default:
			s.requesters[r.Peer]++
			ss.req = &r
			if !s.reissueBackfillLocked(id, ss) {
				s.clearBackfillLocked(id, ss)
				continue
			}
			ss.host = r.Request.Host
			backfills++
			continue
		}
		s.svc.Remove(k)
	}
	if tickets+sessions+consents+backfills > 0 {
		s.log.Info("matchmaker: pool loaded by a new leader", "tickets", tickets, "sessions", sessions, "consents", consents, "backfills", backfills)
	}
	return nil
}

// dropAbsentLocked takes the newcomers of session id's last backfill who
// are not in its room out of the session: the old leader recorded the
// backfill but died before they entered the room (their tickets wait
// again). It reports whether the session changed.
func (s *Service) dropAbsentLocked(id string, ss *session) bool {
	changed := false
	for _, p := range ss.added {
		if _, ok := ss.keys[p]; !ok || s.srv.InRoom(p, id) {
			continue
		}
		changed = true
		delete(ss.keys, p)
		for i, t := range ss.teams {
			ss.teams[i] = slices.DeleteFunc(t, func(q string) bool { return q == p })
		}
	}
	if changed {
		ss.added = slices.DeleteFunc(ss.added, func(p string) bool { _, ok := ss.keys[p]; return !ok })
		if len(ss.added) == 0 {
			// None of the backfill's newcomers is in: its request was
			// not filled and waits again (see lead).
			ss.fill = ""
		}
	}
	return changed
}

// follow empties the pool when this node stops leading.
func (s *Service) follow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

// resetLocked cancels every waiting ticket and forgets the sessions.
func (s *Service) resetLocked() {
	seen := map[string]bool{}
	for _, id := range s.byPeer {
		if !seen[id] {
			seen[id] = true
			_ = s.mm.Cancel(id)
		}
	}
	for _, ss := range s.sessions {
		if ss.backfill != "" {
			_ = s.mm.CancelBackfill(ss.backfill)
		}
	}
	s.byPeer, s.subject, s.bySubject = map[string]string{}, map[string]string{}, map[string]string{}
	s.ticketIP, s.perIP = map[string]string{}, map[string]int{}
	s.consent, s.consentKey = map[string]string{}, map[string]string{}
	s.sessions = map[string]*session{}
	s.requesters = map[string]int{}
}

// Leader returns the cluster node that runs the pool ("" on a single
// node, or while one is elected).
func (s *Service) Leader() string { return s.svc.Leader() }

// Pending returns how many ticket and session records this node, as the
// leader, has not written to the cluster's store yet.
func (s *Service) Pending() int { return s.svc.Pending() }
