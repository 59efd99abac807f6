package netsim

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func msg(i int) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(i))
	return b[:]
}

type rx struct {
	at  time.Time
	ch  netcode.Channel
	seq int
}

func drain(n *Network, e *Endpoint, out *[]rx) {
	e.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		*out = append(*out, rx{n.Now(), ch, int(binary.BigEndian.Uint32(data))})
	})
}

func TestLatencyJitterLossStatistics(t *testing.T) {
	n := New(Config{Seed: 1, Default: Conditions{Latency: 100 * time.Millisecond, Jitter: 30 * time.Millisecond, Loss: 0.25}})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	sent := map[int]time.Time{}
	var got []rx
	const total = 4000
	for i := 0; i < total; i++ {
		sent[i] = n.Now()
		if err := a.Send("b", netcode.Unreliable, msg(i)); err != nil {
			t.Fatal(err)
		}
		n.Advance(time.Millisecond)
		drain(n, b, &got)
	}
	for i := 0; i < 200; i++ {
		n.Advance(time.Millisecond)
		drain(n, b, &got)
	}
	loss := 1 - float64(len(got))/total
	if loss < 0.22 || loss > 0.28 {
		t.Errorf("loss %.3f, want about 0.25", loss)
	}
	reordered := 0
	for i, r := range got {
		d := r.at.Sub(sent[r.seq])
		if d < 70*time.Millisecond || d > 131*time.Millisecond {
			t.Fatalf("message %d took %v, want 100ms±30ms", r.seq, d)
		}
		if i > 0 && r.seq < got[i-1].seq {
			reordered++
		}
	}
	if reordered == 0 {
		t.Error("jitter reordered nothing")
	}
}

func TestReliableIsOrderedAndComplete(t *testing.T) {
	n := New(Config{Seed: 2, Default: Conditions{Latency: 50 * time.Millisecond, Jitter: 40 * time.Millisecond, Loss: 0.3, Duplicate: 0.5, Reorder: 0.5}})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	var got []rx
	for i := 0; i < 1000; i++ {
		if err := a.Send("b", netcode.Reliable, msg(i)); err != nil {
			t.Fatal(err)
		}
		if i == 300 {
			n.SetLink("a", "b", Conditions{Down: true})
		}
		if i == 600 {
			n.SetLink("a", "b", Conditions{Latency: 50 * time.Millisecond, Loss: 0.3})
		}
		n.Advance(2 * time.Millisecond)
		drain(n, b, &got)
	}
	n.Advance(10 * time.Second)
	drain(n, b, &got)
	if len(got) != 1000 {
		t.Fatalf("got %d reliable messages, want 1000", len(got))
	}
	for i, r := range got {
		if r.seq != i {
			t.Fatalf("message %d arrived at position %d", r.seq, i)
		}
	}
	if a.Stats().Retransmitted == 0 {
		t.Error("no simulated retransmission")
	}
}

func TestSequencedDropsStale(t *testing.T) {
	n := New(Config{Seed: 3, Default: Conditions{Latency: 20 * time.Millisecond, Jitter: 15 * time.Millisecond}})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	var got []rx
	for i := 0; i < 500; i++ {
		_ = a.Send("b", netcode.Sequenced, msg(i))
		n.Advance(time.Millisecond)
		drain(n, b, &got)
	}
	n.Advance(time.Second)
	drain(n, b, &got)
	if len(got) == 0 || len(got) == 500 {
		t.Fatalf("got %d of 500; jitter should have made some stale", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].seq <= got[i-1].seq {
			t.Fatalf("sequenced delivered %d after %d", got[i].seq, got[i-1].seq)
		}
	}
}

func TestBandwidthCap(t *testing.T) {
	n := New(Config{Seed: 4, Default: Conditions{Bandwidth: 10000}})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	data := make([]byte, 1000)
	for i := 0; i < 5; i++ {
		_ = a.Send("b", netcode.Unreliable, data)
	}
	count := 0
	for i := 0; i < 10; i++ {
		n.Advance(100 * time.Millisecond)
		b.Poll(func(netcode.PeerID, netcode.Channel, []byte) { count++ })
		if want := min(i+1, 5); count != want {
			t.Fatalf("after %d ms: %d messages, want %d at 10 kB/s", (i+1)*100, count, want)
		}
	}
}

func TestDeterministicWithSeed(t *testing.T) {
	run := func() []rx {
		n := New(Config{Seed: 42, Default: Conditions{Latency: 30 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.2, Duplicate: 0.1, Reorder: 0.1}})
		a, b := n.Endpoint("a"), n.Endpoint("b")
		var got []rx
		for i := 0; i < 300; i++ {
			_ = a.Send("b", netcode.Unreliable, msg(i))
			n.Advance(time.Millisecond)
			drain(n, b, &got)
		}
		n.Advance(time.Second)
		drain(n, b, &got)
		return got
	}
	x, y := run(), run()
	if len(x) != len(y) {
		t.Fatalf("runs differ: %d vs %d messages", len(x), len(y))
	}
	for i := range x {
		if x[i] != y[i] {
			t.Fatalf("runs differ at %d: %+v vs %+v", i, x[i], y[i])
		}
	}
}

