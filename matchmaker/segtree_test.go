package matchmaker

import (
	"math/rand"
	"testing"
)

// TestSegtreeAgainstScan removes and restores random positions and checks
// every query against a scan.
func TestSegtreeAgainstScan(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 2, 3, 7, 16, 17, 64, 100, 257, 5000, 70_000} {
		keys := make([]uint32, n)
		for i, k := range rng.Perm(n) {
			keys[i] = uint32(k)
		}
		var s segtree
		s.reset(keys)
		in := make([]bool, n)
		for i := range in {
			in[i] = true
		}
		scan := func(l, r, x int) int {
			best := -1
			for i := l; i < r; i++ {
				if in[i] && i != x && (best < 0 || keys[i] < keys[best]) {
					best = i
				}
			}
			return best
		}
		for op := 0; op < 2000; op++ {
			i := rng.Intn(n)
			if in[i] {
				s.remove(i)
			} else {
				s.restore(i, keys[i])
			}
			in[i] = !in[i]
			if s.removed(i) == in[i] {
				t.Fatalf("n %d: removed(%d) = %v", n, i, s.removed(i))
			}
			if n <= 5000 || op%100 == 0 {
				// Every value above the leaves is the smallest of its
				// children, as a tree built anew would have it.
				for lv := 1; lv < len(s.level); lv++ {
					for j, v := range s.level[lv] {
						if want := s.child(lv, j); v != want {
							t.Fatalf("n %d, op %d: level %d node %d = %x, want %x", n, op, lv, j, v, want)
						}
					}
				}
			}
			l := rng.Intn(n + 1)
			r := l + rng.Intn(n-l+1)
			x := rng.Intn(n+2) - 1
			if got, want := s.min(l, r), scan(l, r, -1); got != want {
				t.Fatalf("n %d: min(%d, %d) = %d, want %d", n, l, r, got, want)
			}
			if got, want := s.minExcept(l, r, x), scan(l, r, x); got != want {
				t.Fatalf("n %d: minExcept(%d, %d, %d) = %d, want %d", n, l, r, x, got, want)
			}
		}
	}
}
