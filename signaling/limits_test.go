package signaling

import (
	"testing"
	"time"
)

// TestLimiterBurstThenRate: a connection starts with RateBurst tokens and
// gets RatePerSec back per second, at the times the reader passes in.
func TestLimiterBurstThenRate(t *testing.T) {
	s := &Server{cfg: Config{RatePerSec: 10, RateBurst: 3}}
	l := s.newLimiter()
	t0 := time.Unix(1_700_000_000, 0).UnixNano()
	for i := 0; i < 3; i++ {
		if !allowAt(l, t0) {
			t.Fatalf("burst message %d refused", i)
		}
	}
	if allowAt(l, t0) {
		t.Fatal("fourth message at once allowed")
	}
	if allowAt(l, t0+int64(99*time.Millisecond)) {
		t.Fatal("allowed before a token refilled")
	}
	if !allowAt(l, t0+int64(100*time.Millisecond)) {
		t.Fatal("refused after 1/RatePerSec")
	}
	if got := l.TokensAt(time.Unix(0, t0+int64(time.Hour))); got != 3 {
		t.Fatalf("tokens after an hour %v, want the burst 3", got)
	}
}
