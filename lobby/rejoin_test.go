package lobby_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestRejoinLobbySession: a member whose connection is cut mid-match (its
// session still waiting out the resume grace, as a killed process's does)
// comes back on a new connection with its rejoin ticket. Its seat in
// Session.Peers and its member entry (metadata and ready flag) move to the
// new peer id, the others see the change, and a second rejoin of the new
// connection's ticket works the same way after that member's connection
// closed for good. Bad tickets and tickets of rooms no lobby plays are
// refused with codes.
func TestRejoinLobbySession(t *testing.T) {
	for _, lan := range []bool{false, true} {
		name := "online"
		if lan {
			name = "lan"
		}
		t.Run(name, func(t *testing.T) {
			sc := signaling.Config{ResumeGrace: time.Minute}
			var url string
			var host *lobby.Client
			if lan {
				h, err := lobby.NewHost(tctx(t), lobby.HostConfig{Addr: "127.0.0.1:0", Signaling: sc,
					Lobby: lobby.CreateData{Name: "lan cup", Private: true}, Service: lobby.Config{StartWithoutReady: true}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = h.Close() })
				url, host = h.URL(), h.Client()
			} else {
				s := serve(t, sc, lobby.Config{StartWithoutReady: true})
				url, host = s.url, dial(t, s.url, nil)
				if _, err := host.Create(tctx(t), lobby.CreateData{Name: "cup"}); err != nil {
					t.Fatal(err)
				}
			}
			rejoinLobbySession(t, url, host)
		})
	}
}

func rejoinLobbySession(t *testing.T, url string, host *lobby.Client) {
	ctx := tctx(t)
	st, _ := host.State()
	dr := &droppable{}
	b := dial(t, url, nil)
	c := dial(t, url, &signaling.ClientConfig{NetDialContext: dr.dial, DisableReconnect: true})
	if _, err := b.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JoinByCode(ctx, st.Code, lobby.JoinOptions{Member: map[string]string{"name": "carol"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	sess, err := host.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, func(ev lobby.Event) bool { _, ok := ev.(lobby.Started); return ok })
	ticket := c.Signaling().RejoinTicket()
	if room, peer, ok := signaling.TicketSeat(ticket); !ok || room != sess.ID || peer != c.ID() {
		t.Fatalf("member's ticket %q: room %q peer %q, want %q %q", ticket, room, peer, sess.ID, c.ID())
	}

	// Bad tickets: malformed, not this server's, of a room no lobby plays.
	r := dial(t, url, nil)
	_, _, err = r.Rejoin(ctx, "nonsense", lobby.JoinOptions{})
	if !errors.Is(err, &signaling.Error{Code: signaling.CodeInvalidTicket}) {
		t.Fatalf("rejoin with a malformed ticket: %v", err)
	}
	_, err = r.Signaling().Request(ctx, lobby.TypeRejoin, json.RawMessage(`{"ticket":"x"}`))
	wantCode(t, err, nil, lobby.CodeBadRequest)
	_, err = r.Signaling().Request(ctx, lobby.TypeRejoin, json.RawMessage(`{"ticket":"`+ticket+`"}`))
	wantCode(t, err, nil, lobby.CodeNotMember) // not in the session's room

	// The connection is cut: the old session waits out its grace, still a
	// member. The new connection takes its place.
	dr.drop()
	st2, roster, err := r.Rejoin(ctx, ticket, lobby.JoinOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(sess.Peers)
	want[slices.Index(want, c.ID())] = r.ID()
	if !slices.Equal(st2.Session.Peers, want) || roster.Self != netcode.PeerID(r.ID()) || roster.SeatOf(roster.Self) != 2 {
		t.Fatalf("rejoined: session %+v roster %+v, want peers %v", st2.Session, roster, want)
	}
	i := slices.IndexFunc(st2.Members, func(m lobby.Member) bool { return m.ID == r.ID() })
	if i < 0 || st2.Members[i].Meta["name"] != "carol" || !st2.Members[i].Ready ||
		slices.ContainsFunc(st2.Members, func(m lobby.Member) bool { return m.ID == c.ID() }) {
		t.Fatalf("members after the rejoin: %+v", st2.Members)
	}
	if r.Signaling().Room() != sess.ID {
		t.Fatalf("rejoined client in room %q, want %q", r.Signaling().Room(), sess.ID)
	}
	for _, m := range []*lobby.Client{host, b} {
		waitState(t, m, func(s lobby.State) bool { return s.Session != nil && slices.Equal(s.Session.Peers, want) })
	}
	// Asking again answers the same.
	if st3, _, err := r.Rejoin(ctx, ticket, lobby.JoinOptions{}); err != nil || !slices.Equal(st3.Session.Peers, want) {
		t.Fatalf("second rejoin: %+v %v", st3.Session, err)
	}

	// The rejoined connection ends for good; a third connection rejoins
	// with its ticket and fresh metadata.
	ticket2 := r.Signaling().RejoinTicket()
	if ticket2 == "" || ticket2 == ticket {
		t.Fatalf("rejoined client's ticket %q", ticket2)
	}
	gone := r.ID()
	_ = r.Close()
	waitState(t, host, func(s lobby.State) bool {
		return !slices.ContainsFunc(s.Members, func(m lobby.Member) bool { return m.ID == gone })
	})
	r2 := dial(t, url, nil)
	st4, _, err := r2.Rejoin(ctx, ticket2, lobby.JoinOptions{Member: map[string]string{"name": "carol2"}})
	if err != nil {
		t.Fatal(err)
	}
	want[2] = r2.ID()
	i = slices.IndexFunc(st4.Members, func(m lobby.Member) bool { return m.ID == r2.ID() })
	if !slices.Equal(st4.Session.Peers, want) || i < 0 || st4.Members[i].Meta["name"] != "carol2" || len(st4.Members) != 3 {
		t.Fatalf("after the second rejoin (r2 %s, gone %s, want %v, peers %v): %+v", r2.ID(), gone, want, st4.Session.Peers, st4)
	}
	// A spectator's own ticket does not take a player's place.
	w := dial(t, url, nil)
	if _, _, err := w.Spectate(ctx, "", st.Code, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err = w.Rejoin(ctx, w.Signaling().RejoinTicket(), lobby.JoinOptions{})
	wantCode(t, err, lobby.ErrNotMember, lobby.CodeNotMember)
}

// TestRejoinOutsideLobbies: a ticket of a room that no lobby plays (a
// grouping of next arrivals) takes the seat back and then fails with
// ErrNotFound, the signaling client holding the room.
func TestRejoinOutsideLobbies(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	a, b := dial(t, s.url, nil), dial(t, s.url, nil)
	done := make(chan error, 1)
	go func() { _, err := a.Signaling().JoinNext(ctx, "g", 2); done <- err }()
	if _, err := b.Signaling().JoinNext(ctx, "g", 2); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ticket := b.Signaling().RejoinTicket()
	room := b.Signaling().Room()
	_ = b.Close()
	r := dial(t, s.url, nil)
	_, _, err := r.Rejoin(ctx, ticket, lobby.JoinOptions{})
	wantCode(t, err, lobby.ErrNotFound, lobby.CodeNotFound)
	if r.Signaling().Room() != room || len(r.Signaling().Seats()) != 2 {
		t.Fatalf("after the refused lobby.rejoin: room %q seats %v", r.Signaling().Room(), r.Signaling().Seats())
	}
}

// TestRejoinAfterSessionEnded: the signaling server has removed a
// member's session for good but the lobby service has not had the
// departure yet (OnPeerGone runs after the removal, on the departing
// connection's goroutine; a hook registered before the service's holds it
// there). A rejoin with that member's ticket arriving in between finds the
// member still listed; it must treat it as gone, as it would a moment
// later: the request's metadata, not ready, and the old member out. The
// departure, let through afterwards, changes nothing.
func TestRejoinAfterSessionEnded(t *testing.T) {
	var target atomic.Value // the peer whose departure is held
	target.Store("")
	removed, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sc := signaling.Config{ResumeGrace: time.Minute, OnPeerGone: func(p string) {
		if p == target.Load().(string) {
			close(removed)
			<-release
		}
	}}
	s := serve(t, sc, lobby.Config{StartWithoutReady: true})
	// Before the server's Close, which waits for the held goroutine.
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	after := make(chan string, 16) // runs after the service's hook
	s.srv.OnPeerGone(func(p string) {
		select {
		case after <- p:
		default:
		}
	})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "cup"})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.url, nil)
	if _, err := c.JoinByCode(ctx, st.Code, lobby.JoinOptions{Member: map[string]string{"name": "carol"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	sess, err := host.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, func(ev lobby.Event) bool { _, ok := ev.(lobby.Started); return ok })
	ticket, old := c.Signaling().RejoinTicket(), c.ID()
	target.Store(old)
	_ = c.Close() // a normal close: the session ends for good at once
	select {
	case <-removed:
	case <-ctx.Done():
		t.Fatal("the server did not remove the closed session")
	}
	if ls, _ := s.svc.State(st.ID); !slices.ContainsFunc(ls.Members, func(m lobby.Member) bool { return m.ID == old }) {
		t.Fatalf("the service lost %s before its departure was let through: %+v", old, ls.Members)
	}

	r := dial(t, s.url, nil)
	st2, _, err := r.Rejoin(ctx, ticket, lobby.JoinOptions{Member: map[string]string{"name": "carol2"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{sess.Peers[0], r.ID()}
	check := func(what string, got lobby.State) {
		t.Helper()
		i := slices.IndexFunc(got.Members, func(m lobby.Member) bool { return m.ID == r.ID() })
		if !slices.Equal(got.Session.Peers, want) || i < 0 || got.Members[i].Meta["name"] != "carol2" ||
			got.Members[i].Ready || len(got.Members) != 2 {
			t.Fatalf("%s (old %s, new %s): %+v", what, old, r.ID(), got)
		}
	}
	check("rejoined", st2)

	once.Do(func() { close(release) })
	for p := ""; p != old; {
		select {
		case p = <-after:
		case <-ctx.Done():
			t.Fatal("the departure did not pass the service")
		}
	}
	ls, _ := s.svc.State(st.ID)
	check("after the departure", ls)
	if ls.Version != st2.Version {
		t.Fatalf("the departure changed the lobby: version %d, the rejoin's %d", ls.Version, st2.Version)
	}
}
