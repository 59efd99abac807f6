package mesh

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

func TestInboxDropsDatagramsWhenFull(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, func(i int) Config {
		c := testConfig()
		c.InboxLimit = 8
		return c
	})
	// b does not poll while 100 datagrams arrive.
	for i := 0; i < 100; i++ {
		if err := a.Send(b.LocalID(), netcode.Unreliable, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.DroppedMessages() < 92 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if d := b.DroppedMessages(); d != 92 {
		t.Fatalf("%d dropped, want 92 (100 sent, room for 8)", d)
	}
	var got []byte
	b.Poll(func(_ netcode.PeerID, _ netcode.Channel, data []byte) { got = append(got, data...) })
	if len(got) != 8 {
		t.Fatalf("%d delivered, want the 8 that fit", len(got))
	}
	// Room again: new messages get through.
	if err := a.Send(b.LocalID(), netcode.Unreliable, []byte("more")); err != nil {
		t.Fatal(err)
	}
	if r := collect(t, b.Mesh, 1, 5*time.Second); len(r) != 1 || string(r[0].data) != "more" {
		t.Fatalf("after draining: %v", r)
	}
}

func TestEventOverflowDropsOldest(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	ms := startMeshes(t, hub, 4, func(i int) Config {
		c := testConfig()
		c.EventBuffer = 2
		return c
	})
	waitAll(t, ms, 3)
	// p00 saw connecting and connected for three peers: six events in a
	// buffer of two, the newest kept.
	m := ms[0]
	if d := m.DroppedEvents(); d < 4 {
		t.Fatalf("%d events dropped, want at least 4", d)
	}
	for i := 0; i < 2; i++ {
		select {
		case ev := <-m.Events():
			if _, ok := ev.(EventConnecting); ok {
				t.Fatalf("kept %v, want the newest events", ev)
			}
		default:
			t.Fatal("buffer empty")
		}
	}
}

func TestWaitConnectedCanceled(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	ms := startMeshes(t, hub, 1, nil)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if err := ms[0].WaitConnected(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	ms[0].Close()
	if err := ms[0].WaitConnected(context.Background(), 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := ms[0].Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewMeshNeedsRoom(t *testing.T) {
	hub := &memsignal.Hub{}
	s, _ := hub.Join("x")
	s.Leave() // LocalID is now ""
	if _, err := New(s, Config{}); !errors.Is(err, ErrNoLocalID) {
		t.Fatalf("got %v", err)
	}
}
