package arena

import (
	"encoding/binary"
	"math/bits"
	"strconv"
)

// The binary encoding of a State: little-endian, fixed size, every field in
// declaration order, booleans as 0 or 1. It exists to compare and ship
// states between peers (desync reports, spectators, a reconnecting peer);
// rollback inside one process uses Save and Load, which are plain copies.
//
//	magic "RA", version (1 byte)
//	frame u32, players u8, phase u8, phaseTicks u16, round u8,
//	roundWinner i8, matchWinner i8, nextBlast u8, pickupTimer u16, rng u64
//	map: width, height i32; walls u8; spots u8; MaxWalls × wall x0, y0,
//	    x1, y1 i32; MaxPlayers × spawn x, y i32; MaxSpots × spot x, y i32
//	    (unused slots zero; the layout must pass Layout.Validate)
//	MaxPlayers × player: x, y, vx, vy i32; angle u8; hp i8; flags u8
//	    (1 alive, 2 shield); fireCooldown, dashCooldown, hitFlash u8;
//	    rapidTicks u16; wins u8; kills u16
//	MaxBullets × bullet: x, y, vx, vy i32; ttl, owner, bounces u8; bounced u8
//	MaxPickups × pickup: x, y i32; kind u8
//	MaxBlasts × blast: x, y i32; ttl u8; big u8
const (
	// EncodingVersion is the version byte of the encoding. It changes with
	// the encoding and with any rule change that makes old states
	// meaningless.
	//
	// History: 1, the first; 2, the map (Layout) after the header.
	EncodingVersion = 2

	headerSize = 2 + 1 + 4 + 1 + 1 + 2 + 1 + 1 + 1 + 1 + 2 + 8
	playerSize = 16 + 1 + 1 + 1 + 3 + 2 + 1 + 2
	bulletSize = 16 + 4
	pickupSize = 8 + 1
	blastSize  = 8 + 2
	layoutSize = 8 + 2 + MaxWalls*16 + MaxPlayers*8 + MaxSpots*8

	// EncodedSize is the length of every state encoding.
	EncodedSize = headerSize + layoutSize + MaxPlayers*playerSize + MaxBullets*bulletSize +
		MaxPickups*pickupSize + MaxBlasts*blastSize
)

