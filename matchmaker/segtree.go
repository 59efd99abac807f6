package matchmaker

import "math"

// segtree answers "which position in [l, r) holds the smallest key?" over a
// fixed array of keys that can be removed and restored, in O(log n). The
// matchmaker keeps one per bucket over tickets sorted by skill, keyed by
// enqueue order, so "the longest-waiting ticket within this skill window"
// costs a logarithm rather than a scan.
//
// The tree is segWidth-ary: the leaves hold the keys, and each value of
// level k+1 is the smallest of segWidth neighbours of level k, up to a
// level of one value. A node's children are side by side (a leaf node's 16
// keys are one cache line), so a query or an update reads a few contiguous
// words a level over few levels (6 for 100,000 keys) instead of one word a
// level scattered over 17: what costs at that size is the number of cache
// lines touched, not comparisons.
//
// A leaf is the key alone (its position is its index); each value above
// packs a key and its position (key << 32 | position), so comparing two
// reads nothing else.
type segtree struct {
	n     int
	leaf  []uint32   // n keys; emptyLeaf is a removed position
	level [][]uint64 // level[0] is unused; level[k] for k >= 1 as above, empty for an empty subtree
	buf   []uint64   // the storage of the levels above the leaves
}

// segWidth is the number of children of a node.
const segWidth = 16

// empty marks an empty subtree; emptyLeaf a removed position.
const (
	empty     = math.MaxUint64
	emptyLeaf = math.MaxUint32
)

// nodes returns the number of values above the leaves of a tree over n
// keys.
func nodes(n int) int {
	total := 0
	for n > 1 {
		n = (n + segWidth - 1) / segWidth
		total += n
	}
	return total
}

// reserve makes room for a tree over n keys.
func (s *segtree) reserve(n int) {
	if cap(s.leaf) < n {
		s.leaf = make([]uint32, 0, n)
	}
	if total := nodes(n); cap(s.buf) < total {
		s.buf = make([]uint64, total)
	}
}

// reset builds the tree over keys; a key is below 2³²-1, and len(keys)
// below 2³².
func (s *segtree) reset(keys []uint32) {
	s.n = len(keys)
	s.reserve(s.n)
	s.leaf = append(s.leaf[:0], keys...)
	s.buf = s.buf[:nodes(s.n)]
	s.level = append(s.level[:0], nil)
	off := 0
	for n := s.n; n > 1; {
		n = (n + segWidth - 1) / segWidth
		s.level = append(s.level, s.buf[off:off+n])
		off += n
	}
	for lv := 1; lv < len(s.level); lv++ {
		up := s.level[lv]
		for j := range up {
			up[j] = s.child(lv, j)
		}
	}
}

// child returns the smallest value among the children of node j of level
// lv (lv >= 1).
func (s *segtree) child(lv, j int) uint64 {
	lo := j * segWidth
	if lv == 1 {
		hi := min(lo+segWidth, len(s.leaf))
		return leafMin(s.leaf[lo:hi], lo)
	}
	below := s.level[lv-1]
	return minOf(below[lo:min(lo+segWidth, len(below))])
}

// leafMin returns the smallest of the leaves vs, which start at position
// base, as a packed value. It packs each leaf with its position and keeps
// the smallest, a conditional move per leaf rather than a branch that a
// random order of keys mispredicts.
func leafMin(vs []uint32, base int) uint64 {
	m := uint64(empty)
	for i, v := range vs {
		m = min(m, uint64(v)<<32|uint64(base+i))
	}
	if uint32(m>>32) == emptyLeaf {
		return empty
	}
	return m
}

func minOf(vs []uint64) uint64 {
	m := uint64(empty)
	for _, v := range vs {
		m = min(m, v)
	}
	return m
}

// remove takes position i out of the tree. A value above changes only
// where the removed key was the smallest: the walk up stops at the first
// node whose value is another position's, and recomputes from their
// children only the nodes whose value was the removed one.
func (s *segtree) remove(i int) {
	k := s.leaf[i]
	s.leaf[i] = emptyLeaf
	if k == emptyLeaf {
		return
	}
	v := uint64(k)<<32 | uint64(i)
	for lv := 1; lv < len(s.level); lv++ {
		i /= segWidth
		if s.level[lv][i] != v {
			break
		}
		s.level[lv][i] = s.child(lv, i)
	}
}

// restore puts the removed position i back with key k. Only a smaller
// value can take a node over, so the walk up compares and stops at the
// first node whose value stays smaller, reading no other children.
func (s *segtree) restore(i int, k uint32) {
	s.leaf[i] = k
	v := uint64(k)<<32 | uint64(i)
	for lv := 1; lv < len(s.level); lv++ {
		i /= segWidth
		if s.level[lv][i] <= v {
			break
		}
		s.level[lv][i] = v
	}
}

// removed reports whether position i is out of the tree.
func (s *segtree) removed(i int) bool { return s.leaf[i] == emptyLeaf }

// min returns the position in [l, r) with the smallest key, or -1.
func (s *segtree) min(l, r int) int { return s.pos(s.minNode(l, r)) }

// minAt returns the position in [l, r) with the smallest key and that
// key, or -1: the key comes with the position in the tree's values, so the
// caller learns it without reading the leaf.
func (s *segtree) minAt(l, r int) (int, uint32) {
	v := s.minNode(l, r)
	if v == empty {
		return -1, 0
	}
	return int(uint32(v)), uint32(v >> 32)
}

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

// minNode returns the smallest value over [l, r), empty if none: at each
// level it takes the values at the ends that do not make a whole node of
// the level above, and goes up with the rest.
func (s *segtree) minNode(l, r int) uint64 {
	best := uint64(empty)
	if l >= r {
		return best
	}
	// The leaves: the partial nodes at both ends.
	lo := min(r, (l+segWidth-1)/segWidth*segWidth)
	best = min(best, leafMin(s.leaf[l:lo], l))
	if lo == r {
		return best
	}
	hi := max(lo, r/segWidth*segWidth)
	best = min(best, leafMin(s.leaf[hi:r], hi))
	l, r = lo/segWidth, hi/segWidth
	for lv := 1; l < r; lv++ {
		vs := s.level[lv]
		for ; l < r && l%segWidth != 0; l++ {
			best = min(best, vs[l])
		}
		for ; l < r && r%segWidth != 0; r-- {
			best = min(best, vs[r-1])
		}
		l, r = l/segWidth, r/segWidth
	}
	return best
}
