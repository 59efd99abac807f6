package match

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// lobbyServer starts a real signaling server with the lobby service on
// loopback.
func lobbyServer(t *testing.T) string {
	t.Helper()
	srv := signaling.NewServer(signaling.Config{})
	if _, err := lobby.New(srv, lobby.Config{}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

// TestLobbyMatch goes through a real online lobby: a host creates it, two
// players join by its code and get ready, the host starts it once all
// three are in, and on lobby.Started every member connects the WebRTC mesh
// and plays; the seats follow the lobby's join order and every peer ends
// on the same confirmed state.
func TestLobbyMatch(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host, err := CreateLobby(ctx, url, LobbyConfig{Players: 3, Seed: 11, Player: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := host.Client().State()
	if st.Code == "" || st.Game != LobbyGame || st.MaxMembers != 3 || st.Meta[MetaSeed] != "11" || host.Seed() != 11 || !host.IsHost() {
		t.Fatalf("created lobby: %+v", st)
	}
	lobbies := []*Lobby{host}
	for _, name := range []string{"bob", "cy"} {
		// Codes are typed: lower case and a dash are fine.
		l, err := JoinLobbyByCode(ctx, url, strings.ToLower(st.Code[:3]+"-"+st.Code[3:]), LobbyConfig{Player: name})
		if err != nil {
			t.Fatal(err)
		}
		if l.Seed() != 11 || l.IsHost() {
			t.Fatalf("%s: seed %d, host %v", name, l.Seed(), l.IsHost())
		}
		lobbies = append(lobbies, l)
	}
	const frames = 180
	sessions := make([]*Online, len(lobbies))
	results := make([]Result, len(lobbies))
	errs := make([]error, len(lobbies))
	var wg sync.WaitGroup
	for i, l := range lobbies {
		wg.Go(func() {
			sessions[i], errs[i] = l.AwaitStart(ctx, true)
			if errs[i] != nil {
				l.Close()
				return
			}
			defer sessions[i].Close()
			results[i], errs[i] = Run(ctx, sessions[i], RunConfig{Frames: frames, Fast: true})
			if _, err := sessions[i].ReportResult(ctx, 0); errs[i] == nil && !errors.Is(err, ErrNoMatchmaker) {
				errs[i] = fmt.Errorf("reporting a lobby's match to the matchmaker: %v, want ErrNoMatchmaker", err)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	for i, r := range results {
		if sessions[i].Seat() != i || sessions[i].Room() != sessions[0].Room() || r.Players != 3 {
			t.Fatalf("member %d: seat %d in %s, member 0 in %s", i, sessions[i].Seat(), sessions[i].Room(), sessions[0].Room())
		}
		if r.Frames != frames || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.ChecksumHex != results[0].ChecksumHex {
			t.Fatalf("member %d: %s, member 0: %s", i, r.JSON(), results[0].JSON())
		}
	}
	// The match closed the lobbies: their calls fail now.
	if _, err := host.Client().Chat(ctx, "gg"); !errors.Is(err, lobby.ErrClosed) {
		t.Fatalf("chat after the match: %v, want lobby.ErrClosed", err)
	}
}

// TestLobbyErrors checks the lobby calls' checks and coded errors.
func TestLobbyErrors(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := CreateLobby(ctx, url, LobbyConfig{Players: 5}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("5 players: %v", err)
	}
	if _, err := CreateLobby(ctx, "http://x/ws", LobbyConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("http URL: %v", err)
	}
	if _, err := JoinLobbyByCode(ctx, url, "ABC0O1", LobbyConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("code with look-alikes: %v", err)
	}
	if _, err := JoinLobbyByCode(ctx, url, "ABCDEF", LobbyConfig{}); !errors.Is(err, lobby.ErrNotFound) {
		t.Errorf("unknown code: %v", err)
	}
	// A lobby of another game is not joined as an arena lobby.
	other, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	st, err := other.Create(ctx, lobby.CreateData{Name: "chess", Game: "chess"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{}); !errors.Is(err, ErrBadConfig) {
		t.Errorf("chess lobby: %v", err)
	}
	// A full lobby.
	l, err := CreateLobby(ctx, url, LobbyConfig{Players: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	st, _ = l.Client().State()
	j, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if _, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{}); !errors.Is(err, lobby.ErrFull) {
		t.Errorf("full lobby: %v", err)
	}
	// A canceled wait for the start.
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	if _, err := l.AwaitStart(cctx, true); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled AwaitStart: %v", err)
	}
	// A kicked member's wait ends.
	done := make(chan error, 1)
	go func() {
		_, err := j.AwaitStart(ctx, true)
		done <- err
	}()
	waitReady(t, l, j.Client().ID())
	if err := l.Client().Kick(ctx, j.Client().ID()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "kicked") {
		t.Errorf("kicked member's AwaitStart: %v", err)
	}
}

// waitReady waits until l's state shows member id ready.
func waitReady(t *testing.T, l *Lobby, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if st, ok := l.Client().State(); ok {
			if m, ok := st.Member(id); ok && m.Ready {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("member %s never got ready", id)
}
