package ui

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestMapView: what the lobby screen's map panel shows in each state.
func TestMapView(t *testing.T) {
	var id content.ID
	id[0] = 0xab
	names := func(id string) string { return map[string]string{"p1": "Bob", "p2": "Cy"}[id] }
	for _, tc := range []struct {
		name    string
		ms      match.MapStatus
		missing error
		want    mapView
	}{
		{"none", match.MapStatus{}, nil, mapView{Title: "Map: the default arena"}},
		{"fetching", match.MapStatus{Offered: true, ID: id, Pieces: 2, Have: 1, Bytes: 16384, Size: 32768}, nil,
			mapView{Title: "Map", Bar: true, Frac: 0.5, Detail: "fetching from the lobby · 16384/32768 bytes"}},
		{"fetched", match.MapStatus{Offered: true, ID: id, Name: "Crossfire", Complete: true, Source: match.MapSourceFetched,
			Fetch: 1500 * time.Millisecond, CacheFile: "/c/ab", Size: 10, Bytes: 10}, nil,
			mapView{Title: "Map: Crossfire", Bar: true, Frac: 1, Detail: "received from the lobby in 1.50 s · " + id.Short() + " · cached"}},
		{"cache", match.MapStatus{Offered: true, ID: id, Name: "X", Complete: true, Source: match.MapSourceCache}, nil,
			mapView{Title: "Map: X", Bar: true, Frac: 1, Detail: "loaded from the cache · " + id.Short()}},
		{"error", match.MapStatus{Offered: true, ID: id, Size: 10, Err: errors.New("boom")}, nil,
			mapView{Title: "Map", Bar: true, Detail: "boom", Err: true}},
		{"host waits", match.MapStatus{Offered: true, ID: id, Name: "X", Complete: true, Source: match.MapSourceOffered, Size: 10, Bytes: 10},
			&content.MissingError{Members: []string{"p1", "p2"}, Have: map[string]int{"p1": 1}, Pieces: 2},
			mapView{Title: "Map: X", Bar: true, Frac: 1, Detail: "offered by you · " + id.Short() + " · 10 bytes", Waiting: "Waiting for: Bob (1/2), Cy (0/2)"}},
	} {
		if got := mapViewOf(tc.ms, tc.missing, names); got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
}

// TestLobbyScreenMap drives the lobby screens of a host that offers a map
// and of a member that lacks it, without a window, over a real signaling
// server with the lobby service on loopback: the member's panel goes from
// fetching to received (and the map lands in its cache); the host's panel
// names who lacks the map until nobody does; F2's check refuses the start
// until then.
func TestLobbyScreenMap(t *testing.T) {
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
	mapFile, err := os.ReadFile(filepath.Join("..", "maps", "crossfire.json"))
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	g, err := New(Config{ServerURL: url, Players: 2, Name: "Ann", Map: mapFile})
	if err != nil {
		t.Fatal(err)
	}
	host, err := match.CreateLobby(ctx, url, g.lobbyConfig(match.LobbyConfig{Players: 3, Player: "Ann"}, true))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	n := newNetLobby(g, host)
	g.screen = n
	view := func() mapView { return mapViewOf(host.MapStatus(), host.MapMissing(n.st), n.name) }
	until(t, g, func() bool {
		v := view()
		return v.Title == "Map: Crossfire" && v.Frac == 1 && strings.Contains(v.Detail, "offered by you")
	})

	// A member that joins, gets ready and never fetches the map: the
	// host's panel names it.
	st, _ := host.Client().State()
	mute, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	if _, err := mute.JoinByCode(ctx, st.Code, lobby.JoinOptions{Member: map[string]string{match.MemberName: "Mute"}}); err != nil {
		t.Fatal(err)
	}
	until(t, g, func() bool { return view().Waiting == "Waiting for: Mute (0/1)" })

	// Bob's screen fetches it.
	g2, err := New(Config{ServerURL: url, Players: 2, Name: "Bob", MapCache: cache})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := match.JoinLobbyByCode(ctx, url, st.Code, g2.lobbyConfig(match.LobbyConfig{Player: "Bob"}, false))
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	n2 := newNetLobby(g2, bob)
	g2.screen = n2
	until(t, g2, func() bool {
		v := mapViewOf(bob.MapStatus(), bob.MapMissing(n2.st), n2.name)
		return v.Title == "Map: Crossfire" && v.Frac == 1 && strings.HasPrefix(v.Detail, "received from the lobby") && strings.HasSuffix(v.Detail, "cached")
	})
	ms := bob.MapStatus()
	if _, err := os.Stat(filepath.Join(cache, ms.ID.String())); err != nil || ms.Source != match.MapSourceFetched {
		t.Fatalf("Bob's map %+v: %v", ms, err)
	}
	// Bob has it; Mute still does not.
	until(t, g, func() bool { return view().Waiting == "Waiting for: Mute (0/1)" && n.name(bob.Client().ID()) == "Bob" })
	if err := host.MapMissing(n.st); !errors.Is(err, content.ErrMissing) {
		t.Fatalf("MapMissing with Mute in: %v", err)
	}
	// Mute leaves: nobody lacks the map.
	if err := mute.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	until(t, g, func() bool { return view().Waiting == "" && host.MapMissing(n.st) == nil && len(n.st.Members) == 2 })
}
