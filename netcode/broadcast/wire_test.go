package broadcast

import (
	"encoding/hex"
	"errors"
	"reflect"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
)

var goldenMsgs = []struct {
	m   msg
	hex string
}{
	{msg{typ: msgJoin, have: 300, lost: "s3"}, "bc0101ac02027333"},
	{msg{typ: msgAccept, ids: []netcode.PeerID{"p0", "s1"}}, "bc010202027030027331"},
	{msg{typ: msgRedirect, reason: redirectFull, ids: []netcode.PeerID{"s2"}}, "bc0103010102733" + "2"},
	{msg{typ: msgFrames, flags: flagHold, beat: 7, start: 300, records: [][]byte{{0, 5, 6}, {2, 0, 0}}, holder: "s4", alt: "s5"}, "bc01040107ac020203000506030200" + "00" + "027334" + "027335"},
	{msg{typ: msgState, frame: 60, state: []byte{1, 2}}, "bc01053c020102"},
	{msg{typ: msgAck, have: 301, free: 3, size: 5, holder: "s7", hdepth: 2}, "bc0106ad02030502733702"},
	{msg{typ: msgEnd, frame: 900, checksum: 0x1122334455667788}, "bc010784078877665544332211"},
	{msg{typ: msgLeave}, "bc010800"},
}

func TestWireGolden(t *testing.T) {
	for _, g := range goldenMsgs {
		b := appendMsg(nil, &g.m)
		if got := hex.EncodeToString(b); got != g.hex {
			t.Errorf("type %d: %s, want %s", g.m.typ, got, g.hex)
		}
		var m msg
		if err := parseMsg(append(b, 0xff), &m); err != nil { // trailing bytes are ignored
			t.Fatalf("type %d: %v", g.m.typ, err)
		}
		if len(m.records) == 0 {
			m.records = nil
		}
		if len(m.ids) == 0 {
			m.ids = nil
		}
		if !reflect.DeepEqual(m, g.m) {
			t.Errorf("type %d: round trip %+v, want %+v", g.m.typ, m, g.m)
		}
	}
}

// TestWireFramesWithoutAlt: a frames message of the first encoders,
// which end after the holder, decodes with no second holder.
func TestWireFramesWithoutAlt(t *testing.T) {
	b, _ := hex.DecodeString("bc01040007ac0200" + "027334")
	var m msg
	if err := parseMsg(b, &m); err != nil || m.holder != "s4" || m.alt != "" || m.start != 300 {
		t.Fatalf("%+v, %v", m, err)
	}
}

func TestWireErrors(t *testing.T) {
	cases := []struct {
		hex string
		err error
	}{
		{"bc01", ErrTruncated},
		{"aa0101ac02", ErrMagic},
		{"bc0201ac02", ErrVersion},
		{"bc0163", ErrUnknownType},
		{"bc0101", ErrTruncated},
		{"bc0101ac02", ErrTruncated},
		{"bc010200", ErrTruncated},                    // an empty path
		{"bc01040007ac028101", ErrTooLarge},           // 129 records
		{"bc0105008080808001", ErrTooLarge},           // a state over the limit
		{"bc0102018101" + "7030", ErrTooLarge},        // an id of 128+ bytes
		{"bc01030121" + "0000", ErrTooLarge},          // 33 candidates
		{"bc01040007ac020105" + "0102", ErrTruncated}, // a record cut short
		{"bc01040007ac0200", ErrTruncated},            // no holder
		{"bc01040007ac020000" + "0573", ErrTruncated}, // a second holder cut short
	}
	for _, c := range cases {
		b, _ := hex.DecodeString(c.hex)
		var m msg
		err := parseMsg(b, &m)
		var we *WireError
		if !errors.Is(err, c.err) || !errors.As(err, &we) {
			t.Errorf("%s: %v, want %v", c.hex, err, c.err)
		}
	}
}

func FuzzWire(f *testing.F) {
	for _, g := range goldenMsgs {
		f.Add(appendMsg(nil, &g.m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m msg
		if parseMsg(data, &m) != nil {
			return
		}
		b := appendMsg(nil, &m)
		var m2 msg
		if err := parseMsg(b, &m2); err != nil {
			t.Fatalf("re-encoding %x does not parse: %v", b, err)
		}
		if b2 := appendMsg(nil, &m2); string(b2) != string(b) {
			t.Fatalf("not stable: %x then %x", b, b2)
		}
	})
}

func FuzzRecord(f *testing.F) {
	f.Add(appendRecord(nil, 3, []byte{1, 2}), 2)
	f.Add([]byte{0x80}, 1)
	f.Fuzz(func(t *testing.T, rec []byte, width int) {
		if width < 0 || width > maxRecord {
			return
		}
		mask, in, err := parseRecord(rec, width)
		if err != nil {
			return
		}
		if len(in) != width {
			t.Fatalf("%d bytes of inputs, want %d", len(in), width)
		}
		if string(appendRecord(nil, mask, in)) != string(rec) && len(rec) < 6 {
			// a non-minimal uvarint decodes too; only minimal ones round trip
			t.Logf("non-canonical record %x", rec)
		}
	})
}
