package match

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
)

func crossfire(t *testing.T) ([]byte, arena.Map) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "maps", "crossfire.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := arena.ParseMap(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, m
}

// TestLobbyMapMatch: the host of an online lobby offers a map; two members
// without it fetch it (one of them finds a damaged copy in its cache,
// which is thrown away), the host starts once both have it, and the three
// play the match on that map. In a second lobby the members load it from
// their caches.
func TestLobbyMapMatch(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	data, m := crossfire(t)
	dir := t.TempDir()
	caches := []string{filepath.Join(dir, "c1"), filepath.Join(dir, "c2")}
	id := content.ID(sha(data))
	// A damaged copy under the map's id: the cache check refuses it.
	if err := os.MkdirAll(caches[1], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(caches[1], id.String()), []byte("not the map"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round, want := range []string{MapSourceFetched, MapSourceCache} {
		var mu sync.Mutex
		var hostSaw []MapStatus
		host, err := CreateLobby(ctx, url, LobbyConfig{Players: 3, Seed: 3, Player: "ann", Map: data,
			OnMap: func(s MapStatus) { mu.Lock(); hostSaw = append(hostSaw, s); mu.Unlock() }})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := host.Client().State()
		lobbies := []*Lobby{host}
		for i, c := range caches {
			l, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{Player: []string{"bob", "cy"}[i], MapCache: c})
			if err != nil {
				t.Fatal(err)
			}
			lobbies = append(lobbies, l)
		}
		results, sessions := playLobbies(t, ctx, lobbies, 120)
		for i, r := range results {
			s := sessions[i].State()
			if s.Map != m.Layout || r.Map == nil || r.Map.ID != id.String() || r.Map.Name != "Crossfire" || r.ChecksumHex != results[0].ChecksumHex {
				t.Fatalf("round %d, member %d: map %+v, result %s", round, i, r.Map, r.JSON())
			}
			switch {
			case i == 0 && r.Map.Source != MapSourceOffered, i > 0 && r.Map.Source != want:
				t.Fatalf("round %d, member %d: map from %q, want %q", round, i, r.Map.Source, want)
			case i > 0 && r.Map.CacheFile != filepath.Join(caches[i-1], id.String()):
				t.Fatalf("round %d, member %d: cache file %q", round, i, r.Map.CacheFile)
			}
		}
		if b, err := os.ReadFile(filepath.Join(caches[1], id.String())); err != nil || string(b) != string(data) {
			t.Fatalf("round %d: the damaged cache file was not replaced: %v", round, err)
		}
		mu.Lock()
		if len(hostSaw) == 0 || !hostSaw[0].Complete || hostSaw[0].Source != MapSourceOffered {
			t.Fatalf("round %d: the host saw %+v", round, hostSaw)
		}
		mu.Unlock()
		for _, s := range sessions {
			s.Close()
		}
	}
}

// playLobbies waits for every lobby's start (AwaitStart) and plays frames.
func playLobbies(t *testing.T, ctx context.Context, lobbies []*Lobby, frames int) ([]Result, []*Online) {
	t.Helper()
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
			results[i], errs[i] = Run(ctx, sessions[i], RunConfig{Frames: frames, Fast: true})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, s := range sessions {
				if s != nil {
					s.Close()
				}
			}
			t.Fatalf("member %d: %v", i, err)
		}
	}
	return results, sessions
}

// TestLobbyMapMissing: a member that never gets the map holds the start:
// the host's AwaitStart does not start, and its MapStatus names that
// member; Play without the map fails with ErrMapMissing.
func TestLobbyMapMissing(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	data, _ := crossfire(t)
	if _, err := CreateLobby(ctx, url, LobbyConfig{Map: []byte(`{"arena":1}`)}); !errors.Is(err, ErrBadConfig) || !errors.Is(err, arena.ErrMapSyntax) {
		t.Fatalf("a bad map: %v", err)
	}
	missing := make(chan *content.MissingError, 16)
	host, err := CreateLobby(ctx, url, LobbyConfig{Players: 2, Map: data, OnMap: func(s MapStatus) {
		if s.Missing != nil {
			select {
			case missing <- s.Missing:
			default: // OnMap must not block
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	st, _ := host.Client().State()
	// A member with no map sharing at all: it is ready but never reports.
	mute, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	if _, err := mute.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mute.SetReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		o, err := host.AwaitStart(actx, true)
		if o != nil {
			o.Close()
		}
		done <- err
	}()
	// The host lacks nothing once its own report is in; the mute member
	// stays missing.
	for waiting := true; waiting; {
		select {
		case me := <-missing:
			if len(me.Members) == 1 && me.Members[0] == host.Client().ID() {
				continue // the host's own report is on its way
			}
			if len(me.Members) != 1 || me.Members[0] != mute.ID() || me.Have[mute.ID()] != 0 || me.Pieces != 1 ||
				!strings.Contains(me.Error(), mute.ID()) {
				continue
			}
			waiting = false
		case err := <-done:
			t.Fatalf("AwaitStart returned %v with a member lacking the map", err)
		case <-ctx.Done():
			t.Fatal("the host never said that only the mute member lacks the map")
		}
	}
	if ms := host.MapStatus(); ms.Missing == nil || len(ms.Missing.Members) != 1 {
		t.Fatalf("the host's map status: %+v", ms)
	}
	acancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("AwaitStart: %v", err)
	}
	st, ok := host.Client().State()
	if !ok || st.Session != nil {
		t.Fatal("the lobby started")
	}
	// A lobby whose map this player does not have cannot be played.
	var nobody *mapShare
	if _, err := nobody.layoutFor(st); !errors.Is(err, ErrMapMissing) {
		t.Fatalf("layoutFor without the map: %v", err)
	}
	if l, err := nobody.layoutFor(lobby.State{}); l != nil || err != nil {
		t.Fatalf("layoutFor with no map offered: %v %v", l, err)
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// TestSpectatorMap: a spectator plays the lobby's map from its -map file
// or its cache, and refuses to watch without it.
func TestSpectatorMap(t *testing.T) {
	data, m := crossfire(t)
	ref, _, err := content.MakeRef(data, mapPieceSize)
	if err != nil {
		t.Fatal(err)
	}
	st := lobby.State{Meta: map[string]string{content.MetaKeyPrefix + "0": ref.String()}}
	if l, err := spectatorMap(lobby.State{}, LobbyConfig{}); l != nil || err != nil {
		t.Fatalf("no map offered: %v %v", l, err)
	}
	if _, err := spectatorMap(st, LobbyConfig{}); !errors.Is(err, ErrMapMissing) {
		t.Fatalf("no copy: %v", err)
	}
	if _, err := spectatorMap(st, LobbyConfig{Map: append([]byte(" "), data...)}); !errors.Is(err, ErrMapMissing) {
		t.Fatalf("another file: %v", err)
	}
	if l, err := spectatorMap(st, LobbyConfig{Map: data}); err != nil || *l != m.Layout {
		t.Fatalf("the -map file: %v", err)
	}
	dir := t.TempDir()
	if err := (content.Cache{Dir: dir}).Store(ref.ID, data); err != nil {
		t.Fatal(err)
	}
	if l, err := spectatorMap(st, LobbyConfig{MapCache: dir}); err != nil || *l != m.Layout {
		t.Fatalf("the cache: %v", err)
	}
}
