package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestDialCanceled(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Dial(ctx, ts.URL, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with canceled ctx: %v", err)
	}
	// A server that accepts TCP but never answers: cancel mid-handshake.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := Dial(ctx, "ws://"+ln.Addr().String(), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial canceled mid-handshake: %v", err)
	}
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
	}
}

func TestRequestCanceled(t *testing.T) {
	ts := newTestServer(t, Config{})
	release := make(chan struct{})
	ts.Handle("mm.slow", func(r *Request) {
		go func() {
			<-release
			r.Reply("late")
		}()
	})
	defer close(release)
	c := dialT(t, ts.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, "mm.slow", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request past its deadline: %v", err)
	}
	// The late reply is dropped quietly and the client goes on working.
	if _, err := c.Ping(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestIdleTimeoutAndKeepAlive(t *testing.T) {
	ts := newTestServer(t, Config{PingInterval: 40 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	// A raw peer that never reads never answers pings: it is closed.
	p := rawDial(t, ts.URL)
	// A Client answers pings and stays.
	c := dialT(t, ts.URL, &ClientConfig{DisableReconnect: true})
	ev := c.Events()
	deadline := time.Now().Add(15 * time.Second)
	for ts.Stats().Connections != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the silent peer was not closed: %+v", ts.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // two idle timeouts
	select {
	case e := <-ev:
		t.Fatalf("client got %T %+v while it answered pings", e, e)
	default:
	}
	if _, err := c.Ping(testCtx(t)); err != nil {
		t.Fatalf("client dropped: %v", err)
	}
	if n := ts.Stats().Errors[CodeTimeout]; n != 1 {
		t.Fatalf("%d timeouts counted, want 1", n)
	}
	// The silent peer's connection is gone.
	for {
		if _, err := p.next(); err != nil {
			break
		}
	}
}

func TestHelloTimeout(t *testing.T) {
	ts := newTestServer(t, Config{HelloTimeout: 100 * time.Millisecond})
	ws := rawConnect(t, ts.URL)
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) || !strings.Contains(err.Error(), CodeTimeout) {
		t.Fatalf("want close %s, got %v", CodeTimeout, err)
	}
}

func TestResumeReplacesLiveConnection(t *testing.T) {
	ts := newTestServer(t, Config{})
	p := rawDial(t, ts.URL)
	q := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
	q.send(`{"type":"hello","cid":"r","data":{"resume":"` + p.resume + `"}}`)
	w := q.expect(TypeWelcome)
	if !strings.Contains(string(w.Data), `"id":"`+p.id+`"`) {
		t.Fatalf("welcome %s", w.Data)
	}
	for {
		_, err := p.next()
		if err != nil {
			if !strings.Contains(err.Error(), CodeReplaced) {
				t.Fatalf("old connection closed with %v", err)
			}
			break
		}
	}
	q.alive()
	if n := ts.Sessions(); n != 1 {
		t.Fatalf("%d sessions", n)
	}
}

// TestReconnectAfterServerRestart: the client keeps trying with backoff;
// the new server does not know the session, so the client starts a fresh
// one and reports that it left its room.
func TestReconnectAfterServerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	start := func(ln net.Listener) (*Server, *http.Server) {
		s := NewServer(Config{})
		hs := &http.Server{Handler: s}
		go hs.Serve(ln)
		return s, hs
	}
	stop := func(s *Server, hs *http.Server) {
		hs.Close()
		s.Close()
	}
	s1, hs1 := start(ln)
	c := dialT(t, "ws://"+addr, &ClientConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	ev := c.Events()
	if _, err := c.Join(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	oldID := c.ID()
	stop(s1, hs1)
	waitEvent[Disconnected](t, ev, nil)
	// While disconnected, calls wait for the reconnect or their context.
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Join(short, "r"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Join while disconnected: %v", err)
	}
	joined := make(chan error, 1)
	go func() {
		_, err := c.Join(testCtx(t), "after")
		joined <- err
	}()
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	s2, hs2 := start(ln2)
	defer stop(s2, hs2)
	waitEvent[Left](t, ev, func(l Left) bool { return l.Room == "r" })
	rc := waitEvent[Reconnected](t, ev, nil)
	if rc.Resumed || rc.ID == oldID {
		t.Fatalf("reconnected %+v, id %q room %q", rc, c.ID(), c.Room())
	}
	if err := <-joined; err != nil {
		t.Fatalf("Join waiting through the reconnect: %v", err)
	}
	if c.Room() != "after" {
		t.Fatalf("room %q", c.Room())
	}
}

func TestCloseIsIdempotentAndUnblocks(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dialT(t, ts.URL, nil)
	ts.Handle("mm.never", func(*Request) {})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), "mm.never", nil)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrDisconnected) && !errors.Is(err, ErrClosed) {
			t.Fatalf("pending request: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close did not unblock a pending request")
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events channel open after Close")
	}
}

// TestSignalsWaitForResume: a signal accepted for an interrupted peer is
// delivered after its resume, right behind the welcome.
func TestSignalsWaitForResume(t *testing.T) {
	ts := newTestServer(t, Config{})
	p := rawDial(t, ts.URL)
	q := rawDial(t, ts.URL)
	for _, x := range []*rawPeer{p, q} {
		x.send(`{"type":"join","cid":"j","room":"wait"}`)
		x.expect(TypeJoined)
	}
	p.ws.NetConn().Close() // drop without a close frame
	q.expect(TypePeerInterrupted)
	q.send(`{"type":"signal","cid":"s","to":"` + p.id + `","data":{"held":true}}`)
	q.expect(TypeAck)
	r := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
	r.send(`{"type":"hello","cid":"h","data":{"resume":"` + p.resume + `"}}`)
	env, err := r.next()
	if err != nil || env.Type != TypeWelcome {
		t.Fatalf("first frame after resume: %+v %v", env, err)
	}
	sig := r.expect(TypeSignal)
	if sig.From != q.id || string(sig.Data) != `{"held":true}` {
		t.Fatalf("held signal %+v %s", sig, sig.Data)
	}
	q.expect(TypePeerResumed)
}

// TestHelloFromANewerClient: a client of a later version that also speaks
// version 1 is welcomed with version 1.
func TestHelloFromANewerClient(t *testing.T) {
	ts := newTestServer(t, Config{})
	p := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
	p.send(`{"v":3,"type":"hello","cid":"h","data":{"versions":[3,2,1],"future_field":true}}`)
	w := p.expect(TypeWelcome)
	if w.V != 1 || w.Cid != "h" {
		t.Fatalf("welcome %+v", w)
	}
	p.alive()
}

// TestResumeCatchesUpMembership: members that left or joined while the
// client was away are reported once each after the resume.
func TestResumeCatchesUpMembership(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	// a's reconnect dials wait at the gate until b and c have moved.
	var gateMu sync.Mutex
	gate := make(chan struct{})
	close(gate)
	dialer := &net.Dialer{}
	a := dialT(t, ts.URL, &ClientConfig{NetDialContext: func(ctx context.Context, n, addr string) (net.Conn, error) {
		gateMu.Lock()
		g := gate
		gateMu.Unlock()
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return dialer.DialContext(ctx, n, addr)
	}})
	b := dialT(t, ts.URL, nil)
	c := dialT(t, ts.URL, nil)
	aev := a.Events()
	a.Join(ctx, "m")
	b.Join(ctx, "m")
	waitEvent[PeerJoined](t, aev, nil)
	var mu sync.Mutex
	var calls []string
	cancel := a.SubscribeSignals(nil, func(p string, joined bool) {
		mu.Lock()
		calls = append(calls, fmt.Sprint(p == b.ID(), p == c.ID(), joined))
		mu.Unlock()
	})
	defer cancel()
	gateMu.Lock()
	gate = make(chan struct{})
	gateMu.Unlock()
	a.mu.Lock()
	cutConn(a.ws)
	a.mu.Unlock()
	waitEvent[Disconnected](t, aev, nil)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ts.mu.RLock()
		interrupted := ts.sessions[a.ID()].interruptedAt != 0
		ts.mu.RUnlock()
		if interrupted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not notice the drop")
		}
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	gateMu.Lock()
	close(gate)
	gateMu.Unlock()
	rc := waitEvent[Reconnected](t, aev, nil)
	if !rc.Resumed {
		t.Fatal("not resumed")
	}
	if _, err := a.Ping(ctx); err != nil { // the queued events have been read by now
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"true false true", "true false false", "false true true"}
	if !slices.Equal(calls, want) {
		t.Fatalf("callbacks %v, want %v", calls, want)
	}
	if p := a.Peers(); len(p) != 1 || p[0] != c.ID() {
		t.Fatalf("peers %v", p)
	}
}

