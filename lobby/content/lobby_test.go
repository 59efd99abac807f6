package content_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestLobbyOffersContent: the host of an online lobby offers content in the
// lobby's metadata; the members fetch it from each other over a mesh of
// their own (a room named "content:" and the lobby id, on the same server) and report
// progress in their member metadata. Before they have it, starting the
// match fails and names who is missing it; once they do, it starts.
func TestLobbyOffersContent(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	srv := signaling.NewServer(signaling.Config{})
	svc, err := lobby.New(srv, lobby.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	defer svc.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const players = 4
	clients := make([]*lobby.Client, players)
	for i := range clients {
		c, err := lobby.Dial(ctx, url, &lobby.ClientConfig{Signaling: &signaling.ClientConfig{DisableReconnect: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	host := clients[0]
	st, err := host.Create(ctx, lobby.CreateData{Name: "custom map", MaxMembers: players, Meta: map[string]string{"mode": "ctf"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clients[1:] {
		if _, err := c.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReady(ctx, true); err != nil {
			t.Fatal(err)
		}
	}
	// The content mesh: every member in the lobby's content room.
	nodes := make([]*node, players)
	for i := range nodes {
		sc, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer sc.Close()
		if _, err := sc.Join(ctx, "content:"+st.ID); err != nil {
			t.Fatal(err)
		}
		nodes[i] = startNode(t, sc, false, content.Config{PieceSize: content.MinPieceSize})
		defer nodes[i].close()
	}
	data := bytes.Repeat([]byte("a custom arena "), 40000) // 600 KB
	ref, err := nodes[0].swarm.Seed(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := content.Offer(ctx, host, ref); err != nil {
		t.Fatal(err)
	}
	waitLobby(t, host, func(s lobby.State) bool { refs, _ := content.Offered(s); return len(refs) == 1 })
	if err := content.ReportProgress(ctx, host, nodes[0].swarm); err != nil {
		t.Fatal(err)
	}
	// Every member sees the offer; nobody else has the content yet.
	waitLobby(t, host, func(s lobby.State) bool {
		m, _ := s.Member(host.ID())
		return strings.HasSuffix(m.Meta["content.0"], "/37") && s.Meta["mode"] == "ctf"
	})
	_, err = content.Start(ctx, host)
	var me *content.MissingError
	if !errors.As(err, &me) || !errors.Is(err, content.ErrMissing) || len(me.Members) != players-1 || me.Pieces != ref.Pieces() {
		t.Fatalf("start before the members have the content: %v", err)
	}
	t.Log(err)
	for i, c := range clients[1:] {
		s := waitLobby(t, c, func(s lobby.State) bool { refs, _ := content.Offered(s); return len(refs) == 1 })
		refs, _ := content.Offered(s)
		if refs[0] != ref {
			t.Fatalf("offered %v, want %v", refs[0], ref)
		}
		for _, n := range nodes {
			if err := n.mesh.WaitConnected(ctx, players-1); err != nil {
				t.Fatal(err)
			}
		}
		if err := nodes[i+1].swarm.Fetch(refs[0]); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range clients[1:] {
		waitComplete(t, nodes[i+1], ref.ID, 60*time.Second)
		if err := content.ReportProgress(ctx, c, nodes[i+1].swarm); err != nil {
			t.Fatal(err)
		}
	}
	waitLobby(t, host, func(s lobby.State) bool { return content.Missing(s) == nil })
	s, err := content.Start(ctx, host)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Peers) != players {
		t.Fatalf("started %+v", s)
	}
}

// waitLobby waits for a lobby state that satisfies ok.
func waitLobby(t *testing.T, c *lobby.Client, ok func(lobby.State) bool) lobby.State {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if st, in := c.State(); in && ok(st) {
			return st
		}
		select {
		case <-c.Events():
		case <-deadline:
			st, _ := c.State()
			t.Fatalf("%s: no matching lobby state; last %+v", c.ID(), st)
		}
	}
}
