package lobby

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// A lobby's record, loaded by a new leader, gives the same lobby back (its
// version raised past versionJump), with its indexes: code, session,
// listing, owners and spectators.
func TestLobbyRecordRoundTrip(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	s, err := New(srv, Config{})
	if err != nil {
		t.Fatal(err)
	}
	l := &lobby{seq: 7, id: "labc", code: "ABCDEF", name: "n", game: "g", password: "pw", max: 4, host: "p1",
		autoHost: true, meta: map[string]string{"map": "x"}, numbers: map[string]float64{"elo": 3}, version: 12,
		chat: []ChatMessage{{Seq: 1, From: "p1", Text: "hi", At: 5}}, chatSeq: 1, banned: map[string]bool{"sub:bad": true},
		session: &Session{ID: "s1", Lobby: "labc", Peers: []string{"p1", "p2"}, Host: "p1", Spectators: []string{"w"}},
		owners:  []string{"ip:1.2.3.4"}}
	for _, id := range []string{"p1", "p2"} {
		m := s.newMember(id, "sub-"+id, map[string]string{"c": id})
		m.ip, m.ready, m.joined = "1.2.3.4", id == "p2", time.UnixMilli(1000)
		l.members = append(l.members, m)
	}
	want := l.record()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.lead(context.Background(), signaling.ServiceState{Records: map[string][]byte{"l.labc": b, "l.bad": []byte("{")}}); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	got := s.byID["labc"]
	if got == nil || len(s.byID) != 1 {
		t.Fatalf("loaded %v", s.byID)
	}
	if got.version <= want.Version+versionJump {
		t.Fatalf("version %d, want above %d", got.version, want.Version+versionJump)
	}
	rec := got.record()
	rec.Version = want.Version
	if !reflect.DeepEqual(rec, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", rec, want)
	}
	if s.byCode["ABCDEF"] != got || s.bySession["s1"] != got || s.byPeer["p2"] != got || s.watching["w"] != got ||
		s.owners["ip:1.2.3.4"] != 1 || s.seq != 7 {
		t.Fatal("indexes not rebuilt")
	}
	if len(s.listed) != 0 {
		t.Fatal("a started lobby is listed")
	}
}

// A new leader drops the members whose sessions ended while it was not
// watching.
func TestLobbyLoadDropsGonePeers(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	s, _ := New(srv, Config{})
	r := lobbyRec{Seq: 1, ID: "l1", Code: "QWERTY", Max: 4, Host: "gone", AutoHost: true, Version: 3,
		Members: []memberRec{{ID: "gone"}, {ID: "here"}}}
	b, _ := json.Marshal(r)
	st := signaling.ServiceState{Records: map[string][]byte{"l.l1": b}}
	if err := s.lead(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	// On a single node every peer counts as live: both stay.
	if n := len(s.byID["l1"].members); n != 2 {
		t.Fatalf("%d members on a single node, want 2", n)
	}
}

// FuzzLobbyRecord: a new leader loads any record without panicking, and
// what it loads it saves again as a record that loads the same.
func FuzzLobbyRecord(f *testing.F) {
	r := lobbyRec{Seq: 1, ID: "l1", Code: "QWERTY", Max: 4, Host: "a", Version: 3,
		Members: []memberRec{{ID: "a", Meta: map[string]string{"k": "v"}}, {ID: "b", Ready: true}},
		Session: &Session{ID: "s", Peers: []string{"a", "b"}, Spectators: []string{"c"}}, Banned: []string{"x"}}
	b, _ := json.Marshal(r)
	f.Add(b)
	f.Add([]byte(`{"id":"l2","members":[{"id":"a"}],"session":{"id":"s","spectators":["a"]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := signaling.NewServer(signaling.Config{})
		defer srv.Close()
		s, _ := New(srv, Config{})
		if err := s.lead(context.Background(), signaling.ServiceState{Records: map[string][]byte{"l.x": data}}); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range s.byID {
			if len(l.members) == 0 || s.byCode[l.code] != l {
				t.Fatalf("loaded an inconsistent lobby %+v", l)
			}
		}
	})
}

// A lobby recorded as starting (its session written before its room was
// made) is kept started by a new leader when its members are in the
// room, and not started when the room was never made; a started lobby
// whose match is over (no one in its room) stays started.
func TestLobbyLoadStartingKeepsMadeRooms(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		hs.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for range 2 {
		c, err := signaling.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), &signaling.ClientConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ids = append(ids, c.ID())
	}
	if err := srv.CreateRoom("s-made", ids); err != nil {
		t.Fatal(err)
	}
	s, err := New(srv, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := func(id, session string, starting bool) []byte {
		r := lobbyRec{Seq: 1, ID: id, Code: "C" + id, Max: 4, Host: ids[0], Version: 3, Starting: starting,
			Members: []memberRec{{ID: ids[0]}, {ID: ids[1]}},
			Session: &Session{ID: session, Lobby: id, Peers: ids, Host: ids[0]}}
		b, _ := json.Marshal(r)
		return b
	}
	st := signaling.ServiceState{Records: map[string][]byte{
		"l.made":  rec("made", "s-made", true),
		"l.never": rec("never", "s-never", true),
		"l.over":  rec("over", "s-over", false),
	}}
	if err := s.lead(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, started := range map[string]bool{"made": true, "never": false, "over": true} {
		l := s.byID[id]
		if l == nil {
			t.Fatalf("lobby %s not loaded", id)
		}
		if (l.session != nil) != started {
			t.Errorf("lobby %s: started %v, want %v", id, l.session != nil, started)
		}
		if l.starting || l.record().Starting {
			t.Errorf("lobby %s still starting after the load", id)
		}
	}
	if s.bySession["s-never"] != nil || s.bySession["s-made"] == nil {
		t.Error("session index not rebuilt from the kept starts")
	}
}
