package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer runs a Server behind a real HTTP server on 127.0.0.1:0.
type testServer struct {
	*Server
	http *httptest.Server
	URL  string // ws:// URL
}

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	s := NewServer(cfg)
	hs := httptest.NewServer(s)
	ts := &testServer{Server: s, http: hs, URL: "ws" + strings.TrimPrefix(hs.URL, "http")}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return ts
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dialT(t *testing.T, url string, cfg *ClientConfig) *Client {
	t.Helper()
	c, err := Dial(testCtx(t), url, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitEvent returns the first event from ch that match accepts, failing the
// test after a generous timeout.
func waitEvent[T Event](t *testing.T, ch <-chan Event, match func(T) bool) T {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("events closed while waiting for %T", *new(T))
			}
			if e, ok := ev.(T); ok && (match == nil || match(e)) {
				return e
			}
		case <-timeout:
			var zero T
			t.Fatalf("timed out waiting for %T", zero)
			return zero
		}
	}
}

func TestTwoClientsMeetAndSignal(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	if a.ID() == "" || a.ID() == b.ID() {
		t.Fatalf("ids %q %q", a.ID(), b.ID())
	}
	if a.LocalID() != "" {
		t.Fatalf("LocalID before join = %q", a.LocalID())
	}
	aev := a.Events()
	bev := b.Events()
	ri, err := a.Join(ctx, "arena")
	if err != nil {
		t.Fatal(err)
	}
	if ri.Name != "arena" || len(ri.Peers) != 0 {
		t.Fatalf("first join: %+v", ri)
	}
	ri, err = b.Join(ctx, "arena")
	if err != nil {
		t.Fatal(err)
	}
	if len(ri.Peers) != 1 || ri.Peers[0] != a.ID() {
		t.Fatalf("second join: %+v", ri)
	}
	pj := waitEvent[PeerJoined](t, aev, nil)
	if pj.Peer != b.ID() || pj.Room != "arena" {
		t.Fatalf("peer joined %+v", pj)
	}
	if a.LocalID() != a.ID() {
		t.Fatalf("LocalID in room = %q", a.LocalID())
	}
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`{"sdp":"offer-1"}`)); err != nil {
		t.Fatal(err)
	}
	sig := waitEvent[Signal](t, bev, nil)
	if sig.From != a.ID() || string(sig.Data) != `{"sdp":"offer-1"}` {
		t.Fatalf("signal %+v %s", sig, sig.Data)
	}
	if err := b.SendSignal(ctx, a.ID(), []byte(`{"sdp":"answer-1"}`)); err != nil {
		t.Fatal(err)
	}
	sig = waitEvent[Signal](t, aev, nil)
	if sig.From != b.ID() || string(sig.Data) != `{"sdp":"answer-1"}` {
		t.Fatalf("signal %+v", sig)
	}
	if err := b.SendSignal(ctx, a.ID(), []byte(`not json`)); !errors.Is(err, ErrNotJSON) {
		t.Fatalf("non-JSON payload: %v", err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	pl := waitEvent[PeerLeft](t, aev, nil)
	if pl.Peer != b.ID() {
		t.Fatalf("peer left %+v", pl)
	}
	if err := b.Leave(ctx); !errors.Is(err, &Error{Code: CodeNotInRoom}) {
		t.Fatalf("second leave: %v", err)
	}
}

func TestJoinNextGroups(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	var cs []*Client
	rooms := map[string]int{}
	for range 5 {
		c := dialT(t, ts.URL, nil)
		cs = append(cs, c)
		ri, err := c.JoinNext(ctx, "duel", 2)
		if err != nil {
			t.Fatal(err)
		}
		rooms[ri.Name]++
	}
	if len(rooms) != 3 {
		t.Fatalf("5 arrivals with next=2 made rooms %v, want 3", rooms)
	}
	if cs[0].Room() != cs[1].Room() || cs[2].Room() != cs[3].Room() || cs[1].Room() == cs[2].Room() || cs[4].Room() == cs[3].Room() {
		t.Fatalf("grouping: %q %q %q %q %q", cs[0].Room(), cs[1].Room(), cs[2].Room(), cs[3].Room(), cs[4].Room())
	}
	// A next=N group accepts no joins by name.
	other := dialT(t, ts.URL, nil)
	if _, err := other.Join(ctx, cs[0].Room()); !errors.Is(err, &Error{Code: CodeRoomClosed}) {
		t.Fatalf("join group by name: %v", err)
	}
	if _, err := other.JoinNext(ctx, "duel", 1000); !errors.Is(err, &Error{Code: CodeInvalidRoom}) {
		t.Fatalf("next too big: %v", err)
	}
}

func TestResumeKeepsIDAndSeat(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, &ClientConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	b := dialT(t, ts.URL, nil)
	aev, bev := a.Events(), b.Events()
	if _, err := a.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	id := a.ID()
	// Cut a's TCP connection under it.
	a.mu.Lock()
	cutConn(a.ws)
	a.mu.Unlock()
	waitEvent[Disconnected](t, aev, nil)
	rc := waitEvent[Reconnected](t, aev, nil)
	if !rc.Resumed || rc.ID != id || a.ID() != id || a.Room() != "r" {
		t.Fatalf("reconnected %+v id %q room %q", rc, a.ID(), a.Room())
	}
	waitEvent[PeerInterrupted](t, bev, func(e PeerInterrupted) bool { return e.Peer == id })
	waitEvent[PeerResumed](t, bev, func(e PeerResumed) bool { return e.Peer == id })
	// The seat works: b reaches a under the same id.
	if err := b.Signal(ctx, id, json.RawMessage(`"again"`)); err != nil {
		t.Fatal(err)
	}
	s := waitEvent[Signal](t, aev, nil)
	if string(s.Data) != `"again"` {
		t.Fatalf("signal after resume %s", s.Data)
	}
}

func TestResumeGraceExpiry(t *testing.T) {
	var gone sync.Map
	ts := newTestServer(t, Config{ResumeGrace: 100 * time.Millisecond, OnPeerGone: func(p string) { gone.Store(p, true) }})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, &ClientConfig{DisableReconnect: true})
	b := dialT(t, ts.URL, nil)
	bev := b.Events()
	a.Join(ctx, "r")
	b.Join(ctx, "r")
	id := a.ID()
	a.mu.Lock()
	cutConn(a.ws)
	a.mu.Unlock()
	waitEvent[PeerInterrupted](t, bev, func(e PeerInterrupted) bool { return e.Peer == id })
	waitEvent[PeerLeft](t, bev, func(e PeerLeft) bool { return e.Peer == id })
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if _, ok := gone.Load(id); ok {
			break
		}
	}
	if _, ok := gone.Load(id); !ok {
		t.Fatalf("OnPeerGone not called for %s", id)
	}
	if got := b.Peers(); len(got) != 0 {
		t.Fatalf("peers after expiry %v", got)
	}
}

