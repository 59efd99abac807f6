//go:build !amd64

package matchmaker

import "unsafe"

// prefetch does nothing where the package has no prefetch instruction
// (see prefetch_amd64.go).
func prefetch(p unsafe.Pointer) {}

// prefetch2 does nothing, like prefetch.
func prefetch2(p unsafe.Pointer) {}

// prefetch4 does nothing, like prefetch.
func prefetch4(p unsafe.Pointer) {}
