package matchmaker

import (
	"testing"
	"unsafe"
)

// A pass reads one cache line of every entry in its sweeps and, of the
// tickets it matches and the seeds it tries, the first four, which it
// prefetches: the layout that keeps those reads few is pinned here.
func TestEntryLayout(t *testing.T) {
	var e entry
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is laid out for 64-bit platforms")
	}
	if got := unsafe.Sizeof(e); got != 320 {
		t.Errorf("entry is %d bytes, want 320 (a size class whose objects start on a cache line)", got)
	}
	for name, end := range map[string]uintptr{
		"bucket": unsafe.Offsetof(e.bucket) + unsafe.Sizeof(e.bucket),
		"skill":  unsafe.Offsetof(e.skill) + unsafe.Sizeof(e.skill),
		"at":     unsafe.Offsetof(e.at) + unsafe.Sizeof(e.at),
		"dead":   unsafe.Offsetof(e.dead) + unsafe.Sizeof(e.dead),
	} {
		if end > 64 {
			t.Errorf("entry.%s ends at byte %d, past the first cache line", name, end)
		}
	}
	for name, end := range map[string]uintptr{
		"t":       unsafe.Offsetof(e.t) + unsafe.Sizeof(e.t),
		"solo":    unsafe.Offsetof(e.solo) + unsafe.Sizeof(e.solo),
		"tagMask": unsafe.Offsetof(e.tagMask) + unsafe.Sizeof(e.tagMask),
	} {
		if end > 256 {
			t.Errorf("entry.%s ends at byte %d, past the four lines a pass prefetches", name, end)
		}
	}
}
