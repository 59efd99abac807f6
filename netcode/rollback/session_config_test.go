package rollback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

func TestSessionConfigErrors(t *testing.T) {
	n := netsim.New(netsim.Config{})
	ep := n.Endpoint("a")
	g := newToyGame(2)
	for name, cfg := range map[string]rollback.Config{
		"no players":          {},
		"no local player":     {Players: []rollback.Player{{Peer: "b"}, {Peer: "c"}}},
		"input too large":     {Players: []rollback.Player{{}, {Peer: "b"}}, InputSize: 2000},
		"window too large":    {Players: []rollback.Player{{}, {Peer: "b"}}, MaxPrediction: 100},
		"negative delay":      {Players: []rollback.Player{{}, {Peer: "b"}}, InputDelay: -1},
		"spectator is player": {Players: []rollback.Player{{}, {Peer: "b"}}, Spectators: []netcode.PeerID{"b"}},
		"too many players":    {Players: make([]rollback.Player, 33)},
	} {
		if _, err := rollback.New(ep, g, cfg); !errors.Is(err, rollback.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := rollback.New(nil, g, rollback.Config{Players: []rollback.Player{{}}}); !errors.Is(err, rollback.ErrConfig) {
		t.Errorf("nil transport: %v", err)
	}
}

func TestSessionInputErrorsAndClose(t *testing.T) {
	n := netsim.New(netsim.Config{})
	s, err := rollback.New(n.Endpoint("a"), newToyGame(2), rollback.Config{
		Players: []rollback.Player{{}, {Peer: "b"}}, InputSize: 2, Clock: n.Now, StartTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddLocalInput(1, []byte{1, 2}); !errors.Is(err, rollback.ErrNotLocalPlayer) {
		t.Errorf("remote handle: %v", err)
	}
	if err := s.AddLocalInput(5, []byte{1, 2}); !errors.Is(err, rollback.ErrNotLocalPlayer) {
		t.Errorf("unknown handle: %v", err)
	}
	if err := s.AddLocalInput(0, []byte{1}); !errors.Is(err, rollback.ErrInputSize) {
		t.Errorf("short input: %v", err)
	}
	// Alone, the session runs through its window, then stalls.
	stalls := 0
	for i := 0; i < 20; i++ {
		_ = s.AddLocalInput(0, []byte{1, 2})
		if err := s.AdvanceFrame(); errors.Is(err, rollback.ErrPredictionThreshold) {
			stalls++
		} else if err != nil {
			t.Fatal(err)
		}
		n.Advance(time.Second / 60)
	}
	if s.Frame() != 8 || stalls != 12 {
		t.Fatalf("frame %d after %d stalls, want 8 and 12 (the default window)", s.Frame(), stalls)
	}
	if d := s.SuggestedInputDelay(); d != 0 {
		t.Errorf("suggested delay %d with no RTT measured", d)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AdvanceFrame(); !errors.Is(err, rollback.ErrClosed) {
		t.Errorf("AdvanceFrame after Close: %v", err)
	}
	if err := s.AddLocalInput(0, []byte{1, 2}); !errors.Is(err, rollback.ErrClosed) {
		t.Errorf("AddLocalInput after Close: %v", err)
	}
}

func TestSuggestInputDelay(t *testing.T) {
	for _, tc := range []struct {
		rtt, jitter time.Duration
		fps, want   int
	}{{0, 0, 60, 0}, {200 * time.Millisecond, 0, 60, 6}, {200 * time.Millisecond, 30 * time.Millisecond, 60, 8},
		{40 * time.Millisecond, 0, 60, 2}, {100 * time.Millisecond, 0, 30, 2}, {10 * time.Millisecond, 0, 0, 1}} {
		if got := rollback.SuggestInputDelay(tc.rtt, tc.jitter, tc.fps); got != tc.want {
			t.Errorf("SuggestInputDelay(%v, %v, %d) = %d, want %d", tc.rtt, tc.jitter, tc.fps, got, tc.want)
		}
	}
}
