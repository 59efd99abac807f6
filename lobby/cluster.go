package lobby

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/signaling"
)

// On a cluster of signaling servers the service is a signaling.Service:
// one node, the leader, holds the lobbies and serves every lobby.*
// request, which the other nodes forward to it. The leader saves each
// lobby as a record (key "l."+id, lobbyRec) after every change; the reply
// and the pushes of the change wait until it is written
// (signaling.Service). A node that takes the leadership over rebuilds the
// lobbies from the records, drops the members whose sessions ended meanwhile,
// and raises every lobby's version by versionJump with an empty change,
// so that each member's client sees a gap and fetches the state again
// (lobby.sync). A lobby.start saves the lobby started (lobbyRec.Starting)
// and waits for the write before it makes the session's room: a new
// leader keeps a start whose room has a member and drops one whose room
// was never made. Rate limiters and join-failure budgets start afresh.

// versionJump is how far a new leader raises the versions of the lobbies
// it loads: more than the changes that can be lost with the old leader.
const versionJump = 1000

// lobbyRec is a lobby as the cluster's store keeps it.
type lobbyRec struct {
	Seq      uint64             `json:"seq"`
	ID       string             `json:"id"`
	Code     string             `json:"code"`
	Name     string             `json:"name,omitempty"`
	Game     string             `json:"game,omitempty"`
	Private  bool               `json:"private,omitempty"`
	Password string             `json:"password,omitempty"`
	Max      int                `json:"max"`
	Host     string             `json:"host"`
	AutoHost bool               `json:"auto_host,omitempty"`
	Members  []memberRec        `json:"members"`
	Meta     map[string]string  `json:"meta,omitempty"`
	Numbers  map[string]float64 `json:"numbers,omitempty"`
	Version  uint64             `json:"version"`
	Chat     []ChatMessage      `json:"chat,omitempty"`
	ChatSeq  uint64             `json:"chat_seq,omitempty"`
	Banned   []string           `json:"banned,omitempty"`
	Session  *Session           `json:"session,omitempty"`
	Owners   []string           `json:"owners,omitempty"`
	// Starting: Session is recorded but its room may not be made yet.
	Starting bool `json:"starting,omitempty"`
}

