package mmclient_test

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestOneConnectionForLobbyMatchmakerAndMesh: each player has one
// signaling connection shared by a lobby Client, a matchmaker Client and a
// mesh-style SubscribeSignals subscriber, with the application's Events
// channel enabled and never read. Lobby changes, the match and every
// signal reach their owners.
func TestOneConnectionForLobbyMatchmakerAndMesh(t *testing.T) {
	e := newEnv(t, signaling.Config{RatePerSec: 1e6, RateBurst: 1e6, SendQueueLen: 4096}, service.Config{})
	if _, err := lobby.New(e.srv, lobby.Config{}); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	type peer struct {
		sc  *signaling.Client
		lc  *lobby.Client
		mc  *mmclient.Client
		mu  sync.Mutex
		got []int
		all chan struct{}
	}
	const signals = 300
	var ps []*peer
	for range 2 {
		sc, err := signaling.Dial(ctx, e.url, &signaling.ClientConfig{EventBuffer: 1})
		if err != nil {
			t.Fatal(err)
		}
		p := &peer{sc: sc, lc: lobby.NewClient(sc, nil), mc: mmclient.New(sc, nil), all: make(chan struct{})}
		sc.Events() // enabled, never drained
		cancel := sc.SubscribeSignals(func(from string, payload []byte) {
			n, _ := strconv.Atoi(string(payload))
			p.mu.Lock()
			defer p.mu.Unlock()
			p.got = append(p.got, n)
			if len(p.got) == signals {
				close(p.all)
			}
		}, nil)
		t.Cleanup(func() {
			cancel()
			p.mc.Close()
			p.lc.Close()
			sc.Close()
		})
		ps = append(ps, p)
	}
	host, guest := ps[0], ps[1]

	// The lobby works.
	st, err := host.lc.Create(ctx, lobby.CreateData{Name: "party room"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := guest.lc.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLobby(t, host.lc, func(s lobby.State) bool { return len(s.Members) == 2 })

	// The matchmaker works on the same connections, the lobby untouched.
	for _, p := range ps {
		if _, err := p.mc.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"}); err != nil {
			t.Fatal(err)
		}
	}
	e.pass(t)
	var ms []mmclient.Matched
	for _, p := range ps {
		m, err := p.mc.WaitMatched(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	sameMatch(t, []*mmclient.Client{host.mc, guest.mc}, ms)

	// Signals flow both ways in the match's room.
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, p := range ps {
		to := ps[1-i].sc.ID()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range signals {
				if err := p.sc.Signal(ctx, to, json.RawMessage(strconv.Itoa(n))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	// Meanwhile the lobby goes on.
	if err := host.lc.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"mode": "duel"}}); err != nil {
		t.Fatal(err)
	}
	waitLobby(t, guest.lc, func(s lobby.State) bool { return s.Meta["mode"] == "duel" })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i, p := range ps {
		select {
		case <-p.all:
		case <-ctx.Done():
			p.mu.Lock()
			t.Fatalf("peer %d got %d of %d signals", i, len(p.got), signals)
		}
		p.mu.Lock()
		for n, g := range p.got {
			if g != n {
				p.mu.Unlock()
				t.Fatalf("peer %d: signal %d is %d", i, n, g)
			}
		}
		p.mu.Unlock()
	}
}

// waitLobby waits for a lobby state that ok accepts.
func waitLobby(t *testing.T, c *lobby.Client, ok func(lobby.State) bool) {
	t.Helper()
	if st, in := c.State(); in && ok(st) {
		return
	}
	timeout := time.After(15 * time.Second)
	for {
		var st lobby.State
		select {
		case ev, open := <-c.Events():
			if !open {
				t.Fatalf("%s: lobby events closed", c.ID())
			}
			switch ev := ev.(type) {
			case lobby.StateChanged:
				st = ev.State
			case lobby.Resynced:
				st = ev.State
			default:
				continue
			}
		case <-timeout:
			t.Fatalf("%s: no matching lobby state", c.ID())
		}
		if ok(st) {
			return
		}
	}
}
