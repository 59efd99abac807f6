package matchmaker

import "unsafe"

// prefetch asks the processor to bring the cache line at p into its
// caches without waiting for it: a pass names the memory of the seeds it
// will reach soon, so their loads overlap with the work on the current
// seed instead of each waiting in turn. It never faults.
//
//go:noescape
func prefetch(p unsafe.Pointer)

// prefetch2 is prefetch of the line at p and the next one.
//
//go:noescape
func prefetch2(p unsafe.Pointer)

// prefetch4 is prefetch of the line at p and the three after it.
//
//go:noescape
func prefetch4(p unsafe.Pointer)
