package rollback

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// Golden encodings: these bytes are the protocol. Changing them needs a new
// WireVersion.
func TestWireGolden(t *testing.T) {
	in := &wireInputMsg{Frame: 300, Ack: 298, Advantage: -2, HasAdvantage: true, Start: 299, Count: 3, Inputs: []byte{5, 5, 7}}
	b, _ := appendInputMsg(nil, in, 1, nil)
	const wantIn = "03f12c0167fea0050002"
	if got := hex.EncodeToString(b); got != wantIn {
		t.Errorf("input message\n got %s\nwant %s", got, wantIn)
	}
	if len(b) > 16 {
		t.Errorf("2 players, 1-byte inputs, 3 unacked frames: %d bytes, budget 16", len(b))
	}
	in.HasSum, in.SumFrame, in.Sum = true, 270, wireChecksum(0x0102030405060708)
	b, _ = appendInputMsg(nil, in, 1, nil)
	const wantSum = "03f92c0167fea0050002" + "3b" + "0c040404"
	if got := hex.EncodeToString(b); got != wantSum {
		t.Errorf("input message with checksum\n got %s\nwant %s", got, wantSum)
	}
	// The steady case: the same input over three frames, no advantage
	// report: 7 bytes.
	steady := &wireInputMsg{Frame: 300, Ack: 298, Start: 299, Count: 3, Inputs: []byte{5, 5, 5}}
	b, _ = appendInputMsg(nil, steady, 1, nil)
	if got := hex.EncodeToString(b); got != "03e12c01678205" {
		t.Errorf("steady input message %s", got)
	}
	feed := &wireFeedMsg{Start: 10, Count: 2, Inputs: []byte{1, 2, 1, 2}, Drops: []wireDropFrom{{Handle: 1, From: 9, Until: noDrop}}}
	b, _ = appendFeedMsg(nil, feed, 2, nil)
	const wantFeed = "03020a02920102" + "01010900"
	if got := hex.EncodeToString(b); got != wantFeed {
		t.Errorf("feed message\n got %s\nwant %s", got, wantFeed)
	}
	if got := hex.EncodeToString(appendFeedAck(nil, 41)); got != "03032a" {
		t.Errorf("feed ack %s", got)
	}
	drop := &wireDropMsg{Handle: 2, Last: 99, Inputs: []byte{7, 8}}
	if got := hex.EncodeToString(appendDropMsg(nil, drop, 1)); got != "03040264020708" {
		t.Errorf("drop message %s", got)
	}
	st := &wireStateMsg{Frame: 5, State: []byte("hi")}
	if got := hex.EncodeToString(appendStateMsg(nil, st)); got != "03060500026869" {
		t.Errorf("state message %s", got)
	}
	// The start barrier: p heard players 0, 1 and 3 of 4.
	hello := &wireCtlMsg{Sub: ctlHello, Heard: 0b1011}
	if got := hex.EncodeToString(appendCtlMsg(nil, hello)); got != "030704000b000000" {
		t.Errorf("hello %s", got)
	}
	hello.Flags = helloAbort
	if got := hex.EncodeToString(appendCtlMsg(nil, hello)); got != "030704020b000000" {
		t.Errorf("hello with abort %s", got)
	}
	// The final report of frame 600: checksum, 4 players in, reports of
	// players 0 and 2 held.
	final := &wireCtlMsg{Sub: ctlFinal, Frame: 600, Sum: 0xdeadbeef, Roster: 0xf, Seen: 0b0101}
	if got := hex.EncodeToString(appendCtlMsg(nil, final)); got != "030705d804efbeadde0f00000005000000" {
		t.Errorf("final report %s", got)
	}
}

func TestWireBudget(t *testing.T) {
	// Late in a match (frame 200,000, an hour at 60 Hz), with three
	// different inputs in flight, an advantage report and a checksum
	// report all in one datagram (the worst case), the 2-player 1-byte
	// case stays within 16 bytes.
	for _, inputs := range [][]byte{{1, 2, 3}, {0xff, 0, 0xff}, {9, 9, 9}, {0x12, 0x34, 0x56}} {
		for _, sum := range []bool{false, true} {
			m := &wireInputMsg{Frame: 200000, Ack: 199998, Advantage: -3, HasAdvantage: true, Start: 199998, Count: 3, Inputs: inputs,
				HasSum: sum, SumFrame: 199940, Sum: 0xdeadbeef}
			b, _ := appendInputMsg(nil, m, 1, nil)
			if len(b) > 16 {
				t.Errorf("%x, checksum report %v: %d bytes, budget 16", inputs, sum, len(b))
			}
		}
	}
}

