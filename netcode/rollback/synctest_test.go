package rollback_test

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// leakyGame keeps part of its state outside SaveState: not deterministic
// under rollback.
type leakyGame struct {
	toyGame
	outside int32
}

func (g *leakyGame) AdvanceFrame(in *rollback.Inputs) {
	g.outside++
	g.toyGame.AdvanceFrame(in)
	// Mix the leak in non-linearly: a plain sum of the leaked counter can
	// make two runs over different frames coincide.
	g.pos[0] = g.pos[0]*31 + g.outside*g.outside
}

func TestSyncTestPassesDeterministicGame(t *testing.T) {
	g := newToyGame(2)
	st, err := rollback.NewSyncTest(g, rollback.SyncTestConfig{Players: 2, CheckDistance: 8})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 600; i++ {
		for h := 0; h < 2; h++ {
			_ = st.AddLocalInput(h, []byte{byte(rng.Intn(256))})
		}
		if err := st.AdvanceFrame(); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if st.Checked() < 600*8-100 {
		t.Fatalf("only %d states checked", st.Checked())
	}
	if int(g.frame) != 600 {
		t.Fatalf("game at frame %d after 600 frames", g.frame)
	}
}

// TestSyncTestReportsEveryMismatch: a game that leaks state outside
// SaveState differs at every resimulated frame, so every tick from the
// first full rollback must list exactly the CheckDistance frames it
// rechecked, and emit one EventDesync for each.
func TestSyncTestReportsEveryMismatch(t *testing.T) {
	const dist, ticks = 3, 100
	g := &leakyGame{toyGame: *newToyGame(1)}
	st, err := rollback.NewSyncTest(g, rollback.SyncTestConfig{CheckDistance: dist, EventBuffer: 4 * dist * ticks})
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := 0; i < ticks; i++ {
		_ = st.AddLocalInput(0, []byte{1})
		err := st.AdvanceFrame()
		f := st.Frame()
		if f < dist {
			if err != nil {
				t.Fatalf("frame %d: %v before a full rollback", f, err)
			}
			continue
		}
		var se *rollback.SyncTestError
		if !errors.As(err, &se) || !errors.Is(err, rollback.ErrSyncTest) {
			t.Fatalf("frame %d: %v, want a SyncTestError", f, err)
		}
		exp := []int{}
		for x := f - dist + 1; x <= f; x++ {
			exp = append(exp, x)
		}
		if fmt.Sprint(se.Frames) != fmt.Sprint(exp) {
			t.Fatalf("frame %d: mismatches at %v, want %v", f, se.Frames, exp)
		}
		want = append(want, exp...)
	}
	var got []int
	for len(st.Events()) > 0 {
		d, ok := (<-st.Events()).(rollback.EventDesync)
		if !ok || d.Local == d.Remote || d.Peer != "" {
			t.Fatalf("event %+v", d)
		}
		got = append(got, d.Frame)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("EventDesync frames %v, want %v", got, want)
	}
}
