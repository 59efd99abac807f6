package matchmaker

import "math"

// segtree answers "which position in [l, r) holds the smallest key?" over a
// fixed array of keys that can be removed and restored, in O(log n). The
// matchmaker keeps one per bucket over tickets sorted by skill, keyed by
// enqueue order, so "the longest-waiting ticket within this skill window"
// costs a logarithm rather than a scan.
//
// Each node holds its subtree's smallest key and that key's position packed
// in one word (key << 32 | position), so comparing two nodes reads nothing
// else: a query or an update touches one word a level, and the two
// children of a node share a cache line.
type segtree struct {
	n    int
	node []uint64 // 1-based heap; leaves at n..2n-1; empty is math.MaxUint64
}

// empty marks a removed position (and an empty subtree).
const empty = math.MaxUint64

// reset builds the tree over keys; a key is below 2³², and so is len(keys).
func (s *segtree) reset(keys []uint32) {
	s.n = len(keys)
	if cap(s.node) < 2*s.n {
		s.node = make([]uint64, 2*s.n)
	}
	s.node = s.node[:2*s.n]
	for i, k := range keys {
		s.node[s.n+i] = uint64(k)<<32 | uint64(i)
	}
	for p := s.n - 1; p >= 1; p-- {
		s.node[p] = min(s.node[2*p], s.node[2*p+1])
	}
}

// remove takes position i out of the tree.
func (s *segtree) remove(i int) { s.update(i, empty) }

// restore puts position i back with key k.
func (s *segtree) restore(i int, k uint32) { s.update(i, uint64(k)<<32|uint64(i)) }

// removed reports whether position i is out of the tree.
func (s *segtree) removed(i int) bool { return s.node[s.n+i] == empty }

func (s *segtree) update(i int, v uint64) {
	p := i + s.n
	s.node[p] = v
	for p > 1 {
		p >>= 1
		m := min(s.node[2*p], s.node[2*p+1])
		if s.node[p] == m {
			break // nothing above changes
		}
		s.node[p] = m
	}
}

// min returns the position in [l, r) with the smallest key, or -1.
func (s *segtree) min(l, r int) int { return s.pos(s.minNode(l, r)) }

// minExcept is min over [l, r) without position x.
func (s *segtree) minExcept(l, r, x int) int {
	if x < l || x >= r {
		return s.min(l, r)
	}
	return s.pos(min(s.minNode(l, x), s.minNode(x+1, r)))
}

func (s *segtree) pos(node uint64) int {
	if node == empty {
		return -1
	}
	return int(uint32(node))
}

// minNode returns the smallest node value over [l, r), empty if none.
func (s *segtree) minNode(l, r int) uint64 {
	best := uint64(empty)
	for l, r = l+s.n, r+s.n; l < r; l, r = l>>1, r>>1 {
		if l&1 == 1 {
			best = min(best, s.node[l])
			l++
		}
		if r&1 == 1 {
			r--
			best = min(best, s.node[r])
		}
	}
	return best
}
