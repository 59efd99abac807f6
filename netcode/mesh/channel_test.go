package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v4/vnet"

	"github.com/rallypoint/rallypoint/netcode"
)

// vnetLab is pion's virtual network: every peer gets an address on one
// router, and a replaceable filter decides which packets pass.
type vnetLab struct {
	router *vnet.Router
	nets   []*vnet.Net
	filter atomic.Pointer[func(vnet.Chunk) bool]
}

func newVNetLab(t *testing.T, n int) *vnetLab {
	t.Helper()
	r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "10.9.0.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	lab := &vnetLab{router: r}
	for i := 0; i < n; i++ {
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{fmt.Sprintf("10.9.0.%d", 10+i)}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(nw); err != nil {
			t.Fatal(err)
		}
		lab.nets = append(lab.nets, nw)
	}
	r.AddChunkFilter(func(c vnet.Chunk) bool {
		if f := lab.filter.Load(); f != nil {
			return (*f)(c)
		}
		return true
	})
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return lab
}

func (lab *vnetLab) setFilter(f func(vnet.Chunk) bool) {
	if f == nil {
		lab.filter.Store(nil)
		return
	}
	lab.filter.Store(&f)
}

// config returns a mesh configuration for peer i on the virtual network.
func (lab *vnetLab) config(i int) Config {
	nw := lab.nets[i]
	c := testConfig()
	c.Loopback = false
	c.Net = nw
	return c
}

// waitEvent reads m's events until one of type E for peer.
func waitEvent[E Event](t *testing.T, m *Mesh, peer netcode.PeerID, d time.Duration) E {
	t.Helper()
	var zero E
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				t.Fatalf("%s: events closed waiting for %T from %s", m.LocalID(), zero, peer)
			}
			if e, match := ev.(E); match && ev.PeerID() == peer {
				return e
			}
		case <-timer.C:
			t.Fatalf("%s: no %T event for %s within %v", m.LocalID(), zero, peer, d)
		}
	}
}

// TestChannelsUnderLoss sends on every channel under 20% loss each way.
// Unreliable loses what it does not retransmit: with the default single
// retransmission about 1 − 0.2² = 96% arrives, with none about 80%; a
// reliable channel would deliver everything.
func TestChannelsUnderLoss(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rexmit   int
		min, max int // per cent of n the unreliable channel may deliver
		seqLimit int // per cent of n the sequenced channel may deliver, at most
	}{
		{"one retransmission", 0, 85, 99, 99},
		{"no retransmission", -1, 50, 92, 92},
	} {
		t.Run(tc.name, func(t *testing.T) { channelsUnderLoss(t, tc.rexmit, tc.min, tc.max, tc.seqLimit) })
	}
}

