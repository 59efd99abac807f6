package ui

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestNearbyScreen: the Nearby screen makes the player visible and lists
// another player with its status; an invitation from it waits in the
// menu's notification until the player declines it, which the inviter
// hears. The presence runs through a server here (no multicast in the
// test's namespace); on a LAN it is the same API.
func TestNearbyScreen(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	nearby.Serve(srv, nearby.ServiceConfig{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	dial := func() *signaling.Client {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		return c
	}
	other, err := nearby.StartOnline(ctx, dial(), nearby.Config{Profile: nearby.Profile{Name: "Zoe", Status: nearby.InMatch}, Visible: true})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	g, err := New(Config{Name: "Max", Nearby: func(ctx context.Context, cfg nearby.Config) (*nearby.Nearby, error) {
		return nearby.StartOnline(ctx, dial(), cfg)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.closeNearby()
	g.screen = newNearbyScreen(g)
	if s := g.screen.(*nearbyScreen); s.err != nil {
		t.Fatal(s.err)
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if ctx.Err() != nil {
				t.Fatalf("never: %s", what)
			}
			if err := g.Update(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	until("Zoe listed", func() bool {
		ps := g.nearby.players
		return len(ps) == 1 && ps[0].Name == "Zoe" && ps[0].Status == nearby.InMatch
	})
	me := g.nearby.n.ID()
	seen := false
	for !seen && ctx.Err() == nil {
		for _, p := range other.Players() {
			seen = seen || p.ID == me && p.Name == "Max"
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !seen {
		t.Fatal("Zoe never saw Max")
	}
	id, err := other.Invite(ctx, me, nearby.Invitation{Lobby: "L1", Name: "Zoe's lobby", Port: 7000})
	if err != nil {
		t.Fatal(err)
	}
	g.screen = newMenu(g)
	until("the invitation waits in the menu", func() bool { return len(g.nearby.invites) == 1 })
	if inv := g.nearby.invites[0]; inv.Invitation.ID != id || inv.From.Name != "Zoe" {
		t.Fatalf("invitation %+v", inv)
	}
	g.answerInvite(false)
	if len(g.nearby.invites) != 0 {
		t.Fatal("the invitation still waits")
	}
	for {
		select {
		case ev := <-other.Events():
			if a, ok := ev.(nearby.InviteAnswered); ok {
				if a.Accepted || a.ID != id || a.From.ID != me {
					t.Fatalf("answer %+v", a)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no answer")
		}
	}
}

// TestNearbyOnlineInvite: with a server, the Nearby screen's invitation
// is to an online lobby: accepting one joins the inviter's lobby by its
// code, and the lobby screen opens with both members; inviting creates a
// lobby that the invitee can join from the invitation alone.
func TestNearbyOnlineInvite(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	if _, err := lobby.New(srv, lobby.Config{}); err != nil {
		t.Fatal(err)
	}
	nearby.Serve(srv, nearby.ServiceConfig{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	start := func(ctx context.Context, cfg nearby.Config) (*nearby.Nearby, error) {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		return nearby.StartOnline(ctx, c, cfg)
	}
	zoe, err := start(ctx, nearby.Config{Profile: nearby.Profile{Name: "Zoe"}, Visible: true})
	if err != nil {
		t.Fatal(err)
	}
	defer zoe.Close()
	g, err := New(Config{Name: "Max", ServerURL: url, Nearby: start})
	if err != nil {
		t.Fatal(err)
	}
	defer g.closeNearby()
	g.screen = newNearbyScreen(g)
	until(t, g, func() bool { return len(g.nearby.players) == 1 })

	// Zoe invites Max to her online lobby; Max accepts and joins it.
	zl, err := match.CreateLobby(ctx, url, match.LobbyConfig{Players: 2, Player: "Zoe"})
	if err != nil {
		t.Fatal(err)
	}
	defer zl.Close()
	st, _ := zl.Client().State()
	if _, err := zoe.Invite(ctx, g.nearby.n.ID(), nearby.Invitation{Lobby: st.ID, Code: st.Code, Name: st.Name, URL: url}); err != nil {
		t.Fatal(err)
	}
	until(t, g, func() bool { return len(g.nearby.invites) == 1 })
	g.answerInvite(true)
	until(t, g, func() bool { _, ok := g.screen.(*netLobby); return ok })
	nl := g.screen.(*netLobby)
	until(t, g, func() bool { return nl.st.ID == st.ID && len(nl.st.Members) == 2 })
	nl.leave(g, "")

	// Max invites Zoe: a new lobby on the server, joinable by the code
	// the invitation carries.
	g.screen = newNearbyScreen(g)
	g.inviteTo(g.nearby.players[0])
	var inv nearby.InviteReceived
	for got := false; !got; {
		select {
		case ev := <-zoe.Events():
			inv, got = ev.(nearby.InviteReceived)
		case <-ctx.Done():
			t.Fatal("no invitation")
		}
	}
	until(t, g, func() bool { _, ok := g.screen.(*netLobby); return ok })
	if inv.Invitation.URL != url || inv.Invitation.Code == "" || inv.From.ID != g.nearby.n.ID() {
		t.Fatalf("invitation %+v", inv)
	}
	zj, err := match.JoinLobbyByCode(ctx, url, inv.Invitation.Code, match.LobbyConfig{Player: "Zoe"})
	if err != nil {
		t.Fatal(err)
	}
	defer zj.Close()
	nl = g.screen.(*netLobby)
	until(t, g, func() bool { return len(nl.st.Members) == 2 })
	nl.leave(g, "")
}
