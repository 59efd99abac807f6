package arena

// Fixed is a fixed-point number of pixels with 8 fractional bits: 256 is one
// pixel. All positions and velocities in the simulation are Fixed, so that
// every machine computes bit-identical results.
type Fixed int32

// One is one pixel in Fixed units.
const One Fixed = 256

// Px converts whole pixels to Fixed.
func Px(n int) Fixed { return Fixed(n) * One }

// Float returns f in pixels. It is for drawing only: the simulation never
// uses floating point.
func (f Fixed) Float() float64 { return float64(f) / float64(One) }

// Angle is a direction in 1/256 of a turn: 0 points along +X (right on the
// screen) and angles grow clockwise on the screen (+Y is down). Arithmetic on
// Angle wraps around naturally.
type Angle uint8

// Radians returns a in radians, for drawing only.
func (a Angle) Radians() float64 { return float64(a) * (2 * 3.141592653589793 / 256) }

// trigOne is the scale of the sine table: sin(a) is returned as an integer
// in [-trigOne, trigOne].
const trigOne = 1 << 14

// sinQuarter holds round(sin(i·2π/256)·2^14) for i in [0, 64]. It is a
// literal, not computed at start-up, so that no platform's math library can
// change the simulation. TestSineTable checks it against math.Sin.
var sinQuarter = [65]int32{
	0, 402, 804, 1205, 1606, 2006, 2404, 2801,
	3196, 3590, 3981, 4370, 4756, 5139, 5520, 5897,
	6270, 6639, 7005, 7366, 7723, 8076, 8423, 8765,
	9102, 9434, 9760, 10080, 10394, 10702, 11003, 11297,
	11585, 11866, 12140, 12406, 12665, 12916, 13160, 13395,
	13623, 13842, 14053, 14256, 14449, 14635, 14811, 14978,
	15137, 15286, 15426, 15557, 15679, 15791, 15893, 15986,
	16069, 16143, 16207, 16261, 16305, 16340, 16364, 16379,
	16384,
}

// isin returns sin(a)·2^14.
func isin(a Angle) int32 {
	i := int(a)
	switch {
	case i <= 64:
		return sinQuarter[i]
	case i <= 128:
		return sinQuarter[128-i]
	case i <= 192:
		return -sinQuarter[i-128]
	default:
		return -sinQuarter[256-i]
	}
}

// icos returns cos(a)·2^14.
func icos(a Angle) int32 { return isin(a + 64) }

// dir returns the vector of length n pointing along a.
func dir(a Angle, n Fixed) (x, y Fixed) {
	return Fixed(int64(n) * int64(icos(a)) / trigOne), Fixed(int64(n) * int64(isin(a)) / trigOne)
}

// AngleTo returns the Angle closest to the direction of (dx, dy). It returns
// 0 for a zero vector.
func AngleTo(dx, dy Fixed) Angle {
	if dx == 0 && dy == 0 {
		return 0
	}
	// Coarse search every 8 steps, then refine around the best: the dot
	// product is unimodal around the true direction.
	best, bestDot := 0, int64(-1)<<62
	for a := 0; a < 256; a += 8 {
		d := int64(dx)*int64(icos(Angle(a))) + int64(dy)*int64(isin(Angle(a)))
		if d > bestDot {
			best, bestDot = a, d
		}
	}
	center := best
	for k := -7; k <= 7; k++ {
		a := Angle(center + k)
		d := int64(dx)*int64(icos(a)) + int64(dy)*int64(isin(a))
		if d > bestDot {
			best, bestDot = int(a), d
		}
	}
	return Angle(best)
}

// isqrt returns floor(sqrt(n)) for n >= 0.
func isqrt(n int64) int64 {
	if n <= 0 {
		return 0
	}
	// Newton's method from an upper bound; converges in a handful of steps.
	x := n
	y := (x + 1) / 2
	for y < x {
		x = y
		y = (x + n/x) / 2
	}
	return x
}

func abs(f Fixed) Fixed {
	if f < 0 {
		return -f
	}
	return f
}

func clamp(v, lo, hi Fixed) Fixed {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