func TestClosedEndpoint(t *testing.T) {
	n := New(Config{})
	a := n.Endpoint("a")
	n.Endpoint("b")
	if err := a.Send("nobody", netcode.Unreliable, []byte{1}); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("send to unknown peer: %v", err)
	}
	if err := a.Send("b", netcode.Unreliable, make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized send: %v", err)
	}
	_ = a.Close()
	if err := a.Send("b", netcode.Unreliable, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
	if n.Endpoint("a") == a {
		t.Fatal("closed endpoint was not replaced")
	}
}

func TestConditionerOnVirtualClock(t *testing.T) {
	n := New(Config{})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	now := time.Unix(1000, 0)
	c := NewConditioner(a, ConditionerConfig{Seed: 7, Clock: func() time.Time { return now },
		Conditions: Conditions{Latency: 50 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.5}})
	defer c.Close()
	var unrel, rel []int
	poll := func() {
		b.Poll(func(_ netcode.PeerID, ch netcode.Channel, d []byte) {
			v := int(binary.BigEndian.Uint32(d))
			if ch == netcode.Reliable {
				rel = append(rel, v)
			} else {
				unrel = append(unrel, v)
			}
		})
	}
	for i := 0; i < 400; i++ {
		_ = c.Send("b", netcode.Unreliable, msg(i))
		_ = c.Send("b", netcode.Reliable, msg(i))
		if i < 39 {
			n.Advance(0)
			poll()
			if len(unrel)+len(rel) != 0 {
				t.Fatalf("message delivered after %v, before the 40ms minimum", time.Duration(i)*time.Millisecond)
			}
		}
		now = now.Add(time.Millisecond)
		_ = c.Flush()
		n.Advance(0)
		poll()
	}
	for i := 0; i < 100; i++ {
		now = now.Add(100 * time.Millisecond)
		_ = c.Flush()
	}
	n.Advance(0)
	poll()
	if len(unrel) < 150 || len(unrel) > 250 {
		t.Errorf("%d of 400 unreliable delivered at 50%% loss", len(unrel))
	}
	if len(rel) != 400 {
		t.Fatalf("%d of 400 reliable delivered", len(rel))
	}
	for i, v := range rel {
		if v != i {
			t.Fatalf("reliable %d at position %d", v, i)
		}
	}
	_ = c.Close()
	if err := c.Send("b", netcode.Unreliable, msg(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

func TestConditionerDownHoldsReliable(t *testing.T) {
	n := New(Config{})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	now := time.Unix(0, 0)
	c := NewConditioner(a, ConditionerConfig{Clock: func() time.Time { return now }})
	defer c.Close()
	c.SetConditions(Conditions{Down: true})
	for i := 0; i < 5; i++ {
		_ = c.Send("b", netcode.Reliable, msg(i))
		_ = c.Send("b", netcode.Unreliable, msg(100+i))
	}
	now = now.Add(time.Minute)
	_ = c.Flush()
	n.Advance(0)
	got := 0
	b.Poll(func(netcode.PeerID, netcode.Channel, []byte) { got++ })
	if got != 0 || c.Pending() != 5 {
		t.Fatalf("link down: %d delivered, %d held; want 0 and the 5 reliable", got, c.Pending())
	}
	c.SetConditions(Conditions{})
	n.Advance(0)
	var order []int
	b.Poll(func(_ netcode.PeerID, ch netcode.Channel, d []byte) {
		if ch != netcode.Reliable {
			t.Errorf("an unreliable message sent while down was delivered")
		}
		order = append(order, int(binary.BigEndian.Uint32(d)))
	})
	if len(order) != 5 {
		t.Fatalf("%d reliable delivered after the link came up, want 5", len(order))
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("reliable order %v", order)
		}
	}
	if st := c.Stats(); st.Lost != 5 || st.Delivered != 5 {
		t.Fatalf("stats %+v", st)
	}
	// After the outage, latency applies again to new reliable messages.
	c.SetConditions(Conditions{Latency: 50 * time.Millisecond})
	_ = c.Send("b", netcode.Reliable, msg(9))
	n.Advance(0)
	b.Poll(func(netcode.PeerID, netcode.Channel, []byte) { t.Error("delivered before its 50 ms latency") })
	now = now.Add(50 * time.Millisecond)
	_ = c.Flush()
	n.Advance(0)
	got = 0
	b.Poll(func(netcode.PeerID, netcode.Channel, []byte) { got++ })
	if got != 1 {
		t.Fatalf("%d delivered after the latency, want 1", got)
	}
}
