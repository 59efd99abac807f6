package lobby

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// ProtocolVersion is the version of the lobby.* messages, advertised in the
// "v" TXT key of LAN lobbies.
//
// History: 1, the first version.
const ProtocolVersion = 1

// Message types of the lobby service, carried in signaling envelopes. The
// strings are part of the wire contract: only append.
const (
	// Client to server, answered with a reply (data after the arrow) or an
	// error.
	TypeCreate   = "lobby.create"   // CreateData -> State
	TypeList     = "lobby.list"     // ListData -> ListReply
	TypeJoin     = "lobby.join"     // JoinData -> State
	TypeLeave    = "lobby.leave"    // (none) -> OKReply
	TypeKick     = "lobby.kick"     // KickData -> OKReply
	TypeMeta     = "lobby.meta"     // MetaData -> OKReply: the sender's own member metadata
	TypeReady    = "lobby.ready"    // ReadyData -> OKReply
	TypeChat     = "lobby.chat"     // ChatData -> ChatMessage (also pushed)
	TypeSettings = "lobby.settings" // SettingsData -> OKReply (host only)
	TypeStart    = "lobby.start"    // (none) -> Session (host only)
	TypeSync     = "lobby.sync"     // SyncData -> State
	TypeRejoin   = "lobby.rejoin"   // RejoinData -> State: a restarted player back in its session (after the signaling rejoin)

	// Server to client, pushed.
	TypeDelta   = "lobby.delta"   // Delta: one change of the lobby, Version one above the previous
	TypeKicked  = "lobby.kicked"  // KickedData: the receiver was removed from the lobby
	TypeStarted = "lobby.started" // Session: the match starts; the receiver is in the session's room
	// TypeChat is pushed too, with a ChatMessage.
)

// Error codes of the service, in signaling's ErrorData.Code. Stable strings:
// only append.
const (
	CodeBadRequest      = "bad_request"             // the data is not valid JSON of the expected shape
	CodeInvalid         = "lobby_invalid"           // a field breaks a limit (name, sizes, metadata)
	CodeNotFound        = "lobby_not_found"         // no such lobby (or a private lobby asked by id)
	CodeFull            = "lobby_full"              // the lobby has its maximum of members
	CodeWrongPassword   = "lobby_wrong_password"    // the password does not match
	CodeBanned          = "lobby_banned"            // the sender was banned from the lobby
	CodeNotHost         = "lobby_not_host"          // only the host may do this
	CodeNotMember       = "lobby_not_member"        // the sender is in no lobby (or the target is not in the sender's)
	CodeAlreadyMember   = "lobby_already_member"    // the sender is in a lobby already
	CodeChatTooLong     = "lobby_chat_too_long"     // the chat message is over the size cap
	CodeChatFlood       = "lobby_chat_flood"        // the sender's chat token bucket is empty
	CodeTooManyLobbies  = "lobby_too_many"          // the service holds its maximum of lobbies
	CodeBadFilter       = "lobby_bad_filter"        // a list filter or page is malformed
	CodeStarted         = "lobby_started"           // the lobby started its match already
	CodeNotStarted      = "lobby_not_started"       // a spectator asked for a lobby whose match has not started
	CodeNotReady        = "lobby_not_ready"         // start needs every other member ready
	CodeClosed          = "lobby_closed"            // the service is closed
	CodeInternal        = "internal"                // the signaling server refused (a member vanished)
	CodeUpdateFlood     = "lobby_update_flood"      // the sender's update bucket (meta, ready, settings) is empty
	CodeTooManyAttempts = "lobby_too_many_attempts" // the failure budget for codes and passwords is spent: back off
)

// Wire limits, checked before the data is used.
const (
	MaxNameLen     = 63  // lobby name, in bytes (one DNS-SD instance label)
	MaxGameLen     = 32  // game name, in bytes
	MaxPasswordLen = 128 // password, in bytes
	MaxMetaKeys    = 16  // keys in one metadata or numbers map
	MaxMetaKeyLen  = 32  // bytes in a metadata key
	MaxMetaValue   = 256 // bytes in a metadata value
	MaxFilters     = 8   // filters in one list request
	MaxPageSize    = 100 // lobbies in one list reply
	CodeLen        = 6   // characters in a join code
	DefaultPage    = 50  // lobbies in a list reply when ListData.Limit is 0
)

