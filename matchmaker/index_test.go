package matchmaker

import (
	"fmt"
	"math/rand"
	"testing"
)

// The index against a Go map over random inserts and deletes, through
// growth, tombstone sweeps and shrinking, with entries that hold their
// handles as the Matchmaker's do.
func TestIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	x := newIndex()
	ref := map[string]*entry{}
	var keys []string
	for op := 0; op < 50_000; op++ {
		// Phases that grow to thousands of keys and drain to few.
		grow := (op/10_000)%2 == 0
		if len(keys) == 0 || (grow && rng.Intn(4) != 0) || (!grow && rng.Intn(4) == 0) {
			k := fmt.Sprintf("k%d", rng.Intn(1_000_000))
			if _, ok := ref[k]; ok {
				continue
			}
			e := &entry{t: Ticket{ID: k}}
			e.phandles = e.psolo[:0]
			x.put(k, e, -1)
			ref[k] = e
			keys = append(keys, k)
		} else {
			i := rng.Intn(len(keys))
			k := keys[i]
			keys[i] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			x.del(ref[k].handle)
			delete(ref, k)
			if x.get(k) != nil {
				t.Fatalf("op %d: %q found after delete", op, k)
			}
		}
		if x.live != len(ref) || x.used*4 > len(x.slots)*3 {
			t.Fatalf("op %d: %d live, %d used of %d slots; the map has %d", op, x.live, x.used, len(x.slots), len(ref))
		}
		if op%1000 == 0 {
			for k, e := range ref {
				if x.get(k) != e {
					t.Fatalf("op %d: %q not found", op, k)
				}
				if s := x.slots[e.handle]; s.e != e || s.j() != -1 {
					t.Fatalf("op %d: %q: handle %d names another slot", op, k, e.handle)
				}
			}
			if x.get("absent") != nil {
				t.Fatal("absent key found")
			}
		}
	}
	// Churn with few keys: tombstones are swept and the table shrinks to
	// a size set by the live keys, not by the keys ever inserted.
	for op := 0; op < 100_000; op++ {
		k := fmt.Sprintf("c%d", op)
		e := &entry{t: Ticket{ID: k}}
		x.put(k, e, -1)
		x.del(e.handle)
	}
	if want := 4 * max(16, 2*(len(keys)+1)); len(x.slots) > want {
		t.Fatalf("%d slots for %d keys after churn, want at most %d", len(x.slots), len(keys), want)
	}
	for _, k := range keys {
		if x.get(k) != ref[k] {
			t.Fatalf("%q lost in churn", k)
		}
	}
}

// A slot keeps 56 bits of its key's hash and which key of the entry it is
// (the ticket's id or player j's) in one word; both come back as put.
func TestIndexPlayerSlots(t *testing.T) {
	x := newIndex()
	e := &entry{t: Ticket{ID: "t"}}
	for j := 0; j < MaxPartySize; j++ {
		e.t.Players = append(e.t.Players, Player{ID: fmt.Sprintf("p%d", j)})
	}
	e.phandles = make([]int32, MaxPartySize)
	x.put("t", e, -1)
	for j, p := range e.t.Players {
		x.put(p.ID, e, j)
	}
	for j, p := range e.t.Players {
		s := x.slots[e.phandles[j]]
		if x.get(p.ID) != e || s.j() != int32(j) || s.key() != p.ID || s.h() != x.hash(p.ID) {
			t.Fatalf("player %d: slot %+v, key %q", j, s, s.key())
		}
	}
	if s := x.slots[e.handle]; x.get("t") != e || s.j() != -1 || s.key() != "t" {
		t.Fatalf("ticket slot %+v", s)
	}
}