func TestCloseLeavesAtOnce(t *testing.T) {
	var mu sync.Mutex
	var gone []string
	ts := newTestServer(t, Config{})
	ts.OnPeerGone(func(p string) { mu.Lock(); gone = append(gone, p); mu.Unlock() })
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	bev := b.Events()
	a.Join(ctx, "r")
	b.Join(ctx, "r")
	id := a.ID()
	a.Close()
	waitEvent[PeerLeft](t, bev, func(e PeerLeft) bool { return e.Peer == id })
	// OnPeerGone runs right after the room hears peer_left.
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(gone)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gone) != 1 || gone[0] != id {
		t.Fatalf("gone %v", gone)
	}
	if _, err := a.Join(ctx, "x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestExtensionHandlers(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	type enq struct {
		Mode string `json:"mode"`
	}
	var got *Request
	var gotMu sync.Mutex
	ts.Handle("mm.enqueue", func(req *Request) {
		gotMu.Lock()
		got = req
		gotMu.Unlock()
		var e enq
		if err := json.Unmarshal(req.Envelope.Data, &e); err != nil || e.Mode == "" {
			req.ReplyError("mm.bad_mode", "mode required")
			return
		}
		req.Reply(map[string]string{"ticket": "t-" + e.Mode})
	})
	a := dialT(t, ts.URL, nil)
	aev := a.Events()
	raw, err := a.Request(ctx, "mm.enqueue", enq{Mode: "duel"})
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"ticket":"t-duel"}` {
		t.Fatalf("reply %s", raw)
	}
	gotMu.Lock()
	if got.Peer != a.ID() || got.Envelope.From != a.ID() || got.RemoteAddr == "" || got.Context() == nil {
		t.Fatalf("request %+v", got)
	}
	gotMu.Unlock()
	_, err = a.Request(ctx, "mm.enqueue", enq{})
	var se *Error
	if !errors.As(err, &se) || se.Code != "mm.bad_mode" {
		t.Fatalf("error reply %v", err)
	}
	if _, err := a.Request(ctx, "lobby.nothing", nil); !errors.Is(err, &Error{Code: CodeUnknownType}) {
		t.Fatalf("unknown type: %v", err)
	}
	// Server push arrives as a Message event.
	if err := ts.Send(a.ID(), "mm.matched", map[string]int{"size": 2}); err != nil {
		t.Fatal(err)
	}
	m := waitEvent[Message](t, aev, nil)
	if m.Type != "mm.matched" || string(m.Data) != `{"size":2}` {
		t.Fatalf("message %+v %s", m, m.Data)
	}
	if err := ts.Send("nobody", "mm.matched", nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Handle of a core type did not panic")
		}
	}()
	ts.Handle(TypeSignal, func(*Request) {})
}

func TestCreateRoom(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	c := dialT(t, ts.URL, nil)
	aev, bev, cev := a.Events(), b.Events(), c.Events()
	if _, err := a.Join(ctx, "lobby-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "lobby-1"); err != nil {
		t.Fatal(err)
	}
	waitEvent[PeerJoined](t, aev, nil)
	if err := ts.CreateRoom("match-7", []string{a.ID(), b.ID()}); err != nil {
		t.Fatal(err)
	}
	j := waitEvent[Joined](t, bev, func(j Joined) bool { return j.Room == "match-7" })
	if len(j.Peers) != 1 || j.Peers[0] != a.ID() {
		t.Fatalf("b joined %+v", j)
	}
	waitEvent[PeerJoined](t, aev, func(e PeerJoined) bool { return e.Room == "match-7" && e.Peer == b.ID() })
	waitEvent[PeerLeft](t, cev, func(e PeerLeft) bool { return e.Peer == a.ID() })
	if err := ts.CreateRoom("match-7", []string{c.ID()}); !errors.Is(err, ErrRoomExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := ts.CreateRoom("match-8", []string{"ghost"}); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
}

func TestSubscribeSignalsReportsMembers(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	a.Join(ctx, "r")
	b.Join(ctx, "r")
	var mu sync.Mutex
	var peers []string
	sigs := make(chan string, 4)
	cancel := b.SubscribeSignals(func(from string, p []byte) { sigs <- from + " " + string(p) }, func(p string, joined bool) {
		mu.Lock()
		peers = append(peers, p+map[bool]string{true: "+", false: "-"}[joined])
		mu.Unlock()
	})
	mu.Lock()
	if len(peers) != 1 || peers[0] != a.ID()+"+" {
		t.Fatalf("initial peers %v", peers)
	}
	mu.Unlock()
	a.SendSignal(ctx, b.ID(), []byte(`"x"`))
	select {
	case s := <-sigs:
		if s != a.ID()+` "x"` {
			t.Fatalf("got %q", s)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no signal")
	}
	a.Leave(ctx)
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(peers)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no leave callback")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
}

func newHTTPTestServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }

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

func TestServerDoneClosesOnClose(t *testing.T) {
	s := NewServer(Config{})
	select {
	case <-s.Done():
		t.Fatal("Done closed before Close")
	default:
	}
	s.Close()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done still open after Close")
	}
}
