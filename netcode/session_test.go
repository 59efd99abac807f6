package netcode_test

import (
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode/netsim"
)

var lossy = netsim.Conditions{Latency: 100 * time.Millisecond, Jitter: 30 * time.Millisecond, Loss: 0.25}

func TestSessionLossySync(t *testing.T) {
	for _, tc := range []struct {
		players, perPeer, frames int
	}{{2, 1, 3000}, {3, 1, 3000}, {4, 1, 3000}, {8, 1, 2000}, {4, 2, 2000}} {
		t.Run(fmtPlayers(tc.players, tc.perPeer), func(t *testing.T) {
			c := newCluster(t, clusterOpts{players: tc.players, perPeer: tc.perPeer, cond: lossy, seed: int64(tc.players*10 + tc.perPeer)})
			c.run(tc.frames)
			c.checkSync(tc.frames - 60)
			var rb uint64
			for _, p := range c.peers {
				rb += p.s.Stats().Rollbacks
			}
			if rb == 0 {
				t.Error("no rollback happened: the test exercises nothing")
			}
			t.Logf("frames %v, rollbacks %d", c.frames(), rb)
		})
	}
}

func fmtPlayers(players, perPeer int) string {
	s := "players=" + itoa(players)
	if perPeer > 1 {
		s += ",local=" + itoa(perPeer)
	}
	return s
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
