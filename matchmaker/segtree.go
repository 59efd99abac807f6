package matchmaker

import "math"

// segtree answers "which position in [l, r) holds the smallest key?" over a
// fixed array of keys that can be removed and restored, in O(log n). The
// matchmaker keeps one per bucket over tickets sorted by skill, keyed by
// enqueue order, so "the longest-waiting ticket within this skill window"
// costs a logarithm rather than a scan.
//
// The tree is segWidth-ary: level 0 holds the keys, and each value of level
// k+1 is the smallest of segWidth neighbours of level k, up to a level of
// one value. A node's children are two cache lines side by side, so a query
// or an update reads a few contiguous words a level over few levels (6 for
// 100,000 keys) instead of one word a level scattered over 17: what costs
// at that size is the number of cache lines touched, not comparisons.
//
// Each value packs a key and its position (key << 32 | position), so
// comparing two reads nothing else.
type segtree struct {
	n     int
	level [][]uint64 // level[0] has n values; empty is math.MaxUint64
	buf   []uint64   // the levels' storage
}

// segWidth is the number of children of a node.
const segWidth = 16

// empty marks a removed position (and an empty subtree).
const empty = math.MaxUint64

// nodes returns the number of values of a tree over n keys.
func nodes(n int) int {
	total := 0
	for ; ; n = (n + segWidth - 1) / segWidth {
		total += n
		if n <= 1 {
			break
		}
	}
	return total
}

// reserve makes room for a tree over n keys.
func (s *segtree) reserve(n int) {
	if total := nodes(n); cap(s.buf) < total {
		s.buf = make([]uint64, total)
		s.level = s.level[:0]
	}
}

// reset builds the tree over keys; a key is below 2³², and so is len(keys).
func (s *segtree) reset(keys []uint32) {
	s.n = len(keys)
	total := nodes(s.n)
	if cap(s.buf) < total {
		s.buf = make([]uint64, total)
	}
	s.buf = s.buf[:total]
	s.level = s.level[:0]
	off := 0
	for n := s.n; ; n = (n + segWidth - 1) / segWidth {
		s.level = append(s.level, s.buf[off:off+n])
		off += n
		if n <= 1 {
			break
		}
	}
	for i, k := range keys {
		s.level[0][i] = uint64(k)<<32 | uint64(i)
	}
	for lv := 1; lv < len(s.level); lv++ {
		below, up := s.level[lv-1], s.level[lv]
		for j := range up {
			up[j] = minOf(below[j*segWidth : min((j+1)*segWidth, len(below))])
		}
	}
}

func minOf(vs []uint64) uint64 {
	m := uint64(empty)
	for _, v := range vs {
		m = min(m, v)
	}
	return m
}

// remove takes position i out of the tree.
func (s *segtree) remove(i int) { s.update(i, empty) }

// restore puts position i back with key k.
func (s *segtree) restore(i int, k uint32) { s.update(i, uint64(k)<<32|uint64(i)) }

// removed reports whether position i is out of the tree.
func (s *segtree) removed(i int) bool { return s.level[0][i] == empty }

func (s *segtree) update(i int, v uint64) {
	s.level[0][i] = v
	for lv := 1; lv < len(s.level); lv++ {
		below := s.level[lv-1]
		j := i / segWidth
		m := minOf(below[j*segWidth : min((j+1)*segWidth, len(below))])
		if s.level[lv][j] == m {
			break // nothing above changes
		}
		s.level[lv][j] = m
		i = j
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

// minNode returns the smallest value over [l, r), empty if none: at each
// level it takes the values at the ends that do not make a whole node of
// the level above, and goes up with the rest.
func (s *segtree) minNode(l, r int) uint64 {
	best := uint64(empty)
	for lv := 0; l < r; lv++ {
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
