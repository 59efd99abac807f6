package lobby

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/signaling"
)

// Config configures a Service. The zero value is valid.
type Config struct {
	// MaxLobbies is the most lobbies the service holds. Zero means 100,000.
	MaxLobbies int
	// DefaultMembers is a lobby's member limit when lobby.create leaves it
	// at zero. Zero means 8.
	DefaultMembers int
	// MaxMembers is the highest member limit a lobby may ask for. Zero
	// means 64.
	MaxMembers int
	// MaxChatLen is the longest chat message in bytes. Zero means 500.
	MaxChatLen int
	// ChatHistory is how many recent chat messages a lobby keeps and
	// replays to members who join later. Zero means 50; negative means
	// none.
	ChatHistory int
	// ChatRate and ChatBurst shape each member's chat token bucket. Zero
	// means 2 messages per second and a burst of 5.
	ChatRate  float64
	ChatBurst int
	// UpdateRate and UpdateBurst shape each member's bucket for updates
	// that reach every member (lobby.meta, lobby.ready, lobby.settings):
	// one that finds it empty is answered with CodeUpdateFlood. Zero means
	// 5 per second and a burst of 10.
	UpdateRate  float64
	UpdateBurst int
	// MaxLobbiesPerIP is the most lobbies whose creators came from one IP
	// address, and MaxLobbiesPerPlayer the most one authenticated subject
	// created, alive at once; beyond them lobby.create is answered with
	// CodeTooManyLobbies. Zero means 16 and 4; negative means no limit.
	MaxLobbiesPerIP     int
	MaxLobbiesPerPlayer int
	// JoinFailRate and JoinFailBurst are the failure budget of joins by
	// code or with a password, per IP address and per subject: every
	// unknown code and wrong password takes a token, and a join that
	// could fail finding none is answered with CodeTooManyAttempts, so
	// guessing slows to JoinFailRate per second. Zero means 1 per second
	// and a burst of 10.
	JoinFailRate  float64
	JoinFailBurst int
	// NoHostMigration makes a lobby close when its host leaves or drops
	// (its members get lobby.kicked with Closed set) instead of passing
	// the host role to the longest-present member. Lobbies may change it
	// with lobby.settings.
	NoHostMigration bool
	// StartWithoutReady lets the host start while members are not ready.
	// False means lobby.start needs every member other than the host ready.
	StartWithoutReady bool
	// OnChange, when set, is called with a lobby's summary after each of
	// its changes, and with Gone set when it ends. It runs with the
	// service's lock held: it must return at once and must not call the
	// Service. The LAN Host uses it to keep its advertisement current.
	OnChange func(s Summary, gone bool)
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives structured logs. Nil means none.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.MaxLobbies <= 0 {
		c.MaxLobbies = 100_000
	}
	if c.DefaultMembers <= 0 {
		c.DefaultMembers = 8
	}
	if c.MaxMembers <= 0 {
		c.MaxMembers = 64
	}
	if c.DefaultMembers > c.MaxMembers {
		c.DefaultMembers = c.MaxMembers
	}
	if c.MaxChatLen <= 0 {
		c.MaxChatLen = 500
	}
	if c.ChatHistory == 0 {
		c.ChatHistory = 50
	}
	if c.ChatHistory < 0 {
		c.ChatHistory = 0
	}
	if c.ChatRate <= 0 {
		c.ChatRate = 2
	}
	if c.ChatBurst <= 0 {
		c.ChatBurst = 5
	}
	if c.UpdateRate <= 0 {
		c.UpdateRate = 5
	}
	if c.UpdateBurst <= 0 {
		c.UpdateBurst = 10
	}
	if c.MaxLobbiesPerIP == 0 {
		c.MaxLobbiesPerIP = 16
	}
	if c.MaxLobbiesPerPlayer == 0 {
		c.MaxLobbiesPerPlayer = 4
	}
	if c.JoinFailRate <= 0 {
		c.JoinFailRate = 1
	}
	if c.JoinFailBurst <= 0 {
		c.JoinFailBurst = 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Service serves lobbies over a signaling Server: it registers the lobby.*
// handlers and holds every lobby's authoritative state. See the package
// documentation.
type Service struct {
	srv *signaling.Server
	svc *signaling.Service // the lobby.* handlers, served by a cluster's leader
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	closed bool
	seq    uint64
	byID   map[string]*lobby
	byCode map[string]*lobby
	// bySession maps a started lobby's session id (its match room) to it,
	// for lobby.rejoin.
	bySession map[string]*lobby
	byPeer    map[string]*lobby
	// watching maps a spectator (JoinData.Spectate) to the lobby whose
	// match it watches; it is no member.
	watching map[string]*lobby
	listed   []*lobby                 // public lobbies that have not started, by seq
	byGame   map[string][]*lobby      // the same per game (a lobby's game never changes)
	buckets  map[string]*rate.Limiter // chat limiters of peers that joined a lobby, until they are gone
	updates  map[string]*rate.Limiter // update limiters, alike
	owners   map[string]int           // lobbies alive by creator: "ip:"+address and "sub:"+subject
	fails    map[string]*rate.Limiter // join failure budgets by "ip:"+address and "sub:"+subject
}

type lobby struct {
	seq      uint64
	id       string
	code     string
	name     string
	game     string
	private  bool
	password string
	max      int
	host     string
	autoHost bool
	members  []*member          // join order: members[0] is the longest present
	meta     map[string]string  // replaced, never mutated in place
	numbers  map[string]float64 // replaced, never mutated in place
	version  uint64
	chat     []ChatMessage
	chatSeq  uint64
	banned   map[string]bool // peer ids and "sub:"+subject
	session  *Session
	// starting: the session is recorded but its room may not be made yet
	// (a new leader keeps the start only if the members are in the room).
	starting bool
	owners   []string // keys in Service.owners this lobby counts for
}

type member struct {
	id      string
	subject string
	ip      string // the address it joined from: bans of anonymous members are by address
	meta    map[string]string
	ready   bool
	joined  time.Time
	// chat is the peer's chat token bucket, shared across the lobbies it
	// passes through: it lives as long as the peer's signaling session, so
	// leaving and joining again does not refill it. Tokens are taken at
	// Config.Now, so an injected clock drives it.
	chat *rate.Limiter
	upd  *rate.Limiter // lobby.meta, lobby.ready, lobby.settings; kept like chat
}

// New registers the service's handlers on srv. The service has no
// goroutine of its own: handlers run on the signaling server's goroutines.
func New(srv *signaling.Server, cfg Config) (*Service, error) {
	if srv == nil {
		return nil, fmt.Errorf("lobby: New: nil server")
	}
	cfg = cfg.withDefaults()
	s := &Service{
		srv:    srv,
		cfg:    cfg,
		log:    cfg.Logger,
		byID:   map[string]*lobby{},
		byCode: map[string]*lobby{}, bySession: map[string]*lobby{},
		byPeer: map[string]*lobby{}, watching: map[string]*lobby{},
		updates: map[string]*rate.Limiter{},
		owners:  map[string]int{},
		fails:   map[string]*rate.Limiter{},
		byGame:  map[string][]*lobby{},
		buckets: map[string]*rate.Limiter{},
	}
	s.svc = srv.Service("lobby", signaling.ServiceConfig{Lead: s.lead, Follow: s.follow, OnPeerGone: s.peerGone})
	for t, h := range map[string]signaling.Handler{
		TypeCreate: s.handleCreate, TypeList: s.handleList, TypeJoin: s.handleJoin,
		TypeLeave:    memberHandler(s, CodeBadRequest, noData, false, s.leave),
		TypeKick:     memberHandler(s, CodeBadRequest, decodeKick, true, s.kick),
		TypeMeta:     memberHandler(s, CodeInvalid, DecodeMeta, false, s.setMeta),
		TypeReady:    memberHandler(s, CodeBadRequest, decodeAs[ReadyData], false, s.setReady),
		TypeChat:     memberHandler(s, CodeBadRequest, DecodeChat, false, s.chat),
		TypeSettings: memberHandler(s, CodeInvalid, DecodeSettings, true, s.setSettings),
		TypeStart:    memberHandler(s, CodeBadRequest, noData, true, s.start),
		TypeSync:     memberHandler(s, CodeBadRequest, decodeAs[SyncData], false, s.sync),
		TypeRejoin:   s.handleRejoin,
	} {
		s.svc.Handle(t, h)
	}
	s.svc.Start()
	return s, nil
}

// Close makes the service answer every request with CodeClosed. Lobbies are
// kept until the signaling server goes. Close is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Lobbies returns the number of lobbies.
func (s *Service) Lobbies() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// Stats is a snapshot of a Service's size, for metrics exporters.
type Stats struct {
	Lobbies int // lobbies open, started or not
	Listed  int // public lobbies that have not started
	Members int // peers in a lobby (a peer is in at most one)
}

// Stats returns the service's counts now. It takes the service's lock
// briefly and does not allocate.
func (s *Service) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Lobbies: len(s.byID), Listed: len(s.listed), Members: len(s.byPeer)}
}

