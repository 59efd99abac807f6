package signaling

// tokenBucket is a per-connection rate limiter. Only the connection's reader
// goroutine touches it, so it needs no lock.
type tokenBucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

// allow takes one token at time now (unix nanoseconds) from a bucket that
// refills at rate tokens per second up to burst, and reports whether one
// was there.
func (b *tokenBucket) allow(now int64, rate float64, burst int) bool {
	if b.last == 0 {
		b.tokens = float64(burst)
		b.last = now
	}
	if dt := now - b.last; dt > 0 {
		b.tokens += float64(dt) * rate / 1e9
		if b.tokens > float64(burst) {
			b.tokens = float64(burst)
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
