package netcode_test

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
)

// leakyGame keeps part of its state outside SaveState: not deterministic
// under rollback.
type leakyGame struct {
	toyGame
	outside int32
}

func (g *leakyGame) AdvanceFrame(in *netcode.SessionInputs) {
	g.outside++
	g.toyGame.AdvanceFrame(in)
	g.pos[0] += g.outside
}

func TestSyncTestPassesDeterministicGame(t *testing.T) {
	g := newToyGame(2)
	st, err := netcode.NewSyncTestSession(g, netcode.SyncTestConfig{Players: 2, CheckDistance: 8})
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

func TestSyncTestReportsEveryMismatch(t *testing.T) {
	g := &leakyGame{toyGame: *newToyGame(1)}
	st, err := netcode.NewSyncTestSession(g, netcode.SyncTestConfig{CheckDistance: 3})
	if err != nil {
		t.Fatal(err)
	}
	failing := 0
	for i := 0; i < 100; i++ {
		_ = st.AddLocalInput(0, []byte{1})
		err := st.AdvanceFrame()
		var se *netcode.SyncTestError
		if errors.As(err, &se) {
			failing++
			if !errors.Is(err, netcode.ErrSyncTest) || len(se.Frames) == 0 {
				t.Fatalf("bad error %v", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if failing < 90 {
		t.Fatalf("only %d of 100 frames reported a mismatch for a leaky game", failing)
	}
	desyncs := 0
	for len(st.Events()) > 0 {
		if _, ok := (<-st.Events()).(netcode.EventDesync); ok {
			desyncs++
		}
	}
	if desyncs == 0 {
		t.Fatal("no EventDesync")
	}
}
