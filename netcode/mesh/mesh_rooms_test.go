package mesh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestMeshBackToBackRooms joins two signaling clients to one room after
// another, with a fresh mesh each time: the offer often arrives before the
// answering side has subscribed, and must be sent again.
func TestMeshBackToBackRooms(t *testing.T) {
	checkLeaks(t)
	url, _ := startSignaling(t, signaling.Config{RatePerSec: 1000, RateBurst: 1000})
	ctx := context.Background()
	var cls []*signaling.Client
	for i := 0; i < 2; i++ {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cls = append(cls, c)
	}
	var worst time.Duration
	for r := 0; r < 20; r++ {
		name := fmt.Sprint("room-", r)
		var ms []*testMesh
		for _, c := range cls {
			if _, err := c.Join(ctx, name); err != nil {
				t.Fatal(err)
			}
			m, err := New(c, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() }) // on failure; Close is idempotent
			ms = append(ms, &testMesh{Mesh: m})
		}
		start := time.Now()
		// Idle, a room connects in milliseconds (the worst is logged); the
		// deadline is for a loaded machine.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		for _, m := range ms {
			if err := m.WaitConnected(wctx, 1); err != nil {
				dumpMeshes(t, ms)
				t.Fatalf("room %d: %v", r, err)
			}
		}
		cancel()
		worst = max(worst, time.Since(start))
		for i, m := range ms {
			m.Close()
			if err := cls[i].Leave(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("slowest of 20 rooms connected in %v", worst)
}

// TestLostSignalsRecovered drops the first offer and the first answer on
// the way: the offering side repeats its offer, the answering side its
// answer.
func TestLostSignalsRecovered(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	dropped := map[string]bool{}
	hub := &memsignal.Hub{Filter: func(from, to string, payload []byte) bool {
		s, err := parseSignal(payload)
		if err != nil {
			t.Errorf("bad signal %q", payload)
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if (s.T == sigOffer || s.T == sigAnswer) && !dropped[s.T] {
			dropped[s.T] = true
			return false
		}
		return true
	}}
	ms := startMeshes(t, hub, 2, nil)
	start := time.Now()
	waitAll(t, ms, 1)
	t.Logf("connected after %v despite a lost offer and a lost answer", time.Since(start))
	mu.Lock()
	defer mu.Unlock()
	if !dropped[sigOffer] || !dropped[sigAnswer] {
		t.Fatalf("dropped %v", dropped)
	}
}

// TestBadSignalsIgnored feeds hostile signals to a mesh: each is counted
// and dropped, and the mesh still connects.
func TestBadSignalsIgnored(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	evil, err := hub.Join("p99")
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Leave()
	ms := startMeshes(t, hub, 2, nil)
	bad := []string{
		``, `null`, `{}`, `[]`, `{"v":2,"t":"offer","g":1,"sdp":"x"}`,
		`{"v":2,"t":"offer"}`, `{"v":2,"t":"warp"}`, `{"v":2,"t":"cand","g":1}`,
		`{"v":2,"t":"bye","reason":"because"}`, `{"v":2,"t":"offer","g":1,"sdp":"not sdp"}`,
		`{"v":2,"t":"answer","g":1,"sdp":"v=0"}`, strings.Repeat("x", maxSignalSize+1),
		`{"v":2,"t":"cand","g":1,"cands":[{"candidate":"garbage"}]}`,
	}
	for _, b := range bad {
		if err := evil.SendSignal(context.Background(), "p00", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	waitAll(t, ms, 1)
	deadline := time.Now().Add(5 * time.Second)
	for ms[0].BadSignals() < 11 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ms[0].BadSignals(); n < 11 {
		t.Fatalf("%d bad signals counted", n)
	}
}

// TestSignalOfOtherVersionReported: a signal of another version is not
// dropped silently: the mesh reports it as EventSignalRejected matching
// ErrSignalVersion (once per second per peer) and counts every one.
func TestSignalOfOtherVersionReported(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	future, err := hub.Join("p99")
	if err != nil {
		t.Fatal(err)
	}
	defer future.Leave()
	ms := startMeshes(t, hub, 1, nil)
	for range 3 {
		if err := future.SendSignal(context.Background(), "p00", []byte(`{"v":3,"t":"offer","g":1,"sdp":"v=0"}`)); err != nil {
			t.Fatal(err)
		}
	}
	ev := waitEvent[EventSignalRejected](t, ms[0].Mesh, "p99", 5*time.Second)
	if !errors.Is(ev.Err, ErrSignalVersion) || !errors.Is(ev.Err, ErrBadSignal) {
		t.Fatalf("rejection error %v: want ErrSignalVersion and ErrBadSignal", ev.Err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ms[0].BadSignals() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ms[0].BadSignals(); n != 3 {
		t.Fatalf("%d bad signals counted, want 3", n)
	}
	select {
	case ev := <-ms[0].Events():
		if _, again := ev.(EventSignalRejected); again {
			t.Fatalf("a second rejection event within a second: %v", ev)
		}
	default:
	}
}

func TestOnMessageCallback(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	type msg struct {
		from netcode.PeerID
		ch   netcode.Channel
		data string
	}
	got := make(chan msg, 16)
	ms := startMeshes(t, hub, 2, func(i int) Config {
		c := testConfig()
		if i == 1 {
			c.OnMessage = func(from netcode.PeerID, ch netcode.Channel, data []byte) {
				got <- msg{from, ch, string(data)}
			}
		}
		return c
	})
	waitAll(t, ms, 1)
	a, b := ms[0], ms[1]
	big := strings.Repeat("x", 100<<10)
	for _, m := range []msg{{a.LocalID(), netcode.Reliable, big}, {a.LocalID(), netcode.Unreliable, "u"}, {a.LocalID(), netcode.Sequenced, "s"}} {
		if err := a.Send(b.LocalID(), m.ch, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r != m {
				t.Fatalf("got %s %q... want %s", r.ch, r.data[:min(len(r.data), 8)], m.ch)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s message not delivered to OnMessage", m.ch)
		}
	}
	n := 0
	b.Poll(func(netcode.PeerID, netcode.Channel, []byte) { n++ })
	if n != 0 {
		t.Fatalf("Poll delivered %d messages that OnMessage had", n)
	}
}
