package netns

// SweepStaleForTest runs the sweep of stale namespaces again.
func SweepStaleForTest() { sweepStale() }
