package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var testID = ID{0xab, 0xcd}

func testMessages() []message {
	return []message{
		{Type: msgBitfield, ID: testID, Flags: flagReply | flagHasList, Count: 10, Bits: []byte{0xff, 0x02}},
		{Type: msgHave, ID: testID, Index: 300},
		{Type: msgWantList, ID: testID},
		{Type: msgList, ID: testID, Count: 2, List: [][sha256.Size]byte{{1}, {2}}},
		{Type: msgRequest, ID: testID, Index: 5},
		{Type: msgPiece, ID: testID, Index: 1, Data: []byte("abc")},
		{Type: msgReject, ID: testID, Index: 7, Code: rejectBusy},
	}
}

// TestWireGolden pins the encoding of every message type (docs/content.md
// shows the same bytes).
func TestWireGolden(t *testing.T) {
	idHex := hex.EncodeToString(testID[:])
	want := []string{
		"c70101" + idHex + "030a" + "ff02",
		"c70102" + idHex + "ac02",
		"c70103" + idHex,
		"c70104" + idHex + "02" + "01" + strings.Repeat("00", 31) + "02" + strings.Repeat("00", 31),
		"c70105" + idHex + "05",
		"c70106" + idHex + "01" + "616263",
		"c70107" + idHex + "07" + "02",
	}
	for i, m := range testMessages() {
		got := hex.EncodeToString(appendMessage(nil, &m))
		if got != want[i] {
			t.Errorf("type %d:\n got %s\nwant %s", m.Type, got, want[i])
		}
		var back message
		if err := parseMessage(appendMessage(nil, &m), &back); err != nil {
			t.Fatalf("type %d: %v", m.Type, err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Errorf("type %d: round trip %+v, want %+v", m.Type, back, m)
		}
	}
}

// TestWireRejects: truncated, oversized and foreign messages are refused
// with ErrMalformed before anything large is allocated.
func TestWireRejects(t *testing.T) {
	hdr := func(typ byte) []byte { return appendHeader(nil, typ, testID) }
	bad := [][]byte{
		nil,
		{Magic},
		hdr(msgHave)[:headerLen-1],
		append([]byte{Magic, 2}, hdr(msgHave)[2:]...),                     // another version
		append(hdr(msgHave), 0x80),                                        // truncated varint
		append(hdr(msgHave), 0x80, 0x20),                                  // index 4096: past MaxPieces
		append(hdr(msgBitfield), 0, 10, 0xff),                             // bits short
		append(hdr(msgBitfield), 0, 0x81, 0x20),                           // count past MaxPieces
		append(hdr(msgList), 0xff, 0xff, 0x03),                            // a huge list
		append(hdr(msgList), 2, 1),                                        // list short
		append(append(hdr(msgPiece), 0), make([]byte, MaxPieceSize+1)...), // piece too large
		append(hdr(msgReject), 1),                                         // no code
		hdr(99),
	}
	for i, b := range bad {
		var m message
		if err := parseMessage(b, &m); !errors.Is(err, ErrMalformed) {
			t.Errorf("case %d: %v", i, err)
		}
	}
	// Trailing bytes are ignored (fields a later version appends).
	var m message
	if err := parseMessage(append(hdr(msgRequest), 5, 0xee), &m); err != nil || m.Index != 5 {
		t.Fatalf("trailing bytes: %v %+v", err, m)
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, m := range testMessages() {
		f.Add(appendMessage(nil, &m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		if err := parseMessage(b, &m); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		// A decoded message encodes to bytes that decode to the same
		// message (the input may differ: trailing bytes, varints with
		// redundant zero groups).
		enc := appendMessage(nil, &m)
		if len(enc) > len(b) {
			t.Fatalf("re-encoding %x is longer than the input %x", enc, b)
		}
		var again message
		if err := parseMessage(enc, &again); err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %v %+v %+v", err, again, m)
		}
	})
}

func TestRefText(t *testing.T) {
	ref, list, err := MakeRef([]byte(strings.Repeat("x", 100000)), MinPieceSize)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Pieces() != 7 || len(list) != 7 || ref.pieceLen(6) != 100000-6*MinPieceSize {
		t.Fatalf("%+v", ref)
	}
	s := ref.String()
	if !strings.HasPrefix(s, "rpc1:"+ref.ID.String()+":100000:14:") {
		t.Fatal(s)
	}
	back, err := ParseRef(s)
	if err != nil || back != ref {
		t.Fatalf("%v %+v", err, back)
	}
	for _, bad := range []string{
		"", "rpc2:" + s[5:], s[:len(s)-1], strings.Replace(s, ":100000:", ":-1:", 1),
		strings.Replace(s, ":100000:", ":67108865:", 1), strings.Replace(s, ":14:", ":13:", 1),
		strings.Replace(s, ":14:", ":21:", 1), strings.Replace(s, ":14:", ":x:", 1), s + ":1",
	} {
		if _, err := ParseRef(bad); !errors.Is(err, ErrBadRef) && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	ref, _, _ := MakeRef([]byte("hello"), 0)
	f.Add(ref.String())
	f.Add("rpc1:00:1:14:00")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if !errors.Is(err, ErrBadRef) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		back, err := ParseRef(r.String())
		if err != nil || back != r {
			t.Fatalf("round trip of %q: %v %+v", s, err, back)
		}
	})
}
