package mesh

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// TestConnectFromRoster: three players and a spectator, each starting its
// mesh from the same roster, all return connected to every other member of
// the match, and carry a message.
func TestConnectFromRoster(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	roster := netcode.Roster{Session: "m1",
		Players:    []netcode.Seat{{Peer: "carol"}, {Peer: "alice"}, {Peer: "bob"}},
		Spectators: []netcode.PeerID{"dave"}}
	ids := roster.Members()
	sigs := make([]*memsignal.Signaler, len(ids))
	for i, id := range ids {
		s, err := hub.Join(string(id))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Leave()
		sigs[i] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms := make([]*Mesh, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := roster
			r.Self = id
			cfg := testConfig()
			ms[i], errs[i] = Connect(ctx, sigs[i], r, &cfg)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", ids[i], err)
		}
		defer ms[i].Close()
	}
	for i, m := range ms {
		got := m.Connected()
		slices.Sort(got)
		want := slices.DeleteFunc(slices.Clone(ids), func(p netcode.PeerID) bool { return p == ids[i] })
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: connected to %v, want %v", ids[i], got, want)
		}
	}
	if err := ms[0].Send("dave", netcode.Reliable, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, ms[3], 1, 10*time.Second); len(got) != 1 || string(got[0].data) != "hi" || got[0].from != "carol" {
		t.Fatalf("got %+v", got)
	}
}

// TestConnectCanceled: a roster peer that never joins keeps Connect
// waiting until its context ends; it then returns an error that wraps
// context.Canceled, closes the mesh and leaves no goroutine behind.
func TestConnectCanceled(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	a, _ := hub.Join("a")
	defer a.Leave()
	b, _ := hub.Join("b")
	defer b.Leave()
	other, err := New(b, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	r := netcode.Roster{Self: "a", Players: []netcode.Seat{{Peer: "a"}, {Peer: "b"}, {Peer: "ghost"}}}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Cancel once b is connected, so that only the ghost is missing.
		_ = other.WaitConnected(context.Background(), 1)
		cancel()
	}()
	cfg := testConfig()
	m, err := Connect(ctx, a, r, &cfg)
	if !errors.Is(err, context.Canceled) || m != nil {
		t.Fatalf("got %v, %v; want context.Canceled and no mesh", m, err)
	}
	t.Log(err)
}

// TestConnectChecksRoster: an invalid roster or one whose Self is not the
// signaler's id is refused before a mesh starts.
func TestConnectChecksRoster(t *testing.T) {
	hub := &memsignal.Hub{}
	a, _ := hub.Join("a")
	defer a.Leave()
	for _, r := range []netcode.Roster{
		{Self: "a"},
		{Self: "b", Players: []netcode.Seat{{Peer: "a"}, {Peer: "b"}}},
	} {
		if _, err := Connect(context.Background(), a, r, nil); !errors.Is(err, netcode.ErrBadRoster) {
			t.Errorf("%+v: %v", r, err)
		}
	}
}

// TestConnectOnDemand: two players connect from their roster with
// Config.OnDemand (Connect dials the roster), while a third member of the
// room that nobody dials stays unconnected until it dials a player itself.
func TestConnectOnDemand(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	roster := netcode.Roster{Session: "m2", Players: []netcode.Seat{{Peer: "p1"}, {Peer: "p2"}}}
	sigs := map[netcode.PeerID]*memsignal.Signaler{}
	for _, id := range []netcode.PeerID{"p1", "p2", "a0"} {
		s, err := hub.Join(string(id))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Leave()
		sigs[id] = s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := testConfig()
	cfg.OnDemand = true
	watcher, err := New(sigs["a0"], cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	ms := make([]*Mesh, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, id := range []netcode.PeerID{"p1", "p2"} {
		wg.Go(func() {
			r := roster
			r.Self = id
			ms[i], errs[i] = Connect(ctx, sigs[id], r, &cfg)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("p%d: %v", i+1, err)
		}
		defer ms[i].Close()
	}
	if got := ms[0].Connected(); !slices.Equal(got, []netcode.PeerID{"p2"}) {
		t.Fatalf("p1 connected to %v, want [p2]", got)
	}
	if got := watcher.Connected(); len(got) != 0 {
		t.Fatalf("the watcher connected to %v before dialing", got)
	}
	if err := watcher.Dial("p2"); err != nil {
		t.Fatal(err)
	}
	if err := watcher.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := ms[1].WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
}
