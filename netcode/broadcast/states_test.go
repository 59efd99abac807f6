package broadcast_test

import (
	"bytes"
	"testing"

	"github.com/rallypoint/rallypoint/netcode/broadcast"
)

// TestSpectatorStatesMatchPlayers: frame by frame, a spectator's state is
// the state a player confirmed for the same frame.
func TestSpectatorStatesMatchPlayers(t *testing.T) {
	m, net, clk := memMatch(t, 2, broadcast.Config{Delay: 1})
	v := m.addViewer("v", net.transport("v"), nil)
	states := map[int][]byte{}
	compared := 0
	for range 300 {
		m.run(clk, 1, nil)
		if f, st, ok := m.players[0].s.ConfirmedState(nil); ok {
			states[f] = st
		}
		if st, ok := states[v.sp.Frame()]; ok {
			compared++
			if mine := v.g.SaveState(nil); !bytes.Equal(mine, st) {
				t.Fatalf("frame %d: spectator %x, player %x", v.sp.Frame(), mine, st)
			}
		}
	}
	if compared < 200 {
		t.Fatalf("only %d frames compared", compared)
	}
}
