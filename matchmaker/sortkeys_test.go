package matchmaker

import (
	"cmp"
	"math"
	"math/rand"
	"slices"
	"testing"
)

func TestSkillKeyOrder(t *testing.T) {
	vals := []float64{math.Inf(-1), -1e300, -25.5, -1, -math.SmallestNonzeroFloat64, math.Copysign(0, -1), 0,
		math.SmallestNonzeroFloat64, 1, 25, 25.000000000000004, 1e300, math.Inf(1)}
	for i, a := range vals {
		if got := keySkill(skillKey(a)); got != a {
			t.Fatalf("keySkill(skillKey(%v)) = %v", a, got)
		}
		for _, b := range vals[i:] {
			if (a < b) != (skillKey(a) < skillKey(b)) || (a == b) != (skillKey(a) == skillKey(b)) {
				t.Fatalf("%v and %v: keys %x and %x out of order", a, b, skillKey(a), skillKey(b))
			}
		}
	}
}

// The radix sort against a comparison sort, with ties (which keep rank
// order), negative and large skills, and keys sharing high bytes.
func TestSortKeysMatchesComparison(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, n := range []int{1, 10, radixMin - 1, radixMin, 1000, 20_000} {
		for _, spread := range []float64{0.25, 5, 1e6} {
			keys := make([]sortKey, n)
			for i := range keys {
				s := 25 + math.Round(rng.NormFloat64()*spread*4)/4
				if rng.Intn(50) == 0 {
					s = -s
				}
				keys[i] = sortKey{skillKey(s), uint32(i), 0}
			}
			want := slices.Clone(keys)
			slices.SortStableFunc(want, func(x, y sortKey) int {
				return cmp.Compare(keySkill(x.key), keySkill(y.key))
			})
			got := sortKeys(keys, make([]sortKey, n))
			if !slices.Equal(got, want) {
				t.Fatalf("n %d spread %v: radix order differs from the comparison sort", n, spread)
			}
		}
	}
}
