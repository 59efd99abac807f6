package matchmaker

// skillBlock is the stride of a bucket's coarse skills, and skillLine
// that of its mid skills: one cache line of skills.
const (
	skillBlock = 64
	skillLine  = 8
)

// firstFrom returns the first index i with s[i] > x, or s[i] >= x if
// orEqual, and len(s) if there is none; s is sorted ascending (skills as
// skillKey, so comparisons are of integers), c holds s[0], s[skillBlock],
// s[2*skillBlock], ... and mid holds s[0], s[skillLine], ... A window's
// edges are found by a binary search over c, small enough to stay in cache
// (1,600 values for 100,000 tickets), then by counting over the eight mid
// values of that block (one cache line) and over the eight skills they
// lead to (one line more): two reads outside the small array, instead of
// a binary search in a block of s whose every step waits for a cache line.
func firstFrom(s, mid, c []uint64, x uint64, orEqual bool) int {
	// The answer is the number of values below y.
	y := x
	if !orEqual {
		if x == ^uint64(0) {
			return len(s)
		}
		y = x + 1
	}
	j := countBelow(c, y) // blocks whose first value is below y
	if j == 0 {
		return 0
	}
	// s[(j-1)*skillBlock] is below y; s[j*skillBlock] is not, or is past
	// the end. So are the lines of that block in mid.
	lines := mid[(j-1)*(skillBlock/skillLine) : min(j*(skillBlock/skillLine), len(mid))]
	k := 0
	for _, v := range lines {
		k += b2i(v < y)
	}
	lo := (j-1)*skillBlock + (k-1)*skillLine + 1
	n := 0
	for _, v := range s[lo:min(lo+skillLine-1, len(s))] {
		n += b2i(v < y)
	}
	return lo + n
}

// countBelow returns the number of values of the sorted s below x.
func countBelow(s []uint64, x uint64) int {
	if len(s) == 0 {
		return 0
	}
	base, n := 0, len(s)
	for n > 1 {
		half := n >> 1
		base += half & -b2i(s[base+half-1] < x) // no branch to mispredict
		n -= half
	}
	return base + b2i(s[base] < x)
}

// countAtMost returns the number of values of the sorted s at most x.
func countAtMost(s []uint64, x uint64) int {
	if len(s) == 0 {
		return 0
	}
	base, n := 0, len(s)
	for n > 1 {
		half := n >> 1
		base += half & -b2i(s[base+half-1] <= x)
		n -= half
	}
	return base + b2i(s[base] <= x)
}

// b2i is 1 for true and 0 for false, without a branch.
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
