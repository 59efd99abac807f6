package signaling

import (
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"
)

// next returns the next event of a subscription, failing after a generous
// timeout or when the channel closes.
func next(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("timed out waiting for a subscription event")
		return nil
	}
}

// nextMessage returns the next event of s, which must be a Message of typ.
func nextMessage(t *testing.T, s *Subscription, typ string) Message {
	t.Helper()
	ev := next(t, s)
	m, ok := ev.(Message)
	if !ok || m.Type != typ {
		t.Fatalf("got %#v, want a %s message", ev, typ)
	}
	return m
}

// TestThousandSignalsReachMeshWithEventsUndrained: a mesh-style subscriber
// gets all of 1,000 signals, in order, from another real client through a
// real server, while the application enabled Events with a buffer of one
// and never reads it, and a protocol's subscription is never read either.
// What the Events channel had no room for is counted.
func TestThousandSignalsReachMeshWithEventsUndrained(t *testing.T) {
	const n = 1000
	ts := newTestServer(t, Config{RatePerSec: 1e6, RateBurst: 1e6, SendQueueLen: 4 * n})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, &ClientConfig{EventBuffer: 1})
	b := dialT(t, ts.URL, nil)
	a.Events() // enabled, never drained
	idle := a.SubscribeWith(SubscriptionConfig{Types: []string{"app.claimed"}, Queue: 1})
	if _, err := a.Join(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int
	all := make(chan struct{})
	cancel := a.SubscribeSignals(func(from string, p []byte) {
		i, err := strconv.Atoi(string(p))
		mu.Lock()
		defer mu.Unlock()
		if err != nil || from != b.ID() {
			t.Errorf("signal %q from %q", p, from)
		}
		got = append(got, i)
		if len(got) == n {
			close(all)
		}
	}, nil)
	defer cancel()
	for i := range n {
		if err := b.Signal(ctx, a.ID(), json.RawMessage(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// Pushes for the application and for the idle subscription,
			// neither of which anybody reads.
			if err := ts.Send(a.ID(), "app.note", i); err != nil {
				t.Fatal(err)
			}
			if err := ts.Send(a.ID(), "app.claimed", i); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("%d of %d signals reached the subscriber", len(got), n)
	}
	mu.Lock()
	for i, g := range got {
		if g != i {
			t.Fatalf("signal %d is %d", i, g)
		}
	}
	mu.Unlock()
	if _, err := a.Ping(ctx); err != nil {
		t.Fatalf("a call with everything undrained: %v", err)
	}
	// 100 notes and the join events for a buffer of one.
	if d := a.DroppedEvents(); d < 99 {
		t.Errorf("DroppedEvents = %d, want at least 99", d)
	}
	if d := idle.Dropped(); d < 98 {
		t.Errorf("idle subscription dropped %d, want at least 98", d)
	}
	if d := a.DroppedSignals(); d != 0 {
		t.Errorf("DroppedSignals = %d", d)
	}
}

// TestSubscriptionClaimsTypes: a subscription gets the pushed messages of
// the types it claims (exactly or by prefix), in order, and the Events
// channel gets the rest; after Close the types go back to Events.
func TestSubscriptionClaimsTypes(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	ev := a.Events()
	lob := a.Subscribe("lobby.*")
	mm := a.Subscribe("mm.matched", "mm.rated")
	for i, typ := range []string{"lobby.delta", "mm.matched", "app.x", "lobby.chat", "mm.rated", "mm.other", "lobbyist"} {
		if err := ts.Send(a.ID(), typ, i); err != nil {
			t.Fatal(err)
		}
	}
	if m := nextMessage(t, lob, "lobby.delta"); string(m.Data) != "0" {
		t.Errorf("lobby.delta data %s", m.Data)
	}
	nextMessage(t, lob, "lobby.chat")
	nextMessage(t, mm, "mm.matched")
	nextMessage(t, mm, "mm.rated")
	for _, want := range []string{"app.x", "mm.other", "lobbyist"} {
		m := waitEvent[Message](t, ev, nil)
		if m.Type != want {
			t.Fatalf("Events got %s, want %s", m.Type, want)
		}
	}
	lob.Close()
	lob.Close()
	if _, ok := <-lob.Events(); ok {
		t.Fatal("closed subscription's channel is open")
	}
	if err := ts.Send(a.ID(), "lobby.delta", 7); err != nil {
		t.Fatal(err)
	}
	if m := waitEvent[Message](t, ev, nil); m.Type != "lobby.delta" {
		t.Fatalf("after Close Events got %s", m.Type)
	}
	if _, err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-mm.Events():
		t.Fatalf("mm subscription got %#v", e)
	default:
	}
}

// TestSubscriptionOverflow: a full subscription drops, counts, and tells
// its owner with one Overflow behind the events already queued; once the
// owner has read the Overflow, events flow again.
func TestSubscriptionOverflow(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	s := a.SubscribeWith(SubscriptionConfig{Types: []string{"t.*"}, Queue: 2})
	for i := range 5 {
		if err := ts.Send(a.ID(), "t.n", i); err != nil {
			t.Fatal(err)
		}
	}
	// The pong comes after the pushes, so all five have been handled.
	if _, err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, s, "t.n"); string(m.Data) != "0" {
		t.Fatalf("first %s", m.Data)
	}
	// Read one: room again, but the Overflow is unread, so this is dropped.
	if err := ts.Send(a.ID(), "t.n", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, s, "t.n"); string(m.Data) != "1" {
		t.Fatalf("second %s", m.Data)
	}
	if ev := next(t, s); ev != (Overflow{}) {
		t.Fatalf("after the queue: %#v, want Overflow", ev)
	}
	if d := s.Dropped(); d != 4 {
		t.Errorf("Dropped = %d, want 4", d)
	}
	if err := ts.Send(a.ID(), "t.n", 6); err != nil {
		t.Fatal(err)
	}
	if m := nextMessage(t, s, "t.n"); string(m.Data) != "6" {
		t.Fatalf("after the Overflow %s", m.Data)
	}
}

// TestSubscriptionSeesReconnect: a subscription hears of a drop and of the
// resume, in order with its messages, and is closed with the client.
func TestSubscriptionSeesReconnect(t *testing.T) {
	ts := newTestServer(t, Config{})
	a, err := Dial(testCtx(t), ts.URL, &ClientConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	s := a.Subscribe("p.*")
	if err := ts.Send(a.ID(), "p.before", 1); err != nil {
		t.Fatal(err)
	}
	nextMessage(t, s, "p.before")
	id := a.ID()
	a.mu.Lock()
	cutConn(a.ws)
	a.mu.Unlock()
	if ev, ok := next(t, s).(Disconnected); !ok {
		t.Fatalf("got %#v, want Disconnected", ev)
	}
	rc, ok := next(t, s).(Reconnected)
	if !ok || !rc.Resumed || rc.ID != id {
		t.Fatalf("got %#v, want a resumed Reconnected", rc)
	}
	if err := ts.Send(id, "p.after", 2); err != nil {
		t.Fatal(err)
	}
	nextMessage(t, s, "p.after")
	a.Close()
	if _, ok := <-s.Events(); ok {
		t.Fatal("subscription open after the client closed")
	}
	late := a.Subscribe("p.*")
	if _, ok := <-late.Events(); ok {
		t.Fatal("subscription of a closed client is open")
	}
	late.Close()
}
