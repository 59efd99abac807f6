package lobby_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// newOn wraps a fresh signaling client of its own in a lobby Client.
func newOn(t *testing.T, url string, cfg *lobby.ClientConfig) (*lobby.Client, *signaling.Client) {
	t.Helper()
	sc, err := signaling.Dial(tctx(t), url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	c := lobby.NewClient(sc, cfg)
	t.Cleanup(func() {
		_ = c.Close()
		_ = sc.Close()
	})
	return c, sc
}

// TestSignalingEventsStayTheApplications: the lobby Client takes the
// lobby.* pushes through a subscription, so the application may read the
// signaling client's Events (or leave it undrained) and sees none of them,
// while lobby events and the start, with its roster, still arrive.
func TestSignalingEventsStayTheApplications(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host, _ := newOn(t, s.url, nil)
	bob, bsc := newOn(t, s.url, nil)
	appEvents := bsc.Events() // enabled, read only at the end
	st, err := host.Create(ctx, lobby.CreateData{Name: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitState(t, host, func(s lobby.State) bool { return len(s.Members) == 2 && s.Members[1].Ready })
	if _, err := bob.Chat(ctx, "gl hf"); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, bob, func(ev lobby.Event) bool { _, ok := ev.(lobby.ChatReceived); return ok })
	sess, err := host.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*lobby.Client{host, bob} {
		ev := waitEvent(t, c, func(ev lobby.Event) bool { _, ok := ev.(lobby.Started); return ok }).(lobby.Started)
		r := ev.Roster
		if r.Session != sess.ID || r.Self != netcode.PeerID(c.ID()) || len(r.Players) != 2 ||
			r.Players[0].Peer != netcode.PeerID(host.ID()) || r.Players[1].Peer != netcode.PeerID(bob.ID()) {
			t.Fatalf("%s: roster %+v for session %+v", c.ID(), r, sess)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	// The application's channel saw the move into the session's room, and
	// no lobby message.
	waitJoined := func() {
		for ev := range appEvents {
			switch ev := ev.(type) {
			case signaling.Message:
				if strings.HasPrefix(ev.Type, "lobby.") {
					t.Fatalf("application got %s", ev.Type)
				}
			case signaling.Joined:
				if ev.Room != sess.ID {
					t.Fatalf("joined %q, want %q", ev.Room, sess.ID)
				}
				return
			}
		}
		t.Fatal("events closed")
	}
	waitJoined()
}

// TestPushOverflowResyncs: when the client's goroutine falls behind and its
// push queue overflows, the Client fetches the whole state with lobby.sync
// and reports Resynced, so no change is lost.
func TestPushOverflowResyncs(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host, _ := newOn(t, s.url, nil)
	bob, bsc := newOn(t, s.url, &lobby.ClientConfig{PushQueue: 2})
	st, err := host.Create(ctx, lobby.CreateData{Name: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	release := lobby.HoldEvents(bob)
	for i := range 10 {
		if err := host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"round": fmt.Sprint(i)}}); err != nil {
			release()
			t.Fatal(err)
		}
	}
	// Each change was pushed to bob before the host's reply; bob's pong
	// comes after them, so all ten have reached bob's subscription.
	if _, err := bsc.Ping(ctx); err != nil {
		release()
		t.Fatal(err)
	}
	release()
	ev := waitEvent(t, bob, func(ev lobby.Event) bool { _, ok := ev.(lobby.Resynced); return ok }).(lobby.Resynced)
	if ev.Err != nil || ev.State.Meta["round"] != "9" {
		t.Fatalf("resynced %+v", ev)
	}
	if cur, _ := bob.State(); cur.Meta["round"] != "9" {
		t.Fatalf("state %+v", cur)
	}
}

func TestSessionRoster(t *testing.T) {
	s := lobby.Session{ID: "s1", Lobby: "l", Peers: []string{"h", "a", "b"}, Host: "h"}
	ice := []netcode.ICEServer{{URLs: []string{"stun:x:3478"}}}
	r := s.Roster("a", ice)
	if r.Session != "s1" || r.Self != "a" || !slices.Equal(r.ICEServers[0].URLs, ice[0].URLs) {
		t.Fatalf("roster %+v", r)
	}
	for i, p := range s.Peers {
		if r.SeatOf(netcode.PeerID(p)) != i {
			t.Fatalf("%s sits at %d, want %d", p, r.SeatOf(netcode.PeerID(p)), i)
		}
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := r.Remotes(); !slices.Equal(got, []netcode.PeerID{"h", "b"}) {
		t.Fatalf("remotes %v", got)
	}
}

// TestConnectionEvents: the lobby Client reports its signaling
// connection's drops and returns as Disconnected and Reconnected (then
// Resynced); a LAN client whose host does not come back within HostGrace
// reports Closed with ErrHostGone and holds no lobby, while a client of a
// rendezvous server keeps its lobby and waits.
func TestConnectionEvents(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "flaky", MaxMembers: 4})
	if err != nil {
		t.Fatal(err)
	}
	member := func(lan bool, grace time.Duration) (*lobby.Client, *droppable) {
		dr := &droppable{}
		c, err := lobby.Dial(ctx, s.url, &lobby.ClientConfig{LAN: lan, HostGrace: grace,
			Signaling: &signaling.ClientConfig{NetDialContext: dr.dial, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		return c, dr
	}
	// kinds collects c's event types until stop accepts one.
	kinds := func(c *lobby.Client, stop func(lobby.Event) bool) []string {
		var got []string
		waitEvent(t, c, func(ev lobby.Event) bool {
			got = append(got, fmt.Sprintf("%T", ev))
			return stop(ev)
		})
		return got
	}

	resumer, dr1 := member(true, time.Minute)
	dr1.drop()
	got := kinds(resumer, func(ev lobby.Event) bool { _, ok := ev.(lobby.Resynced); return ok })
	want := []string{"lobby.Disconnected", "lobby.Reconnected", "lobby.Resynced"}
	if !slices.Equal(got, want) {
		t.Fatalf("events after a drop: %v, want %v", got, want)
	}
	if _, in := resumer.State(); !in {
		t.Fatal("a resumed client lost its lobby")
	}

	lan, dr2 := member(true, 100*time.Millisecond)
	online, dr3 := member(false, 0)
	for _, dr := range []*droppable{dr2, dr3} {
		dr.pause(true)
		dr.drop()
	}
	var closed lobby.Closed
	got = kinds(lan, func(ev lobby.Event) bool { var ok bool; closed, ok = ev.(lobby.Closed); return ok })
	if !slices.Contains(got, "lobby.Disconnected") || !errors.Is(closed.Err, lobby.ErrHostGone) || closed.Lobby != st.ID {
		t.Fatalf("LAN client with its host gone: events %v, closed %+v", got, closed)
	}
	if _, in := lan.State(); in {
		t.Fatal("the LAN client still holds the lobby its host left")
	}
	// Its calls fail at once instead of waiting for a reconnect.
	if err := lan.SetReady(ctx, true); !errors.Is(err, lobby.ErrHostGone) {
		t.Fatalf("a call after the host is gone: %v, want ErrHostGone", err)
	}
	waitEvent(t, online, func(ev lobby.Event) bool {
		if _, ok := ev.(lobby.Closed); ok {
			t.Fatal("a client of a rendezvous server closed its lobby on a drop")
		}
		_, ok := ev.(lobby.Disconnected)
		return ok
	})
	if _, in := online.State(); !in {
		t.Fatal("a client of a rendezvous server dropped its lobby while reconnecting")
	}
}