type memberRec struct {
	ID      string            `json:"id"`
	Subject string            `json:"sub,omitempty"`
	IP      string            `json:"ip,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Ready   bool              `json:"ready,omitempty"`
	Joined  int64             `json:"joined"` // unix ms
}

func (l *lobby) record() lobbyRec {
	r := lobbyRec{Seq: l.seq, ID: l.id, Code: l.code, Name: l.name, Game: l.game, Private: l.private,
		Password: l.password, Max: l.max, Host: l.host, AutoHost: l.autoHost, Meta: l.meta, Numbers: l.numbers,
		Version: l.version, Chat: l.chat, ChatSeq: l.chatSeq, Session: l.session, Owners: l.owners,
		Starting: l.starting, Members: make([]memberRec, len(l.members))}
	for i, m := range l.members {
		r.Members[i] = memberRec{ID: m.id, Subject: m.subject, IP: m.ip, Meta: m.meta, Ready: m.ready, Joined: m.joined.UnixMilli()}
	}
	for b := range l.banned {
		r.Banned = append(r.Banned, b)
	}
	return r
}

// saveLocked stores l's record for the next leader (clustered only).
func (s *Service) saveLocked(l *lobby) {
	if s.svc == nil || !s.svc.Clustered() {
		return
	}
	b, err := json.Marshal(l.record())
	if err != nil {
		s.log.Error("lobby: encoding record", "lobby", l.id, "err", err)
		return
	}
	s.svc.Save("l."+l.id, b)
}

// startWait bounds the wait of a lobby.start for the lobby's record to
// be written (a leader whose writes fail steps down sooner).
const startWait = 10 * time.Second

// flushLocked waits until the records saved so far are written (clustered
// only); an error when this node stopped leading first.
func (s *Service) flushLocked() error {
	if s.svc == nil || !s.svc.Clustered() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), startWait)
	defer cancel()
	return s.svc.Flush(ctx)
}

func (s *Service) removeRecordLocked(l *lobby) {
	if s.svc != nil && s.svc.Clustered() {
		s.svc.Remove("l." + l.id)
	}
}

// resetLocked forgets every lobby.
func (s *Service) resetLocked() {
	s.seq = 0
	s.byID, s.byCode, s.bySession = map[string]*lobby{}, map[string]*lobby{}, map[string]*lobby{}
	s.byPeer, s.watching = map[string]*lobby{}, map[string]*lobby{}
	s.listed, s.byGame = nil, map[string][]*lobby{}
	s.buckets, s.updates = map[string]*rate.Limiter{}, map[string]*rate.Limiter{}
	s.owners, s.fails = map[string]int{}, map[string]*rate.Limiter{}
}

// lead loads the lobbies from the records when this node becomes the
// service's leader.
func (s *Service) lead(_ context.Context, st signaling.ServiceState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
	var loaded []*lobby
	for k, b := range st.Records {
		if !strings.HasPrefix(k, "l.") {
			continue
		}
		var r lobbyRec
		if err := json.Unmarshal(b, &r); err != nil || r.ID == "" || len(r.Members) == 0 {
			s.log.Warn("lobby: bad record dropped", "key", k, "err", err)
			s.svc.Remove(k)
			continue
		}
		l := &lobby{seq: r.Seq, id: r.ID, code: r.Code, name: r.Name, game: r.Game, private: r.Private,
			password: r.Password, max: r.Max, host: r.Host, autoHost: r.AutoHost, meta: r.Meta, numbers: r.Numbers,
			version: r.Version + versionJump, chat: r.Chat, chatSeq: r.ChatSeq, session: r.Session, owners: r.Owners,
			banned: map[string]bool{}}
		for _, b := range r.Banned {
			l.banned[b] = true
		}
		if r.Session != nil && r.Starting {
			// Started in the old leader's last moments: kept if it made
			// the room (a member is in it), dropped if not (the host's
			// start was not answered: it is sent again).
			made := false
			for _, m := range r.Members {
				made = made || s.srv.InRoom(m.ID, r.Session.ID)
			}
			if !made {
				s.log.Info("lobby: start whose room was not made dropped", "lobby", r.ID, "session", r.Session.ID)
				l.session = nil
			}
		}
		for _, m := range r.Members {
			nm := s.newMember(m.ID, m.Subject, m.Meta)
			nm.ip, nm.ready, nm.joined = m.IP, m.Ready, time.UnixMilli(m.Joined)
			l.members = append(l.members, nm)
			s.byPeer[m.ID] = l
		}
		s.seq = max(s.seq, l.seq)
		s.byID[l.id] = l
		s.byCode[l.code] = l
		if l.session != nil {
			s.bySession[l.session.ID] = l
			for _, p := range l.session.Spectators {
				s.watching[p] = l
			}
		}
		for _, o := range l.owners {
			s.owners[o]++
		}
		s.setListedLocked(l)
		loaded = append(loaded, l)
	}
	// Members whose sessions ended while no leader watched leave now.
	for _, l := range loaded {
		for _, m := range append([]*member(nil), l.members...) {
			if !st.Live(m.id) {
				s.peerGoneLocked(m.id)
			}
		}
	}
	for _, l := range loaded {
		if s.byID[l.id] != l {
			continue
		}
		// An empty change past the raised version: every member's client
		// sees a gap and fetches the state again.
		l.version++
		s.saveLocked(l)
		s.pushLocked(l, TypeDelta, Delta{ID: l.id, Version: l.version})
	}
	if len(loaded) > 0 {
		s.log.Info("lobby: lobbies loaded by a new leader", "lobbies", len(loaded))
	}
	return nil
}

// follow drops the lobbies when this node stops leading.
func (s *Service) follow() {
	s.mu.Lock()
	s.resetLocked()
	s.mu.Unlock()
}

// Leader returns the cluster node that serves the lobbies ("" on a single
// node, or while one is elected).
func (s *Service) Leader() string { return s.svc.Leader() }

// Pending returns how many lobby records this node, as the leader, has
// not written to the cluster's store yet.
func (s *Service) Pending() int { return s.svc.Pending() }