func TestWireRoundTripCompression(t *testing.T) {
	// 8 frames of 4 players × 4 bytes, mostly repeated: RLE must pay off.
	width := 16
	in := make([]byte, 8*width)
	for f := 0; f < 8; f++ {
		for i := 0; i < width; i++ {
			in[f*width+i] = byte(i)
		}
		if f >= 5 {
			in[f*width+3] = 0xaa
		}
	}
	m := &wireInputMsg{Frame: 1000, Ack: 990, Start: 993, Count: 8, Inputs: in}
	b, _ := appendInputMsg(nil, m, width, nil)
	if len(b) > 30 {
		t.Errorf("compressed %d input bytes to %d", len(in), len(b))
	}
	var out wireInputMsg
	if err := parseInputMsg(b, width, 1003, &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Inputs, in) || out.Start != 993 || out.Ack != 990 || out.Frame != 1000 {
		t.Fatalf("round trip: %+v", out)
	}
}

func TestWireRejects(t *testing.T) {
	good, _ := appendInputMsg(nil, &wireInputMsg{Frame: 5, Ack: 4, Start: 3, Count: 2, Inputs: []byte{1, 2}}, 1, nil)
	var m wireInputMsg
	for i := 0; i < len(good); i++ {
		if err := parseInputMsg(good[:i], 1, 5, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("truncated at %d: %v", i, err)
		}
	}
	bad := append([]byte{}, good...)
	bad[0] = WireVersion - 1
	if err := parseInputMsg(bad, 1, 5, &m); !errors.Is(err, ErrVersion) {
		t.Errorf("version %d: %v", bad[0], err)
	}
	// A run longer than the frames announced.
	huge := []byte{WireVersion, 1 | 2<<5, 5, 0, 0x7f, 0x7f, 0x7f}
	var we *WireError
	if err := parseInputMsg(huge, 1, 5, &m); !errors.As(err, &we) || we.Offset == 0 {
		t.Errorf("overlong run: %v", err)
	}
	// Trailing bytes are ignored for forward compatibility.
	if err := parseInputMsg(append(good, 0xee, 0xee), 1, 5, &m); err != nil {
		t.Errorf("trailing bytes: %v", err)
	}
}

func FuzzWireInput(f *testing.F) {
	for _, m := range []*wireInputMsg{
		{Frame: 300, Ack: 298, Advantage: -2, Start: 299, Count: 3, Inputs: []byte{5, 5, 7}},
		{Frame: 0, Ack: -1, Start: 0, Count: 1, Inputs: []byte{0}},
		{Frame: 90000, Ack: 89990, Start: 89995, Count: 2, Inputs: []byte{1, 2, 3, 4, 0, 0, 0, 0}, HasSum: true, SumFrame: 89970, Sum: 77},
		{Frame: 1200, Ack: 1190, Start: 1150, Count: 20, Inputs: make([]byte, 20), HasAdvantage: true, Advantage: 3, Epoch: 2},
	} {
		b, _ := appendInputMsg(nil, m, len(m.Inputs)/m.Count, nil)
		f.Add(b, uint8(len(m.Inputs)/m.Count), uint32(m.Frame+3))
	}
	f.Fuzz(func(t *testing.T, data []byte, w uint8, ref32 uint32) {
		width := int(w%32) + 1
		ref := int(ref32 % maxWireFrame)
		var m wireInputMsg
		if err := parseInputMsg(data, width, ref, &m); err != nil {
			return
		}
		if len(m.Inputs) != m.Count*width {
			t.Fatalf("%d input bytes for %d frames of %d", len(m.Inputs), m.Count, width)
		}
		b, _ := appendInputMsg(nil, &m, width, nil)
		var again wireInputMsg
		if err := parseInputMsg(b, width, ref, &again); err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		if again.Frame != m.Frame || again.Ack != m.Ack || again.Start != m.Start || again.Count != m.Count ||
			!bytes.Equal(again.Inputs, m.Inputs) || again.HasSum != m.HasSum || again.HasAdvantage != m.HasAdvantage || again.Advantage != m.Advantage || again.Sum != m.Sum || again.SumFrame != m.SumFrame || again.Epoch != m.Epoch {
			t.Fatalf("round trip changed the message: %+v vs %+v", m, again)
		}
	})
}

