package signaling

import (
	"testing"
	"time"
)

// TestSweepTick: the housekeeping goroutine ticks often enough that a tick
// sends about sweepBurst pings, within its bounds.
func TestSweepTick(t *testing.T) {
	lo, hi := 4*time.Millisecond, 62500*time.Microsecond
	for _, c := range []struct {
		n    int
		want time.Duration
	}{
		{0, hi},
		{100, hi},                          // a ping every 250 ms: one tick per bound
		{16_667, 11999 * time.Microsecond}, // 667 pings a second, 8 per 12 ms
		{50_000, 4 * time.Millisecond},     // 2,000 a second: at the lower bound
		{1_000_000, lo},
	} {
		got := sweepTick(c.n, 25*time.Second, lo, hi)
		if got < c.want-time.Microsecond || got > c.want+time.Microsecond {
			t.Errorf("sweepTick(%d) = %v, want %v", c.n, got, c.want)
		}
		if c.n > 0 && got > lo && got < hi {
			if pings := float64(c.n) * got.Seconds() / 25; pings < sweepBurst-0.01 || pings > sweepBurst+0.01 {
				t.Errorf("%d connections: %.2f pings a tick", c.n, pings)
			}
		}
	}
}
