package signaling

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var benchFrame = []byte(`{"v":1,"type":"signal","cid":"42","to":"5b1e0c9d2a8f7e6d","data":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host","sdpMid":"0"}}`)

func BenchmarkDecode(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFrame)))
	for b.Loop() {
		if _, err := Decode(benchFrame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRelay(b *testing.B) {
	env, _ := Decode(benchFrame)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(Envelope{Type: TypeSignal, From: "9f2c4e1a7b3d5a60", To: env.To, Room: "duel#1", Data: env.Data}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRelayRoundTrip measures a signal from one Client to another and
// back through a real server on loopback (two relays per iteration).
func BenchmarkRelayRoundTrip(b *testing.B) {
	s := NewServer(Config{RatePerSec: 1e9, RateBurst: 1e9})
	hs := newHTTPTestServer(s)
	defer func() { s.Close(); hs.Close() }()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	c, err := Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	a.Join(ctx, "bench")
	c.Join(ctx, "bench")
	back := make(chan struct{}, 1)
	cancelA := a.SubscribeSignals(func(string, []byte) { back <- struct{}{} }, nil)
	defer cancelA()
	aid := a.ID()
	cancelC := c.SubscribeSignals(func(from string, p []byte) {
		go c.Signal(ctx, aid, p)
	}, nil)
	defer cancelC()
	payload := json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Signal(ctx, c.ID(), payload); err != nil {
			b.Fatal(err)
		}
		<-back
	}
}

// BenchmarkClusterRelayCodec measures the encoding work of one signal
// relayed between nodes, as the two nodes do it: the sender's node frames
// the signal for NATS, the target's node reads it, encodes it for the
// target's socket and frames its ack, and the sender's node reads the ack
// and encodes it for the sender (NATS and the sockets excluded).
func BenchmarkClusterRelayCodec(b *testing.B) {
	data := json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}`)
	b.ReportAllocs()
	for b.Loop() {
		sig := encodeNodeMsg(nodeMsg{T: "sig", From: "p0123456789abcdef", FromNode: "b0", To: "p fedcba9876543210", Room: "room-1", Cid: "42", Data: data, T0: 1733370000000000000})
		m, err := decodeNodeMsg(sig)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Encode(Envelope{Type: TypeSignal, From: m.From, To: m.To, Room: m.Room, Data: m.Data}); err != nil {
			b.Fatal(err)
		}
		ack := encodeNodeMsg(nodeMsg{T: "ack", To: m.From, Cid: m.Cid, T0: m.T0})
		a, err := decodeNodeMsg(ack)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := encodeWith(Envelope{Type: TypeAck, Cid: a.Cid}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
