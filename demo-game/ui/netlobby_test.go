package ui

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestNetLobbyScreen drives the real lobby screen without a window, over a
// real signaling server with the lobby service on loopback: a second player
// joins by code, chats and gets ready, and the screen (which only drains
// events in Update) shows it; the host's start moves the screen to the
// connect step of the match.
func TestNetLobbyScreen(t *testing.T) {
	if _, err := New(Config{Start: "online"}); !errors.Is(err, match.ErrBadConfig) {
		t.Fatalf("online start screen with no server: %v", err)
	}
	srv := signaling.NewServer(signaling.Config{})
	if _, err := lobby.New(srv, lobby.Config{}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer srv.Close()
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var codes []string
	g, err := New(Config{ServerURL: url, Players: 3, Name: "Ann", LobbyCode: func(c string) { codes = append(codes, c) }})
	if err != nil {
		t.Fatal(err)
	}
	host, err := match.CreateLobby(ctx, url, match.LobbyConfig{Players: 3, Player: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	n := newNetLobby(g, host)
	g.screen = n
	st, _ := host.Client().State()
	if len(codes) != 1 || codes[0] != st.Code || !n.isHost() {
		t.Fatalf("codes %v for lobby %s, host %v", codes, st.Code, n.isHost())
	}
	bob, err := match.JoinLobbyByCode(ctx, url, st.Code, match.LobbyConfig{Player: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if _, err := bob.Client().Chat(ctx, "hi Ann"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Client().SetReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	bobID := bob.Client().ID()
	until(t, g, func() bool {
		m, ok := n.st.Member(bobID)
		return ok && m.Ready && len(n.chat) == 2
	})
	if n.name(bobID) != "Bob" || n.seat(bobID) != 1 || n.chat[1] != (chatMsg{"Bob", "hi Ann", 1}) {
		t.Fatalf("Bob: name %q, seat %d, chat %+v", n.name(bobID), n.seat(bobID), n.chat)
	}
	// The host starts (F2 runs the same call); every member gets Started.
	n.call(func(ctx context.Context, c *lobby.Client) error {
		_, err := c.Start(ctx)
		return err
	})
	until(t, g, func() bool { _, ok := g.screen.(*connect); return ok })
	// The connect screen is connecting the mesh with Bob, who does not
	// play: leaving it cancels the dial, which closes the lobby.
	c := g.screen.(*connect)
	c.cancel()
	if d := <-c.done; d.err == nil {
		d.sess.Close()
		t.Fatal("the match connected without Bob")
	}
	if _, err := host.Client().Chat(ctx, "still here?"); !errors.Is(err, lobby.ErrClosed) {
		t.Fatalf("the lobby is still open after the failed start: %v", err)
	}
}

// until calls g.Update until cond holds.
func until(t *testing.T, g *Game, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; screen %T", g.screen)
		}
		if err := g.Update(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
