package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestServeNearby: `rallypoint serve` serves the nearby family: a visible
// player is listed to another, which messages it by player id.
func TestServeNearby(t *testing.T) {
	defer goleak.VerifyNone(t)
	mux, srv, _, err := newServeMux(serveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	var ns []*nearby.Nearby
	for i, name := range []string{"Ann", "Ben"} {
		c, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		n, err := nearby.StartOnline(ctx, c, nearby.Config{Profile: nearby.Profile{Name: name}, Visible: i == 0})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		ns = append(ns, n)
	}
	ann, ben := ns[0], ns[1]
	nextNearbyEvent(t, ctx, ben, func(ev nearby.Event) bool {
		j, ok := ev.(nearby.PlayerJoined)
		return ok && j.Player.ID == ann.ID() && j.Player.Name == "Ann"
	})
	if err := ben.Send(ctx, ann.ID(), "hello"); err != nil {
		t.Fatal(err)
	}
	m := nextNearbyEvent(t, ctx, ann, func(ev nearby.Event) bool { _, ok := ev.(nearby.MessageReceived); return ok }).(nearby.MessageReceived)
	if m.Text != "hello" || m.From.ID != ben.ID() {
		t.Fatalf("got %+v", m)
	}
}

func nextNearbyEvent(t *testing.T, ctx context.Context, n *nearby.Nearby, ok func(nearby.Event) bool) nearby.Event {
	t.Helper()
	for {
		select {
		case ev := <-n.Events():
			if ok(ev) {
				return ev
			}
		case <-ctx.Done():
			t.Fatal("no matching nearby event")
		}
	}
}