// CodeAlphabet holds the characters of join codes: digits and capitals
// without the look-alikes 0/O/Q, 1/I/L and U/V.
const CodeAlphabet = "23456789ABCDEFGHJKMNPRSTWXYZ"

// CreateData is the payload of lobby.create. The sender becomes the host and
// first member.
type CreateData struct {
	Name string `json:"name"`
	Game string `json:"game,omitempty"`
	// Private lobbies are not listed; others join them by code.
	Private bool `json:"private,omitempty"`
	// MaxMembers bounds the members. Zero means the service's default.
	MaxMembers int `json:"max_members,omitempty"`
	// Password, when set, is asked of everyone who joins, by id or by
	// code. It is never sent back.
	Password string `json:"password,omitempty"`
	// Meta and Numbers are the lobby's metadata, shown in listings and
	// filterable: strings by equality, numbers by range.
	Meta    map[string]string  `json:"meta,omitempty"`
	Numbers map[string]float64 `json:"numbers,omitempty"`
	// Member is the creator's member metadata.
	Member map[string]string `json:"member,omitempty"`
}

// Filter is one condition of a list request. Key names a lobby metadata key
// or one of the built-ins: "game" and "name" (strings), "members", "max"
// and "free" (free slots; numbers). Set Eq for a string match, or Min and/or
// Max for an inclusive numeric range; not both.
type Filter struct {
	Key string   `json:"key"`
	Eq  *string  `json:"eq,omitempty"`
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// ListData is the payload of lobby.list. Lobbies come in creation order;
// After is the Next of the previous page (0 for the first).
type ListData struct {
	Filters []Filter `json:"filters,omitempty"`
	After   uint64   `json:"after,omitempty"`
	Limit   int      `json:"limit,omitempty"`
}

// Summary describes a listed lobby. It never carries the password or the
// join code.
type Summary struct {
	ID          string             `json:"id"`
	Name        string             `json:"name"`
	Game        string             `json:"game,omitempty"`
	Host        string             `json:"host"`
	Members     int                `json:"members"`
	MaxMembers  int                `json:"max_members"`
	HasPassword bool               `json:"has_password,omitempty"`
	Meta        map[string]string  `json:"meta,omitempty"`
	Numbers     map[string]float64 `json:"numbers,omitempty"`

	cursor uint64 // the lobby's creation sequence, for paging
}

// ListReply answers lobby.list. Next is the After of the next page, 0 when
// this page is the last.
type ListReply struct {
	Lobbies []Summary `json:"lobbies"`
	Next    uint64    `json:"next,omitempty"`
}

// JoinData is the payload of lobby.join: a lobby by ID (public lobbies) or
// by Code (any lobby).
type JoinData struct {
	ID       string            `json:"id,omitempty"`
	Code     string            `json:"code,omitempty"`
	Password string            `json:"password,omitempty"`
	Member   map[string]string `json:"member,omitempty"`
	// Spectate asks to watch the lobby's running match instead of joining
	// as a member: the service moves the sender into the session's room and
	// adds it to Session.Spectators. Only a started lobby takes spectators
	// (CodeNotStarted otherwise); the reply is the lobby's State, whose
	// Session names the spectator.
	Spectate bool `json:"spectate,omitempty"`
}

// RejoinData is the payload of lobby.rejoin. A restarted player first
// takes its seat in the session's signaling room back with its rejoin
// ticket (the signaling rejoin request, signaling.Client.Rejoin); then it
// sends the same ticket here. The service puts the sender in the place of
// the peer the ticket names, in Session.Peers and among the members (with
// that member's metadata and ready flag when it is still a member, else
// with Member), pushes the change, and answers with the lobby's State.
type RejoinData struct {
	Ticket string            `json:"ticket"`
	Member map[string]string `json:"member,omitempty"`
}

// MaxTicketLen bounds RejoinData.Ticket.
const MaxTicketLen = 1024

// KickData is the payload of lobby.kick. Ban keeps the peer (and its
// authenticated subject) out for the lobby's lifetime.
type KickData struct {
	Peer string `json:"peer"`
	Ban  bool   `json:"ban,omitempty"`
}

// KickedData is the payload of lobby.kicked.
type KickedData struct {
	Lobby  string `json:"lobby"`
	By     string `json:"by"`
	Banned bool   `json:"banned,omitempty"`
	// Closed tells that the lobby itself ended: its host left and host
	// migration is off.
	Closed bool `json:"closed,omitempty"`
}

// MetaData is the payload of lobby.meta: the sender's member metadata,
// replacing what it had.
type MetaData struct {
	Member map[string]string `json:"member"`
}

// ReadyData is the payload of lobby.ready.
type ReadyData struct {
	Ready bool `json:"ready"`
}

// ChatData is the payload of lobby.chat.
type ChatData struct {
	Text string `json:"text"`
}

// ChatMessage is a chat line as pushed to members (and replayed to late
// joiners in State.Chat). Seq counts the lobby's messages from 1.
type ChatMessage struct {
	Seq  uint64 `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
	At   int64  `json:"at"` // unix milliseconds
}

// SettingsData is the payload of lobby.settings (host only). Nil or zero
// fields are left as they are; a non-nil map replaces the old one.
type SettingsData struct {
	Name       *string            `json:"name,omitempty"`
	Private    *bool              `json:"private,omitempty"`
	MaxMembers int                `json:"max_members,omitempty"`
	Password   *string            `json:"password,omitempty"` // "" removes it
	Meta       map[string]string  `json:"meta,omitempty"`
	Numbers    map[string]float64 `json:"numbers,omitempty"`
	// AutoHost turns host migration on or off for this lobby.
	AutoHost *bool `json:"auto_host,omitempty"`
}

// SyncData is the payload of lobby.sync: a member that was away asks for
// the state if it is newer than Version.
type SyncData struct {
	Version uint64 `json:"version"`
}

// OKReply answers requests that have no other result: the lobby's version
// after the change.
type OKReply struct {
	Version uint64 `json:"version"`
}

// Delta is one change of a lobby, pushed to its members as lobby.delta.
// Version is exactly one above the version before the change; a member
// holding another version than Version-1 missed a change and resyncs with
// lobby.sync. Only the parts that changed are present.
type Delta struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	// Settings holds every lobby-level setting, when any of them changed.
	Settings *Settings `json:"settings,omitempty"`
	// Host is the new host, when it changed.
	Host string `json:"host,omitempty"`
	// Member is a member that joined (appended) or changed (replaced).
	Member *Member `json:"member,omitempty"`
	// Left is a member that left, was kicked or dropped.
	Left string `json:"left,omitempty"`
	// Session is set when the lobby started.
	Session *Session `json:"session,omitempty"`
}

// Settings are a lobby's host-controlled settings, as carried by a Delta.
type Settings struct {
	Name        string             `json:"name"`
	Private     bool               `json:"private,omitempty"`
	HasPassword bool               `json:"has_password,omitempty"`
	MaxMembers  int                `json:"max_members"`
	AutoHost    bool               `json:"auto_host"`
	Meta        map[string]string  `json:"meta,omitempty"`
	Numbers     map[string]float64 `json:"numbers,omitempty"`
}

// Apply returns st changed by d. It reports false, leaving st alone, when
// d is not the next change of st's lobby (another lobby, or a version gap).
// The returned State shares no Members slice with st.
func (st State) Apply(d Delta) (State, bool) {
	if d.ID != st.ID || d.Version != st.Version+1 {
		return st, false
	}
	st.Version = d.Version
	st.Members = append([]Member(nil), st.Members...)
	st.Chat = nil
	if s := d.Settings; s != nil {
		st.Name, st.Private, st.HasPassword, st.MaxMembers, st.AutoHost, st.Meta, st.Numbers =
			s.Name, s.Private, s.HasPassword, s.MaxMembers, s.AutoHost, s.Meta, s.Numbers
	}
	if d.Left != "" {
		for i, m := range st.Members {
			if m.ID == d.Left {
				st.Members = append(st.Members[:i], st.Members[i+1:]...)
				break
			}
		}
	}
	if m := d.Member; m != nil {
		found := false
		for i := range st.Members {
			if st.Members[i].ID == m.ID {
				st.Members[i], found = *m, true
			}
		}
		if !found {
			st.Members = append(st.Members, *m)
		}
	}
	if d.Host != "" {
		st.Host = d.Host
	}
	if d.Session != nil {
		st.Session = d.Session
	}
	return st, true
}

// Member is one member of a lobby, in join order in State.Members.
type Member struct {
	ID     string            `json:"id"`
	Meta   map[string]string `json:"meta,omitempty"`
	Ready  bool              `json:"ready,omitempty"`
	Joined int64             `json:"joined"` // unix milliseconds
}

// Session is the descriptor every member receives at start (lobby.started
// and the reply to lobby.start): the session id, which is also the name of
// the signaling room the members were moved into, the peers in join order,
// and the host.
type Session struct {
	ID    string   `json:"id"`
	Lobby string   `json:"lobby"`
	Peers []string `json:"peers"`
	Host  string   `json:"host"`
	// Spectators are the peers that joined the running match to watch it
	// (JoinData.Spectate), in arrival order. The service pushes the grown
	// Session to the members as a change (Delta.Session).
	Spectators []string `json:"spectators,omitempty"`
}

// MaxSpectators is how many spectators one session takes.
const MaxSpectators = 16

// Roster returns the session as a match's roster for the peer self: the
// session id, the players in s.Peers order (seat i is s.Peers[i], all on
// team 0), and ice, the ICE servers the rendezvous point handed out (nil:
// none). Every member builds the same roster apart from Self.
func (s Session) Roster(self string, ice []netcode.ICEServer) netcode.Roster {
	r := netcode.Roster{Session: s.ID, Self: netcode.PeerID(self), ICEServers: ice}
	r.Players = make([]netcode.Seat, len(s.Peers))
	for i, p := range s.Peers {
		r.Players[i] = netcode.Seat{Peer: netcode.PeerID(p)}
	}
	for _, p := range s.Spectators {
		r.Spectators = append(r.Spectators, netcode.PeerID(p))
	}
	return r
}

// State is a lobby as its members see it. Every change raises Version by
// one; a member applies a pushed State only when its Version is higher than
// the one it holds.
type State struct {
	ID          string             `json:"id"`
	Version     uint64             `json:"version"`
	Code        string             `json:"code"`
	Name        string             `json:"name"`
	Game        string             `json:"game,omitempty"`
	Private     bool               `json:"private,omitempty"`
	HasPassword bool               `json:"has_password,omitempty"`
	MaxMembers  int                `json:"max_members"`
	Host        string             `json:"host"`
	AutoHost    bool               `json:"auto_host"`
	Members     []Member           `json:"members"`
	Meta        map[string]string  `json:"meta,omitempty"`
	Numbers     map[string]float64 `json:"numbers,omitempty"`
	Session     *Session           `json:"session,omitempty"`
	// Chat holds the last messages, only in replies to create, join and
	// sync (the replay for late joiners); pushed states leave it out.
	Chat []ChatMessage `json:"chat,omitempty"`
}

// Member returns the member with id, if present.
func (s *State) Member(id string) (Member, bool) {
	for _, m := range s.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// decode parses a request's data into v. Empty data is an empty object.
// Unknown fields are ignored for forward compatibility.
func decode(data json.RawMessage, v any) error {
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bad data: %v", err)
	}
	return nil
}

func checkText(what, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s is required", what)
	}
	if len(s) > max {
		return fmt.Errorf("%s over %d bytes", what, max)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s has control characters", what)
		}
	}
	return nil
}

func checkMeta(what string, m map[string]string) error {
	if len(m) > MaxMetaKeys {
		return fmt.Errorf("%s: over %d keys", what, MaxMetaKeys)
	}
	for k, v := range m {
		if err := checkText(what+" key", k, MaxMetaKeyLen, true); err != nil {
			return err
		}
		if len(v) > MaxMetaValue || !utf8.ValidString(v) {
			return fmt.Errorf("%s: value of %q over %d bytes or not UTF-8", what, k, MaxMetaValue)
		}
	}
	return nil
}

func checkNumbers(m map[string]float64) error {
	if len(m) > MaxMetaKeys {
		return fmt.Errorf("numbers: over %d keys", MaxMetaKeys)
	}
	for k, v := range m {
		if err := checkText("numbers key", k, MaxMetaKeyLen, true); err != nil {
			return err
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("numbers: %q is not finite", k)
		}
	}
	return nil
}

// DecodeCreate parses and checks the payload of lobby.create (the maximum
// member count is checked by the service against its configuration).
func DecodeCreate(data json.RawMessage) (CreateData, error) {
	var d CreateData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if err := checkText("name", d.Name, MaxNameLen, true); err != nil {
		return d, err
	}
	if err := checkText("game", d.Game, MaxGameLen, false); err != nil {
		return d, err
	}
	if len(d.Password) > MaxPasswordLen {
		return d, fmt.Errorf("password over %d bytes", MaxPasswordLen)
	}
	if d.MaxMembers < 0 {
		return d, fmt.Errorf("negative max_members")
	}
	if err := checkMeta("meta", d.Meta); err != nil {
		return d, err
	}
	if err := checkMeta("member", d.Member); err != nil {
		return d, err
	}
	return d, checkNumbers(d.Numbers)
}

// DecodeList parses and checks the payload of lobby.list.
func DecodeList(data json.RawMessage) (ListData, error) {
	var d ListData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	return d, checkList(d)
}

func checkList(d ListData) error {
	if len(d.Filters) > MaxFilters {
		return fmt.Errorf("over %d filters", MaxFilters)
	}
	if d.Limit < 0 || d.Limit > MaxPageSize {
		return fmt.Errorf("limit must be 0 to %d", MaxPageSize)
	}
	for i, f := range d.Filters {
		if f.Key == "" || len(f.Key) > MaxMetaKeyLen {
			return fmt.Errorf("filter %d: bad key", i)
		}
		hasRange := f.Min != nil || f.Max != nil
		if (f.Eq != nil) == hasRange {
			return fmt.Errorf("filter %d (%s): set eq, or min and/or max", i, f.Key)
		}
		if f.Eq != nil && len(*f.Eq) > MaxMetaValue {
			return fmt.Errorf("filter %d (%s): value too long", i, f.Key)
		}
		for _, p := range []*float64{f.Min, f.Max} {
			if p != nil && (math.IsNaN(*p) || math.IsInf(*p, 0)) {
				return fmt.Errorf("filter %d (%s): bound not finite", i, f.Key)
			}
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			return fmt.Errorf("filter %d (%s): min above max", i, f.Key)
		}
		switch f.Key {
		case "game", "name":
			if f.Eq == nil {
				return fmt.Errorf("filter %d: %s takes eq", i, f.Key)
			}
		case "members", "max", "free":
			if f.Eq != nil {
				return fmt.Errorf("filter %d: %s takes min/max", i, f.Key)
			}
		}
	}
	return nil
}

// DecodeJoin parses and checks the payload of lobby.join.
func DecodeJoin(data json.RawMessage) (JoinData, error) {
	var d JoinData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if (d.ID == "") == (d.Code == "") {
		return d, fmt.Errorf("set id or code")
	}
	if len(d.ID) > 64 || len(d.Code) > 16 || len(d.Password) > MaxPasswordLen {
		return d, fmt.Errorf("id, code or password too long")
	}
	return d, checkMeta("member", d.Member)
}

// DecodeRejoin parses the payload of lobby.rejoin: a ticket of the
// signaling shape (signaling.TicketSeat) and member metadata within the
// limits.
func DecodeRejoin(data json.RawMessage) (RejoinData, error) {
	var d RejoinData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if len(d.Ticket) > MaxTicketLen {
		return d, fmt.Errorf("ticket too long")
	}
	if _, _, ok := signaling.TicketSeat(d.Ticket); !ok {
		return d, fmt.Errorf("ticket is not a rejoin ticket")
	}
	return d, checkMeta("member", d.Member)
}

// DecodeChat parses the payload of lobby.chat. The size cap is the
// service's (Config.MaxChatLen), checked there.
func DecodeChat(data json.RawMessage) (ChatData, error) {
	var d ChatData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if strings.TrimSpace(d.Text) == "" {
		return d, fmt.Errorf("empty text")
	}
	if !utf8.ValidString(d.Text) {
		return d, fmt.Errorf("text is not UTF-8")
	}
	return d, nil
}

// DecodeSettings parses and checks the payload of lobby.settings.
func DecodeSettings(data json.RawMessage) (SettingsData, error) {
	var d SettingsData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	if d.Name != nil {
		if err := checkText("name", *d.Name, MaxNameLen, true); err != nil {
			return d, err
		}
	}
	if d.Password != nil && len(*d.Password) > MaxPasswordLen {
		return d, fmt.Errorf("password over %d bytes", MaxPasswordLen)
	}
	if d.MaxMembers < 0 {
		return d, fmt.Errorf("negative max_members")
	}
	if err := checkMeta("meta", d.Meta); err != nil {
		return d, err
	}
	return d, checkNumbers(d.Numbers)
}

// DecodeMeta parses and checks the payload of lobby.meta.
func DecodeMeta(data json.RawMessage) (MetaData, error) {
	var d MetaData
	if err := decode(data, &d); err != nil {
		return d, err
	}
	return d, checkMeta("member", d.Member)
}
