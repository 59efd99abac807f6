package mesh

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func realSignals() []*signal {
	mid := "0"
	idx := uint16(0)
	return []*signal{
		{T: sigOffer, G: 1, SDP: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n"},
		{T: sigOffer, G: 2, SDP: "v=0\r\n", Relay: true},
		{T: sigOffer, G: 1, SDP: "v=0\r\n", Restart: true},
		{T: sigAnswer, G: 1, SDP: "v=0\r\n"},
		{T: sigAnswer, G: 1, SDP: "v=0\r\n", Early: true},
		{T: sigCand, G: 1, Cands: []signalCandidate{
			{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", SDPMid: &mid, SDPMLineIndex: &idx},
			{Candidate: "candidate:2 1 udp 16777215 10.0.0.1 3478 typ relay raddr 0.0.0.0 rport 0"},
		}},
		{T: sigBye, Reason: byeKicked},
		{T: sigBye, Reason: byeLeft},
		{T: sigHello},
	}
}

// TestSignalGolden pins the wire form of a signal.
func TestSignalGolden(t *testing.T) {
	s := &signal{T: sigCand, G: 3, Cands: []signalCandidate{{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}}}
	const want = `{"v":2,"t":"cand","g":3,"cands":[{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}]}`
	if got := string(s.marshal()); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	a := &signal{T: sigAnswer, G: 1, SDP: "v=0", Early: true}
	const wantAnswer = `{"v":2,"t":"answer","g":1,"sdp":"v=0","early":true}`
	if got := string(a.marshal()); got != wantAnswer {
		t.Fatalf("got  %s\nwant %s", got, wantAnswer)
	}
	// Unknown fields are ignored (forward compatibility).
	if _, err := parseSignal([]byte(`{"v":2,"t":"hello","future":[1,2]}`)); err != nil {
		t.Fatal(err)
	}
}

func TestSignalRoundTrip(t *testing.T) {
	for _, s := range realSignals() {
		b := s.marshal()
		got, err := parseSignal(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(&got, s) {
			t.Fatalf("round trip of %s: %+v", b, got)
		}
	}
	if _, err := parseSignal([]byte(`{"v":2,"t":"cand","g":1,"cands":[]}`)); !errors.Is(err, ErrBadSignal) {
		t.Fatalf("empty cands: %v", err)
	}
}

// FuzzParseSignal checks that no input panics the decoder and that what
// it accepts survives a marshal and parse unchanged.
func FuzzParseSignal(f *testing.F) {
	for _, s := range realSignals() {
		f.Add(s.marshal())
	}
	f.Add([]byte(`{"v":2,"t":"cand","g":1,"cands":[{"candidate":"x","sdpMLineIndex":70000}]}`))
	f.Add([]byte(`{"v":2,"t":"offer","g":4294967295,"sdp":"\u0000"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseSignal(b)
		if err != nil {
			if !errors.Is(err, ErrBadSignal) {
				t.Fatalf("error %v is not ErrBadSignal", err)
			}
			return
		}
		again, err := parseSignal(s.marshal())
		if err != nil {
			t.Fatalf("re-parse of accepted %q: %v", b, err)
		}
		if !reflect.DeepEqual(again, s) {
			a, _ := json.Marshal(again)
			t.Fatalf("round trip changed %q into %s", b, a)
		}
	})
}
