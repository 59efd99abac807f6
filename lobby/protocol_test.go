package lobby_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestWireGolden pins the exact JSON of the lobby messages: changing any of
// these breaks deployed clients.
func TestWireGolden(t *testing.T) {
	eq, min := "arena", 1.0
	ready := true
	cases := []struct {
		v    any
		want string
	}{
		{lobby.CreateData{Name: "Friday", Game: "arena", MaxMembers: 4, Password: "pw", Meta: map[string]string{"map": "dunes"},
			Numbers: map[string]float64{"rank": 12}, Member: map[string]string{"nick": "al"}},
			`{"name":"Friday","game":"arena","max_members":4,"password":"pw","meta":{"map":"dunes"},"numbers":{"rank":12},"member":{"nick":"al"}}`},
		{lobby.ListData{Filters: []lobby.Filter{{Key: "game", Eq: &eq}, {Key: "free", Min: &min}}, After: 7, Limit: 20},
			`{"filters":[{"key":"game","eq":"arena"},{"key":"free","min":1}],"after":7,"limit":20}`},
		{lobby.ListReply{Lobbies: []lobby.Summary{{ID: "l1", Name: "Friday", Game: "arena", Host: "p1", Members: 2, MaxMembers: 4, HasPassword: true}}, Next: 9},
			`{"lobbies":[{"id":"l1","name":"Friday","game":"arena","host":"p1","members":2,"max_members":4,"has_password":true}],"next":9}`},
		{lobby.JoinData{Code: "ABC234", Password: "pw", Member: map[string]string{"nick": "bo"}},
			`{"code":"ABC234","password":"pw","member":{"nick":"bo"}}`},
		{lobby.KickData{Peer: "p2", Ban: true}, `{"peer":"p2","ban":true}`},
		{lobby.KickedData{Lobby: "l1", By: "p1", Closed: true}, `{"lobby":"l1","by":"p1","closed":true}`},
		{lobby.ReadyData{Ready: true}, `{"ready":true}`},
		{lobby.ChatMessage{Seq: 3, From: "p1", Text: "gg", At: 1700000000000}, `{"seq":3,"from":"p1","text":"gg","at":1700000000000}`},
		{lobby.SettingsData{AutoHost: &ready, MaxMembers: 6}, `{"max_members":6,"auto_host":true}`},
		{lobby.Delta{ID: "l1", Version: 5, Host: "p2", Left: "p1"}, `{"id":"l1","version":5,"host":"p2","left":"p1"}`},
		{lobby.Delta{ID: "l1", Version: 6, Member: &lobby.Member{ID: "p3", Ready: true, Joined: 1700000000000}},
			`{"id":"l1","version":6,"member":{"id":"p3","ready":true,"joined":1700000000000}}`},
		{lobby.Delta{ID: "l1", Version: 7, Settings: &lobby.Settings{Name: "F", MaxMembers: 4, AutoHost: true}},
			`{"id":"l1","version":7,"settings":{"name":"F","max_members":4,"auto_host":true}}`},
		{lobby.Session{ID: "s1", Lobby: "l1", Peers: []string{"p1", "p2"}, Host: "p1"},
			`{"id":"s1","lobby":"l1","peers":["p1","p2"],"host":"p1"}`},
		{lobby.State{ID: "l1", Version: 2, Code: "ABC234", Name: "F", MaxMembers: 4, Host: "p1", AutoHost: true,
			Members: []lobby.Member{{ID: "p1", Joined: 1}}, Chat: []lobby.ChatMessage{{Seq: 1, From: "p1", Text: "hi", At: 2}}},
			`{"id":"l1","version":2,"code":"ABC234","name":"F","max_members":4,"host":"p1","auto_host":true,"members":[{"id":"p1","joined":1}],"chat":[{"seq":1,"from":"p1","text":"hi","at":2}]}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%T:\n got %s\nwant %s", c.v, b, c.want)
		}
	}
}

func TestStateApply(t *testing.T) {
	st := lobby.State{ID: "l1", Version: 3, Host: "a", Members: []lobby.Member{{ID: "a"}, {ID: "b"}}}
	next, ok := st.Apply(lobby.Delta{ID: "l1", Version: 4, Member: &lobby.Member{ID: "c"}})
	if !ok || len(next.Members) != 3 || next.Version != 4 || len(st.Members) != 2 {
		t.Fatalf("join: %+v (old %+v)", next, st)
	}
	next, ok = next.Apply(lobby.Delta{ID: "l1", Version: 5, Left: "a", Host: "b"})
	if !ok || next.Host != "b" || len(next.Members) != 2 || next.Members[0].ID != "b" {
		t.Fatalf("leave: %+v", next)
	}
	next, ok = next.Apply(lobby.Delta{ID: "l1", Version: 6, Member: &lobby.Member{ID: "c", Ready: true}})
	if m, _ := next.Member("c"); !ok || !m.Ready || len(next.Members) != 2 {
		t.Fatalf("ready: %+v", next)
	}
	if _, ok := next.Apply(lobby.Delta{ID: "l1", Version: 8}); ok {
		t.Fatal("a gap applied")
	}
	if _, ok := next.Apply(lobby.Delta{ID: "l2", Version: 7}); ok {
		t.Fatal("another lobby's delta applied")
	}
}

func TestCodes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc234", "ABC234"}, {"ab c-234", "ABC234"}, {"ABC23O", ""}, {"ABC21I", ""}, {"ABC23", ""}, {"ABC2345", ""},
	} {
		if got := lobby.NormalizeCode(c.in); got != c.want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, bad := range "0O1IL" {
		if strings.ContainsRune(lobby.CodeAlphabet, bad) {
			t.Errorf("alphabet holds the look-alike %q", bad)
		}
	}
}

// roundTrip checks that a decoded value encodes and decodes to itself.
func roundTrip[T any](t *testing.T, v T, decode func(json.RawMessage) (T, error)) {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%T does not encode: %v", v, err)
	}
	w, err := decode(b)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
	if !reflect.DeepEqual(normalize(v), normalize(w)) {
		t.Fatalf("round trip changed %+v into %+v", v, w)
	}
}

// normalize maps empty maps and slices to nil, which JSON's omitempty
// does not tell apart.
func normalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func fuzzDecoder[T any](f *testing.F, decode func(json.RawMessage) (T, error), seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`null`))
	f.Add([]byte(`{"name":"\u0000"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decode(data)
		if err != nil {
			return
		}
		roundTrip(t, v, decode)
	})
}

func FuzzDecodeCreate(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeCreate,
		`{"name":"Friday","game":"arena","max_members":4,"password":"pw","meta":{"map":"dunes"},"numbers":{"rank":12},"member":{"nick":"al"}}`,
		`{"name":"x","private":true}`, `{"name":"x","numbers":{"r":1e308}}`)
}

