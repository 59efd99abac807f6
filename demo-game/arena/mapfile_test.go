package arena

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func readCrossfire(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../maps/crossfire.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMap(t *testing.T) {
	m, err := ParseMap(readCrossfire(t))
	if err != nil {
		t.Fatal(err)
	}
	l := m.Layout
	if m.Name != "Crossfire" || l.Width != Px(800) || l.Height != Px(560) || l.NumWalls != 6 || l.NumSpots != 5 {
		t.Fatalf("parsed %q %v×%v %d walls %d spots", m.Name, l.Width, l.Height, l.NumWalls, l.NumSpots)
	}
	if l.Walls[2] != rect(120, 260, 300, 300) || l.Spawns[1] != (Point{Px(750), Px(510)}) || l.Spots[4] != (Point{Px(740), Px(280)}) {
		t.Fatalf("parsed %+v", l)
	}
	// The file MarshalMap writes reads back to the same map.
	b, err := MarshalMap(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMap(b)
	if err != nil || back != m {
		t.Fatalf("round trip: %v\n%s", err, b)
	}
	// The default arena as a file.
	b, err = MarshalMap(Map{Name: "Default", Layout: DefaultLayout()})
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ParseMap(b); err != nil || back.Layout != DefaultLayout() {
		t.Fatalf("default round trip: %v", err)
	}
}

func TestParseMapErrors(t *testing.T) {
	good := `"arena":1,"size":[400,300],"spawns":[[30,30],[370,270],[370,30],[30,270]],"pickups":[[200,150]]`
	for _, tc := range []struct {
		name, file string
		want       error
		field      string
	}{
		{"not json", `walls`, ErrMapSyntax, ""},
		{"array", `[1]`, ErrMapSyntax, ""},
		{"unknown field", `{` + good + `,"lava":[]}`, ErrMapSyntax, ""},
		{"trailing", `{` + good + `} {}`, ErrMapSyntax, ""},
		{"no version", `{"size":[400,300]}`, ErrMapSyntax, "arena"},
		{"version", `{"arena":2}`, ErrMapVersion, "arena"},
		{"string size", `{"arena":1,"size":"big"}`, ErrMapSyntax, "size"},
		{"size length", `{"arena":1,"size":[400]}`, ErrMapSyntax, "size"},
		{"too small", strings.Replace(`{`+good+`}`, "[400,300]", "[100,300]", 1), ErrMapInvalid, "width"},
		{"too big", strings.Replace(`{`+good+`}`, "[400,300]", "[400,2000]", 1), ErrMapInvalid, "height"},
		{"negative", `{` + good + `,"walls":[[-1,0,10,10]]}`, ErrMapInvalid, "walls[0]"},
		{"wall outside", `{` + good + `,"walls":[[390,0,410,10]]}`, ErrMapInvalid, "walls[0]"},
		{"empty wall", `{` + good + `,"walls":[[10,10,10,20]]}`, ErrMapInvalid, "walls[0]"},
		{"wall length", `{` + good + `,"walls":[[10,10,20]]}`, ErrMapSyntax, "walls[0]"},
		{"spawn in wall", `{` + good + `,"walls":[[20,20,40,40]]}`, ErrMapInvalid, "spawns[0]"},
		{"three spawns", `{"arena":1,"size":[400,300],"spawns":[[30,30],[370,270],[370,30]],"pickups":[[200,150]]}`, ErrMapInvalid, "spawns"},
		{"spawns overlap", strings.Replace(`{`+good+`}`, "[370,30]", "[380,250]", 1), ErrMapInvalid, "spawns[2]"},
		{"spawn at edge", strings.Replace(`{`+good+`}`, "[30,30]", "[5,30]", 1), ErrMapInvalid, "spawns[0]"},
		{"no pickups", strings.Replace(`{`+good+`}`, "[[200,150]]", "[]", 1), ErrMapInvalid, "pickups"},
		{"pickup in wall", `{` + good + `,"walls":[[190,140,210,160]]}`, ErrMapInvalid, "pickups[0]"},
		{"name", `{` + good + `,"name":"a\u0007b"}`, ErrMapInvalid, "name"},
		{"long name", `{` + good + `,"name":"` + strings.Repeat("n", MaxMapName+1) + `"}`, ErrMapInvalid, "name"},
		{"huge", `{` + good + `,"name":"` + strings.Repeat(" ", MaxMapFile) + `"}`, ErrMapTooLarge, ""},
	} {
		_, err := ParseMap([]byte(tc.file))
		var me *MapError
		if !errors.Is(err, tc.want) || !errors.As(err, &me) || me.Field != tc.field {
			t.Errorf("%s: err %v, want %v in field %q", tc.name, err, tc.want, tc.field)
		}
	}
	if _, err := ParseMap([]byte(`{` + good + `}`)); err != nil {
		t.Fatalf("the good map: %v", err)
	}
}

// TestMapPlays plays a custom map: it is deterministic, differs from the
// default arena, keeps every tank inside its smaller size and carries the
// layout through the encoding.
func TestMapPlays(t *testing.T) {
	m, err := ParseMap(readCrossfire(t))
	if err != nil {
		t.Fatal(err)
	}
	play := func(l Layout) *State {
		s := NewWithLayout(l, 4, 5)
		in := make([]Input, 4)
		for range 3000 {
			for i := range in {
				in[i] = BotInput(s, i)
			}
			s.Step(in)
			for i := range 4 {
				p := &s.Players[i]
				if p.X < 0 || p.X > l.Width || p.Y < 0 || p.Y > l.Height {
					t.Fatalf("frame %d: player %d at %v,%v outside %v×%v", s.Frame, i, p.X, p.Y, l.Width, l.Height)
				}
			}
		}
		return s
	}
	a, b := play(m.Layout), play(m.Layout)
	if a.Checksum() != b.Checksum() {
		t.Fatal("the same map and inputs gave two checksums")
	}
	if d := play(DefaultLayout()); d.Checksum() == a.Checksum() {
		t.Fatal("two maps gave one checksum")
	}
	if a.Round < 2 {
		t.Errorf("3000 frames of bots finished no round (round %d)", a.Round)
	}
	enc, _ := a.MarshalBinary()
	var back State
	if err := back.UnmarshalBinary(enc); err != nil || back != *a {
		t.Fatalf("encoding round trip: %v", err)
	}
	// The same state on another map is another state.
	c := *a
	c.Map.Walls[0].X0 += One
	if c.Checksum() == a.Checksum() {
		t.Fatal("moving a wall kept the checksum")
	}
}

func FuzzParseMap(f *testing.F) {
	f.Add(readCrossfire(f))
	if b, err := MarshalMap(Map{Layout: DefaultLayout()}); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"arena":1,"size":[400,300],"spawns":[[30,30],[370,270],[370,30],[30,270]],"pickups":[[200,150]]}`))
	f.Add([]byte(`{"arena":1,"walls":[[1,2,3]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMap(data)
		if err != nil {
			var me *MapError
			if !errors.As(err, &me) {
				t.Fatalf("error %v is not a *MapError", err)
			}
			return
		}
		if err := m.Layout.Validate(); err != nil {
			t.Fatalf("ParseMap accepted an invalid layout: %v", err)
		}
		b, err := MarshalMap(m)
		if err != nil {
			t.Fatalf("MarshalMap of a parsed map: %v", err)
		}
		back, err := ParseMap(b)
		if err != nil || back != m {
			t.Fatalf("round trip: %v", err)
		}
		_ = NewWithLayout(m.Layout, MaxPlayers, 1) // must not panic
	})
}
