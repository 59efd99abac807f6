package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time the calling OS thread has used, or false
// where the system cannot tell. With the goroutine locked to its thread,
// the difference over a call is the call's own compute time, whatever else
// the machine runs. It reads CLOCK_THREAD_CPUTIME_ID, which counts in
// nanoseconds (getrusage's per-thread times advance in scheduler ticks of
// several milliseconds, too coarse for a pass of a few).
func threadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
