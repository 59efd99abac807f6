package arena

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
)

func TestEncodedSize(t *testing.T) {
	b, _ := New(3, 1).AppendBinary(nil)
	if len(b) != EncodedSize {
		t.Fatalf("encoding is %d bytes, EncodedSize %d", len(b), EncodedSize)
	}
}

func TestRoundTrip(t *testing.T) {
	for n := MinPlayers; n <= MaxPlayers; n++ {
		s, _ := run(n, uint64(n), 1500)
		b, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got State
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("%d players: %v", n, err)
		}
		if got != *s {
			t.Fatalf("%d players: round trip changed the state", n)
		}
		// And the decoded state has the same future.
		in := make([]Input, n)
		for range 300 {
			script(s, s.Frame, in)
			s.Step(in)
			got.Step(in)
		}
		if got.Checksum() != s.Checksum() {
			t.Fatalf("%d players: decoded state diverged", n)
		}
	}
}

func TestChecksumCoversEveryByte(t *testing.T) {
	s, _ := run(4, 8, 900)
	b, _ := s.MarshalBinary()
	base := s.Checksum()
	// Flipping any field must change the checksum; pick fields across
	// the whole encoding.
	mutate := []func(*State){
		func(s *State) { s.Frame++ },
		func(s *State) { s.Rng ^= 1 << 63 },
		func(s *State) { s.Players[3].Kills++ },
		func(s *State) { s.Players[0].X++ },
		func(s *State) { s.Bullets[MaxBullets-1].Bounced = !s.Bullets[MaxBullets-1].Bounced },
		func(s *State) { s.Blasts[MaxBlasts-1].Big = !s.Blasts[MaxBlasts-1].Big },
	}
	for i, m := range mutate {
		c := *s
		m(&c)
		if c.Checksum() == base {
			t.Errorf("mutation %d did not change the checksum", i)
		}
	}
	if len(b) != EncodedSize {
		t.Fatal("size")
	}
}

func TestUnmarshalErrors(t *testing.T) {
	s, _ := run(2, 4, 600)
	good, _ := s.MarshalBinary()
	patch := func(off int, v ...byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return b
	}
	player := func(i, field int) int { return headerSize + layoutSize + i*playerSize + field }
	bullet := func(i, field int) int { return headerSize + layoutSize + MaxPlayers*playerSize + i*bulletSize + field }
	var freeBullet int
	for i := range s.Bullets {
		if s.Bullets[i].TTL == 0 {
			freeBullet = i
			break
		}
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		want  error
		field string
	}{
		{"empty", nil, ErrTruncated, "header"},
		{"short header", good[:2], ErrTruncated, "header"},
		{"magic", patch(0, 'X'), ErrBadMagic, "magic"},
		{"version", patch(2, 99), ErrVersion, "version"},
		{"truncated", good[:EncodedSize-1], ErrTruncated, "state"},
		{"trailing", append(bytes.Clone(good), 0), ErrTrailingData, "state"},
		{"one player", patch(7, 1), ErrInvalidState, "players"},
		{"five players", patch(7, 5), ErrInvalidState, "players"},
		{"phase", patch(8, 9), ErrInvalidState, "phase"},
		{"round winner", patch(12, 2), ErrInvalidState, "roundWinner"},
		{"match winner", patch(13, 0x80), ErrInvalidState, "matchWinner"},
		{"next blast", patch(14, MaxBlasts), ErrInvalidState, "nextBlast"},
		{"map width", patch(headerSize, 0, 0, 0, 0), ErrInvalidState, "map"},
		{"map walls", patch(headerSize+8, MaxWalls+1), ErrInvalidState, "map"},
		{"unused wall", patch(headerSize+10+(MaxWalls-1)*16, 1), ErrInvalidState, "map"},
		{"x outside", patch(player(1, 0), 0xff, 0xff, 0xff, 0x7f), ErrInvalidState, "players[1].x"},
		{"negative y", patch(player(0, 4), 0xff, 0xff, 0xff, 0xff), ErrInvalidState, "players[0].y"},
		{"hp", patch(player(0, 17), MaxHP+1), ErrInvalidState, "players[0].hp"},
		{"flags", patch(player(1, 18), 4), ErrInvalidState, "players[1].flags"},
		{"unused player", patch(player(3, 17), 1), ErrInvalidState, "players[3].unused"},
		{"bullet owner", patch(bullet(freeBullet, 17), 3), ErrInvalidState, "bullets[" + itoa(freeBullet) + "].owner"},
		{"free bullet not zero", patch(bullet(freeBullet, 18), 1), ErrInvalidState, "bullets[" + itoa(freeBullet) + "].free"},
		{"bounced", patch(bullet(freeBullet, 19), 2), ErrInvalidState, "bullets[" + itoa(freeBullet) + "].bounced"},
	} {
		var got State
		before := got
		err := got.UnmarshalBinary(tc.data)
		var de *DecodeError
		if !errors.Is(err, tc.want) || !errors.As(err, &de) || de.Field != tc.field {
			t.Errorf("%s: err %v, want %v in field %s", tc.name, err, tc.want, tc.field)
			continue
		}
		if got != before {
			t.Errorf("%s: a failed decode changed the state", tc.name)
		}
		if de.Error() == "" || de.Offset < 0 || de.Offset > len(tc.data) {
			t.Errorf("%s: bad error %q offset %d", tc.name, de.Error(), de.Offset)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func FuzzUnmarshalBinary(f *testing.F) {
	for n := MinPlayers; n <= MaxPlayers; n++ {
		for _, frames := range []int{0, 200, 1000, 2500} {
			s, _ := run(n, uint64(n+frames), frames)
			b, _ := s.MarshalBinary()
			f.Add(b)
		}
	}
	f.Add([]byte("RA\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		b, _ := s.AppendBinary(nil)
		if !bytes.Equal(b, data) {
			t.Fatal("decoded state does not re-encode to the same bytes")
		}
		// Any state the decoder accepts can be played on safely.
		in := make([]Input, s.NumPlayers)
		for range 30 {
			for i := range in {
				in[i] = BotInput(&s, i)
			}
			s.Step(in)
		}
		_ = s.Checksum()
	})
}
