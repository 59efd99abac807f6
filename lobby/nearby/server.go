package nearby

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rallypoint/rallypoint/signaling"
)

// The message types of the nearby family (docs/protocol.md, docs/nearby.md).
const (
	TypeWatch    = "nearby.watch"    // request: register, list recent visible players
	TypeShow     = "nearby.show"     // request: become visible or update the profile
	TypeHide     = "nearby.hide"     // request: stop being visible
	TypeSend     = "nearby.send"     // request: relay a packet to a player
	TypePresence = "nearby.presence" // push: a player appeared, changed or went
	TypePacket   = "nearby.packet"   // push: a relayed packet
)

// Error codes of the nearby family.
const (
	CodeUnknownPlayer = "nearby_unknown_player"
	CodeRateLimited   = "nearby_rate_limited"
	CodeInvalid       = "nearby_invalid"
)

// Wire payloads of the nearby family.
type (
	// WirePlayer is a visible player in watch replies and presence pushes.
	WirePlayer struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Status string `json:"status"`
		Game   string `json:"game,omitempty"`
		// At is when the player last showed, unix milliseconds.
		At int64 `json:"at"`
	}
	watchReply struct {
		ID      string       `json:"id"`
		Players []WirePlayer `json:"players"`
	}
	showData struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Game   string `json:"game,omitempty"`
	}
	presencePush struct {
		Player WirePlayer `json:"player"`
		Gone   bool       `json:"gone,omitempty"`
	}
	sendData struct {
		To  string `json:"to"`
		Pkt []byte `json:"pkt"` // base64 in JSON
	}
	packetPush struct {
		From string `json:"from"`
		Pkt  []byte `json:"pkt"`
	}
)

// ServiceConfig configures a Service. The zero value is valid.
type ServiceConfig struct {
	// MaxPlayers bounds the visible players the service keeps; when full,
	// the one that showed least recently is dropped (and reported gone).
	// Zero means 10000.
	MaxPlayers int
	// ListLimit is how many players a watch reply lists, the most recent
	// first. Zero means 100.
	ListLimit int
	// SendRate and SendBurst limit the nearby.send and nearby.show requests
	// of one session (token bucket). Zero means 20 per second, burst 40.
	SendRate  rate.Limit
	SendBurst int
}

// Service serves the nearby family on a signaling server: presence of
// the visible players connected to it, and relay of packets by player id.
// A player's id is its auth subject when the server authenticates, else
// its peer id. It lives as long as the server.
type Service struct {
	srv *signaling.Server
	cfg ServiceConfig

	mu       sync.Mutex
	sessions map[string]*svcSession // by peer id
	byPlayer map[string]string      // player id -> peer id of its latest session
	visible  map[string]*WirePlayer // by player id
}

type svcSession struct {
	player   string
	watching bool
	lim      *rate.Limiter
}

// Serve registers the nearby family on srv and returns the service.
func Serve(srv *signaling.Server, cfg ServiceConfig) *Service {
	if cfg.MaxPlayers <= 0 {
		cfg.MaxPlayers = 10000
	}
	if cfg.ListLimit <= 0 {
		cfg.ListLimit = 100
	}
	if cfg.SendRate <= 0 {
		cfg.SendRate = 20
	}
	if cfg.SendBurst <= 0 {
		cfg.SendBurst = 40
	}
	s := &Service{srv: srv, cfg: cfg, sessions: map[string]*svcSession{}, byPlayer: map[string]string{}, visible: map[string]*WirePlayer{}}
	srv.Handle(TypeWatch, s.watch)
	srv.Handle(TypeShow, s.show)
	srv.Handle(TypeHide, s.hide)
	srv.Handle(TypeSend, s.send)
	srv.OnPeerGone(s.gone)
	return s
}

// session returns the sender's session, creating it; nil when its id is
// unusable.
func (s *Service) session(req *signaling.Request) *svcSession {
	id := req.Identity.Subject
	if id == "" {
		id = req.Peer
	}
	if id == "" || len(id) > MaxPeerIDLen {
		return nil
	}
	ss := s.sessions[req.Peer]
	if ss == nil {
		ss = &svcSession{player: id, lim: rate.NewLimiter(s.cfg.SendRate, s.cfg.SendBurst)}
		s.sessions[req.Peer] = ss
	}
	s.byPlayer[id] = req.Peer
	return ss
}

func (s *Service) watch(req *signaling.Request) {
	s.mu.Lock()
	ss := s.session(req)
	if ss == nil {
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalid, "player id longer than 64 bytes")
		return
	}
	ss.watching = true
	list := make([]WirePlayer, 0, len(s.visible))
	for _, p := range s.visible {
		if p.ID != ss.player {
			list = append(list, *p)
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].At > list[j].At })
	if len(list) > s.cfg.ListLimit {
		list = list[:s.cfg.ListLimit]
	}
	_ = req.Reply(watchReply{ID: ss.player, Players: list})
}

