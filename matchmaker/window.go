package matchmaker

// skillBlock is the stride of a bucket's coarse skills.
const skillBlock = 64

// firstFrom returns the first index i with s[i] > x, or s[i] >= x if
// orEqual, and len(s) if there is none; s is sorted ascending (skills as
// skillKey, so comparisons are of integers) and c holds
// s[0], s[skillBlock], s[2*skillBlock], ... A window's edges are found by
// a binary search over c, small enough to stay in cache (1,600 values for
// 100,000 tickets), and then one over a single block of s: a few reads of
// the large array instead of a logarithm's worth scattered over it.
func firstFrom(s, c []uint64, x uint64, orEqual bool) int {
	var j int // the number of blocks whose first value is out
	if orEqual {
		j = countBelow(c, x)
	} else {
		j = countAtMost(c, x)
	}
	if j == 0 {
		return 0
	}
	// s[(j-1)*skillBlock] is out; s[j*skillBlock] is in, or past the end.
	lo := (j-1)*skillBlock + 1
	blk := s[lo:min(j*skillBlock, len(s))]
	if orEqual {
		return lo + countBelow(blk, x)
	}
	return lo + countAtMost(blk, x)
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
