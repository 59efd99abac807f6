package matchmaker

import (
	"cmp"
	"math"
	"slices"
)

// sortKey is what a bucket sorts: 16 bytes without pointers, so the sort
// moves contiguous values; the rank names the entry.
type sortKey struct {
	key  uint64 // skillKey of the entry's skill
	rank uint32
	// win is the entry's skill window as a seed at the start of the pass:
	// an index into the pass's distinct window widths, or noWindow. It
	// rides in what would be padding.
	win uint32
}

// noWindow marks a sortKey whose seed has no skill rule switched on.
const noWindow = math.MaxUint32

// skillKey maps a finite skill to an integer of the same order (-0 and +0
// map alike, as they compare equal).
func skillKey(f float64) uint64 {
	u := math.Float64bits(f + 0) // -0 + 0 is +0
	if u>>63 == 1 {
		return ^u
	}
	return u | 1<<63
}

// keySkill inverts skillKey.
func keySkill(u uint64) float64 {
	if u>>63 == 1 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

// radixMin is the size from which sortKeys sorts by radix.
const radixMin = 256

// sortKeys sorts keys, given in rank order, by key and then rank, using
// buf (of the same length) as scratch; it returns the sorted slice, which
// is keys or buf. From radixMin keys it sorts by least significant byte
// first, stably, skipping the bytes all keys share: eight sequential
// passes at most instead of n log n comparisons.
func sortKeys(keys, buf []sortKey) []sortKey {
	if len(keys) < radixMin {
		slices.SortFunc(keys, func(x, y sortKey) int {
			if c := cmp.Compare(x.key, y.key); c != 0 {
				return c
			}
			return cmp.Compare(x.rank, y.rank)
		})
		return keys
	}
	var counts [8][256]int
	for _, k := range keys {
		for d := range counts {
			counts[d][byte(k.key>>(8*d))]++
		}
	}
	src, dst := keys, buf[:len(keys)]
	for d := range counts {
		c := &counts[d]
		if c[byte(src[0].key>>(8*d))] == len(src) {
			continue // every key has this byte
		}
		sum := 0
		for i, n := range c {
			c[i] = sum
			sum += n
		}
		for _, k := range src {
			b := byte(k.key >> (8 * d))
			dst[c[b]] = k
			c[b]++
		}
		src, dst = dst, src
	}
	return src
}
