package signaling

import (
	"errors"
	"slices"
	"testing"
)

func TestAddToRoom(t *testing.T) {
	ts := newTestServer(t, Config{MaxRoomSize: 3})
	a, b, c, d := dialT(t, ts.URL, nil), dialT(t, ts.URL, nil), dialT(t, ts.URL, nil), dialT(t, ts.URL, nil)
	aev, cev := a.Events(), c.Events()
	if err := ts.CreateRoom("session-1", []string{a.ID(), b.ID()}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, aev, func(j Joined) bool { return j.Room == "session-1" })
	if err := ts.AddToRoom("nope", []string{c.ID()}); !errors.Is(err, ErrUnknownRoom) {
		t.Errorf("unknown room: %v", err)
	}
	if err := ts.AddToRoom("session-1", []string{"ghost"}); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("unknown peer: %v", err)
	}
	if err := ts.AddToRoom("session-1", []string{c.ID(), d.ID()}); !errors.Is(err, ErrRoomFull) {
		t.Errorf("over capacity: %v", err)
	}
	if err := ts.AddToRoom("session-1", []string{c.ID(), c.ID(), a.ID()}); err != nil {
		t.Fatal(err)
	}
	j := waitEvent(t, cev, func(j Joined) bool { return j.Room == "session-1" })
	if !slices.Equal(j.Peers, []string{a.ID(), b.ID()}) {
		t.Errorf("joined peers %v", j.Peers)
	}
	waitEvent(t, aev, func(p PeerJoined) bool { return p.Peer == c.ID() })
	if got := ts.Rooms(); got != 1 {
		t.Errorf("%d rooms", got)
	}
}