// State returns the state of lobby id, without chat. Its maps are shared
// with the service and must not be modified.
func (s *Service) State(id string) (State, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.byID[id]
	if l == nil {
		return State{}, false
	}
	return l.state(false), true
}

func fail(req *signaling.Request, code, msg string) { _ = req.ReplyError(code, msg) }

// begin answers CodeClosed after Close and reports whether to go on. It
// takes the lock, which the handler releases.
func (s *Service) begin(req *signaling.Request) bool {
	s.mu.Lock()
	if !s.closed {
		select {
		case <-s.srv.Done():
			s.closed = true
		default:
		}
	}
	if s.closed {
		s.mu.Unlock()
		fail(req, CodeClosed, "lobby service is closed")
		return false
	}
	return true
}

func (l *lobby) state(chat bool) State {
	st := State{ID: l.id, Version: l.version, Code: l.code, Name: l.name, Game: l.game,
		Private: l.private, HasPassword: l.password != "", MaxMembers: l.max, Host: l.host,
		AutoHost: l.autoHost, Meta: l.meta, Numbers: l.numbers, Session: l.session,
		Members: make([]Member, len(l.members))}
	for i, m := range l.members {
		st.Members[i] = Member{ID: m.id, Meta: m.meta, Ready: m.ready, Joined: m.joined.UnixMilli()}
	}
	if chat && len(l.chat) > 0 {
		st.Chat = append([]ChatMessage(nil), l.chat...)
	}
	return st
}

