package signaling

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memBackplane is an in-memory Backplane of one node whose store can be
// made to fail (down), as a node's store does without a quorum.
type memBackplane struct {
	down   atomic.Bool
	writes atomic.Int64 // store calls that failed while down

	mu      sync.Mutex
	rev     uint64
	kv      map[string]BackplaneEntry
	watches []memWatch
}

type memWatch struct {
	prefix string
	fn     func(BackplaneEntry)
}

var errNoQuorum = errors.New("cluster: nats: no response from stream")

func newMemBackplane() *memBackplane { return &memBackplane{kv: map[string]BackplaneEntry{}} }

func (b *memBackplane) fail() error {
	if b.down.Load() {
		b.writes.Add(1)
		return errNoQuorum
	}
	return nil
}

// set stores (or deletes) key at the next revision and tells the watches,
// in revision order.
func (b *memBackplane) set(key string, value []byte, del bool) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rev++
	e := BackplaneEntry{Key: key, Value: value, Rev: b.rev, Deleted: del}
	if del {
		delete(b.kv, key)
	} else {
		b.kv[key] = e
	}
	for _, w := range b.watches {
		if strings.HasPrefix(key, w.prefix) {
			w.fn(e)
		}
	}
	return b.rev
}

func (b *memBackplane) Node() string { return "a" }
func (b *memBackplane) Get(ctx context.Context, key string) (BackplaneEntry, error) {
	if err := b.fail(); err != nil {
		return BackplaneEntry{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.kv[key]
	if !ok {
		return e, ErrBackplaneNotFound
	}
	return e, nil
}
func (b *memBackplane) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := b.fail(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	_, ok := b.kv[key]
	b.mu.Unlock()
	if ok {
		return 0, ErrBackplaneConflict
	}
	return b.set(key, value, false), nil
}
func (b *memBackplane) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := b.fail(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	e, ok := b.kv[key]
	b.mu.Unlock()
	if !ok || e.Rev != rev {
		return 0, ErrBackplaneConflict
	}
	return b.set(key, value, false), nil
}
func (b *memBackplane) Delete(ctx context.Context, key string, rev uint64) error {
	if err := b.fail(); err != nil {
		return err
	}
	b.mu.Lock()
	e, ok := b.kv[key]
	b.mu.Unlock()
	if ok && rev != 0 && e.Rev != rev {
		return ErrBackplaneConflict
	}
	b.set(key, nil, true)
	return nil
}
func (b *memBackplane) Keys(ctx context.Context, prefix string) ([]string, error) {
	if err := b.fail(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.kv {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out, nil
}
func (b *memBackplane) Watch(ctx context.Context, prefix string, fn func(BackplaneEntry)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, e := range b.kv {
		if strings.HasPrefix(k, prefix) {
			fn(e)
		}
	}
	b.watches = append(b.watches, memWatch{prefix, fn})
	return nil
}
func (b *memBackplane) Send(node string, msg []byte) error   { return nil }
func (b *memBackplane) Broadcast(msg []byte) error           { return nil }
func (b *memBackplane) Receive(fn func(msg []byte))          {}
func (b *memBackplane) OnNode(fn func(node string, up bool)) {}

func newMemClusterServer(t *testing.T, bp Backplane) *testServer {
	t.Helper()
	s, err := NewClusterServer(testCtx(t), Config{}, bp)
	if err != nil {
		t.Fatal(err)
	}
	hs := newHTTPTestServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return &testServer{Server: s, http: hs, URL: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

// TestClusterJoinStoreUnavailable: a join while the node's store cannot be
// written (no quorum) is answered with CodeUnavailable and a retry hint,
// never CodeInternal; Client.Join sends it again after the hint until its
// context ends, and succeeds once the store is back.
func TestClusterJoinStoreUnavailable(t *testing.T) {
	bp := newMemBackplane()
	ts := newMemClusterServer(t, bp)
	c := dialT(t, ts.URL, nil)
	bp.down.Store(true)

	ctx, cancel := context.WithTimeout(testCtx(t), 1500*time.Millisecond)
	start := time.Now()
	_, err := c.Join(ctx, "r")
	cancel()
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeUnavailable {
		t.Fatalf("join with the store down: %v, want code %s", err, CodeUnavailable)
	}
	if se.RetryAfter != storeRetry {
		t.Errorf("retry hint %v, want %v", se.RetryAfter, storeRetry)
	}
	if took := time.Since(start); took < storeRetry {
		t.Errorf("join gave up after %v: it did not wait the hint and retry", took)
	}
	if n := bp.writes.Load(); n < 2 {
		t.Errorf("%d store calls failed, want the join tried twice", n)
	}

	// The store comes back while a join is retrying: it succeeds.
	done := make(chan error, 1)
	go func() {
		_, err := c.Join(testCtx(t), "r")
		done <- err
	}()
	for bp.writes.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	bp.down.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("join after the store came back: %v", err)
	}
	if c.Room() != "r" {
		t.Errorf("room %q after the join", c.Room())
	}
}

// TestClusterJoinOnMinority: a node that hears no majority of the nodes it
// knows (the small side of a cut) answers a join with CodeUnavailable at
// once, without waiting for the store to time out.
func TestClusterJoinOnMinority(t *testing.T) {
	bp := newMemBackplane()
	ts := newMemClusterServer(t, bp)
	c := dialT(t, ts.URL, nil)
	for _, n := range []string{"b", "c"} {
		ts.onNode(n, true)
	}
	if _, err := c.Join(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"b", "c"} {
		ts.onNode(n, false)
	}
	bp.down.Store(true)
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	_, err := c.Join(ctx, "s")
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeUnavailable || se.RetryAfter == 0 {
		t.Fatalf("join on the minority: %v, want code %s with a retry hint", err, CodeUnavailable)
	}
	lctx, lcancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer lcancel()
	err = c.Leave(lctx)
	if !errors.As(err, &se) || se.Code != CodeUnavailable {
		t.Fatalf("leave on the minority: %v, want code %s", err, CodeUnavailable)
	}
	if n := bp.writes.Load(); n != 0 {
		t.Errorf("%d store calls on the minority, want none", n)
	}
	// Back with the majority: the session is still in its room.
	ts.onNode("b", true)
	bp.down.Store(false)
	if err := c.Leave(testCtx(t)); err != nil {
		t.Fatalf("leave after the heal: %v", err)
	}
}

// TestRequestRetryHint: Client.Request waits the server's suggested time
// (ErrorData.RetryMs) before sending a request answered with
// CodeUnavailable again.
func TestRequestRetryHint(t *testing.T) {
	ts := newTestServer(t, Config{})
	var calls atomic.Int32
	ts.Handle("x.op", func(req *Request) {
		if calls.Add(1) == 1 {
			req.replyRetry("not now", 300*time.Millisecond)
			return
		}
		req.Reply(map[string]int{"ok": 1})
	})
	c := dialT(t, ts.URL, nil)
	start := time.Now()
	if _, err := c.Request(testCtx(t), "x.op", nil); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 300*time.Millisecond || calls.Load() != 2 {
		t.Errorf("request answered after %v in %d calls, want 2 calls at least 300 ms apart", took, calls.Load())
	}
}

// TestClusterHelloOnMinority: a node cut off from most of the cluster
// refuses hellos with CodeUnavailable, so that a client goes to another
// node; it accepts them again once it hears the majority.
func TestClusterHelloOnMinority(t *testing.T) {
	bp := newMemBackplane()
	ts := newMemClusterServer(t, bp)
	for _, n := range []string{"b", "c"} {
		ts.onNode(n, true)
		ts.onNode(n, false)
	}
	_, err := Dial(testCtx(t), ts.URL, &ClientConfig{DisableReconnect: true})
	var se *Error
	if !errors.As(err, &se) || se.Code != CodeUnavailable {
		t.Fatalf("dial on the minority: %v, want code %s", err, CodeUnavailable)
	}
	ts.onNode("b", true)
	dialT(t, ts.URL, nil)
}

// TestClusterResumeOfRemovedSession: a session that resumes on its own
// node after the cluster removed its record (the majority did, when this
// node was cut off for longer than the resume grace) is ended: the client
// starts a new session rather than live on unknown to the cluster.
func TestClusterResumeOfRemovedSession(t *testing.T) {
	bp := newMemBackplane()
	ts := newMemClusterServer(t, bp)
	c := dialT(t, ts.URL, &ClientConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if _, err := c.Join(testCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	id := c.ID()
	for {
		if _, err := bp.Get(testCtx(t), sessKey(id)); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The majority's purge: the member and the session's record go.
	if err := ts.cl.casRoom(testCtx(t), "r", removeMember(id, "")); err != nil {
		t.Fatal(err)
	}
	if err := bp.Delete(testCtx(t), sessKey(id), 0); err != nil {
		t.Fatal(err)
	}
	ts.mu.RLock()
	sess := ts.sessions[id]
	ts.mu.RUnlock()
	sess.mu.Lock()
	conn := sess.c
	sess.mu.Unlock()
	conn.closeAsync(1011, "test") // the client reconnects and resumes here
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.Events():
			if rc, ok := ev.(Reconnected); ok && !rc.Resumed {
				if rc.ID == id {
					t.Fatalf("new session with the old id %s", id)
				}
				ts.mu.RLock()
				_, still := ts.sessions[id]
				ts.mu.RUnlock()
				if still {
					t.Errorf("the removed session %s is still held", id)
				}
				return
			}
		case <-deadline:
			t.Fatal("the client never started a new session")
		}
	}
}

// TestClusterCreateRoomUnavailable: CreateRoom and AddToRoom on a node
// whose store cannot be written fail with ErrUnavailable (a service
// answers CodeUnavailable), not with an unknown peer or an internal error.
func TestClusterCreateRoomUnavailable(t *testing.T) {
	bp := newMemBackplane()
	ts := newMemClusterServer(t, bp)
	a, b := dialT(t, ts.URL, nil), dialT(t, ts.URL, nil)
	bp.down.Store(true)
	if err := ts.CreateRoom("m", []string{a.ID(), b.ID()}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("CreateRoom with the store down: %v, want ErrUnavailable", err)
	}
	bp.down.Store(false)
	if err := ts.CreateRoom("m", []string{a.ID()}); err != nil {
		t.Fatal(err)
	}
	bp.down.Store(true)
	if err := ts.AddToRoom("m", []string{b.ID()}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("AddToRoom with the store down: %v, want ErrUnavailable", err)
	}
	bp.down.Store(false)
	if err := ts.AddToRoom("m", []string{"nobody"}); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("AddToRoom of an unknown peer: %v, want ErrUnknownPeer", err)
	}
}
