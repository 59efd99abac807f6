package lobby_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
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

// hushable dials the server through an in-process pipe that can go
// silent: while hushed nothing crosses in either direction (what was
// sent waits) and a new connection hangs before it is made, as behind a
// link that loses every packet for a while. Unhushed, everything flows
// again, the waiting frames first.
type hushable struct {
	ctx  context.Context // ends every relay and waiting dial
	mu   sync.Mutex
	open chan struct{} // closed while not hushed
}

func newHushable(t *testing.T) *hushable {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h := &hushable{ctx: ctx, open: make(chan struct{})}
	close(h.open)
	return h
}

func (h *hushable) hush(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.open:
		if on {
			h.open = make(chan struct{})
		}
	default:
		if !on {
			close(h.open)
		}
	}
}

// wait blocks while hushed; false once the test is over.
func (h *hushable) wait(ctx context.Context) bool {
	h.mu.Lock()
	open := h.open
	h.mu.Unlock()
	select {
	case <-open:
		return true
	case <-ctx.Done():
		return false
	case <-h.ctx.Done():
		return false
	}
}

func (h *hushable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if !h.wait(ctx) {
		return nil, errors.New("test: the dial gave up while the link was silent")
	}
	up, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	mine, theirs := net.Pipe()
	relay := func(dst, src net.Conn) {
		defer dst.Close()
		defer src.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && (!h.wait(h.ctx) || writeAll(dst, buf[:n]) != nil) {
				return
			}
			if err != nil {
				return
			}
		}
	}
	go relay(theirs, up)
	go relay(up, theirs)
	context.AfterFunc(h.ctx, func() { up.Close(); theirs.Close() })
	return mine, nil
}

func writeAll(c net.Conn, b []byte) error {
	_, err := c.Write(b)
	return err
}

// TestLANClientWaitsOutASilentHost: a LAN client whose host goes silent
// (no frame, not even a ping: a lossy link holding everything back) drops
// the connection after its idle timeout and reconnects; a host that comes
// back after longer than HostGrace, but within HostSilence, keeps the
// client in its lobby (Reconnected, Resynced, no Closed). A host that stays
// silent past HostSilence is gone (Closed with ErrHostGone).
func TestLANClientWaitsOutASilentHost(t *testing.T) {
	s := serve(t, signaling.Config{PingInterval: 50 * time.Millisecond}, lobby.Config{})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "lossy", MaxMembers: 4})
	if err != nil {
		t.Fatal(err)
	}
	// Pings every 50 ms; silence is 0.5 s without one.
	const grace, idle = 100 * time.Millisecond, 500 * time.Millisecond
	member := func(silence time.Duration) (*lobby.Client, *hushable) {
		h := newHushable(t)
		c, err := lobby.Dial(ctx, s.url, &lobby.ClientConfig{LAN: true, HostGrace: grace, HostSilence: silence,
			Signaling: &signaling.ClientConfig{NetDialContext: h.dial, IdleTimeout: idle,
				HandshakeTimeout: 5 * time.Second, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Join(ctx, st.ID, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
		return c, h
	}

	// Silent for 2.5 s: the idle timeout (0.5 s) drops the connection,
	// the reconnect hangs, and the host is back 2 s later, long after
	// HostGrace.
	waiter, h1 := member(time.Minute)
	h1.hush(true)
	var got []string
	dropped := make(chan struct{})
	go func() {
		time.Sleep(2500 * time.Millisecond) // the silence under test
		h1.hush(false)
		close(dropped)
	}()
	waitEvent(t, waiter, func(ev lobby.Event) bool {
		got = append(got, fmt.Sprintf("%T", ev))
		if c, ok := ev.(lobby.Closed); ok {
			t.Fatalf("a LAN client gave up on a host that was silent for 2.5 s: %v (events %v)", c.Err, got)
		}
		_, ok := ev.(lobby.Resynced)
		return ok
	})
	<-dropped
	want := []string{"lobby.Disconnected", "lobby.Reconnected", "lobby.Resynced"}
	if !slices.Equal(got, want) {
		t.Fatalf("events after a silent host came back: %v, want %v", got, want)
	}
	if _, in := waiter.State(); !in {
		t.Fatal("the client lost its lobby while its host was silent")
	}
	if err := waiter.SetReady(ctx, true); err != nil {
		t.Fatalf("a call after the host came back: %v", err)
	}

	// Silent for good: HostSilence (1 s) after the drop it is gone.
	quitter, h2 := member(time.Second)
	h2.hush(true)
	hushed := time.Now()
	var closed lobby.Closed
	waitEvent(t, quitter, func(ev lobby.Event) bool {
		var ok bool
		closed, ok = ev.(lobby.Closed)
		return ok
	})
	if !errors.Is(closed.Err, lobby.ErrHostGone) || !strings.Contains(closed.Err.Error(), "for 1s") || closed.Lobby != st.ID {
		t.Fatalf("a LAN client whose host stayed silent: %+v, want ErrHostGone after HostSilence (1s)", closed)
	}
	if d := time.Since(hushed); d < time.Second {
		t.Fatalf("Closed %v after the host went silent, before HostSilence (1 s)", d)
	}
	if _, in := quitter.State(); in {
		t.Fatal("the LAN client still holds the lobby of a host that stayed silent")
	}
}
