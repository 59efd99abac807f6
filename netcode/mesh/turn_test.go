package mesh

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

func TestClassifyTURNLog(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want int
	}{
		// pion/ice v4.4.2 and pion/turn v5.1.0, as the NAT tests saw them.
		{"failed to allocate on TURN client 10.99.1.1:3478 Allocate error response (error 401: Unauthorized)", turnAuthFailed},
		{"failed to allocate on TURN client 10.99.1.1:3478 Allocate error response (error 441: Wrong Credentials)", turnAuthFailed},
		{"failed to allocate on TURN client 10.99.250.1:3478 all retransmissions failed for 3q2+7w==", turnUnreachable},
		{"Failed to dial TCP address 10.99.250.1:3478 via proxy dialer: dial tcp4 10.99.250.1:3478: i/o timeout", turnUnreachable},
		{"failed to allocate on TURN client 10.99.1.1:3478 Allocate error response (error 486: Allocation Quota Reached)", 0},
		{"Failed to discover mDNS candidate", 0},
	} {
		if got := classifyTURNLog(tc.msg); got != tc.want {
			t.Errorf("classifyTURNLog(%q) = %d, want %d", tc.msg, got, tc.want)
		}
	}
}

func TestConnectErrorSaysWhy(t *testing.T) {
	mk := func(auth, unreachable string, relayOK bool) *peer {
		p := &peer{localTypes: candHost | candSrflx, remoteTypes: candHost | candRelay}
		p.turn.note(auth)
		p.turn.note(unreachable)
		if relayOK {
			p.turn.gotRelay()
		}
		return p
	}
	const refused = "failed to allocate on TURN client h:3478 Allocate error response (error 401: Unauthorized)"
	const silent = "failed to allocate on TURN client h:3478 all retransmissions failed for x"
	for _, tc := range []struct {
		name         string
		p            *peer
		tried, turns bool
		want         error
	}{
		{"refused", mk(refused, "", false), true, true, ErrTURNAuth},
		{"unreachable", mk("", silent, false), true, true, ErrTURNUnreachable},
		{"no answer yet", mk("", "", false), true, true, ErrTURNUnreachable},
		{"relay gathered", mk(refused, "", true), true, true, ErrNoCandidatePair},
		{"no relay attempt", mk(refused, "", false), false, true, ErrNoCandidatePair},
		{"no TURN server", mk("", "", false), true, false, ErrNoCandidatePair},
	} {
		e := tc.p.connectError(tc.tried, tc.turns, 3*time.Second)
		if !errors.Is(e, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, e, tc.want)
		}
		if !slices.Equal(e.Local, []string{"host", "srflx"}) || !slices.Equal(e.Remote, []string{"host", "relay"}) {
			t.Errorf("%s: candidate types %v/%v", tc.name, e.Local, e.Remote)
		}
	}
}

func TestCredsStale(t *testing.T) {
	got := time.Unix(1_000_000, 0)
	turn := func(exp time.Time) []netcode.ICEServer {
		return []netcode.ICEServer{
			{URLs: []string{"stun:h:3478"}},
			{URLs: []string{"turn:h:3478"}, Username: "alice", Credential: "x"},
		}
	}
	rest := func(exp time.Time) []netcode.ICEServer {
		l := turn(exp)
		l[1].Username = strconv.FormatInt(exp.Unix(), 10) + ":p1"
		return l
	}
	hour := got.Add(time.Hour)
	for _, tc := range []struct {
		name          string
		list          []netcode.ICEServer
		now           time.Time
		stale, expird bool
	}{
		{"fresh", rest(hour), got.Add(time.Minute), false, false},
		{"within a fifth of an hour", rest(hour), got.Add(49 * time.Minute), true, false},
		{"just outside the margin", rest(hour), got.Add(47 * time.Minute), false, false},
		{"expired", rest(hour), got.Add(2 * time.Hour), true, true},
		{"short lifetime: a minute's margin", rest(got.Add(90 * time.Second)), got.Add(31 * time.Second), true, false},
		{"long-term credentials never expire", turn(hour), got.Add(100 * time.Hour), false, false},
	} {
		if s, e := credsStale(tc.list, got, tc.now); s != tc.stale || e != tc.expird {
			t.Errorf("%s: credsStale = %v, %v; want %v, %v", tc.name, s, e, tc.stale, tc.expird)
		}
	}
}

func TestMergeICEServers(t *testing.T) {
	own := netcode.ICEServer{URLs: []string{"turn:own:3478"}, Username: "game", Credential: "g"}
	old := []netcode.ICEServer{
		{URLs: []string{"stun:s:3478"}},
		{URLs: []string{"turn:t:3478?transport=udp", "turn:t:3478?transport=tcp"}, Username: "1:p", Credential: "old"},
		own,
	}
	fresh := []netcode.ICEServer{
		{URLs: []string{"stun:s:3478"}},
		{URLs: []string{"turn:t:3478?transport=udp", "turn:t:3478?transport=tcp"}, Username: "2:p", Credential: "new"},
		{URLs: []string{"turn:other:3478"}, Username: "2:p", Credential: "o"},
	}
	got := mergeICEServers(old, fresh)
	if len(got) != 4 || got[1].Credential != "new" || got[2].Username != "game" || got[3].URLs[0] != "turn:other:3478" {
		t.Fatalf("merged: %+v", got)
	}
}