func (l *lobby) summary() Summary {
	return Summary{ID: l.id, Name: l.name, Game: l.game, Host: l.host, Members: len(l.members),
		MaxMembers: l.max, HasPassword: l.password != "", Meta: l.meta, Numbers: l.numbers}
}

func (l *lobby) settings() *Settings {
	return &Settings{Name: l.name, Private: l.private, HasPassword: l.password != "", MaxMembers: l.max,
		AutoHost: l.autoHost, Meta: l.meta, Numbers: l.numbers}
}

func (m *member) wire() *Member {
	return &Member{ID: m.id, Meta: m.meta, Ready: m.ready, Joined: m.joined.UnixMilli()}
}

func (l *lobby) member(peer string) (int, *member) {
	for i, m := range l.members {
		if m.id == peer {
			return i, m
		}
	}
	return -1, nil
}

// changedLocked raises the lobby's version, saves the lobby and pushes
// the change to every member. Pushing under the lock keeps the versions
// in order on the wire; on a cluster the push waits until the record is
// written (signaling.Service.Send), so save first.
func (s *Service) changedLocked(l *lobby, d Delta) {
	l.version++
	d.ID, d.Version = l.id, l.version
	s.saveLocked(l)
	s.pushLocked(l, TypeDelta, d)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(l.summary(), false)
	}
}

// pushLocked sends one message to every member of l; the payload is
// encoded once.
func (s *Service) pushLocked(l *lobby, typ string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("lobby: encoding push", "type", typ, "err", err)
		return
	}
	for _, m := range l.members {
		if err := s.send(m.id, typ, json.RawMessage(b)); err != nil {
			s.log.Info("lobby: push not sent", "peer", m.id, "type", typ, "err", err)
		}
	}
}

// send pushes a message to peer: on a cluster once the records saved
// before are written (signaling.Service.Send).
func (s *Service) send(peer, typ string, v any) error {
	if s.svc != nil {
		return s.svc.Send(peer, typ, v)
	}
	return s.srv.Send(peer, typ, v)
}

func (s *Service) setListedLocked(l *lobby) {
	want := !l.private && l.session == nil
	var changed bool
	if s.listed, changed = setSorted(s.listed, l, want); changed {
		g, _ := setSorted(s.byGame[l.game], l, want)
		if len(g) == 0 {
			delete(s.byGame, l.game)
		} else {
			s.byGame[l.game] = g
		}
	}
}

// setSorted puts l into list (ordered by seq) or takes it out, and reports
// whether that changed anything.
func setSorted(list []*lobby, l *lobby, in bool) ([]*lobby, bool) {
	i := sort.Search(len(list), func(i int) bool { return list[i].seq >= l.seq })
	has := i < len(list) && list[i] == l
	switch {
	case in && !has:
		list = append(list, nil)
		copy(list[i+1:], list[i:])
		list[i] = l
		return list, true
	case !in && has:
		return append(list[:i], list[i+1:]...), true
	}
	return list, false
}

func (s *Service) deleteLocked(l *lobby) {
	l.private = true // unlist
	s.setListedLocked(l)
	for _, o := range l.owners {
		if s.owners[o] <= 1 {
			delete(s.owners, o)
		} else {
			s.owners[o]--
		}
	}
	l.owners = nil
	s.removeRecordLocked(l)
	delete(s.byID, l.id)
	delete(s.byCode, l.code)
	if l.session != nil {
		delete(s.bySession, l.session.ID)
	}
	for _, m := range l.members {
		if s.byPeer[m.id] == l {
			delete(s.byPeer, m.id)
		}
	}
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(l.summary(), true)
	}
}

func (s *Service) newMember(peer, subject string, meta map[string]string) *member {
	now := s.cfg.Now()
	b := s.buckets[peer]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(s.cfg.ChatRate), s.cfg.ChatBurst) // starts full
		s.buckets[peer] = b
	}
	u := s.updates[peer]
	if u == nil {
		u = rate.NewLimiter(rate.Limit(s.cfg.UpdateRate), s.cfg.UpdateBurst)
		s.updates[peer] = u
	}
	return &member{id: peer, subject: subject, meta: meta, joined: now, chat: b, upd: u}
}

// ipOf is the host part of a remote address.
func ipOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// allowUpdate takes a token from m's update bucket, answering
// CodeUpdateFlood when there is none.
func (s *Service) allowUpdate(req *signaling.Request, m *member) bool {
	if m.upd.AllowN(s.cfg.Now(), 1) {
		return true
	}
	fail(req, CodeUpdateFlood, fmt.Sprintf("at most %g updates per second", s.cfg.UpdateRate))
	return false
}

