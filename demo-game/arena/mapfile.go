package arena

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// The map file: a JSON object that describes a Layout in whole pixels.
//
//	{
//	  "arena": 1,
//	  "name": "Crossfire",
//	  "size": [960, 640],
//	  "walls": [[440, 270, 520, 370], [160, 150, 320, 174]],
//	  "spawns": [[60, 60], [900, 580], [900, 60], [60, 580]],
//	  "pickups": [[480, 200], [480, 440]]
//	}
//
// "arena" is the format's version (MapVersion) and is required. "size" is
// the width and height, 320×240 to 960×640. "walls" are up to MaxWalls
// rectangles [x0, y0, x1, y1] (x0 <= x < x1, y0 <= y < y1) inside the
// arena. "spawns" are exactly MaxPlayers points, player i starting at the
// i-th, each clear of the walls and the edges by a tank's radius (14) and
// of the other spawns by a tank's width. "pickups" are 1 to MaxSpots points
// clear of the walls and edges by a pickup's radius (10). "name" (optional,
// up to MaxMapName bytes of printable UTF-8) is what the screens show. Any
// other field, a list of another length, a number out of range, and
// anything after the object are errors (*MapError).
const (
	// MapVersion is the map format's version, the "arena" field.
	//
	// History: 1, the first.
	MapVersion = 1
	// MaxMapFile is the largest map file ParseMap reads.
	MaxMapFile = 16 << 10
	// MaxMapName is the longest map name, in bytes.
	MaxMapName = 64
)

// Map is a map file decoded: its name and its layout.
type Map struct {
	Name   string
	Layout Layout
}

type mapFile struct {
	Arena   *int    `json:"arena"`
	Name    string  `json:"name,omitempty"`
	Size    []int   `json:"size"`
	Walls   [][]int `json:"walls"`
	Spawns  [][]int `json:"spawns"`
	Pickups [][]int `json:"pickups"`
}

