package lobby_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

func ptr[T any](v T) *T { return &v }

// TestLobbyFlow plays a whole lobby over a real WebSocket server: create,
// list, join (with a password, by id and by code), chat with replay to a
// late joiner, member metadata, ready, settings, start, and a netcode mesh
// that connects every member in the session's room.
func TestLobbyFlow(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host, bob, carol := dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil)

	st, err := host.Create(ctx, lobby.CreateData{Name: "Friday night", Game: "arena", MaxMembers: 3,
		Password: "hunter2", Meta: map[string]string{"map": "dunes"}, Numbers: map[string]float64{"rank": 12},
		Member: map[string]string{"nick": "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.Host != host.ID() || len(st.Members) != 1 || !st.HasPassword || len(st.Code) != lobby.CodeLen || st.Version != 1 {
		t.Fatalf("created %+v", st)
	}
	if lobby.NormalizeCode(st.Code) != st.Code {
		t.Fatalf("code %q outside the alphabet", st.Code)
	}

	page, err := bob.List(ctx, lobby.ListData{Filters: []lobby.Filter{
		{Key: "game", Eq: ptr("arena")}, {Key: "free", Min: ptr(1.0)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Lobbies) != 1 || page.Lobbies[0].ID != st.ID || page.Lobbies[0].Members != 1 || !page.Lobbies[0].HasPassword {
		t.Fatalf("list %+v", page)
	}
	if strings.Contains(fmt.Sprintf("%+v", page), "hunter2") || strings.Contains(fmt.Sprintf("%+v", page), st.Code) {
		t.Fatal("listing leaks the password or the join code")
	}

	_, err = bob.Join(ctx, st.ID, lobby.JoinOptions{Password: "wrong"})
	wantCode(t, err, lobby.ErrWrongPassword, lobby.CodeWrongPassword)
	bst, err := bob.Join(ctx, st.ID, lobby.JoinOptions{Password: "hunter2", Member: map[string]string{"nick": "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(bst.Members) != 2 || bst.Members[1].ID != bob.ID() {
		t.Fatalf("joined %+v", bst)
	}
	waitState(t, host, func(s lobby.State) bool { return len(s.Members) == 2 })

	// Chat before carol arrives: she gets it replayed.
	if _, err := host.Chat(ctx, "welcome!"); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, bob, func(ev lobby.Event) bool { _, ok := ev.(lobby.ChatReceived); return ok })
	if m := ev.(lobby.ChatReceived).Message; m.Text != "welcome!" || m.From != host.ID() || m.Seq != 1 {
		t.Fatalf("chat %+v", m)
	}
	cst, err := carol.JoinByCode(ctx, strings.ToLower(st.Code[:3])+"-"+st.Code[3:], lobby.JoinOptions{Password: "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cst.Chat) != 1 || cst.Chat[0].Text != "welcome!" {
		t.Fatalf("late joiner's replay %+v", cst.Chat)
	}
	// Full now.
	late := dial(t, s.url, nil)
	_, err = late.Join(ctx, st.ID, lobby.JoinOptions{Password: "hunter2"})
	wantCode(t, err, lobby.ErrFull, lobby.CodeFull)

	// Member metadata: each writes its own; everyone sees it.
	if err := carol.SetMemberMeta(ctx, map[string]string{"nick": "carol", "color": "red"}); err != nil {
		t.Fatal(err)
	}
	hs := waitState(t, host, func(s lobby.State) bool {
		m, ok := s.Member(carol.ID())
		return ok && m.Meta["color"] == "red"
	})
	if m, _ := hs.Member(bob.ID()); m.Meta["nick"] != "bob" {
		t.Fatalf("bob's meta %+v", m)
	}

	// Settings are the host's.
	wantCode(t, bob.SetSettings(ctx, lobby.SettingsData{Name: ptr("mine")}), lobby.ErrNotHost, lobby.CodeNotHost)
	if err := host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"map": "canyon"}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, carol, func(s lobby.State) bool { return s.Meta["map"] == "canyon" })

	// Start needs everyone ready.
	_, err = host.Start(ctx)
	wantCode(t, err, lobby.ErrNotReady, lobby.CodeNotReady)
	_, err = bob.Start(ctx)
	wantCode(t, err, lobby.ErrNotHost, lobby.CodeNotHost)
	for _, c := range []*lobby.Client{bob, carol} {
		if err := c.SetReady(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	waitState(t, host, func(s lobby.State) bool {
		for _, m := range s.Members[1:] {
			if !m.Ready {
				return false
			}
		}
		return true
	})
	// Versions only grow, and every member converged on the same one.
	before, _ := host.State()
	sess, err := host.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Host != host.ID() || !slices.Equal(sess.Peers, []string{host.ID(), bob.ID(), carol.ID()}) {
		t.Fatalf("session %+v", sess)
	}
	var meshes []*mesh.Mesh
	for _, c := range []*lobby.Client{host, bob, carol} {
		ev := waitEvent(t, c, func(ev lobby.Event) bool { _, ok := ev.(lobby.Started); return ok })
		if got := ev.(lobby.Started).Session; got.ID != sess.ID || !slices.Equal(got.Peers, sess.Peers) {
			t.Fatalf("%s got %+v", c.ID(), got)
		}
		if c.Signaling().Room() != sess.ID {
			t.Fatalf("%s is in room %q, want %q", c.ID(), c.Signaling().Room(), sess.ID)
		}
		st := waitState(t, c, func(s lobby.State) bool { return s.Session != nil })
		if st.Version <= before.Version {
			t.Fatalf("version %d after start, was %d", st.Version, before.Version)
		}
		m, err := mesh.New(c.Signaling(), mesh.Config{Loopback: true})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		meshes = append(meshes, m)
	}
	for _, m := range meshes {
		if err := m.WaitConnected(ctx, 2); err != nil {
			t.Fatalf("%s: mesh: %v", m.LocalID(), err)
		}
	}
	// A started lobby is no longer listed and takes nobody.
	page, err = late.List(ctx, lobby.ListData{})
	if err != nil || len(page.Lobbies) != 0 {
		t.Fatalf("list after start %+v %v", page, err)
	}
	_, err = late.JoinByCode(ctx, st.Code, lobby.JoinOptions{Password: "hunter2"})
	wantCode(t, err, lobby.ErrStarted, lobby.CodeStarted)
}

// TestHostMigration: the host leaving passes the role to the
// longest-present member; the host dropping (its resume grace expiring)
// does too; with migration off the lobby closes.
func TestHostMigration(t *testing.T) {
	s := serve(t, signaling.Config{ResumeGrace: 300 * time.Millisecond}, lobby.Config{})
	ctx := tctx(t)
	a, b, c, d := dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := a.Create(ctx, lobby.CreateData{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*lobby.Client{b, c, d} {
		if _, err := x.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*lobby.Client{b, c, d} {
		got := waitState(t, x, func(s lobby.State) bool { _, in := s.Member(a.ID()); return len(s.Members) == 3 && !in })
		if got.Host != b.ID() {
			t.Fatalf("host %q after the host left, want %q (longest present)", got.Host, b.ID())
		}
	}
	// The new host drops: no leave, its connection just ends.
	_ = b.Signaling().Close()
	for _, x := range []*lobby.Client{c, d} {
		got := waitState(t, x, func(s lobby.State) bool { _, in := s.Member(b.ID()); return len(s.Members) == 2 && !in })
		if got.Host != c.ID() {
			t.Fatalf("host %q after the host dropped, want %q", got.Host, c.ID())
		}
	}
	if st, _ := s.svc.State(st.ID); st.Host != c.ID() || len(st.Members) != 2 {
		t.Fatalf("service holds %+v", st)
	}

	// Migration off: the host leaving closes the lobby for everyone.
	if err := c.SetSettings(ctx, lobby.SettingsData{AutoHost: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, d, func(ev lobby.Event) bool { _, ok := ev.(lobby.Closed); return ok })
	if k := ev.(lobby.Closed); !errors.Is(k.Err, lobby.ErrLobbyClosed) || k.Lobby != st.ID || k.By != c.ID() {
		t.Fatalf("closed %+v", k)
	}
	if _, in := d.State(); in {
		t.Fatal("d still holds the closed lobby")
	}
	if s.svc.Lobbies() != 0 {
		t.Fatalf("%d lobbies left", s.svc.Lobbies())
	}
}

// TestResync: a member whose connection drops misses pushes; when it
// resumes it fetches the newer state.
func TestResync(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	var dr droppable
	m := dial(t, s.url, &signaling.ClientConfig{NetDialContext: dr.dial, MinBackoff: 50 * time.Millisecond})
	st, err := host.Create(ctx, lobby.CreateData{Name: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	held, _ := m.State()
	dr.pause(true)
	dr.drop()
	if err := host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"mode": "ctf"}}); err != nil {
		t.Fatal(err)
	}
	dr.pause(false) // the change happened while m was away
	ev := waitEvent(t, m, func(ev lobby.Event) bool { _, ok := ev.(lobby.Resynced); return ok })
	rs := ev.(lobby.Resynced)
	if rs.Err != nil || rs.State.Version <= held.Version || rs.State.Meta["mode"] != "ctf" {
		t.Fatalf("resynced %+v (held version %d)", rs, held.Version)
	}
	if cur, _ := m.State(); cur.Version < rs.State.Version {
		t.Fatalf("state version %d < %d", cur.Version, rs.State.Version)
	}
}

// TestListFiltersAndPaging lists through pages with equality and range
// filters.
func TestListFiltersAndPaging(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{MaxLobbiesPerIP: -1})
	ctx := tctx(t)
	var want []string
	for i := 0; i < 25; i++ {
		c := dial(t, s.url, nil)
		mode := []string{"ctf", "dm"}[i%2]
		st, err := c.Create(ctx, lobby.CreateData{Name: fmt.Sprintf("l%d", i), Private: i == 24,
			Meta: map[string]string{"mode": mode}, Numbers: map[string]float64{"rank": float64(i)}})
		if err != nil {
			t.Fatal(err)
		}
		if mode == "ctf" && i >= 4 && i <= 20 {
			want = append(want, st.ID)
		}
	}
	q := dial(t, s.url, nil)
	var got []string
	var after uint64
	pages := 0
	for {
		r, err := q.List(ctx, lobby.ListData{After: after, Limit: 3, Filters: []lobby.Filter{
			{Key: "mode", Eq: ptr("ctf")}, {Key: "rank", Min: ptr(4.0), Max: ptr(20.0)}}})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, l := range r.Lobbies {
			got = append(got, l.ID)
		}
		if r.Next == 0 {
			break
		}
		after = r.Next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("paged %v in %d pages, want %v", got, pages, want)
	}
	r, err := q.List(ctx, lobby.ListData{Limit: 100})
	if err != nil || len(r.Lobbies) != 24 {
		t.Fatalf("all: %d lobbies, %v (the private one must not be listed)", len(r.Lobbies), err)
	}
}

// TestBadInput: every refusal comes back with its code, and the server
// keeps serving.
func TestBadInput(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{MaxLobbies: 2, MaxChatLen: 100, ChatRate: 1, ChatBurst: 3})
	ctx := tctx(t)
	host, guest, other, third := dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "tiny", MaxMembers: 2, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Create(ctx, lobby.CreateData{Name: "private", Private: true}); err != nil {
		t.Fatal(err)
	}
	raw := func(c *lobby.Client, typ, data string) error {
		_, err := c.Signaling().Request(ctx, typ, json.RawMessage(data))
		return err
	}
	type tc struct {
		name     string
		call     func() error
		sentinel error
		code     string
	}
	cases := []tc{
		{"too many lobbies", func() error { _, err := third.Create(ctx, lobby.CreateData{Name: "x"}); return err }, lobby.ErrTooManyLobbies, lobby.CodeTooManyLobbies},
		{"wrong password", func() error { _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{Password: "nope"}); return err }, lobby.ErrWrongPassword, lobby.CodeWrongPassword},
		{"unknown lobby", func() error { _, err := guest.Join(ctx, "nope", lobby.JoinOptions{}); return err }, lobby.ErrNotFound, lobby.CodeNotFound},
		{"bad code", func() error { _, err := guest.JoinByCode(ctx, "O0I1L!", lobby.JoinOptions{}); return err }, lobby.ErrNotFound, lobby.CodeNotFound},
		{"kick outside a lobby", func() error { return guest.Kick(ctx, host.ID()) }, lobby.ErrNotMember, lobby.CodeNotMember},
		{"chat outside a lobby", func() error { _, err := guest.Chat(ctx, "hi"); return err }, lobby.ErrNotMember, lobby.CodeNotMember},
		{"empty name", func() error { _, err := third.Create(ctx, lobby.CreateData{Name: " "}); return err }, lobby.ErrInvalid, lobby.CodeInvalid},
		{"name with control characters", func() error { _, err := third.Create(ctx, lobby.CreateData{Name: "a\x00b"}); return err }, lobby.ErrInvalid, lobby.CodeInvalid},
		{"too many members", func() error { _, err := third.Create(ctx, lobby.CreateData{Name: "x", MaxMembers: 1000}); return err }, lobby.ErrInvalid, lobby.CodeInvalid},
		{"eq and range", func() error {
			_, err := guest.List(ctx, lobby.ListData{Filters: []lobby.Filter{{Key: "rank", Eq: ptr("1"), Min: ptr(1.0)}}})
			return err
		}, lobby.ErrBadFilter, lobby.CodeBadFilter},
		{"min above max", func() error {
			_, err := guest.List(ctx, lobby.ListData{Filters: []lobby.Filter{{Key: "free", Min: ptr(3.0), Max: ptr(1.0)}}})
			return err
		}, lobby.ErrBadFilter, lobby.CodeBadFilter},
		{"page too large", func() error { _, err := guest.List(ctx, lobby.ListData{Limit: 10_000}); return err }, lobby.ErrBadFilter, lobby.CodeBadFilter},
		{"wrong field type", func() error { return raw(guest, lobby.TypeJoin, `{"id":5}`) }, nil, lobby.CodeBadRequest},
		{"wrong types", func() error { return raw(guest, lobby.TypeList, `{"filters":"all"}`) }, nil, lobby.CodeBadFilter},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantCode(t, c.call(), c.sentinel, c.code) })
	}
	if _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	_, err = third.Join(ctx, st.ID, lobby.JoinOptions{Password: "pw"})
	wantCode(t, err, lobby.ErrFull, lobby.CodeFull)
	wantCode(t, guest.Kick(ctx, host.ID()), lobby.ErrNotHost, lobby.CodeNotHost)
	wantCode(t, guest.Ban(ctx, host.ID()), lobby.ErrNotHost, lobby.CodeNotHost)
	_, err = guest.Chat(ctx, strings.Repeat("x", 101))
	wantCode(t, err, lobby.ErrChatTooLong, lobby.CodeChatTooLong)
	_, err = guest.Create(ctx, lobby.CreateData{Name: "second"})
	wantCode(t, err, lobby.ErrAlreadyMember, lobby.CodeAlreadyMember)
	// Chat flood: the burst passes, then the bucket is empty.
	var flood error
	sent := 0
	for i := 0; i < 10 && flood == nil; i++ {
		if _, flood = guest.Chat(ctx, fmt.Sprint("spam ", i)); flood == nil {
			sent++
		}
	}
	wantCode(t, flood, lobby.ErrChatFlood, lobby.CodeChatFlood)
	if sent < 3 || sent > 4 {
		t.Fatalf("%d messages passed before the flood limit, want the burst of 3 (4 on a slow machine)", sent)
	}
	// Ban: the guest is out and cannot come back.
	if err := host.Ban(ctx, guest.ID()); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, guest, func(ev lobby.Event) bool { _, ok := ev.(lobby.Kicked); return ok })
	if k := ev.(lobby.Kicked); !k.Banned || k.By != host.ID() {
		t.Fatalf("kicked %+v", k)
	}
	_, err = guest.Join(ctx, st.ID, lobby.JoinOptions{Password: "pw"})
	wantCode(t, err, lobby.ErrBanned, lobby.CodeBanned)
	// The private lobby is not joinable by id.
	ps, _ := other.State()
	_, err = third.Join(ctx, ps.ID, lobby.JoinOptions{})
	wantCode(t, err, lobby.ErrNotFound, lobby.CodeNotFound)
	if _, err := third.JoinByCode(ctx, ps.Code, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	// The server still serves everyone.
	if _, err := host.Chat(ctx, "still here"); err != nil {
		t.Fatal(err)
	}
}

func TestClosedService(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	c := dial(t, s.url, nil)
	_ = s.svc.Close()
	_, err := c.Create(context.Background(), lobby.CreateData{Name: "x"})
	wantCode(t, err, lobby.ErrClosed, lobby.CodeClosed)
}

// TestChatReplayKeepsTheLastN: a late joiner gets only the last
// ChatHistory messages, in order.
func TestChatReplayKeepsTheLastN(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{ChatHistory: 3, ChatBurst: 10})
	ctx := tctx(t)
	host, late := dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "chatty"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if _, err := host.Chat(ctx, fmt.Sprint("line ", i)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := late.Join(ctx, st.ID, lobby.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got.Chat {
		texts = append(texts, fmt.Sprint(m.Seq, " ", m.Text))
	}
	if !slices.Equal(texts, []string{"3 line 3", "4 line 4", "5 line 5"}) {
		t.Fatalf("replayed %q", texts)
	}
}

// TestKickWithoutBan: a kicked member is told and may come back.
func TestKickWithoutBan(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host, guest := dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := host.Kick(ctx, guest.ID()); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent(t, guest, func(ev lobby.Event) bool { _, ok := ev.(lobby.Kicked); return ok })
	if k := ev.(lobby.Kicked); k.Banned || k.Closed || k.By != host.ID() {
		t.Fatalf("kicked %+v", k)
	}
	hs := waitState(t, host, func(s lobby.State) bool { return len(s.Members) == 1 })
	if hs.Host != host.ID() {
		t.Fatalf("host %q", hs.Host)
	}
	if _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatalf("rejoin after a kick: %v", err)
	}
	wantCode(t, host.Kick(ctx, host.ID()), lobby.ErrNotMember, lobby.CodeNotMember)
}

// TestClientCancelAndClose: a canceled call reports context.Canceled, and
// calls after Close report ErrClosed.
func TestClientCancelAndClose(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	sc, err := signaling.Dial(context.Background(), s.url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	c := lobby.NewClient(sc, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.List(ctx, lobby.ListData{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled call: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(context.Background(), lobby.ListData{}); !errors.Is(err, lobby.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events open after Close")
	}
	// The signaling client NewClient wrapped is still the caller's.
	if _, err := sc.Ping(context.Background()); err != nil {
		t.Fatalf("signaling client after lobby Close: %v", err)
	}
	d := dial(t, s.url, nil)
	_ = d.Close()
	if _, err := d.Create(context.Background(), lobby.CreateData{Name: "x"}); !errors.Is(err, lobby.ErrClosed) {
		t.Fatalf("dialed client after Close: %v", err)
	}
}

// TestListGameIndex: lists that name a game (served from the game index)
// page exactly like a scan of every lobby would.
func TestListGameIndex(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	svc, err := lobby.New(srv, lobby.Config{})
	if err != nil {
		t.Fatal(err)
	}
	type made struct {
		id, game string
		private  bool
		rank     float64
	}
	var all []made
	for i := 0; i < 60; i++ {
		m := made{game: []string{"arena", "kart", ""}[i%3], private: i%7 == 0, rank: float64(i % 10)}
		st, err := svc.Create(fmt.Sprint("o", i), lobby.CreateData{Name: fmt.Sprint("l", i), Game: m.game, Private: m.private,
			Numbers: map[string]float64{"rank": m.rank}})
		if err != nil {
			t.Fatal(err)
		}
		m.id = st.ID
		all = append(all, m)
	}
	for _, game := range []string{"arena", "kart", "", "golf"} {
		var want, got []string
		for _, m := range all {
			if m.game == game && !m.private && m.rank >= 5 {
				want = append(want, m.id)
			}
		}
		g, r := game, 5.0
		var after uint64
		for {
			res, err := svc.List(lobby.ListData{After: after, Limit: 4, Filters: []lobby.Filter{{Key: "rank", Min: &r}, {Key: "game", Eq: &g}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range res.Lobbies {
				got = append(got, l.ID)
			}
			if res.Next == 0 {
				break
			}
			after = res.Next
		}
		if !slices.Equal(got, want) {
			t.Errorf("game %q: listed %v, want %v", game, got, want)
		}
	}
	if _, err := svc.List(lobby.ListData{Limit: 1000}); !errors.Is(err, lobby.ErrBadFilter) {
		t.Fatalf("bad page: %v", err)
	}
	_ = svc.Close()
	if _, err := svc.List(lobby.ListData{}); !errors.Is(err, lobby.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestHostOnLoopback: a Host's lobby (private, so not advertised: no
// multicast is needed) is served by the hosting process; the host role
// migrates among the members when the hosting player leaves, and closing
// the Host ends it for everyone.
func TestHostOnLoopback(t *testing.T) {
	ctx := tctx(t)
	h, err := lobby.NewHost(ctx, lobby.HostConfig{Addr: "127.0.0.1:0", Lobby: lobby.CreateData{Private: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if h.Instance() != "" {
		t.Fatalf("a private lobby advertised as %q", h.Instance())
	}
	st, ok := h.Service().State(h.LobbyID())
	if !ok || !strings.HasPrefix(st.Name, "Lobby on ") || st.Host != h.Client().ID() {
		t.Fatalf("hosted %+v", st)
	}
	if !strings.HasPrefix(h.URL(), "ws://127.0.0.1:") {
		t.Fatalf("URL %s", h.URL())
	}
	b, c := dial(t, h.URL(), nil), dial(t, h.URL(), nil)
	for _, x := range []*lobby.Client{b, c} {
		if _, err := x.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Client().Leave(ctx); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, c, func(s lobby.State) bool { return len(s.Members) == 2 && s.Host != h.Client().ID() })
	if got.Host != b.ID() {
		t.Fatalf("host %q after the hosting player left, want %q", got.Host, b.ID())
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Chat(ctx, "anyone?"); err == nil {
		t.Fatal("the lobby outlived its Host")
	}
	if err := h.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestChatFloodSurvivesRejoin: leaving and joining again does not refill
// the chat bucket.
func TestChatFloodSurvivesRejoin(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{ChatBurst: 2, ChatRate: 0.01})
	ctx := tctx(t)
	host, guest := dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := guest.Chat(ctx, "hey"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = guest.Chat(ctx, "hey")
	wantCode(t, err, lobby.ErrChatFlood, lobby.CodeChatFlood)
	if err := guest.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := guest.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = guest.Chat(ctx, "hey")
	wantCode(t, err, lobby.ErrChatFlood, lobby.CodeChatFlood)
}

// TestSyncKeepsNewerPush lands a pushed change between a lobby.sync reply
// and its storing: the client keeps the newer state instead of going back
// to the reply's.
func TestSyncKeepsNewerPush(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	m := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "sync"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	lobby.SetSyncReplyHook(m, func(replied lobby.State) {
		if err := host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"mode": "ctf"}}); err != nil {
			t.Error(err)
			return
		}
		waitState(t, m, func(st lobby.State) bool { return st.Version > replied.Version })
	})
	replied, err := m.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lobby.SetSyncReplyHook(m, nil)
	cur, _ := m.State()
	want, _ := s.svc.State(st.ID)
	if cur.Version != want.Version || cur.Meta["mode"] != "ctf" {
		t.Fatalf("holds version %d (meta %v) after sync, service at %d", cur.Version, cur.Meta, want.Version)
	}
	if replied.Version != want.Version {
		t.Fatalf("Sync returned version %d, held %d", replied.Version, want.Version)
	}
}

// TestHostMigrationAfterDrop: the host's connection breaks without a
// goodbye and does not come back; once its resume grace expires the member
// present longest is host, and the host's own client learns it lost the
// lobby when it finally reconnects.
func TestHostMigrationAfterDrop(t *testing.T) {
	s := serve(t, signaling.Config{ResumeGrace: 300 * time.Millisecond}, lobby.Config{})
	ctx := tctx(t)
	var dr droppable
	a := dial(t, s.url, &signaling.ClientConfig{NetDialContext: dr.dial, MinBackoff: 50 * time.Millisecond})
	b, c := dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := a.Create(ctx, lobby.CreateData{Name: "drop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*lobby.Client{b, c} {
		if _, err := x.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dr.pause(true)
	dr.drop()
	for _, x := range []*lobby.Client{b, c} {
		got := waitState(t, x, func(s lobby.State) bool { _, in := s.Member(a.ID()); return !in })
		if got.Host != b.ID() || len(got.Members) != 2 {
			t.Fatalf("after the host dropped: host %q, members %+v; want host %q", got.Host, got.Members, b.ID())
		}
	}
	dr.pause(false)
	ev := waitEvent(t, a, func(ev lobby.Event) bool { _, ok := ev.(lobby.Resynced); return ok })
	if rs := ev.(lobby.Resynced); !errors.Is(rs.Err, lobby.ErrNotInLobby) {
		t.Fatalf("the dropped host resynced %+v, want ErrNotInLobby", rs)
	}
	if _, in := a.State(); in {
		t.Fatal("the dropped host still holds the lobby")
	}
}

// TestChatRefillsOnInjectedClock: the chat bucket takes its time from
// Config.Now, so a test clock refills it without waiting.
func TestChatRefillsOnInjectedClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := serve(t, signaling.Config{}, lobby.Config{ChatBurst: 2, ChatRate: 1, Now: clock})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	if _, err := host.Create(ctx, lobby.CreateData{Name: "clock"}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := host.Chat(ctx, "burst"); err != nil {
			t.Fatal(err)
		}
	}
	_, err := host.Chat(ctx, "one too many")
	wantCode(t, err, lobby.ErrChatFlood, lobby.CodeChatFlood)
	advance(999 * time.Millisecond)
	_, err = host.Chat(ctx, "not yet")
	wantCode(t, err, lobby.ErrChatFlood, lobby.CodeChatFlood)
	advance(time.Millisecond)
	if _, err := host.Chat(ctx, "one token back"); err != nil {
		t.Fatalf("after 1 s at 1/s: %v", err)
	}
	_, err = host.Chat(ctx, "empty again")
	wantCode(t, err, lobby.ErrChatFlood, lobby.CodeChatFlood)
}
