package matchmaker

import (
	"hash/maphash"
	bits64 "math/bits"
)

// index maps ticket ids (or player ids) to waiting entries. It is an
// open-addressing table with linear probing whose slots keep each key's
// hash; an entry remembers the slot that names it (its handle), so taking
// an entry out is one write to that slot (a tombstone), with no hashing, no
// probing and no string comparison. A pass that matches most of a large
// pool thus leaves the index at the cost of a store per ticket and player.
//
// Keys are not stored: a slot holds the entry, and in one word 56 bits of
// the key's hash and which of the entry's strings is the key (the ticket's
// id, or the id of its player j), so the table costs 16 bytes a slot, four
// to a cache line. Tombstones are swept when an insert finds the table
// three quarters used, by rebuilding it at a size of at least twice the
// live keys (the table may shrink then), which costs O(live) amortised over
// as many inserts.
//
// A pass takes out most of a large pool at once; it marks the slots in a
// bitmap (delLater) and flush writes the tombstones in slot order, so the
// table is written front to back instead of at a random place per key.
type index struct {
	seed    maphash.Seed
	slots   []islot  // len is 0 or a power of two
	live    int      // keys present
	used    int      // live keys and tombstones
	pending []uint64 // bit i: slot i is to be taken out by flush
	npend   int
}

type islot struct {
	// hj is slotEmpty, slotDead, or the key's hash (as index.hash gives
	// it) shifted up 8 bits over j+1, where j is -1 when the key is
	// e.t.ID and else names e.t.Players[j].ID (j < MaxPartySize < 255).
	hj uint64
	e  *entry
}

const (
	slotEmpty = 0
	slotDead  = 1
)

func (s *islot) key() string {
	if j := s.j(); j >= 0 {
		return s.e.t.Players[j].ID
	}
	return s.e.t.ID
}

// h is the hash of the slot's key; j says which key it is (see islot).
func (s *islot) h() uint64 { return s.hj >> 8 }
func (s *islot) j() int32  { return int32(s.hj&0xff) - 1 }

func packSlot(h uint64, j int32) uint64 { return h<<8 | uint64(j+1) }

func newIndex() index { return index{seed: maphash.MakeSeed()} }

// hash returns 56 bits of the key's hash, never zero, so that a packed
// slot of a key is above slotDead.
func (x *index) hash(k string) uint64 { return maphash.String(x.seed, k)>>8 | 1 }

// get returns the entry named k, or nil.
func (x *index) get(k string) *entry {
	if x.live == 0 {
		return nil
	}
	h := x.hash(k)
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &x.slots[i]
		switch {
		case s.hj == slotEmpty:
			return nil
		case s.h() == h && s.key() == k:
			return s.e
		}
	}
}

// put adds k (which must be absent), naming e's ticket (j < 0) or e's
// player j, and records the slot's handle in e.
func (x *index) put(k string, e *entry, j int) {
	if (x.used+1)*4 > len(x.slots)*3 {
		x.rebuild(x.live + 1)
	}
	h := x.hash(k)
	x.place(h, e, int32(j))
	x.live++
}

// place writes a slot for a key known to be absent into the first free or
// dead slot of its probe sequence.
func (x *index) place(h uint64, e *entry, j int32) {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i].hj > slotDead {
		i = (i + 1) & mask
	}
	if x.slots[i].hj == slotEmpty {
		x.used++
	}
	x.slots[i] = islot{hj: packSlot(h, j), e: e}
	if j < 0 {
		e.handle = int32(i)
	} else {
		e.phandles[j] = int32(i)
	}
}

// del takes out the key whose slot is handle.
func (x *index) del(handle int32) {
	x.slots[handle] = islot{hj: slotDead}
	x.live--
}

// delLater marks the key whose slot is handle to be taken out by flush;
// until then get still finds it. Nothing may be put in between.
func (x *index) delLater(handle int32) {
	x.pending[handle>>6] |= 1 << (handle & 63)
	x.npend++
}

// flush takes out the keys marked by delLater, in slot order.
func (x *index) flush() {
	if x.npend == 0 {
		return
	}
	for w, bits := range x.pending {
		if bits == 0 {
			continue
		}
		x.pending[w] = 0
		for ; bits != 0; bits &= bits - 1 {
			x.slots[w*64+bits64.TrailingZeros64(bits)] = islot{hj: slotDead}
		}
	}
	x.live -= x.npend
	x.npend = 0
}

// rebuild moves the live keys to a table of at least twice need slots.
func (x *index) rebuild(need int) {
	n := 16
	for n < 2*need {
		n *= 2
	}
	old := x.slots
	x.slots = make([]islot, n)
	x.pending = make([]uint64, (n+63)/64) // nothing is pending: puts come between passes
	x.used = 0
	for i := range old {
		if s := &old[i]; s.hj > slotDead {
			x.place(s.h(), s.e, s.j())
		}
	}
}
