package netcode_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
)

func TestSessionConfigErrors(t *testing.T) {
	n := netsim.New(netsim.Config{})
	ep := n.Endpoint("a")
	g := newToyGame(2)
	for name, cfg := range map[string]netcode.SessionConfig{
		"no players":          {},
		"no local player":     {Players: []netcode.SessionPlayer{{Peer: "b"}, {Peer: "c"}}},
		"input too large":     {Players: []netcode.SessionPlayer{{}, {Peer: "b"}}, InputSize: 2000},
		"window too large":    {Players: []netcode.SessionPlayer{{}, {Peer: "b"}}, MaxPrediction: 100},
		"negative delay":      {Players: []netcode.SessionPlayer{{}, {Peer: "b"}}, InputDelay: -1},
		"spectator is player": {Players: []netcode.SessionPlayer{{}, {Peer: "b"}}, Spectators: []netcode.PeerID{"b"}},
		"too many players":    {Players: make([]netcode.SessionPlayer, 33)},
	} {
		if _, err := netcode.NewSession(ep, g, cfg); !errors.Is(err, netcode.ErrSessionConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := netcode.NewSession(nil, g, netcode.SessionConfig{Players: []netcode.SessionPlayer{{}}}); !errors.Is(err, netcode.ErrSessionConfig) {
		t.Errorf("nil transport: %v", err)
	}
}

func TestSessionInputErrorsAndClose(t *testing.T) {
	n := netsim.New(netsim.Config{})
	s, err := netcode.NewSession(n.Endpoint("a"), newToyGame(2), netcode.SessionConfig{
		Players: []netcode.SessionPlayer{{}, {Peer: "b"}}, InputSize: 2, Clock: n.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddLocalInput(1, []byte{1, 2}); !errors.Is(err, netcode.ErrNotLocalPlayer) {
		t.Errorf("remote handle: %v", err)
	}
	if err := s.AddLocalInput(5, []byte{1, 2}); !errors.Is(err, netcode.ErrNotLocalPlayer) {
		t.Errorf("unknown handle: %v", err)
	}
	if err := s.AddLocalInput(0, []byte{1}); !errors.Is(err, netcode.ErrInputSize) {
		t.Errorf("short input: %v", err)
	}
	// Alone, the session runs through its window, then stalls.
	stalls := 0
	for i := 0; i < 20; i++ {
		_ = s.AddLocalInput(0, []byte{1, 2})
		if err := s.AdvanceFrame(); errors.Is(err, netcode.ErrPredictionThreshold) {
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
	if err := s.AdvanceFrame(); !errors.Is(err, netcode.ErrSessionClosed) {
		t.Errorf("AdvanceFrame after Close: %v", err)
	}
	if err := s.AddLocalInput(0, []byte{1, 2}); !errors.Is(err, netcode.ErrSessionClosed) {
		t.Errorf("AddLocalInput after Close: %v", err)
	}
}

func TestSuggestInputDelay(t *testing.T) {
	for _, tc := range []struct {
		rtt, jitter time.Duration
		fps, want   int
	}{{0, 0, 60, 0}, {200 * time.Millisecond, 0, 60, 6}, {200 * time.Millisecond, 30 * time.Millisecond, 60, 8},
		{40 * time.Millisecond, 0, 60, 2}, {100 * time.Millisecond, 0, 30, 2}, {10 * time.Millisecond, 0, 0, 1}} {
		if got := netcode.SuggestInputDelay(tc.rtt, tc.jitter, tc.fps); got != tc.want {
			t.Errorf("SuggestInputDelay(%v, %v, %d) = %d, want %d", tc.rtt, tc.jitter, tc.fps, got, tc.want)
		}
	}
}