func FuzzWireOthers(f *testing.F) {
	b, _ := appendFeedMsg(nil, &wireFeedMsg{Start: 10, Count: 2, Inputs: []byte{1, 2, 1, 2}, Drops: []wireDropFrom{{1, 9, noDrop}}}, 2, nil)
	f.Add(b)
	f.Add(appendFeedAck(nil, 41))
	f.Add(appendDropMsg(nil, &wireDropMsg{Handle: 2, Last: 99, Inputs: []byte{7, 8}}, 1))
	f.Add(appendStateMsg(nil, &wireStateMsg{Frame: 5, State: []byte("hi")}))
	f.Add(appendJoinMsg(nil))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlRejoin, Handles: []int{1, 2}, Token: []byte("tok"), Nonce: 9}))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlVote, Handle: 1, Frame: 400, Joiner: "p1", Nonce: 9}))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlWelcome, Frame: 400, State: wireStateMsg{Frame: 390, State: []byte{1, 2}}}))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlHello, Flags: helloAbort, Heard: 0b1011}))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlFinal, Frame: 600, Sum: 0xdeadbeef, Roster: 0xf, Seen: 5}))
	f.Fuzz(func(t *testing.T, data []byte) {
		kind, err := wireKind(data)
		if err != nil {
			return
		}
		switch kind {
		case wireFeed:
			var m wireFeedMsg
			if parseFeedMsg(data, 2, &m) == nil {
				b, _ := appendFeedMsg(nil, &m, 2, nil)
				var again wireFeedMsg
				if err := parseFeedMsg(b, 2, &again); err != nil || !bytes.Equal(again.Inputs, m.Inputs) || again.Start != m.Start {
					t.Fatalf("feed round trip: %v", err)
				}
			}
		case wireFeedAck:
			if ack, err := parseFeedAck(data); err == nil {
				if again, _ := parseFeedAck(appendFeedAck(nil, ack)); again != ack {
					t.Fatalf("ack round trip %d → %d", ack, again)
				}
			}
		case wireDrop:
			var m wireDropMsg
			if parseDropMsg(data, 1, &m) == nil {
				var again wireDropMsg
				if err := parseDropMsg(appendDropMsg(nil, &m, 1), 1, &again); err != nil || again.Last != m.Last || !bytes.Equal(again.Inputs, m.Inputs) {
					t.Fatalf("drop round trip: %v", err)
				}
			}
		case wireControl:
			var m wireCtlMsg
			if parseCtlMsg(data, &m) == nil {
				var again wireCtlMsg
				if err := parseCtlMsg(appendCtlMsg(nil, &m), &again); err != nil || again.Sub != m.Sub || again.Frame != m.Frame ||
					again.Nonce != m.Nonce || again.Joiner != m.Joiner || !bytes.Equal(again.Token, m.Token) || !bytes.Equal(again.State.State, m.State.State) ||
					again.Flags != m.Flags || again.Heard != m.Heard || again.Sum != m.Sum || again.Roster != m.Roster || again.Seen != m.Seen {
					t.Fatalf("control round trip: %v", err)
				}
			}
		case wireState:
			var m wireStateMsg
			if parseStateMsg(data, &m) == nil {
				var again wireStateMsg
				if err := parseStateMsg(appendStateMsg(nil, &m), &again); err != nil || again.Frame != m.Frame || !bytes.Equal(again.State, m.State) {
					t.Fatalf("state round trip: %v", err)
				}
			}
		}
	})
}

// BenchmarkWireInputRoundTrip encodes and decodes a 4-player datagram.
func BenchmarkWireInputRoundTrip(b *testing.B) {
	m := wireInputMsg{Frame: 5000, Ack: 4990, Start: 4995, Count: 3, Inputs: []byte{1, 2, 3}}
	var buf, scratch []byte
	var out wireInputMsg
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf, scratch = appendInputMsg(buf[:0], &m, 1, scratch)
		if err := parseInputMsg(buf, 1, 5000, &out); err != nil {
			b.Fatal(err)
		}
	}
}