func appendFixed(b []byte, f Fixed) []byte { return binary.LittleEndian.AppendUint32(b, uint32(f)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendBinary appends the encoding of s to b and returns the extended
// slice. It never fails; the error is there to satisfy
// encoding.BinaryAppender. It does not allocate when b has EncodedSize bytes
// of spare capacity.
func (s *State) AppendBinary(b []byte) ([]byte, error) {
	return s.appendBinary(b), nil
}

func (s *State) appendBinary(b []byte) []byte {
	b = append(b, 'R', 'A', EncodingVersion)
	b = binary.LittleEndian.AppendUint32(b, s.Frame)
	b = append(b, s.NumPlayers, byte(s.Phase))
	b = binary.LittleEndian.AppendUint16(b, s.PhaseTicks)
	b = append(b, s.Round, byte(s.RoundWinner), byte(s.MatchWinner), s.NextBlast)
	b = binary.LittleEndian.AppendUint16(b, s.PickupTimer)
	b = binary.LittleEndian.AppendUint64(b, s.Rng)
	b = s.Map.appendBinary(b)
	for i := range s.Players {
		p := &s.Players[i]
		b = appendFixed(b, p.X)
		b = appendFixed(b, p.Y)
		b = appendFixed(b, p.VX)
		b = appendFixed(b, p.VY)
		var flags byte
		if p.Alive {
			flags |= 1
		}
		if p.Shield {
			flags |= 2
		}
		b = append(b, byte(p.Angle), byte(p.HP), flags, p.FireCooldown, p.DashCooldown, p.HitFlash)
		b = binary.LittleEndian.AppendUint16(b, p.RapidTicks)
		b = append(b, p.Wins)
		b = binary.LittleEndian.AppendUint16(b, p.Kills)
	}
	for i := range s.Bullets {
		u := &s.Bullets[i]
		b = appendFixed(b, u.X)
		b = appendFixed(b, u.Y)
		b = appendFixed(b, u.VX)
		b = appendFixed(b, u.VY)
		b = append(b, u.TTL, u.Owner, u.Bounces)
		b = appendBool(b, u.Bounced)
	}
	for i := range s.Pickups {
		p := &s.Pickups[i]
		b = appendFixed(b, p.X)
		b = appendFixed(b, p.Y)
		b = append(b, byte(p.Kind))
	}
	for i := range s.Blasts {
		x := &s.Blasts[i]
		b = appendFixed(b, x.X)
		b = appendFixed(b, x.Y)
		b = append(b, x.TTL)
		b = appendBool(b, x.Big)
	}
	return b
}

func (l *Layout) appendBinary(b []byte) []byte {
	b = appendFixed(b, l.Width)
	b = appendFixed(b, l.Height)
	b = append(b, l.NumWalls, l.NumSpots)
	for _, w := range l.Walls {
		b = appendFixed(b, w.X0)
		b = appendFixed(b, w.Y0)
		b = appendFixed(b, w.X1)
		b = appendFixed(b, w.Y1)
	}
	for _, p := range l.Spawns {
		b = appendFixed(b, p.X)
		b = appendFixed(b, p.Y)
	}
	for _, p := range l.Spots {
		b = appendFixed(b, p.X)
		b = appendFixed(b, p.Y)
	}
	return b
}

// MarshalBinary returns the encoding of s in a new slice.
func (s *State) MarshalBinary() ([]byte, error) {
	return s.appendBinary(make([]byte, 0, EncodedSize)), nil
}

// decoder reads the encoding and records the first error.
type decoder struct {
	b   []byte
	off int
	err *DecodeError
}

// field names a field without building a string until an error needs it,
// so that decoding a valid state does not allocate.
type field struct {
	group string // "players", "bullets", ...; "" for a header field
	index int
	name  string
}

func (f field) String() string {
	if f.group == "" {
		return f.name
	}
	return f.group + "[" + strconv.Itoa(f.index) + "]." + f.name
}

func (d *decoder) fail(f field, err error) {
	if d.err == nil {
		d.err = &DecodeError{Field: f.String(), Offset: d.off, Err: err}
	}
}

func (d *decoder) u8() uint8 {
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) u16() uint16 {
	v := binary.LittleEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *decoder) u32() uint32 {
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *decoder) fixed(f field, lo, hi Fixed) Fixed {
	v := Fixed(d.u32())
	if v < lo || v > hi {
		d.off -= 4
		d.fail(f, ErrInvalidState)
		d.off += 4
	}
	return v
}

func (d *decoder) boolean(f field) bool {
	v := d.u8()
	if v > 1 {
		d.off--
		d.fail(f, ErrInvalidState)
		d.off++
	}
	return v == 1
}

// check records ErrInvalidState for field, which ended just before the
// current offset and was size bytes long, when ok is false.
func (d *decoder) check(ok bool, f field, size int) {
	if !ok {
		d.off -= size
		d.fail(f, ErrInvalidState)
		d.off += size
	}
}

// UnmarshalBinary replaces s with the state encoded in data. The encoding
// must be exactly EncodedSize bytes and describe a state the rules can
// reach: every index in range, positions inside the arena, free slots zero.
// On error s is left unchanged and the error is a *DecodeError wrapping
// ErrTruncated, ErrTrailingData, ErrBadMagic, ErrVersion or ErrInvalidState.
func (s *State) UnmarshalBinary(data []byte) error {
	if len(data) < 3 {
		return &DecodeError{Field: "header", Offset: len(data), Err: ErrTruncated}
	}
	if data[0] != 'R' || data[1] != 'A' {
		return &DecodeError{Field: "magic", Offset: 0, Err: ErrBadMagic}
	}
	if data[2] != EncodingVersion {
		return &DecodeError{Field: "version", Offset: 2, Err: ErrVersion}
	}
	if len(data) < EncodedSize {
		return &DecodeError{Field: "state", Offset: len(data), Err: ErrTruncated}
	}
	if len(data) > EncodedSize {
		return &DecodeError{Field: "state", Offset: EncodedSize, Err: ErrTrailingData}
	}
	var t State
	d := decoder{b: data, off: 3}
	t.Frame = d.u32()
	t.NumPlayers = d.u8()
	n := int(t.NumPlayers)
	d.check(ValidPlayers(n), field{name: "players"}, 1)
	t.Phase = Phase(d.u8())
	d.check(t.Phase < phaseCount, field{name: "phase"}, 1)
	t.PhaseTicks = d.u16()
	t.Round = d.u8()
	t.RoundWinner = int8(d.u8())
	d.check(t.RoundWinner >= -1 && int(t.RoundWinner) < n, field{name: "roundWinner"}, 1)
	t.MatchWinner = int8(d.u8())
	d.check(t.MatchWinner >= -1 && int(t.MatchWinner) < n, field{name: "matchWinner"}, 1)
	t.NextBlast = d.u8()
	d.check(t.NextBlast < MaxBlasts, field{name: "nextBlast"}, 1)
	t.PickupTimer = d.u16()
	t.Rng = uint64(d.u32()) | uint64(d.u32())<<32
	mapAt := d.off
	l := &t.Map
	l.Width, l.Height = Fixed(d.u32()), Fixed(d.u32())
	l.NumWalls, l.NumSpots = d.u8(), d.u8()
	for i := range l.Walls {
		w := &l.Walls[i]
		w.X0, w.Y0, w.X1, w.Y1 = Fixed(d.u32()), Fixed(d.u32()), Fixed(d.u32()), Fixed(d.u32())
	}
	for i := range l.Spawns {
		l.Spawns[i] = Point{Fixed(d.u32()), Fixed(d.u32())}
	}
	for i := range l.Spots {
		l.Spots[i] = Point{Fixed(d.u32()), Fixed(d.u32())}
	}
	if err := l.Validate(); err != nil {
		if d.err == nil {
			d.err = &DecodeError{Field: "map", Offset: mapAt, Err: ErrInvalidState}
		}
		l.Width, l.Height = Width, Height // bounds for the checks below
	}
	W, H := l.Width, l.Height
	for i := range t.Players {
		p := &t.Players[i]
		p.X = d.fixed(field{"players", i, "x"}, 0, W)
		p.Y = d.fixed(field{"players", i, "y"}, 0, H)
		p.VX = d.fixed(field{"players", i, "vx"}, -maxVelocity, maxVelocity)
		p.VY = d.fixed(field{"players", i, "vy"}, -maxVelocity, maxVelocity)
		p.Angle = Angle(d.u8())
		p.HP = int8(d.u8())
		d.check(p.HP >= 0 && p.HP <= MaxHP, field{"players", i, "hp"}, 1)
		flags := d.u8()
		d.check(flags <= 3, field{"players", i, "flags"}, 1)
		p.Alive, p.Shield = flags&1 != 0, flags&2 != 0
		p.FireCooldown = d.u8()
		p.DashCooldown = d.u8()
		p.HitFlash = d.u8()
		p.RapidTicks = d.u16()
		p.Wins = d.u8()
		p.Kills = d.u16()
		if i >= n {
			d.check(*p == Player{}, field{"players", i, "unused"}, playerSize)
		}
	}
	for i := range t.Bullets {
		u := &t.Bullets[i]
		u.X = d.fixed(field{"bullets", i, "x"}, 0, W)
		u.Y = d.fixed(field{"bullets", i, "y"}, 0, H)
		u.VX = d.fixed(field{"bullets", i, "vx"}, -maxVelocity, maxVelocity)
		u.VY = d.fixed(field{"bullets", i, "vy"}, -maxVelocity, maxVelocity)
		u.TTL = d.u8()
		u.Owner = d.u8()
		d.check(int(u.Owner) < n, field{"bullets", i, "owner"}, 1)
		u.Bounces = d.u8()
		u.Bounced = d.boolean(field{"bullets", i, "bounced"})
		if u.TTL == 0 {
			d.check(*u == Bullet{}, field{"bullets", i, "free"}, bulletSize)
		}
	}
	for i := range t.Pickups {
		p := &t.Pickups[i]
		p.X = d.fixed(field{"pickups", i, "x"}, 0, W)
		p.Y = d.fixed(field{"pickups", i, "y"}, 0, H)
		p.Kind = PickupKind(d.u8())
		d.check(p.Kind < pickupKinds, field{"pickups", i, "kind"}, 1)
		if p.Kind == PickupNone {
			d.check(*p == Pickup{}, field{"pickups", i, "free"}, pickupSize)
		}
	}
	for i := range t.Blasts {
		x := &t.Blasts[i]
		x.X = Fixed(d.u32())
		x.Y = Fixed(d.u32())
		x.TTL = d.u8()
		x.Big = d.boolean(field{"blasts", i, "big"})
	}
	if d.err != nil {
		return d.err
	}
	*s = t
	return nil
}

// Checksum returns a 64-bit hash of the whole state, equal on every machine
// for equal states. Peers compare checksums of confirmed frames to detect a
// desync. It does not allocate.
func (s *State) Checksum() uint64 {
	var buf [EncodedSize + 8]byte
	b := s.appendBinary(buf[:0])
	// A word-at-a-time multiply-rotate hash (in the spirit of FxHash)
	// with a final avalanche: fast, and plenty against accidental
	// collisions, which is all a desync check needs.
	const k = 0x517cc1b727220a95
	h := uint64(len(b))
	for len(b) >= 8 {
		h = (bits.RotateLeft64(h, 5) ^ binary.LittleEndian.Uint64(b)) * k
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	h = (bits.RotateLeft64(h, 5) ^ tail) * k
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}
