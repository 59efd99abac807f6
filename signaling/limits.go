package signaling

import (
	"time"

	"golang.org/x/time/rate"
)

// newLimiter is a connection's message rate limiter: a token bucket
// (golang.org/x/time/rate) that refills at RatePerSec up to RateBurst and
// starts full. Only the connection's reader goroutine takes tokens.
func (s *Server) newLimiter() *rate.Limiter {
	return rate.NewLimiter(rate.Limit(s.cfg.RatePerSec), s.cfg.RateBurst)
}

// allowAt takes one token at now (unix nanoseconds) and reports whether
// one was there.
func allowAt(l *rate.Limiter, now int64) bool {
	return l.AllowN(time.Unix(0, now), 1)
}