// failKeys are the failure budgets a join by req draws on.
func failKeys(req *signaling.Request) []string {
	keys := []string{"ip:" + ipOf(req.RemoteAddr)}
	if sub := req.Identity.Subject; sub != "" {
		keys = append(keys, "sub:"+sub)
	}
	return keys
}

// mayFail reports whether every failure budget of req has a token left;
// if not it answers CodeTooManyAttempts.
func (s *Service) mayFail(req *signaling.Request) bool {
	now := s.cfg.Now()
	for _, k := range failKeys(req) {
		if b := s.fails[k]; b != nil && b.TokensAt(now) < 1 {
			wait := time.Duration((1 - b.TokensAt(now)) / s.cfg.JoinFailRate * float64(time.Second))
			fail(req, CodeTooManyAttempts, fmt.Sprintf("too many wrong codes or passwords: try again in %v", wait.Round(time.Millisecond)))
			return false
		}
	}
	return true
}

// failed charges a wrong code or password to req's failure budgets.
func (s *Service) failed(req *signaling.Request) {
	now := s.cfg.Now()
	if len(s.fails) > 100_000 { // forget the budgets that are full again
		for k, b := range s.fails {
			if b.TokensAt(now) >= float64(s.cfg.JoinFailBurst) {
				delete(s.fails, k)
			}
		}
	}
	for _, k := range failKeys(req) {
		b := s.fails[k]
		if b == nil {
			b = rate.NewLimiter(rate.Limit(s.cfg.JoinFailRate), s.cfg.JoinFailBurst)
			s.fails[k] = b
		}
		b.AllowN(now, 1)
	}
}

func (s *Service) handleCreate(req *signaling.Request) {
	d, err := DecodeCreate(req.Envelope.Data)
	if err != nil {
		fail(req, CodeInvalid, err.Error())
		return
	}
	if !s.begin(req) {
		return
	}
	var owners []string
	if ip := ipOf(req.RemoteAddr); ip != "" && s.cfg.MaxLobbiesPerIP > 0 {
		owners = append(owners, "ip:"+ip)
	}
	if sub := req.Identity.Subject; sub != "" && s.cfg.MaxLobbiesPerPlayer > 0 {
		owners = append(owners, "sub:"+sub)
	}
	for _, o := range owners {
		limit := s.cfg.MaxLobbiesPerIP
		if strings.HasPrefix(o, "sub:") {
			limit = s.cfg.MaxLobbiesPerPlayer
		}
		if s.owners[o] >= limit {
			s.mu.Unlock()
			fail(req, CodeTooManyLobbies, fmt.Sprintf("%s created %d lobbies that are still open", o, limit))
			return
		}
	}
	st, code, msg := s.createLocked(req.Peer, req.Identity.Subject, d)
	if code == "" {
		l := s.byID[st.ID]
		l.members[0].ip = ipOf(req.RemoteAddr)
		l.owners = owners
		for _, o := range owners {
			s.owners[o]++
		}
		s.saveLocked(l)
	}
	s.mu.Unlock()
	if code != "" {
		fail(req, code, msg)
		return
	}
	_ = req.Reply(st)
}

// Create makes a lobby on behalf of peer owner, as if owner had sent
// lobby.create: for servers that make lobbies themselves (tournaments,
// benchmarks). d is checked as on the wire. The owner is its host and
// first member; pushes to an owner without a signaling session are
// dropped, and the lobby ends when its last member leaves or is gone. On
// a cluster only the node that leads the service (Leader) holds lobbies:
// call Create, List and State there.
func (s *Service) Create(owner string, d CreateData) (State, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return State{}, err
	}
	if d, err = DecodeCreate(b); err != nil {
		return State{}, codedError(CodeInvalid, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return State{}, ErrClosed
	}
	st, code, msg := s.createLocked(owner, "", d)
	if code != "" {
		return st, codedError(code, msg)
	}
	s.saveLocked(s.byID[st.ID])
	return st, nil
}

func (s *Service) createLocked(peer, subject string, d CreateData) (State, string, string) {
	if d.MaxMembers == 0 {
		d.MaxMembers = s.cfg.DefaultMembers
	}
	if d.MaxMembers < 1 || d.MaxMembers > s.cfg.MaxMembers {
		return State{}, CodeInvalid, fmt.Sprintf("max_members must be 1 to %d", s.cfg.MaxMembers)
	}
	if s.byPeer[peer] != nil {
		return State{}, CodeAlreadyMember, "leave your lobby first"
	}
	if len(s.byID) >= s.cfg.MaxLobbies {
		return State{}, CodeTooManyLobbies, fmt.Sprintf("the service holds %d lobbies", s.cfg.MaxLobbies)
	}
	code := newCode()
	for s.byCode[code] != nil { // collision check
		code = newCode()
	}
	s.seq++
	l := &lobby{seq: s.seq, id: "l" + randomHex(8), code: code, name: d.Name, game: d.Game,
		private: d.Private, password: d.Password, max: d.MaxMembers, host: peer,
		autoHost: !s.cfg.NoHostMigration, meta: d.Meta, numbers: d.Numbers,
		banned: map[string]bool{}, version: 1}
	l.members = []*member{s.newMember(peer, subject, d.Member)}
	s.byID[l.id] = l
	s.byCode[code] = l
	s.byPeer[peer] = l
	s.setListedLocked(l)
	if s.cfg.OnChange != nil {
		s.cfg.OnChange(l.summary(), false)
	}
	return l.state(true), "", ""
}

