package matchmaker

import "math"

// segtree answers "which position in [l, r) holds the smallest key?" over a
// fixed array of keys that can be removed and restored, in O(log n). The
// matchmaker keeps one per bucket over tickets sorted by skill, keyed by
// enqueue order, so "the longest-waiting ticket within this skill window"
// costs a logarithm rather than a scan.
type segtree struct {
	n    int
	node []int32  // index of the min leaf under each node, -1 if none
	key  []uint64 // key per position; math.MaxUint64 when removed
}

const removedKey = math.MaxUint64

func (s *segtree) reset(keys []uint64) {
	s.n = len(keys)
	if cap(s.key) < s.n {
		s.key = make([]uint64, s.n)
		s.node = make([]int32, 2*s.n)
	}
	s.key = s.key[:s.n]
	s.node = s.node[:2*s.n]
	copy(s.key, keys)
	for i := 0; i < s.n; i++ {
		s.node[s.n+i] = int32(i)
	}
	for p := s.n - 1; p >= 1; p-- {
		s.node[p] = s.better(s.node[2*p], s.node[2*p+1])
	}
}

func (s *segtree) better(a, b int32) int32 {
	if a < 0 {
		return b
	}
	if b < 0 || s.key[a] <= s.key[b] {
		return a
	}
	return b
}

func (s *segtree) set(i int, k uint64) {
	s.key[i] = k
	p := i + s.n
	if k == removedKey {
		s.node[p] = -1
	} else {
		s.node[p] = int32(i)
	}
	for p > 1 {
		p >>= 1
		s.node[p] = s.better(s.node[2*p], s.node[2*p+1])
	}
}

// min returns the position in [l, r) with the smallest key, or -1.
func (s *segtree) min(l, r int) int {
	best := int32(-1)
	for l, r = l+s.n, r+s.n; l < r; l, r = l>>1, r>>1 {
		if l&1 == 1 {
			best = s.better(best, s.node[l])
			l++
		}
		if r&1 == 1 {
			r--
			best = s.better(best, s.node[r])
		}
	}
	return int(best)
}
