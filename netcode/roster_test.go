package netcode

import (
	"errors"
	"slices"
	"testing"
)

func TestRoster(t *testing.T) {
	r := Roster{
		Session:    "s1",
		Self:       "b",
		Players:    []Seat{{Peer: "c"}, {Peer: "b", Team: 1}},
		Spectators: []PeerID{"z"},
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := r.Remotes(), []PeerID{"c", "z"}; !slices.Equal(got, want) {
		t.Errorf("Remotes = %v, want %v", got, want)
	}
	if got := r.SeatOf("b"); got != 1 {
		t.Errorf("SeatOf(b) = %d, want 1", got)
	}
	if got := r.SeatOf("z"); got != -1 {
		t.Errorf("SeatOf(z) = %d, want -1", got)
	}
	if !r.IsPlayer() {
		t.Error("IsPlayer = false for a seated self")
	}
	for name, bad := range map[string]Roster{
		"no players":  {Self: "a"},
		"no self":     {Players: []Seat{{Peer: "a"}}},
		"self absent": {Self: "x", Players: []Seat{{Peer: "a"}}},
		"duplicate":   {Self: "a", Players: []Seat{{Peer: "a"}}, Spectators: []PeerID{"a"}},
		"empty peer":  {Self: "a", Players: []Seat{{Peer: "a"}, {Peer: ""}}},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrBadRoster) {
			t.Errorf("%s: Validate = %v, want ErrBadRoster", name, err)
		}
	}
}