// List returns a page of listed lobbies, as lobby.list does; d is checked
// as on the wire (ErrBadFilter).
func (s *Service) List(d ListData) (ListReply, error) {
	if err := checkList(d); err != nil {
		return ListReply{}, codedError(CodeBadFilter, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ListReply{}, ErrClosed
	}
	return s.listLocked(d), nil
}

// matches reports whether l passes every filter. It allocates nothing.
func matches(l *lobby, fs []Filter) bool {
	for i := range fs {
		f := &fs[i]
		if f.Eq != nil {
			var v string
			var ok bool
			switch f.Key {
			case "game":
				v, ok = l.game, true
			case "name":
				v, ok = l.name, true
			default:
				v, ok = l.meta[f.Key]
			}
			if !ok || v != *f.Eq {
				return false
			}
			continue
		}
		var v float64
		var ok bool
		switch f.Key {
		case "members":
			v, ok = float64(len(l.members)), true
		case "max":
			v, ok = float64(l.max), true
		case "free":
			v, ok = float64(l.max-len(l.members)), true
		default:
			v, ok = l.numbers[f.Key]
		}
		if !ok || (f.Min != nil && v < *f.Min) || (f.Max != nil && v > *f.Max) {
			return false
		}
	}
	return true
}

func (s *Service) handleList(req *signaling.Request) {
	d, err := DecodeList(req.Envelope.Data)
	if err != nil {
		fail(req, CodeBadFilter, err.Error())
		return
	}
	if !s.begin(req) {
		return
	}
	reply := s.listLocked(d)
	s.mu.Unlock()
	_ = req.Reply(reply)
}

// listLocked scans the listed lobbies after d.After in creation order (only
// those of one game when a filter names it); it allocates only for the
// lobbies it returns.
func (s *Service) listLocked(d ListData) ListReply {
	limit := d.Limit
	if limit == 0 {
		limit = DefaultPage
	}
	list := s.listed
	for _, f := range d.Filters {
		if f.Key == "game" && f.Eq != nil {
			list = s.byGame[*f.Eq] // the game index
			break
		}
	}
	i := sort.Search(len(list), func(i int) bool { return list[i].seq > d.After })
	out := ListReply{Lobbies: make([]Summary, 0, min(limit, 16))}
	size := 0
	for ; i < len(list); i++ {
		l := list[i]
		if !matches(l, d.Filters) {
			continue
		}
		sum := l.summary()
		b, _ := signaling.JSONSize(sum)
		if n := len(out.Lobbies); n == limit || (n > 0 && size+b+1 > MaxListBytes) {
			out.Next = out.Lobbies[n-1].cursor
			break
		}
		size += b + 1
		out.Lobbies = append(out.Lobbies, sum)
		out.Lobbies[len(out.Lobbies)-1].cursor = l.seq
	}
	return out
}

// MaxListBytes bounds the lobbies of one lobby.list reply in encoded bytes:
// a page ends early (with Next set) rather than pass it, so that a small
// request cannot draw a large answer. A single lobby always fits.
const MaxListBytes = 32 << 10

func (s *Service) handleJoin(req *signaling.Request) {
	d, err := DecodeJoin(req.Envelope.Data)
	if err != nil {
		fail(req, CodeBadRequest, err.Error())
		return
	}
	if !s.begin(req) {
		return
	}
	defer s.mu.Unlock()
	var l *lobby
	if d.Code != "" {
		if !s.mayFail(req) {
			return
		}
		l = s.byCode[NormalizeCode(d.Code)]
	} else if l = s.byID[d.ID]; l != nil && l.private {
		l = nil // private lobbies are joined by code only
	}
	if l == nil {
		if d.Code != "" {
			s.failed(req)
		}
		fail(req, CodeNotFound, "no such lobby")
		return
	}
	if cur := s.byPeer[req.Peer]; cur != nil {
		fail(req, CodeAlreadyMember, "leave your lobby first")
		return
	}
	if l.banned[req.Peer] || (req.Identity.Subject != "" && l.banned["sub:"+req.Identity.Subject]) ||
		(req.Identity.Subject == "" && l.banned["ip:"+ipOf(req.RemoteAddr)]) {
		fail(req, CodeBanned, "you are banned from this lobby")
		return
	}
	if l.password != "" && d.Code == "" && !s.mayFail(req) {
		return
	}
	if l.password != "" && subtle.ConstantTimeCompare([]byte(d.Password), []byte(l.password)) != 1 {
		s.failed(req)
		fail(req, CodeWrongPassword, "wrong password")
		return
	}
	if d.Spectate {
		s.spectateLocked(req, l)
		return
	}
	if l.session != nil {
		fail(req, CodeStarted, "the lobby started its match")
		return
	}
	if len(l.members) >= l.max {
		fail(req, CodeFull, fmt.Sprintf("the lobby holds %d members", l.max))
		return
	}
	m := s.newMember(req.Peer, req.Identity.Subject, d.Member)
	m.ip = ipOf(req.RemoteAddr)
	l.members = append(l.members, m)
	s.byPeer[req.Peer] = l
	s.changedLocked(l, Delta{Member: m.wire()}) // the newcomer gets it too, and the reply covers it
	_ = req.Reply(l.state(true))
}

// spectateLocked moves the sender into the running session's room as a
// spectator and tells the members.
func (s *Service) spectateLocked(req *signaling.Request, l *lobby) {
	if l.session == nil {
		fail(req, CodeNotStarted, "the lobby has not started its match: join as a member")
		return
	}
	if w := s.watching[req.Peer]; w != nil && w != l && s.byID[w.id] == w {
		fail(req, CodeAlreadyMember, "you watch another lobby's match")
		return
	}
	if !slices.Contains(l.session.Spectators, req.Peer) {
		if len(l.session.Spectators) >= MaxSpectators {
			fail(req, CodeFull, fmt.Sprintf("the match takes %d spectators", MaxSpectators))
			return
		}
		if err := s.srv.AddToRoom(l.session.ID, []string{req.Peer}); err != nil {
			fail(req, roomErrCode(err), "joining the session's room: "+err.Error())
			return
		}
		sess := *l.session // pushed sessions are never changed in place
		sess.Spectators = append(slices.Clip(sess.Spectators), req.Peer)
		l.session = &sess
		s.watching[req.Peer] = l
		s.changedLocked(l, Delta{Session: &sess})
	}
	_ = req.Reply(l.state(true))
}

// handleRejoin serves lobby.rejoin: a restarted player that took its
// seat in the session's signaling room back (the signaling server checked
// its ticket and moved the seat's previous holder out of the room) takes
// that player's place in Session.Peers and among the members. It keeps
// the previous member's metadata and ready flag while that member's
// signaling session lives (connected or waiting out its resume grace);
// once the session has ended for good the request's metadata counts,
// whether or not the service has had the departure (OnPeerGone) yet. The service
// cannot check the ticket's MAC (the signaling server's key); it trusts the
// room: the sender must be in the session's room, neither a player nor a
// spectator of it, and the peer the ticket names a player no longer in it.
func (s *Service) handleRejoin(req *signaling.Request) {
	d, err := DecodeRejoin(req.Envelope.Data)
	if err != nil {
		fail(req, CodeBadRequest, err.Error())
		return
	}
	if !s.begin(req) {
		return
	}
	defer s.mu.Unlock()
	room, old, _ := signaling.TicketSeat(d.Ticket)
	l := s.bySession[room]
	if l == nil {
		fail(req, CodeNotFound, "no lobby plays session "+room)
		return
	}
	if !s.srv.InRoom(req.Peer, room) {
		fail(req, CodeNotMember, "take the seat back in the session's room first (signaling rejoin)")
		return
	}
	if slices.Contains(l.session.Peers, req.Peer) {
		_ = req.Reply(l.state(true)) // rejoined already: the same answer
		return
	}
	seat := slices.Index(l.session.Peers, old)
	if seat < 0 || slices.Contains(l.session.Spectators, req.Peer) {
		fail(req, CodeNotMember, "the ticket names no player of the session")
		return
	}
	if s.srv.InRoom(old, room) {
		fail(req, CodeNotMember, "the seat's player is still in the session's room")
		return
	}
	if cur := s.byPeer[req.Peer]; cur != nil {
		fail(req, CodeAlreadyMember, "leave your lobby first")
		return
	}
	sess := *l.session // pushed sessions are never changed in place
	sess.Peers = slices.Clone(sess.Peers)
	sess.Peers[seat] = req.Peer
	if sess.Host == old {
		sess.Host = req.Peer
	}
	l.session = &sess
	delta := Delta{Session: &sess}
	meta := d.Member
	var ready bool
	if i, m := l.member(old); m != nil {
		// A member whose signaling session ended for good is gone, even
		// while the service has not heard of it yet (OnPeerGone comes
		// after the server removed the session, from another goroutine,
		// and on a cluster from another node): it passes nothing on.
		if _, alive := s.srv.PeerRoom(old); alive {
			meta, ready = m.meta, m.ready
		}
		l.members = append(l.members[:i], l.members[i+1:]...)
		delete(s.byPeer, old)
		delta.Left = old
	}
	m := s.newMember(req.Peer, req.Identity.Subject, meta)
	m.ip, m.ready = ipOf(req.RemoteAddr), ready
	l.members = append(l.members, m)
	s.byPeer[req.Peer] = l
	delta.Member = m.wire()
	if l.host == old {
		l.host = req.Peer
		delta.Host = req.Peer
	}
	s.changedLocked(l, delta)
	_ = req.Reply(l.state(true))
}

// removeLocked takes peer out of its lobby: a leave, a kick or a drop.
// Host migration and the end of an empty lobby happen here.
func (s *Service) removeLocked(l *lobby, peer string) {
	i, _ := l.member(peer)
	if i < 0 {
		return
	}
	m := l.members[i]
	l.members = append(l.members[:i], l.members[i+1:]...)
	delete(s.byPeer, peer)
	if m.chat.TokensAt(s.cfg.Now()) >= float64(s.cfg.ChatBurst) {
		delete(s.buckets, peer) // full again: nothing to remember
	}
	if m.upd.TokensAt(s.cfg.Now()) >= float64(s.cfg.UpdateBurst) {
		delete(s.updates, peer)
	}
	if len(l.members) == 0 {
		s.deleteLocked(l)
		return
	}
	d := Delta{Left: peer}
	if l.host == peer {
		if !l.autoHost {
			s.deleteLocked(l) // the record's removal goes before the push
			s.pushLocked(l, TypeKicked, KickedData{Lobby: l.id, By: peer, Closed: true})
			return
		}
		l.host = l.members[0].id
		d.Host = l.host
	}
	s.changedLocked(l, d)
}

func (s *Service) leave(req *signaling.Request, l *lobby, _ *member, _ struct{}) {
	s.removeLocked(l, req.Peer)
	_ = req.Reply(OKReply{Version: l.version})
}

func (s *Service) peerGone(peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peerGoneLocked(peer)
}

func (s *Service) peerGoneLocked(peer string) {
	delete(s.buckets, peer)
	delete(s.updates, peer)
	if l := s.byPeer[peer]; l != nil {
		s.removeLocked(l, peer)
	}
	if l := s.watching[peer]; l != nil {
		delete(s.watching, peer)
		if s.byID[l.id] == l && l.session != nil {
			sess := *l.session
			sess.Spectators = slices.DeleteFunc(slices.Clone(sess.Spectators), func(p string) bool { return p == peer })
			l.session = &sess
			s.changedLocked(l, Delta{Session: &sess})
		}
	}
}

// memberHandler makes the handler of a request that only members send:
// it decodes the data (answering code when dec fails), takes the lock
// (CodeClosed after Close), finds the sender's lobby (CodeNotMember), with
// hostOnly checks that the sender is its host (CodeNotHost), and runs h
// with the lock held.
func memberHandler[T any](s *Service, code string, dec func(json.RawMessage) (T, error), hostOnly bool,
	h func(req *signaling.Request, l *lobby, m *member, d T)) signaling.Handler {
	return func(req *signaling.Request) {
		d, err := dec(req.Envelope.Data)
		if err != nil {
			fail(req, code, err.Error())
			return
		}
		if !s.begin(req) {
			return
		}
		defer s.mu.Unlock()
		l := s.byPeer[req.Peer]
		if l == nil {
			fail(req, CodeNotMember, "you are in no lobby")
			return
		}
		if hostOnly && l.host != req.Peer {
			fail(req, CodeNotHost, "only the host may do this")
			return
		}
		_, m := l.member(req.Peer)
		h(req, l, m, d)
	}
}

// decodeAs parses a request's data into a T (see decode).
func decodeAs[T any](data json.RawMessage) (T, error) {
	var v T
	err := decode(data, &v)
	return v, err
}

// noData is the decoder of requests without data: what they carry is
// ignored.
func noData(json.RawMessage) (struct{}, error) { return struct{}{}, nil }

func decodeKick(data json.RawMessage) (KickData, error) {
	d, err := decodeAs[KickData](data)
	if err != nil || d.Peer == "" {
		return d, errors.New("kick needs a peer")
	}
	return d, nil
}

func (s *Service) kick(req *signaling.Request, l *lobby, _ *member, d KickData) {
	_, m := l.member(d.Peer)
	if m == nil || d.Peer == req.Peer {
		fail(req, CodeNotMember, fmt.Sprintf("%q is not another member of your lobby", d.Peer))
		return
	}
	if d.Ban {
		l.banned[m.id] = true
		if m.subject != "" {
			l.banned["sub:"+m.subject] = true
		} else if m.ip != "" {
			// Anonymous: a new connection would be a new peer, so the
			// ban holds the address.
			l.banned["ip:"+m.ip] = true
		}
	}
	s.removeLocked(l, m.id) // saved before the push
	_ = s.send(m.id, TypeKicked, KickedData{Lobby: l.id, By: req.Peer, Banned: d.Ban})
	_ = req.Reply(OKReply{Version: l.version})
}

func (s *Service) setMeta(req *signaling.Request, l *lobby, m *member, d MetaData) {
	if !s.allowUpdate(req, m) {
		return
	}
	m.meta = d.Member
	s.changedLocked(l, Delta{Member: m.wire()})
	_ = req.Reply(OKReply{Version: l.version})
}

func (s *Service) setReady(req *signaling.Request, l *lobby, m *member, d ReadyData) {
	if !s.allowUpdate(req, m) {
		return
	}
	if m.ready != d.Ready {
		m.ready = d.Ready
		s.changedLocked(l, Delta{Member: m.wire()})
	}
	_ = req.Reply(OKReply{Version: l.version})
}

func (s *Service) chat(req *signaling.Request, l *lobby, m *member, d ChatData) {
	if len(d.Text) > s.cfg.MaxChatLen {
		fail(req, CodeChatTooLong, fmt.Sprintf("%d bytes, at most %d", len(d.Text), s.cfg.MaxChatLen))
		return
	}
	now := s.cfg.Now()
	if !m.chat.AllowN(now, 1) {
		fail(req, CodeChatFlood, fmt.Sprintf("at most %g messages per second", s.cfg.ChatRate))
		return
	}
	l.chatSeq++
	msg := ChatMessage{Seq: l.chatSeq, From: req.Peer, Text: d.Text, At: now.UnixMilli()}
	if s.cfg.ChatHistory > 0 {
		if len(l.chat) >= s.cfg.ChatHistory {
			l.chat = append(l.chat[:0], l.chat[len(l.chat)-s.cfg.ChatHistory+1:]...)
		}
		l.chat = append(l.chat, msg)
	}
	s.saveLocked(l)
	s.pushLocked(l, TypeChat, msg)
	_ = req.Reply(msg)
}

func (s *Service) setSettings(req *signaling.Request, l *lobby, m *member, d SettingsData) {
	if !s.allowUpdate(req, m) {
		return
	}
	if d.MaxMembers != 0 && (d.MaxMembers < len(l.members) || d.MaxMembers > s.cfg.MaxMembers) {
		fail(req, CodeInvalid, fmt.Sprintf("max_members must be %d to %d", len(l.members), s.cfg.MaxMembers))
		return
	}
	if d.Name != nil {
		l.name = *d.Name
	}
	if d.Private != nil {
		l.private = *d.Private
		s.setListedLocked(l)
	}
	if d.MaxMembers != 0 {
		l.max = d.MaxMembers
	}
	if d.Password != nil {
		l.password = *d.Password
	}
	if d.Meta != nil {
		l.meta = d.Meta
	}
	if d.Numbers != nil {
		l.numbers = d.Numbers
	}
	if d.AutoHost != nil {
		l.autoHost = *d.AutoHost
	}
	s.changedLocked(l, Delta{Settings: l.settings()})
	_ = req.Reply(OKReply{Version: l.version})
}

func (s *Service) start(req *signaling.Request, l *lobby, _ *member, _ struct{}) {
	if l.session != nil {
		fail(req, CodeStarted, "the lobby started already")
		return
	}
	peers := make([]string, len(l.members))
	for i, m := range l.members {
		peers[i] = m.id
		if !m.ready && m.id != l.host && !s.cfg.StartWithoutReady {
			fail(req, CodeNotReady, fmt.Sprintf("%q is not ready", m.id))
			return
		}
	}
	sess := &Session{ID: "s" + randomHex(8), Lobby: l.id, Peers: peers, Host: l.host}
	// The lobby's record (started, with its session) is written before
	// the room is made (the room makes the start known): a next leader
	// that finds the members in the room keeps the start, and one that
	// finds the room not made drops it (this request was not answered:
	// the client sends it again).
	l.session, l.starting = sess, true
	s.bySession[sess.ID] = l
	s.saveLocked(l)
	undo := func() {
		l.session, l.starting = nil, false
		delete(s.bySession, sess.ID)
		s.saveLocked(l)
	}
	if err := s.flushLocked(); err != nil {
		undo()
		fail(req, signaling.CodeUnavailable, "recording the start: "+err.Error())
		return
	}
	// The members move into a fresh signaling room named by the session
	// (each gets joined before lobby.started), where the mesh connects.
	if err := s.srv.CreateRoom(sess.ID, peers); err != nil {
		undo()
		fail(req, roomErrCode(err), "creating the session's room: "+err.Error())
		return
	}
	l.starting = false
	s.setListedLocked(l)
	s.changedLocked(l, Delta{Session: sess})
	s.pushLocked(l, TypeStarted, sess)
	_ = req.Reply(sess)
}

func (s *Service) sync(req *signaling.Request, l *lobby, _ *member, _ SyncData) {
	_ = req.Reply(l.state(true))
}

// roomErrCode is the code of a failed CreateRoom or AddToRoom: a cluster
// condition (signaling.ErrUnavailable) is signaling.CodeUnavailable, which
// clients retry; anything else (a member vanished) CodeInternal.
func roomErrCode(err error) string {
	if errors.Is(err, signaling.ErrUnavailable) {
		return signaling.CodeUnavailable
	}
	return CodeInternal
}
