package arena

import "strconv"

// The limits of a Layout. A layout is part of the State (a fixed-size
// value), so these bound what every Save, Load and encoding carries.
const (
	// MaxWalls is the most walls a layout has.
	MaxWalls = 16
	// MaxSpots is the most pickup spots a layout has.
	MaxSpots = 8
	// MinWidth and MinHeight are the smallest arena; Width and Height
	// (the default arena's size, which fits the screen) the largest.
	MinWidth  = 320 * One
	MinHeight = 240 * One
)

// Point is a position in the arena.
type Point struct{ X, Y Fixed }

// Layout is an arena's map: its size, its walls, where the tanks start and
// where pickups may appear. It is a flat value held in the State (State.Map),
// so it takes part in Save, Load, the encoding and the Checksum: peers that
// simulate different maps see their checksums differ at once.
//
// DefaultLayout is the demo's arena; ParseMap reads one from a map file and
// Validate checks one built by hand.
type Layout struct {
	Width, Height Fixed
	NumWalls      uint8 // walls in use, from Walls[0]
	NumSpots      uint8 // pickup spots in use, from Spots[0]; at least one
	Walls         [MaxWalls]Rect
	Spawns        [MaxPlayers]Point // player i starts at Spawns[i]
	Spots         [MaxSpots]Point
}

// DefaultLayout returns the demo's own arena: Width × Height, the Walls,
// four corner spawns and six pickup spots.
func DefaultLayout() Layout {
	l := Layout{Width: Width, Height: Height, NumWalls: uint8(len(Walls)), NumSpots: uint8(len(pickupSpots))}
	copy(l.Walls[:], Walls[:])
	for i, s := range spawns {
		l.Spawns[i] = Point{s[0], s[1]}
	}
	for i, s := range pickupSpots {
		l.Spots[i] = Point{s[0], s[1]}
	}
	return l
}

// WallList returns the walls in use.
func (l *Layout) WallList() []Rect { return l.Walls[:min(int(l.NumWalls), MaxWalls)] }

// SpotList returns the pickup spots in use.
func (l *Layout) SpotList() []Point { return l.Spots[:min(int(l.NumSpots), MaxSpots)] }

// inWall reports whether the point is inside a wall inflated by pad, or
// closer than pad to the arena's edge.
func (l *Layout) inWall(x, y, pad Fixed) bool {
	if x < pad || y < pad || x >= l.Width-pad || y >= l.Height-pad {
		return true
	}
	for i := range l.WallList() {
		w := &l.Walls[i]
		if x >= w.X0-pad && x < w.X1+pad && y >= w.Y0-pad && y < w.Y1+pad {
			return true
		}
	}
	return false
}

// Validate checks that l is a map the rules can play: a size from
// MinWidth × MinHeight to Width × Height in whole pixels, walls of positive
// size inside the arena, spawns where a tank fits (clear of the walls and
// of each other) and pickup spots where a pickup fits, unused slots zero.
// The error is a *MapError wrapping ErrMapInvalid that names the field.
func (l *Layout) Validate() error {
	bad := func(field, why string) error {
		return &MapError{Field: field, Err: ErrMapInvalid, Detail: why}
	}
	if l.Width < MinWidth || l.Width > Width || l.Width%One != 0 {
		return bad("width", "want 320 to 960 pixels")
	}
	if l.Height < MinHeight || l.Height > Height || l.Height%One != 0 {
		return bad("height", "want 240 to 640 pixels")
	}
	if l.NumWalls > MaxWalls {
		return bad("walls", "too many walls")
	}
	if l.NumSpots < 1 || l.NumSpots > MaxSpots {
		return bad("pickups", "want 1 to 8 pickup spots")
	}
	for i := range l.Walls {
		w := l.Walls[i]
		if i >= int(l.NumWalls) {
			if w != (Rect{}) {
				return bad(fieldName("walls", i), "unused wall slot not zero")
			}
			continue
		}
		if w.X0 < 0 || w.Y0 < 0 || w.X1 > l.Width || w.Y1 > l.Height || w.X0 >= w.X1 || w.Y0 >= w.Y1 {
			return bad(fieldName("walls", i), "want 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height")
		}
	}
	for i, p := range l.Spawns {
		if l.inWall(p.X, p.Y, TankRadius) {
			return bad(fieldName("spawns", i), "a tank there would touch a wall or the edge")
		}
		for j := range i {
			q := l.Spawns[j]
			dx, dy := int64(p.X-q.X), int64(p.Y-q.Y)
			if dx*dx+dy*dy < int64(2*TankRadius)*int64(2*TankRadius) {
				return bad(fieldName("spawns", i), "overlaps spawn "+strconv.Itoa(j))
			}
		}
	}
	for i := range l.Spots {
		p := l.Spots[i]
		if i >= int(l.NumSpots) {
			if p != (Point{}) {
				return bad(fieldName("pickups", i), "unused spot slot not zero")
			}
			continue
		}
		if l.inWall(p.X, p.Y, PickupRadius) {
			return bad(fieldName("pickups", i), "a pickup there would touch a wall or the edge")
		}
	}
	return nil
}

func fieldName(group string, i int) string { return group + "[" + strconv.Itoa(i) + "]" }