// ParseMap decodes and validates a map file. Errors are *MapError values
// wrapping ErrMapTooLarge, ErrMapSyntax, ErrMapVersion or ErrMapInvalid.
func ParseMap(data []byte) (Map, error) {
	if len(data) > MaxMapFile {
		return Map{}, &MapError{Err: ErrMapTooLarge, Detail: strconv.Itoa(len(data)) + " bytes, max " + strconv.Itoa(MaxMapFile)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f mapFile
	if err := dec.Decode(&f); err != nil {
		return Map{}, syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Map{}, &MapError{Err: ErrMapSyntax, Detail: "data after the map object"}
	}
	if f.Arena == nil {
		return Map{}, &MapError{Field: "arena", Err: ErrMapSyntax, Detail: "missing format version"}
	}
	if *f.Arena != MapVersion {
		return Map{}, &MapError{Field: "arena", Err: ErrMapVersion, Detail: "version " + strconv.Itoa(*f.Arena) + ", want " + strconv.Itoa(MapVersion)}
	}
	if err := checkName(f.Name); err != nil {
		return Map{}, err
	}
	var m Map
	m.Name = f.Name
	l := &m.Layout
	size, err := pixels("size", f.Size, 2, 0, 100000)
	if err != nil {
		return Map{}, err
	}
	l.Width, l.Height = Px(size[0]), Px(size[1])
	if len(f.Walls) > MaxWalls {
		return Map{}, &MapError{Field: "walls", Err: ErrMapInvalid, Detail: strconv.Itoa(len(f.Walls)) + " walls, max " + strconv.Itoa(MaxWalls)}
	}
	for i, w := range f.Walls {
		v, err := pixels(fieldName("walls", i), w, 4, 0, 100000)
		if err != nil {
			return Map{}, err
		}
		l.Walls[i] = rect(v[0], v[1], v[2], v[3])
	}
	l.NumWalls = uint8(len(f.Walls))
	if len(f.Spawns) != MaxPlayers {
		return Map{}, &MapError{Field: "spawns", Err: ErrMapInvalid, Detail: strconv.Itoa(len(f.Spawns)) + " spawns, want " + strconv.Itoa(MaxPlayers)}
	}
	for i, s := range f.Spawns {
		v, err := pixels(fieldName("spawns", i), s, 2, 0, 100000)
		if err != nil {
			return Map{}, err
		}
		l.Spawns[i] = Point{Px(v[0]), Px(v[1])}
	}
	if len(f.Pickups) < 1 || len(f.Pickups) > MaxSpots {
		return Map{}, &MapError{Field: "pickups", Err: ErrMapInvalid, Detail: strconv.Itoa(len(f.Pickups)) + " pickup spots, want 1 to " + strconv.Itoa(MaxSpots)}
	}
	for i, s := range f.Pickups {
		v, err := pixels(fieldName("pickups", i), s, 2, 0, 100000)
		if err != nil {
			return Map{}, err
		}
		l.Spots[i] = Point{Px(v[0]), Px(v[1])}
	}
	l.NumSpots = uint8(len(f.Pickups))
	if err := l.Validate(); err != nil {
		return Map{}, err
	}
	return m, nil
}

// pixels checks a list of n numbers from lo to hi.
func pixels(field string, v []int, n, lo, hi int) ([]int, error) {
	if len(v) != n {
		return nil, &MapError{Field: field, Err: ErrMapSyntax, Detail: strconv.Itoa(len(v)) + " numbers, want " + strconv.Itoa(n)}
	}
	for _, x := range v {
		if x < lo || x > hi {
			return nil, &MapError{Field: field, Err: ErrMapInvalid, Detail: strconv.Itoa(x) + " is out of range"}
		}
	}
	return v, nil
}

func checkName(s string) error {
	if len(s) > MaxMapName {
		return &MapError{Field: "name", Err: ErrMapInvalid, Detail: "longer than " + strconv.Itoa(MaxMapName) + " bytes"}
	}
	if !utf8.ValidString(s) {
		return &MapError{Field: "name", Err: ErrMapInvalid, Detail: "not UTF-8"}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return &MapError{Field: "name", Err: ErrMapInvalid, Detail: "not printable"}
		}
	}
	return nil
}

func syntaxError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &MapError{Field: te.Field, Err: ErrMapSyntax, Detail: err.Error()}
	}
	return &MapError{Err: ErrMapSyntax, Detail: err.Error()}
}

// MarshalMap returns the map file of m (ParseMap reads it back to m). m
// must be valid (Layout.Validate); an invalid one is an error.
func MarshalMap(m Map) ([]byte, error) {
	l := &m.Layout
	if err := checkName(m.Name); err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	for _, w := range l.WallList() {
		if w.X0%One != 0 || w.Y0%One != 0 || w.X1%One != 0 || w.Y1%One != 0 {
			return nil, &MapError{Field: "walls", Err: ErrMapInvalid, Detail: "not in whole pixels"}
		}
	}
	for _, p := range append(l.Spawns[:len(l.Spawns):len(l.Spawns)], l.SpotList()...) {
		if p.X%One != 0 || p.Y%One != 0 {
			return nil, &MapError{Field: "spawns", Err: ErrMapInvalid, Detail: "not in whole pixels"}
		}
	}
	v := MapVersion
	f := mapFile{Arena: &v, Name: m.Name, Size: []int{px(l.Width), px(l.Height)}, Walls: [][]int{}}
	for _, w := range l.WallList() {
		f.Walls = append(f.Walls, []int{px(w.X0), px(w.Y0), px(w.X1), px(w.Y1)})
	}
	for _, p := range l.Spawns {
		f.Spawns = append(f.Spawns, []int{px(p.X), px(p.Y)})
	}
	for _, p := range l.SpotList() {
		f.Pickups = append(f.Pickups, []int{px(p.X), px(p.Y)})
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func px(f Fixed) int { return int(f / One) }