// parseShow decodes the data of nearby.show.
func parseShow(b []byte) (Profile, error) {
	var d showData
	if err := json.Unmarshal(b, &d); err != nil {
		return Profile{}, fmt.Errorf("%w: nearby.show: %v", ErrMalformed, err)
	}
	st, ok := ParseStatus(d.Status)
	if d.Status == "" {
		st, ok = Idle, true
	}
	p := Profile{Name: d.Name, Status: st, Game: d.Game}
	if !ok || p.check() != nil {
		return Profile{}, fmt.Errorf("%w: nearby.show: name 1-32 bytes, status idle, lobby or match, game up to 32 bytes", ErrMalformed)
	}
	return p, nil
}

// parseSend decodes the data of nearby.send.
func parseSend(b []byte) (sendData, error) {
	var d sendData
	if err := json.Unmarshal(b, &d); err != nil || d.To == "" || len(d.To) > MaxPeerIDLen || len(d.Pkt) == 0 || len(d.Pkt) > MaxPacket {
		return sendData{}, fmt.Errorf("%w: nearby.send: want {\"to\",\"pkt\"} with an id of 1 to 64 bytes and a packet of 1 to 1400 bytes", ErrMalformed)
	}
	return d, nil
}

// admitLocked returns the session of req's sender when its request may go
// on, s.mu still held; otherwise it unlocks s.mu, answers req with the
// reason (an over-long player id, the rate limit) and returns nil.
func (s *Service) admitLocked(req *signaling.Request) *svcSession {
	ss := s.session(req)
	if ss == nil {
		s.mu.Unlock()
		_ = req.ReplyError(CodeInvalid, "player id longer than 64 bytes")
		return nil
	}
	if !ss.lim.Allow() {
		s.mu.Unlock()
		_ = req.ReplyError(CodeRateLimited, "nearby: too many requests")
		return nil
	}
	return ss
}

func (s *Service) show(req *signaling.Request) {
	prof, err := parseShow(req.Envelope.Data)
	if err != nil {
		_ = req.ReplyError(CodeInvalid, err.Error())
		return
	}
	s.mu.Lock()
	ss := s.admitLocked(req)
	if ss == nil {
		return
	}
	p := &WirePlayer{ID: ss.player, Name: prof.Name, Status: prof.Status.String(), Game: prof.Game, At: time.Now().UnixMilli()}
	var evicted *WirePlayer
	if _, had := s.visible[p.ID]; !had && len(s.visible) >= s.cfg.MaxPlayers {
		for _, o := range s.visible {
			if evicted == nil || o.At < evicted.At {
				evicted = o
			}
		}
		delete(s.visible, evicted.ID)
	}
	s.visible[p.ID] = p
	s.mu.Unlock()
	if evicted != nil {
		s.push(presencePush{Player: *evicted, Gone: true})
	}
	s.push(presencePush{Player: *p})
	_ = req.Reply(struct{}{})
}

func (s *Service) hide(req *signaling.Request) {
	s.mu.Lock()
	ss := s.session(req)
	var p *WirePlayer
	if ss != nil {
		p = s.visible[ss.player]
		delete(s.visible, ss.player)
	}
	s.mu.Unlock()
	if p != nil {
		s.push(presencePush{Player: *p, Gone: true})
	}
	_ = req.Reply(struct{}{})
}

func (s *Service) send(req *signaling.Request) {
	d, err := parseSend(req.Envelope.Data)
	if err != nil {
		_ = req.ReplyError(signaling.CodeBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	ss := s.admitLocked(req)
	if ss == nil {
		return
	}
	peer, ok := s.byPlayer[d.To]
	s.mu.Unlock()
	if !ok {
		_ = req.ReplyError(CodeUnknownPlayer, "nearby: no such player connected")
		return
	}
	if err := s.srv.Send(peer, TypePacket, packetPush{From: ss.player, Pkt: d.Pkt}); err != nil {
		_ = req.ReplyError(CodeUnknownPlayer, "nearby: "+err.Error())
		return
	}
	_ = req.Reply(struct{}{})
}

// gone forgets a session that ended for good; its player goes if this
// was its latest session.
func (s *Service) gone(peer string) {
	s.mu.Lock()
	ss := s.sessions[peer]
	delete(s.sessions, peer)
	var p *WirePlayer
	if ss != nil && s.byPlayer[ss.player] == peer {
		delete(s.byPlayer, ss.player)
		p = s.visible[ss.player]
		delete(s.visible, ss.player)
	}
	s.mu.Unlock()
	if p != nil {
		s.push(presencePush{Player: *p, Gone: true})
	}
}

// push sends a presence change to every watching session but the
// player's own.
func (s *Service) push(m presencePush) {
	s.mu.Lock()
	var to []string
	for peer, ss := range s.sessions {
		if ss.watching && ss.player != m.Player.ID {
			to = append(to, peer)
		}
	}
	s.mu.Unlock()
	for _, peer := range to {
		_ = s.srv.Send(peer, TypePresence, m) // a full queue loses it; the client resyncs on overflow
	}
}