// TestCallbacksMayMakeBlockingCalls: callbacks run apart from the reader,
// so answering a signal with Signal from inside the callback works.
func TestCallbacksMayMakeBlockingCalls(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	a.Join(ctx, "echo")
	b.Join(ctx, "echo")
	echoErr := make(chan error, 100)
	cancelB := b.SubscribeSignals(func(from string, p []byte) {
		echoErr <- b.Signal(ctx, from, p) // blocks for the ack
	}, nil)
	defer cancelB()
	got := make(chan string, 100)
	cancelA := a.SubscribeSignals(func(_ string, p []byte) { got <- string(p) }, nil)
	defer cancelA()
	for i := range 20 {
		want := fmt.Sprintf("%d", i)
		if err := a.Signal(ctx, b.ID(), json.RawMessage(want)); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("echo %q, want %q", g, want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no echo of %d", i)
		}
		select {
		case err := <-echoErr:
			if err != nil {
				t.Fatalf("echo %d: %v", i, err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("the echoing Signal call of %d did not return", i)
		}
	}
}

// TestUndrainedEventsDoNotBlockCalls: an application that calls the client
// from the goroutine that should drain Events still gets its replies.
func TestUndrainedEventsDoNotBlockCalls(t *testing.T) {
	ts := newTestServer(t, Config{RatePerSec: 1e6, RateBurst: 1e6, SendQueueLen: 1000})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, &ClientConfig{EventBuffer: 1})
	b := dialT(t, ts.URL, nil)
	a.Events() // enabled, never drained
	a.Join(ctx, "busy")
	b.Join(ctx, "busy")
	for i := range 200 {
		if err := b.Signal(ctx, a.ID(), json.RawMessage(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Ping(ctx); err != nil {
		t.Fatalf("a call with 200 events undrained: %v", err)
	}
}

// TestEarlySignalsReachFirstSubscriber checks that signals arriving before
// anyone subscribes are kept (up to ClientConfig.EarlySignals), handed to
// the first subscriber in order before later ones, and counted when dropped.
func TestEarlySignalsReachFirstSubscriber(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, &ClientConfig{EarlySignals: 3})
	bev := b.Events()
	ctx := testCtx(t)
	if _, err := b.Join(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Join(ctx, "early"); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := a.Signal(ctx, b.ID(), json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	// The Events channel sees every signal once the client has read it.
	for i := range 5 {
		s := waitEvent[Signal](t, bev, nil)
		if want := fmt.Sprintf(`{"n":%d}`, i); string(s.Data) != want {
			t.Fatalf("event %d: %s, want %s", i, s.Data, want)
		}
	}
	if got := b.DroppedSignals(); got != 2 {
		t.Errorf("DroppedSignals before subscribing = %d, want 2", got)
	}

	var mu sync.Mutex
	var got []string
	record := func(from string, payload []byte) {
		mu.Lock()
		defer mu.Unlock()
		if from != a.ID() {
			t.Errorf("signal from %q, want %q", from, a.ID())
		}
		got = append(got, string(payload))
	}
	snapshot := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	defer b.SubscribeSignals(record, nil)()
	if want := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}; !slices.Equal(snapshot(), want) {
		t.Fatalf("first subscriber got %q before SubscribeSignals returned, want %q", snapshot(), want)
	}
	// A second subscriber gets nothing buffered; later signals reach both.
	var second atomic.Int32
	defer b.SubscribeSignals(func(string, []byte) { second.Add(1) }, nil)()
	if n := second.Load(); n != 0 {
		t.Fatalf("second subscriber got %d early signals", n)
	}
	if err := a.Signal(ctx, b.ID(), json.RawMessage(`{"n":5}`)); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); len(snapshot()) < 4 || second.Load() < 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("later signal not delivered: first %q, second %d", snapshot(), second.Load())
		}
	}
	if g := snapshot(); g[3] != `{"n":5}` {
		t.Errorf("after the early ones: %q", g)
	}
	if got := b.DroppedSignals(); got != 2 {
		t.Errorf("DroppedSignals = %d, want 2", got)
	}
}

// TestEarlySignalsFromALeftRoomAreDropped checks that signals buffered in
// one room are not handed to a subscriber after the client moved on, and
// that a negative EarlySignals keeps nothing.
func TestEarlySignalsFromALeftRoomAreDropped(t *testing.T) {
	ts := newTestServer(t, Config{})
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	none := dialT(t, ts.URL, &ClientConfig{EarlySignals: -1})
	bev, nev := b.Events(), none.Events()
	ctx := testCtx(t)
	for _, c := range []*Client{a, b, none} {
		if _, err := c.Join(ctx, "old"); err != nil {
			t.Fatal(err)
		}
	}
	for _, to := range []*Client{b, none} {
		if err := a.Signal(ctx, to.ID(), json.RawMessage(`"stale"`)); err != nil {
			t.Fatal(err)
		}
	}
	waitEvent[Signal](t, bev, nil)
	waitEvent[Signal](t, nev, nil)
	if _, err := b.Join(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	defer b.SubscribeSignals(func(string, []byte) { n.Add(1) }, nil)()
	defer none.SubscribeSignals(func(string, []byte) { n.Add(1) }, nil)()
	if got := n.Load(); got != 0 {
		t.Errorf("%d stale signals delivered", got)
	}
	if got := b.DroppedSignals(); got != 1 {
		t.Errorf("b.DroppedSignals = %d, want 1", got)
	}
	if got := none.DroppedSignals(); got != 1 {
		t.Errorf("none.DroppedSignals = %d, want 1", got)
	}
}