func FuzzDecodeList(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeList,
		`{"filters":[{"key":"game","eq":"arena"},{"key":"free","min":1}],"after":7,"limit":20}`,
		`{"filters":[{"key":"rank","min":3,"max":1}]}`, `{"limit":-1}`)
}

func FuzzDecodeJoin(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeJoin, `{"code":"ABC234","password":"pw","member":{"nick":"bo"}}`, `{"id":"l1"}`, `{"id":"l1","code":"X"}`, `{"id":"l1","spectate":true}`)
}

func FuzzDecodeSettings(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeSettings, `{"name":"F","private":false,"max_members":6,"password":"","meta":{"a":"b"},"auto_host":true}`)
}

func FuzzDecodeMeta(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeMeta, `{"member":{"nick":"bo","color":"red"}}`)
}

func FuzzDecodeChat(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeChat, `{"text":"gg"}`, `{"text":"\xff"}`)
}

// FuzzDeltaApply feeds arbitrary deltas to a state: never a panic, and an
// applied delta raises the version by one and keeps member ids unique.
func FuzzDeltaApply(f *testing.F) {
	f.Add([]byte(`{"id":"l1","version":4,"member":{"id":"c"}}`))
	f.Add([]byte(`{"id":"l1","version":4,"left":"a","host":"b"}`))
	f.Add([]byte(`{"id":"l1","version":4,"settings":{"name":"F","max_members":4,"auto_host":true}}`))
	f.Add([]byte(`{"id":"l1","version":4,"session":{"id":"s","peers":["a"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var d lobby.Delta
		if json.Unmarshal(data, &d) != nil {
			return
		}
		st := lobby.State{ID: "l1", Version: 3, Host: "a", Members: []lobby.Member{{ID: "a"}, {ID: "b"}}}
		next, ok := st.Apply(d)
		if !ok {
			return
		}
		if next.Version != 4 || len(st.Members) != 2 {
			t.Fatalf("applied %+v: %+v, old %+v", d, next, st)
		}
		seen := map[string]bool{}
		for _, m := range next.Members {
			if seen[m.ID] {
				t.Fatalf("member %q twice after %+v", m.ID, d)
			}
			seen[m.ID] = true
		}
	})
}

// FuzzParseLANLobby feeds arbitrary TXT records (lines of the input) to
// the advertisement parser: never a panic, and what it accepts keeps its
// limits.
func FuzzParseLANLobby(f *testing.F) {
	f.Add("v=1\ngame=arena\nname=LAN party\nid=l0123\nplayers=2\nmax=4\npw=0\npath=/ws")
	f.Add("v=1\nid=x\nplayers=-1\nmax=4")
	f.Add("v=2\nid=x\nplayers=1\nmax=4")
	f.Add("v=1\nid=x\nplayers=1\nmax=4\npath=ws?x")
	f.Fuzz(func(t *testing.T, txt string) {
		record := strings.Split(txt, "\n")
		l, ok := lobby.ParseLANLobby("i", record, []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:7777")})
		if !ok {
			return
		}
		if l.ID == "" || l.Players < 0 || l.Max < 1 || len(l.Name) > lobby.MaxNameLen || len(l.Game) > lobby.MaxGameLen {
			t.Fatalf("accepted %+v from %q", l, txt)
		}
		if !slices.Equal(record, strings.Split(txt, "\n")) || !strings.HasPrefix(l.URL, "ws://192.0.2.1:7777/") {
			t.Fatal("parser changed its input")
		}
	})
}

// FuzzServiceRequests sends arbitrary lobby requests to a real server from
// two clients: every request is answered (reply or coded error), and the
// server keeps serving.
func FuzzServiceRequests(f *testing.F) {
	types := []string{lobby.TypeCreate, lobby.TypeList, lobby.TypeJoin, lobby.TypeLeave, lobby.TypeKick,
		lobby.TypeMeta, lobby.TypeReady, lobby.TypeChat, lobby.TypeSettings, lobby.TypeStart, lobby.TypeSync}
	f.Add(uint8(0), false, []byte(`{"name":"x","max_members":2}`))
	f.Add(uint8(1), true, []byte(`{"filters":[{"key":"free","min":1}]}`))
	f.Add(uint8(2), true, []byte(`{"code":"ABCDEF"}`))
	f.Add(uint8(2), true, []byte(`{"code":"ABCDEF","spectate":true}`))
	f.Add(uint8(4), false, []byte(`{"peer":"nobody","ban":true}`))
	f.Add(uint8(7), false, []byte(`{"text":"hi"}`))
	f.Add(uint8(8), false, []byte(`{"name":"y","max_members":1,"auto_host":false}`))
	f.Add(uint8(9), false, []byte(`null`))
	f.Add(uint8(10), true, []byte(`[1,2]`))
	s := serve(f, signaling.Config{RatePerSec: 1e6, RateBurst: 1e6}, lobby.Config{ChatBurst: 1 << 20, UpdateBurst: 1 << 20, MaxLobbiesPerIP: -1, JoinFailBurst: 1 << 20})
	a, b := dial(f, s.url, nil), dial(f, s.url, nil)
	f.Fuzz(func(t *testing.T, typ uint8, second bool, data []byte) {
		if !json.Valid(data) || !utf8.Valid(data) {
			// The client refuses invalid JSON; a text frame that is not
			// UTF-8 closes the connection (1007). The signaling tests
			// cover both.
			return
		}
		c := a
		if second {
			c = b
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Signaling().Request(ctx, types[int(typ)%len(types)], json.RawMessage(data))
		var se *signaling.Error
		if err != nil && !errors.As(err, &se) {
			t.Fatalf("no coded answer: %v", err)
		}
		if _, err := c.Signaling().Ping(ctx); err != nil {
			t.Fatalf("server stopped answering: %v", err)
		}
	})
}

// TestSessionSpectators: spectators travel in the session's JSON and land
// in the roster's Spectators, which validates with a spectator as Self.
func TestSessionSpectators(t *testing.T) {
	s := lobby.Session{ID: "s1", Lobby: "l1", Peers: []string{"a", "b"}, Host: "a", Spectators: []string{"c"}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"s1","lobby":"l1","peers":["a","b"],"host":"a","spectators":["c"]}`; string(b) != want {
		t.Fatalf("session JSON %s, want %s", b, want)
	}
	r := s.Roster("c", nil)
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(r.Players) != 2 || len(r.Spectators) != 1 || r.Spectators[0] != "c" {
		t.Fatalf("roster %+v", r)
	}
	if b, _ := json.Marshal(lobby.Session{ID: "s1", Peers: []string{"a"}}); strings.Contains(string(b), "spectators") {
		t.Fatalf("no spectators must leave the field out: %s", b)
	}
}

func FuzzDecodeRejoin(f *testing.F) {
	fuzzDecoder(f, lobby.DecodeRejoin, `{"ticket":"1.czFhYg.p7.1700000000.AAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"ticket":"1.czFhYg.p7.1700000000.AAAA","member":{"name":"bo"}}`, `{"ticket":"x"}`)
}