func channelsUnderLoss(t *testing.T, rexmit, minPct, maxPct, seqPct int) {
	checkLeaks(t)
	lab := newVNetLab(t, 2)
	a, b := connectedPair(t, func(i int) Config {
		c := lab.config(i)
		// Enough ping samples for the loss figures, busy or not.
		c.PingInterval, c.BusyPingInterval = 20*time.Millisecond, 20*time.Millisecond
		c.DatagramRetransmits = rexmit
		return c
	})

	// 20% of packets in both directions vanish from now on.
	var mu sync.Mutex
	rng := rand.New(rand.NewSource(1))
	var passed, dropped atomic.Int64
	lab.setFilter(func(vnet.Chunk) bool {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() >= 0.20 {
			passed.Add(1)
			return true
		}
		dropped.Add(1)
		return false
	})

	const n = 400
	msg := make([]byte, 8)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(msg, uint32(i))
		binary.BigEndian.PutUint32(msg[4:], 0)
		if err := a.Send(b.LocalID(), netcode.Unreliable, msg); err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint32(msg[4:], 1)
		if err := a.Send(b.LocalID(), netcode.Reliable, msg); err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint32(msg[4:], 2)
		if err := a.Send(b.LocalID(), netcode.Sequenced, msg); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // one message per packet
	}

	var unrel, rel, seq []uint32
	deadline := time.Now().Add(20 * time.Second)
	for len(rel) < n && time.Now().Before(deadline) {
		b.Poll(func(_ netcode.PeerID, ch netcode.Channel, data []byte) {
			v := binary.BigEndian.Uint32(data)
			switch ch {
			case netcode.Unreliable:
				unrel = append(unrel, v)
			case netcode.Reliable:
				rel = append(rel, v)
			case netcode.Sequenced:
				seq = append(seq, v)
			}
		})
		time.Sleep(time.Millisecond)
	}
	// Late unreliable stragglers would only prove retransmission: give them
	// a moment to show up.
	time.Sleep(300 * time.Millisecond)
	b.Poll(func(_ netcode.PeerID, ch netcode.Channel, data []byte) {
		if ch == netcode.Unreliable {
			unrel = append(unrel, binary.BigEndian.Uint32(data))
		}
	})
	lab.setFilter(nil)
	t.Logf("network: %d packets passed, %d dropped", passed.Load(), dropped.Load())

	// Reliable: everything, in order.
	if len(rel) != n {
		t.Fatalf("reliable: %d of %d delivered", len(rel), n)
	}
	for i, v := range rel {
		if v != uint32(i) {
			t.Fatalf("reliable: message %d is %d", i, v)
		}
	}
	// Unreliable: gaps, no duplicates, and the loss its retransmission
	// limit leaves: a channel that retransmitted until delivery would
	// deliver everything.
	seen := map[uint32]bool{}
	for _, v := range unrel {
		if seen[v] {
			t.Fatalf("unreliable: %d delivered twice", v)
		}
		seen[v] = true
	}
	if len(unrel) > n*maxPct/100 || len(unrel) < n*minPct/100 {
		t.Fatalf("unreliable: %d of %d delivered under 20%% loss; want %d%% to %d%%", len(unrel), n, minPct, maxPct)
	}
	// Sequenced: gaps and strictly increasing.
	for i := 1; i < len(seq); i++ {
		if seq[i] <= seq[i-1] {
			t.Fatalf("sequenced: %d delivered after %d", seq[i], seq[i-1])
		}
	}
	if len(seq) > n*seqPct/100 || len(seq) == 0 {
		t.Fatalf("sequenced: %d of %d delivered under 20%% loss", len(seq), n)
	}
	st, err := b.Stats(a.LocalID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("unreliable %d/%d, sequenced %d/%d; stats: loss in %.2f out %.2f rtt %v", len(unrel), n, len(seq), n, st.LossIn, st.LossOut, st.RTT)
	if st.LossIn < 0.07 || st.LossIn > 0.45 || st.LossOut < 0.07 || st.LossOut > 0.45 {
		t.Errorf("stats: loss in %.3f, out %.3f under 20%% loss", st.LossIn, st.LossOut)
	}
}

func TestSequencedDropsStale(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, nil)
	// Write frames straight onto a's sequenced channel, out of order, as a
	// reordering network would deliver them.
	a.mu.Lock()
	p := a.peers[b.LocalID()]
	a.mu.Unlock()
	p.mu.Lock()
	rw := p.rw[netcode.Sequenced]
	p.mu.Unlock()
	for _, s := range []uint32{5, 3, 6, 6, 2, 9} {
		f := binary.BigEndian.AppendUint32(nil, s)
		f = append(f, byte(s))
		if _, err := rw.WriteDataChannel(f, false); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := collect(t, b.Mesh, 3, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	got = append(got, collect(t, b.Mesh, 1, 10*time.Millisecond)...)
	var vals []byte
	for _, r := range got {
		if r.ch != netcode.Sequenced {
			t.Fatalf("message on %s", r.ch)
		}
		vals = append(vals, r.data...)
	}
	if !bytes.Equal(vals, []byte{5, 6, 9}) {
		t.Fatalf("delivered %v, want [5 6 9]", vals)
	}
	st, _ := b.Stats(a.LocalID())
	if st.StaleSequenced != 3 {
		t.Fatalf("StaleSequenced = %d, want 3", st.StaleSequenced)
	}
}

func TestReliableLargeMessages(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, nil)
	big := make([]byte, 1<<20)
	rand.New(rand.NewSource(2)).Read(big)
	small := []byte("after")
	start := time.Now()
	if err := a.Send(b.LocalID(), netcode.Reliable, big); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(b.LocalID(), netcode.Reliable, small); err != nil {
		t.Fatal(err)
	}
	got := collect(t, b.Mesh, 2, 20*time.Second)
	if len(got) != 2 {
		t.Fatalf("received %d messages, want 2", len(got))
	}
	t.Logf("1 MiB in %v", time.Since(start))
	if !bytes.Equal(got[0].data, big) || !bytes.Equal(got[1].data, small) {
		t.Fatalf("messages differ: %d and %q", len(got[0].data), got[1].data)
	}
	// The cap: 4 MiB passes, one byte more fails with a clear error.
	huge := make([]byte, 4<<20)
	if err := a.Send(b.LocalID(), netcode.Reliable, huge); err != nil {
		t.Fatalf("4 MiB: %v", err)
	}
	var se *MessageSizeError
	err := a.Send(b.LocalID(), netcode.Reliable, make([]byte, 4<<20+1))
	if !errors.Is(err, ErrMessageTooLarge) || !errors.As(err, &se) || se.Limit != 4<<20 {
		t.Fatalf("over the cap: %v", err)
	}
	got = collect(t, b.Mesh, 1, 30*time.Second)
	if len(got) != 1 || len(got[0].data) != 4<<20 {
		t.Fatalf("4 MiB message not received: %d messages", len(got))
	}
}

