package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// slowStore is a node's backplane whose writes of service records
// (svc.*) take delay, fail while failing is set, and never land once the
// node is dead (a process killed with the write in flight).
type slowStore struct {
	signaling.Backplane

	mu      sync.Mutex
	delay   time.Duration
	failing bool
	dead    bool
	died    chan struct{}
}

var errStoreDown = errors.New("test: store writes fail")

func (b *slowStore) set(fn func(b *slowStore)) {
	b.mu.Lock()
	fn(b)
	b.mu.Unlock()
}

// kill makes the node's service writes in flight and to come fail.
func (b *slowStore) kill() {
	b.mu.Lock()
	if !b.dead {
		b.dead = true
		close(b.died)
	}
	b.mu.Unlock()
}

func (b *slowStore) before(ctx context.Context, key string) error {
	if !strings.HasPrefix(key, "svc.") {
		return nil
	}
	b.mu.Lock()
	delay, failing, died := b.delay, b.failing, b.died
	b.mu.Unlock()
	if failing {
		return errStoreDown
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-died:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dead || b.failing {
		return errStoreDown
	}
	return nil
}

func (b *slowStore) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	if err := b.before(ctx, key); err != nil {
		return 0, err
	}
	return b.Backplane.Create(ctx, key, value)
}

func (b *slowStore) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	if err := b.before(ctx, key); err != nil {
		return 0, err
	}
	return b.Backplane.Update(ctx, key, value, rev)
}

func (b *slowStore) Delete(ctx context.Context, key string, rev uint64) error {
	if err := b.before(ctx, key); err != nil {
		return err
	}
	return b.Backplane.Delete(ctx, key, rev)
}

func startSlowCluster(t *testing.T) ([]*testNode, []*slowStore, []*counter) {
	t.Helper()
	stores := make([]*slowStore, 3)
	nodes := startClusterWith(t, 3, signaling.Config{ResumeGrace: 5 * time.Second, RatePerSec: 10000, RateBurst: 10000},
		func(i int, bp signaling.Backplane) signaling.Backplane {
			stores[i] = &slowStore{Backplane: bp, died: make(chan struct{})}
			return stores[i]
		})
	ctrs := make([]*counter, len(nodes))
	for i, n := range nodes {
		ctrs[i] = newCounter(n.srv, n.node.Node())
	}
	return nodes, stores, ctrs
}

func leaderIndex(t *testing.T, ctrs []*counter) int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if li := slices.IndexFunc(ctrs, func(c *counter) bool { return c.svc.Leading() }); li >= 0 {
			return li
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
}

// TestClusterServiceDurable: the leader of a cluster-wide service answers
// a change only once its record is written.
func TestClusterServiceDurable(t *testing.T) {
	nodes, stores, ctrs := startSlowCluster(t)
	t.Run("WritesFail", func(t *testing.T) { testWritesFail(t, nodes, stores, ctrs) })
	t.Run("ReplyAfterWrite", func(t *testing.T) { testReplyAfterWrite(t, nodes, stores, ctrs) })
}

// testWritesFail: a leader whose writes keep failing (no quorum) does not
// answer the change as done: it steps down, the request is answered
// unavailable and sent again by the client, and the next leader applies
// it once, from the stored state.
func testWritesFail(t *testing.T, nodes []*testNode, stores []*slowStore, ctrs []*counter) {
	c := dial(t, nodes[0].url)
	if r := ask(t, c, "ctr.add"); r.N != 1 {
		t.Fatalf("add: %+v, want n=1", r)
	}
	li := leaderIndex(t, ctrs)
	stores[li].set(func(b *slowStore) { b.failing = true })
	type result struct {
		raw json.RawMessage
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		raw, err := c.Request(ctx, "ctr.add", nil)
		done <- result{raw, err}
	}()
	// The leader gives up after its writes failed for a while; then the
	// store heals.
	for deadline := time.Now().Add(20 * time.Second); ctrs[li].svc.Leading(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the leader kept leading while its writes failed")
		}
		select {
		case r := <-done:
			t.Fatalf("answered %s (%v) while the leader's writes failed", r.raw, r.err)
		default:
		}
	}
	stores[li].set(func(b *slowStore) { b.failing = false })
	res := <-done
	if res.err != nil {
		t.Fatalf("add retried after the leader stepped down: %v", res.err)
	}
	var r ctrReply
	json.Unmarshal(res.raw, &r)
	if r.N != 2 {
		t.Fatalf("add retried after the leader stepped down: %+v, want n=2 (applied once)", r)
	}
	if got := ask(t, c, "ctr.get"); got.N != 2 {
		t.Fatalf("get: %+v, want n=2", got)
	}
}

// testReplyAfterWrite: a change the leader answered is in the store, even
// when the leader dies right after the reply while its writes are slow:
// the next leader has it.
func testReplyAfterWrite(t *testing.T, nodes []*testNode, stores []*slowStore, ctrs []*counter) {
	c := dial(t, nodes[0].url)
	before := ask(t, c, "ctr.get").N
	li := leaderIndex(t, ctrs)
	if li == 0 {
		// The client must outlive the leader: ask from another node.
		c = dial(t, nodes[1].url)
	}
	const delay = 300 * time.Millisecond
	for _, s := range stores {
		s.set(func(b *slowStore) { b.delay = delay })
	}
	start := time.Now()
	r := ask(t, c, "ctr.add")
	took := time.Since(start)
	if r.N != before+1 {
		t.Fatalf("add: %+v, want n=%d", r, before+1)
	}
	// The leader dies now: nothing it still writes lands.
	stores[li].kill()
	nodes[li].close()
	for _, s := range stores {
		s.set(func(b *slowStore) { b.delay = 0 })
	}
	got := ask(t, c, "ctr.get")
	if got.Node == r.Node || got.N != r.N {
		t.Fatalf("after the leader answered n=%d (in %v) and died: %+v, want n=%d from another node", r.N, took, got, r.N)
	}
	if took < delay {
		t.Fatalf("the reply came %v after the request, before the record's write (%v)", took, delay)
	}
	t.Logf("reply after a %v write: %v; the next leader %s has n=%d", delay, took.Round(time.Millisecond), got.Node, got.N)
}
