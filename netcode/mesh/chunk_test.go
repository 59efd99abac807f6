package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func frames(t testing.TB, data []byte) [][]byte {
	var out [][]byte
	if _, err := chunkFrames(nil, data, func(f []byte) error {
		out = append(out, bytes.Clone(f))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChunkRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 7, 1 << 20} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		fs := frames(t, data)
		wantFrames := 1
		if n > chunkSize {
			wantFrames = (n + chunkSize - 1) / chunkSize
		}
		if len(fs) != wantFrames {
			t.Fatalf("%d bytes: %d frames, want %d", n, len(fs), wantFrames)
		}
		r := reassembler{max: 4 << 20}
		var got []byte
		for i, f := range fs {
			if len(f) > chunkSize+chunkHeader {
				t.Fatalf("frame of %d bytes", len(f))
			}
			msg, _, err := r.feed(f)
			if err != nil {
				t.Fatalf("%d bytes, frame %d: %v", n, i, err)
			}
			if msg != nil {
				if i != len(fs)-1 {
					t.Fatalf("message complete at frame %d of %d", i, len(fs))
				}
				got = msg
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: round trip differs", n)
		}
	}
}

func TestReassemblerRejects(t *testing.T) {
	first := func(total uint32, part int) []byte {
		f := binary.BigEndian.AppendUint32([]byte{frameFirst}, total)
		return append(f, make([]byte, part)...)
	}
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{"empty frame", [][]byte{{}}},
		{"over the cap", [][]byte{first(1<<20+1, 10)}},
		{"whole message over the cap", [][]byte{append([]byte{frameMessage}, make([]byte, 1<<20+1)...)}},
		{"short first", [][]byte{{frameFirst, 0, 0}}},
		{"first longer than total", [][]byte{first(5, 10)}},
		{"next without first", [][]byte{{frameNext, 1}}},
		{"overrun", [][]byte{first(12, 10), {frameNext, 1, 2, 3}}},
		{"message inside chunked", [][]byte{first(20, 10), {frameMessage, 1}}},
		{"first inside chunked", [][]byte{first(20, 10), first(20, 10)}},
		{"unknown type", [][]byte{{9, 1}}},
		{"empty next", [][]byte{first(20, 10), {frameNext}}},
	}
	for _, tc := range cases {
		r := reassembler{max: 1 << 20}
		var err error
		for _, f := range tc.frames {
			if _, _, err = r.feed(f); err != nil {
				break
			}
		}
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", tc.name, err)
		}
	}
}

// FuzzReassembler feeds arbitrary frame sequences (each frame prefixed by
// a 2-byte length) and checks the reassembler neither panics nor yields a
// message over its cap; and that the input, and the input repeated past
// two chunks, come back unchanged through chunkFrames. Inputs stay small
// (a small cap, repetition for the chunked path), so the fuzzer can
// minimize what it finds in seconds rather than minutes.
func FuzzReassembler(f *testing.F) {
	enc := func(fs [][]byte) []byte {
		var b []byte
		for _, fr := range fs {
			b = binary.BigEndian.AppendUint16(b, uint16(len(fr)))
			b = append(b, fr...)
		}
		return b
	}
	f.Add(enc(frames(f, []byte("hello"))))
	f.Add(enc([][]byte{{frameFirst, 0, 0, 0, 9, 1}, {frameNext, 1, 2, 3, 4, 5, 6, 7, 8}}))
	f.Add(enc([][]byte{{frameFirst, 0, 0, 1, 0, 1}, {frameNext, 2}, {frameMessage}}))
	f.Add([]byte{0, 1, frameNext})
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 256
		r := reassembler{max: max}
		for rest := in; len(rest) >= 2; {
			n := int(binary.BigEndian.Uint16(rest))
			rest = rest[2:]
			if n > len(rest) {
				n = len(rest)
			}
			msg, _, err := r.feed(rest[:n])
			rest = rest[n:]
			if err != nil {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("error %v is not ErrProtocol", err)
				}
				break
			}
			if len(msg) > max {
				t.Fatalf("%d-byte message over the %d cap", len(msg), max)
			}
		}
		// Round trip the raw input as a message, whole and repeated until it
		// takes more than two chunks.
		long := in
		if len(in) > 0 {
			long = bytes.Repeat(in, (2*chunkSize)/len(in)+1)
		}
		for _, data := range [][]byte{in, long} {
			r = reassembler{max: 4 << 20}
			var got []byte
			for _, fr := range frames(t, data) {
				msg, _, err := r.feed(fr)
				if err != nil {
					t.Fatal(err)
				}
				if msg != nil {
					got = msg
				}
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("round trip of %d bytes differs", len(data))
			}
		}
	})
}

func BenchmarkChunkReassemble1MiB(b *testing.B) {
	data := make([]byte, 1<<20)
	buf := make([]byte, 0, chunkSize+chunkHeader)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		r := reassembler{max: 4 << 20}
		var err error
		buf, err = chunkFrames(buf, data, func(f []byte) error {
			_, _, err := r.feed(f)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
