package memsignal

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		if len(r.log) >= n {
			out := append([]string(nil), r.log...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("only %v", r.log)
	return nil
}

func TestHubOrderAndLifecycle(t *testing.T) {
	var h Hub
	a, _ := h.Join("a")
	b, _ := h.Join("b")
	if _, err := h.Join("a"); !errors.Is(err, ErrDuplicateID) {
		t.Fatalf("duplicate: %v", err)
	}
	var ra, rb recorder
	a.SubscribeSignals(func(from string, p []byte) { ra.add(fmt.Sprintf("sig %s %s", from, p)) },
		func(peer string, joined bool) { ra.add(fmt.Sprintf("peer %s %v", peer, joined)) })
	b.SubscribeSignals(func(from string, p []byte) { rb.add(fmt.Sprintf("sig %s %s", from, p)) },
		func(peer string, joined bool) { rb.add(fmt.Sprintf("peer %s %v", peer, joined)) })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := a.SendSignal(ctx, "b", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.SendSignal(ctx, "zed", nil); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("to nobody: %v", err)
	}
	got := rb.wait(t, 4)
	want := []string{"peer a true", "sig a 0", "sig a 1", "sig a 2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("b saw %v, want %v", got, want)
	}
	if got := ra.wait(t, 1); got[0] != "peer b true" {
		t.Fatalf("a saw %v", got)
	}
	b.Leave()
	if got := ra.wait(t, 2); got[1] != "peer b false" {
		t.Fatalf("a saw %v", got)
	}
	if b.LocalID() != "" {
		t.Fatal("LocalID after Leave")
	}
	if err := b.SendSignal(ctx, "a", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after leave: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.SendSignal(cctx, "a", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	a.Leave()
	a.Leave() // idempotent
	if m := h.Members(); len(m) != 0 {
		t.Fatalf("members %v", m)
	}
}

func TestFilterDrops(t *testing.T) {
	h := Hub{Filter: func(from, to string, p []byte) bool { return string(p) != "drop" }}
	a, _ := h.Join("a")
	b, _ := h.Join("b")
	defer a.Leave()
	defer b.Leave()
	var r recorder
	b.SubscribeSignals(func(from string, p []byte) { r.add(string(p)) }, nil)
	for _, p := range []string{"one", "drop", "two"} {
		if err := a.SendSignal(context.Background(), "b", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.wait(t, 2); fmt.Sprint(got) != "[one two]" {
		t.Fatalf("got %v", got)
	}
}