func TestDatagramLimits(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, nil)
	for _, ch := range []netcode.Channel{netcode.Unreliable, netcode.Sequenced} {
		err := a.Send(b.LocalID(), ch, make([]byte, netcode.MaxDatagramMessage+1))
		var se *MessageSizeError
		if !errors.Is(err, ErrMessageTooLarge) || !errors.As(err, &se) || se.Channel != ch {
			t.Fatalf("%s: oversized send: %v", ch, err)
		}
		if err := a.Send(b.LocalID(), ch, bytes.Repeat([]byte{byte(ch)}, netcode.MaxDatagramMessage)); err != nil {
			t.Fatalf("%s: largest datagram: %v", ch, err)
		}
	}
	got := collect(t, b.Mesh, 2, 5*time.Second)
	if len(got) != 2 || len(got[0].data) != netcode.MaxDatagramMessage || len(got[1].data) != netcode.MaxDatagramMessage {
		t.Fatalf("largest datagrams: got %d messages", len(got))
	}
	if err := a.Send(b.LocalID(), netcode.Channel(7), nil); !errors.Is(err, ErrUnknownChannel) {
		t.Fatalf("unknown channel: %v", err)
	}
	if err := a.Send("nobody", netcode.Reliable, nil); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("unknown peer: %v", err)
	}
}

func TestReliableBackpressure(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, func(i int) Config {
		c := testConfig()
		c.InboxLimit = 4
		c.SendQueueLimit = 256 << 10
		return c
	})
	// b does not poll: its inbox fills, SCTP stops draining, a's queue
	// grows until Send refuses. Nothing accepted may be lost.
	msg := make([]byte, 8<<10)
	accepted := 0
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		binary.BigEndian.PutUint32(msg, uint32(accepted))
		err := a.Send(b.LocalID(), netcode.Reliable, msg)
		if errors.Is(err, ErrQueueFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
		if accepted%16 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if time.Now().After(deadline) {
		t.Fatal("send queue never filled")
	}
	var got []uint32
	deadline = time.Now().Add(30 * time.Second)
	for len(got) < accepted && time.Now().Before(deadline) {
		b.Poll(func(_ netcode.PeerID, ch netcode.Channel, data []byte) {
			got = append(got, binary.BigEndian.Uint32(data))
		})
		time.Sleep(time.Millisecond)
	}
	if len(got) != accepted {
		t.Fatalf("%d accepted, %d delivered", accepted, len(got))
	}
	for i, v := range got {
		if v != uint32(i) {
			t.Fatalf("message %d is %d", i, v)
		}
	}
	t.Logf("%d messages accepted before ErrQueueFull, all delivered", accepted)
}

// A receiver's MaxMessageSize holds for messages that arrive whole, not
// only for chunked ones: a peer configured with a larger cap that sends
// one is cut off with a protocol error instead of the message being
// delivered.
func TestReceiveCapOnWholeMessages(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, func(i int) Config {
		c := testConfig()
		if i == 1 {
			c.MaxMessageSize = 1000
		}
		return c
	})
	if err := a.Send(b.LocalID(), netcode.Reliable, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, b.Mesh, 1, 5*time.Second); len(got) != 1 {
		t.Fatalf("message at the cap: %d delivered", len(got))
	}
	if err := a.Send(b.LocalID(), netcode.Reliable, make([]byte, 2000)); err != nil {
		t.Fatal(err)
	}
	ev := waitEvent[EventDisconnected](t, b.Mesh, a.LocalID(), 10*time.Second)
	if ev.Reason != ReasonProtocol || !errors.Is(ev.Err, ErrProtocol) {
		t.Fatalf("over the receiver's cap: %v (%v)", ev, ev.Err)
	}
	if got := collect(t, b.Mesh, 1, 100*time.Millisecond); len(got) != 0 {
		t.Fatalf("message over the cap delivered (%d bytes)", len(got[0].data))
	}
}
