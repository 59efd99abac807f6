package matchmaker

// skillBlock is the stride of a bucket's coarse skills.
const skillBlock = 64

// firstFrom returns the first index i with s[i] > x, or s[i] >= x if
// orEqual, and len(s) if there is none; s is sorted ascending and c holds
// s[0], s[skillBlock], s[2*skillBlock], ... A window's edges are found by
// a binary search over c, small enough to stay in cache (1,600 values for
// 100,000 tickets), and then one over a single block of s: a few reads of
// the large array instead of a logarithm's worth scattered over it.
func firstFrom(s, c []float64, x float64, orEqual bool) int {
	in := func(v float64) bool { return v > x || orEqual && v == x }
	lo, hi := 0, len(c) // the first block whose first value is in
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if in(c[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 {
		return 0
	}
	// s[(lo-1)*skillBlock] is out; s[lo*skillBlock] is in, or past the end.
	lo, hi = (lo-1)*skillBlock+1, min(lo*skillBlock, len(s))
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if in(s[mid]) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
