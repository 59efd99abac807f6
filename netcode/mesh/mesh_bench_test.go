package mesh

import (
	"context"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// BenchmarkInboxPushPoll is the receive path without the network: a
// datagram copied into the inbox and handed to Poll. Steady state
// allocates nothing.
func BenchmarkInboxPushPoll(b *testing.B) {
	var in inbox
	in.init(1024)
	msg := make([]byte, 32)
	n := 0
	fn := func(netcode.PeerID, netcode.Channel, []byte) { n++ }
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in.pushDatagram("peer", netcode.Unreliable, msg)
		in.poll(fn)
	}
	if n != b.N {
		b.Fatalf("%d of %d delivered", n, b.N)
	}
}

func benchPair(b *testing.B) (*Mesh, *Mesh) {
	hub := &memsignal.Hub{}
	var ms []*Mesh
	for _, id := range []string{"a", "b"} {
		s, err := hub.Join(id)
		if err != nil {
			b.Fatal(err)
		}
		m, err := New(s, Config{Loopback: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(); s.Leave() })
		ms = append(ms, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, 1); err != nil {
			b.Fatal(err)
		}
	}
	return ms[0], ms[1]
}

// BenchmarkMeshRoundTrip is one 32-byte unreliable message there and back
// between two meshes on loopback, each side waiting with Ready and reading
// with Poll as a game loop would.
func BenchmarkMeshRoundTrip(b *testing.B) {
	a, c := benchPair(b)
	msg := make([]byte, 32)
	got := false
	mark := func(netcode.PeerID, netcode.Channel, []byte) { got = true }
	echo := func(from netcode.PeerID, ch netcode.Channel, data []byte) { _ = c.Send(from, ch, data) }
	wait := func(m *Mesh, fn func(netcode.PeerID, netcode.Channel, []byte)) {
		got = false
		for !got {
			select {
			case <-m.Ready():
			case <-time.After(time.Second):
				b.Fatal("message lost")
			}
			m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) { got = true; fn(from, ch, data) })
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := a.Send("b", netcode.Unreliable, msg); err != nil {
			b.Fatal(err)
		}
		wait(c, echo)
		wait(a, mark)
	}
}

// BenchmarkMeshSendReliable is the cost of queueing a 1 KiB reliable
// message (the receiver drains in the background).
func BenchmarkMeshSendReliable(b *testing.B) {
	a, c := benchPair(b)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-c.Ready():
				c.Poll(func(netcode.PeerID, netcode.Channel, []byte) {})
			}
		}
	}()
	defer func() { close(stop); <-done }()
	msg := make([]byte, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for {
			err := a.Send("b", netcode.Reliable, msg)
			if err == nil {
				break
			}
			time.Sleep(100 * time.Microsecond) // queue full: let SCTP drain
		}
	}
}

// BenchmarkMeshConnect4 is the time for four meshes in one process to
// open every channel of their six pairs.
func BenchmarkMeshConnect4(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		hub := &memsignal.Hub{}
		var ms []*Mesh
		var sigs []*memsignal.Signaler
		for _, id := range []string{"a", "b", "c", "d"} {
			s, err := hub.Join(id)
			if err != nil {
				b.Fatal(err)
			}
			sigs = append(sigs, s)
		}
		start := time.Now()
		for _, s := range sigs {
			m, err := New(s, Config{Loopback: true})
			if err != nil {
				b.Fatal(err)
			}
			ms = append(ms, m)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for _, m := range ms {
			if err := m.WaitConnected(ctx, 3); err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/mesh")
		b.StopTimer()
		for i, m := range ms {
			m.Close()
			sigs[i].Leave()
		}
		b.StartTimer()
	}
}
