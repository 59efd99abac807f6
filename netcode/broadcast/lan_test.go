package broadcast_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/rallypoint/rallypoint/internal/netns"
	"go.uber.org/goleak"
)

// TestBroadcastLAN: the tree on a LAN. The players' process and four
// spectator processes (six spectators each) sit in network namespaces of
// their own on one bridge, and every peer talks over pion across it (no
// loopback candidates). There is no server outside the LAN: the players'
// process serves the signaling protocol itself on its bridge address
// (treepeer -serve), as a LAN host does, and the spectator processes are
// given that address (a lobby would name it; peers need a signaling
// channel to exchange WebRTC offers). Mid-match two spectator processes
// hosting relays are killed with SIGKILL and a relay leaves with a
// goodbye; every surviving spectator ends with the players' final
// confirmed checksum, and every orphan re-attaches within the bound of
// TestBroadcastOverPionProcesses (the times are logged).
func TestBroadcastLAN(t *testing.T) {
	if testing.Short() {
		t.Skip("namespaces and processes")
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	lab := netns.New(t)
	const spectators, nprocs = 24, 4
	spaces := []*netns.NS{lab.NS("treereattach-pl")}
	for i := range nprocs {
		spaces = append(spaces, lab.NS(fmt.Sprintf("treereattach-s%d", i)))
	}
	_, ifs := lab.BridgeSwitch(netns.LinkOptions{}, spaces...)
	bin := buildTreepeer(t)
	pt := newProcTree(t)
	defer pt.stopAll()
	pt.run(procCase{spectators: spectators, nprocs: nprocs, common: []string{"-loopback=false"},
		players: func(args ...string) *treeProc {
			return pt.startIn(spaces[0], bin, append(args, "-serve", ifs[0].IPv4+":0")...)
		},
		spectator: func(i int, args ...string) *treeProc {
			return pt.startIn(spaces[1+i], bin, append(args, "-url", pt.url)...)
		}})
	kill, leave := slices.Clone(pt.gapsKill), slices.Clone(pt.gapsLeave)
	slices.Sort(kill)
	t.Logf("over the bridge: %d orphans of the kills back after p50 %d ms, max %d ms (all %v); children of the relay that left %v ms; load %s",
		len(kill), kill[len(kill)/2], kill[len(kill)-1], kill, leave, loadAvg())
}
