package signaling

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// laggingBackplane is a Backplane whose reads lag behind its writes: the
// token key exists (Create conflicts) but the first reads miss it, as
// when a read is served by a replica that has not applied another node's
// create yet.
type laggingBackplane struct {
	key    []byte
	misses int // reads of key.token that still miss
	reads  int
}

func (b *laggingBackplane) Node() string { return "lag" }
func (b *laggingBackplane) Get(ctx context.Context, key string) (BackplaneEntry, error) {
	b.reads++
	if key != "key.token" || b.misses > 0 {
		b.misses--
		return BackplaneEntry{}, ErrBackplaneNotFound
	}
	return BackplaneEntry{Key: key, Value: b.key, Rev: 1}, nil
}
func (b *laggingBackplane) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	return 0, ErrBackplaneConflict
}
func (b *laggingBackplane) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	return 0, ErrBackplaneConflict
}
func (b *laggingBackplane) Delete(ctx context.Context, key string, rev uint64) error { return nil }
func (b *laggingBackplane) Keys(ctx context.Context, prefix string) ([]string, error) {
	return nil, nil
}
func (b *laggingBackplane) Watch(ctx context.Context, prefix string, fn func(BackplaneEntry)) error {
	return nil
}
func (b *laggingBackplane) Send(node string, msg []byte) error   { return nil }
func (b *laggingBackplane) Broadcast(msg []byte) error           { return nil }
func (b *laggingBackplane) Receive(fn func(msg []byte))          {}
func (b *laggingBackplane) OnNode(fn func(node string, up bool)) {}

// TestClusterServerTokenKeyFromLaggingReplica: a node that starts with
// the others finds the token key created by another node even when its
// first reads miss it, and uses that key.
func TestClusterServerTokenKeyFromLaggingReplica(t *testing.T) {
	bp := &laggingBackplane{key: []byte("0123456789abcdef0123456789abcdef"), misses: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := NewClusterServer(ctx, Config{}, bp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if bp.reads != 4 {
		t.Errorf("%d reads of the token key, want 4", bp.reads)
	}
	s.mu.RLock()
	got := s.tokenKey
	s.mu.RUnlock()
	if !bytes.Equal(got, bp.key) {
		t.Errorf("token key %q, want the other node's %q", got, bp.key)
	}
}
