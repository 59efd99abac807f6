package rollback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// TestSessionFromRoster: three peers build their sessions from one roster
// whose seat order is not the order of their ids. Every peer's local handle
// is its seat, the others are its peers', the roster's spectator is
// accepted, and the peers play the same game.
func TestSessionFromRoster(t *testing.T) {
	n := netsim.New(netsim.Config{Seed: 7, Default: netsim.Conditions{Latency: 20 * time.Millisecond}})
	roster := netcode.Roster{Session: "m1", Players: []netcode.Seat{{Peer: "carol"}, {Peer: "alice", Team: 1}, {Peer: "bob"}},
		Spectators: []netcode.PeerID{"dave"}}
	ids := []netcode.PeerID{"alice", "bob", "carol"}
	ss := make([]*rollback.Session, len(ids))
	games := make([]*toyGame, len(ids))
	for i, id := range ids {
		r := roster
		r.Self = id
		games[i] = newToyGame(3)
		s, err := rollback.New(n.Endpoint(id), games[i], rollback.Config{Roster: &r, Clock: n.Now})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ss[i] = s
		seat := r.SeatOf(id)
		for h := range roster.Players {
			err := s.AddLocalInput(h, []byte{0})
			if h == seat && err != nil {
				t.Fatalf("%s: seat %d is not local: %v", id, h, err)
			}
			if h != seat && !errors.Is(err, rollback.ErrNotLocalPlayer) {
				t.Fatalf("%s: seat %d of %s taken as local: %v", id, h, roster.Players[h].Peer, err)
			}
		}
		for _, other := range ids {
			if _, ok := s.PeerStats(other); ok != (other != id) {
				t.Fatalf("%s: peer %s known: %v", id, other, ok)
			}
		}
	}
	for k := 0; k < 240; k++ {
		for i, s := range ss {
			seat := roster.SeatOf(ids[i])
			if k > 0 {
				if err := s.AddLocalInput(seat, []byte{byte(k/5 + 3*seat)}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatal(err)
			}
		}
		n.Advance(time.Second / 60)
	}
	for i, s := range ss {
		st := s.Stats()
		if st.ConfirmedFrame < 200 || st.Compared == 0 || st.Desyncs != 0 {
			t.Fatalf("%s: %+v", ids[i], st)
		}
	}
	// The roster's spectator may watch: its request is accepted.
	sp, err := rollback.NewSpectator(n.Endpoint("dave"), newToyGame(3), rollback.SpectatorConfig{Host: "carol", Players: 3, Clock: n.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for k := 0; k < 120 && sp.Frame() < 10; k++ {
		for _, s := range ss {
			_ = s.AdvanceFrame()
		}
		_ = sp.AdvanceFrame()
		n.Advance(time.Second / 60)
	}
	if sp.Frame() < 10 {
		t.Fatalf("the roster's spectator is at frame %d", sp.Frame())
	}
}

// TestSessionRosterErrors: a roster that does not validate or in which
// Self holds no seat is a configuration error; Players wins over Roster.
func TestSessionRosterErrors(t *testing.T) {
	n := netsim.New(netsim.Config{})
	g := newToyGame(2)
	for name, r := range map[string]netcode.Roster{
		"no self":       {Players: []netcode.Seat{{Peer: "a"}, {Peer: "b"}}},
		"self watches":  {Self: "c", Players: []netcode.Seat{{Peer: "a"}, {Peer: "b"}}, Spectators: []netcode.PeerID{"c"}},
		"repeated peer": {Self: "a", Players: []netcode.Seat{{Peer: "a"}, {Peer: "a"}}},
	} {
		if _, err := rollback.New(n.Endpoint("x"), g, rollback.Config{Roster: &r}); !errors.Is(err, rollback.ErrConfig) || !errors.Is(err, netcode.ErrBadRoster) && name != "self watches" {
			t.Errorf("%s: %v", name, err)
		}
	}
	r := netcode.Roster{Self: "b", Players: []netcode.Seat{{Peer: "a"}, {Peer: "b"}}}
	s, err := rollback.New(n.Endpoint("b"), g, rollback.Config{Roster: &r, Players: []rollback.Player{{}, {Peer: "a"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddLocalInput(0, []byte{1}); err != nil {
		t.Fatalf("Players ignored: %v", err)
	}
}
