package broadcast_test

import (
	"fmt"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
)

// TestTreeShallow: 100 spectators that each know one earlier spectator
// end up in a tree of bounded fan-out no deeper than a breadth-first one
// allows (2 players × 2 relays, fan-out 4: 100 spectators fit in 4 levels).
func TestTreeShallow(t *testing.T) {
	m, net, clk := memMatch(t, 2, broadcast.Config{Delay: 10})
	for i := range 100 {
		id := netcode.PeerID(fmt.Sprintf("s%03d", i))
		m.addViewer(id, net.transport(id), func(c *broadcast.Config) {
			if i > 0 {
				c.Entry = []netcode.PeerID{netcode.PeerID(fmt.Sprintf("s%03d", (i*37)%i))}
			}
		})
		m.run(clk, 2, nil)
	}
	m.run(clk, 300, nil)
	m.checkShape(broadcast.DefaultFanout, broadcast.DefaultRootFanout)
	depth := map[int]int{}
	maxDepth := 0
	for _, v := range m.viewers {
		if _, ok := v.sp.Parent(); !ok {
			t.Fatalf("%s not attached: %s", v.id, v.sp.DebugState())
		}
		d := len(v.sp.Path())
		depth[d]++
		maxDepth = max(maxDepth, d)
	}
	t.Logf("spectators by depth: %v", depth)
	if maxDepth > 5 {
		t.Fatalf("tree %d deep: %v", maxDepth, depth)
	}
}
