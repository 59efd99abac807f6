package nearby_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/signaling"
)

// byHeader authenticates the subject named in the X-User header.
type byHeader struct{}

func (byHeader) Authenticate(r *http.Request) (signaling.Identity, error) {
	u := r.Header.Get("X-User")
	if u == "" {
		return signaling.Identity{}, errors.New("no user")
	}
	return signaling.Identity{Subject: u}, nil
}

func onlineServer(t *testing.T) string {
	t.Helper()
	srv := signaling.NewServer(signaling.Config{Auth: byHeader{}})
	nearby.Serve(srv, nearby.ServiceConfig{})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func onlinePlayer(t *testing.T, url, user string, visible bool) *nearby.Nearby {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{Header: http.Header{"X-User": {user}}, DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := nearby.StartOnline(ctx, c, nearby.Config{Profile: nearby.Profile{Name: "Nick " + user, Game: "arena"}, Visible: visible})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); c.Close() })
	return n
}

func next[E nearby.Event](t *testing.T, n *nearby.Nearby, ok func(E) bool) E {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, open := <-n.Events():
			if !open {
				t.Fatal("events closed")
			}
			if e, is := ev.(E); is && (ok == nil || ok(e)) {
				return e
			}
		case <-timeout:
			var zero E
			t.Fatalf("%s: no %T", n.ID(), zero)
		}
	}
}

// TestOnline: through a server with auth, players see the recent visible
// players (ids are auth subjects), status changes and leaves; messages
// and invitations by player id arrive from the subject the server
// vouches for, in order.
func TestOnline(t *testing.T) {
	url := onlineServer(t)
	alice := onlinePlayer(t, url, "alice", true)
	if alice.ID() != "alice" {
		t.Fatalf("id %q, want the auth subject", alice.ID())
	}
	bob := onlinePlayer(t, url, "bob", true)
	carol := onlinePlayer(t, url, "carol", false) // watches, not visible
	// bob lists alice from the watch reply; alice sees bob show.
	if j := next(t, bob, func(e nearby.PlayerJoined) bool { return e.Player.ID == "alice" }); j.Player.Name != "Nick alice" || j.Player.Status != nearby.Idle {
		t.Fatalf("bob saw %+v", j.Player)
	}
	next(t, alice, func(e nearby.PlayerJoined) bool { return e.Player.ID == "bob" })
	next(t, carol, func(e nearby.PlayerJoined) bool { return e.Player.ID == "bob" })
	for _, p := range alice.Players() {
		if p.ID == "carol" {
			t.Fatal("an invisible player is listed")
		}
	}

	if err := bob.SetStatus(context.Background(), nearby.InLobby); err != nil {
		t.Fatal(err)
	}
	next(t, alice, func(e nearby.PlayerChanged) bool { return e.Player.ID == "bob" && e.Player.Status == nearby.InLobby })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := alice.Post("bob", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		m := next[nearby.MessageReceived](t, bob, nil)
		if m.Text != fmt.Sprint(i) || m.From.ID != "alice" || m.From.Name != "Nick alice" {
			t.Fatalf("message %d: %+v", i, m)
		}
	}
	// carol is not visible but reachable by id.
	id, err := bob.Invite(ctx, "carol", nearby.Invitation{Lobby: "L42", Name: "Bob's"})
	if err != nil {
		t.Fatal(err)
	}
	inv := next[nearby.InviteReceived](t, carol, nil)
	if inv.From.ID != "bob" || inv.Invitation.Lobby != "L42" || inv.Invitation.ID != id {
		t.Fatalf("invitation %+v", inv)
	}
	if err := carol.Answer(ctx, inv.From.ID, id, false); err != nil {
		t.Fatal(err)
	}
	if a := next[nearby.InviteAnswered](t, bob, nil); a.From.ID != "carol" || a.Accepted || a.ID != id {
		t.Fatalf("answer %+v", a)
	}
	if err := alice.Send(ctx, "nobody", "hi"); !errors.Is(err, nearby.ErrUnknownPlayer) {
		t.Fatalf("to an unknown id: %v", err)
	}

	if err := bob.SetVisible(ctx, false); err != nil {
		t.Fatal(err)
	}
	next(t, alice, func(e nearby.PlayerLeft) bool { return e.Player.ID == "bob" })
	alice.Close()
	next(t, carol, func(e nearby.PlayerLeft) bool { return e.Player.ID == "alice" })
}

// TestOnlineReconnect: a player whose connection drops comes back (the
// session resumes) still visible, still listed, and messages flow both
// ways again.
func TestOnlineReconnect(t *testing.T) {
	url := onlineServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var mu sync.Mutex
	var conn net.Conn
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		mu.Lock()
		conn = c
		mu.Unlock()
		return c, err
	}
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{Header: http.Header{"X-User": {"dora"}}, NetDialContext: dialer})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dora, err := nearby.StartOnline(ctx, c, nearby.Config{Profile: nearby.Profile{Name: "Dora"}, Visible: true})
	if err != nil {
		t.Fatal(err)
	}
	defer dora.Close()
	eve := onlinePlayer(t, url, "eve", true)
	next(t, eve, func(e nearby.PlayerJoined) bool { return e.Player.ID == "dora" })
	next(t, dora, func(e nearby.PlayerJoined) bool { return e.Player.ID == "eve" })

	mu.Lock()
	conn.Close()
	mu.Unlock()
	if err := eve.Send(ctx, "dora", "are you back?"); err != nil {
		t.Fatal(err)
	}
	if m := next[nearby.MessageReceived](t, dora, nil); m.Text != "are you back?" || m.From.ID != "eve" {
		t.Fatalf("got %+v", m)
	}
	if err := dora.Send(ctx, "eve", "yes"); err != nil {
		t.Fatal(err)
	}
	next(t, eve, func(m nearby.MessageReceived) bool { return m.Text == "yes" })
	for _, p := range eve.Players() {
		if p.ID == "dora" {
			return
		}
	}
	t.Fatal("dora is no longer listed")
}
