package bench

import "testing"

// TestSpectatorBenchFlat: a player's broadcast upload with 100 spectators
// is within 1.1 times its upload with 10 (the tree, not the player, feeds
// the audience), and the tree stays shallow.
func TestSpectatorBenchFlat(t *testing.T) {
	r, err := RunSpectatorBench(SpectatorBenchConfig{Audiences: []int{10, 100}, Seconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("10: %.0f B/s, 100: %.0f B/s, ratio %.3f, depth %d, longest re-attach %.0f ms",
		r.Upload10, r.Upload100, r.Ratio10to100, r.MaxDepth, r.ReattachMaxMs)
	if r.Upload10 <= 0 || !r.TargetsMet {
		t.Fatalf("ratio 100/10 = %.3f, target ≤ %.1f", r.Ratio10to100, r.Target)
	}
	if r.MaxDepth > 8 {
		t.Fatalf("tree %d deep with 100 spectators", r.MaxDepth)
	}
	if r.ReattachMaxMs > 1000 {
		t.Fatalf("a re-attach took %.0f ms of match time", r.ReattachMaxMs)
	}
}
