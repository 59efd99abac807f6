package rollback_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"go.uber.org/goleak"
)

// TestSessionOverPionMesh runs a 3-player rollback session over real pion
// data channels (the mesh on loopback with the in-memory signaler), one of
// the peers behind a conditioner adding 30 ms ± 10 ms and 10% loss on the
// wall clock. Every peer must reach the last frame with the same confirmed
// checksums.
func TestSessionOverPionMesh(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var hub memsignal.Hub
	const n = 3
	meshes := make([]*mesh.Mesh, n)
	sigs := make([]*memsignal.Signaler, n)
	for i := range meshes {
		s, err := hub.Join(fmt.Sprintf("p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		m, err := mesh.New(s, mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		meshes[i], sigs[i] = m, s
	}
	t.Cleanup(func() {
		for i := range meshes {
			meshes[i].Close()
			sigs[i].Leave()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range meshes {
		if err := m.WaitConnected(ctx, n-1); err != nil {
			t.Fatalf("%s: mesh not connected: %v", m.LocalID(), err)
		}
	}

	type node struct {
		s    *rollback.Session
		g    *toyGame
		sums map[int]uint64
		rng  *rand.Rand
	}
	nodes := make([]*node, n)
	for i := range nodes {
		var tr netcode.Transport = meshes[i]
		if i == 2 {
			tr = netsim.NewConditioner(meshes[i], netsim.ConditionerConfig{Seed: 3,
				Conditions: netsim.Conditions{Latency: 30 * time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.1}})
		}
		players := make([]rollback.Player, n)
		for h := range players {
			if h != i {
				players[h].Peer = netcode.PeerID(fmt.Sprintf("p%d", h))
			}
		}
		nd := &node{g: newToyGame(n), sums: map[int]uint64{}, rng: rand.New(rand.NewSource(int64(i)))}
		s, err := rollback.New(tr, nd.g, rollback.Config{Players: players, ChecksumInterval: 10,
			DisconnectTimeout: 10 * time.Second, InterruptTimeout: 2 * time.Second,
			OnConfirmedState: func(f int, sum uint64, _ []byte) { nd.sums[f] = sum }})
		if err != nil {
			t.Fatal(err)
		}
		nd.s = s
		nodes[i] = nd
	}
	const frames = 400
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var rollbacks uint64
	for {
		done := true
		for i, nd := range nodes {
			if nd.s.Frame() < frames+60 {
				done = false
			}
			in := []byte{0}
			if nd.s.Frame() < frames {
				in[0] = byte(nd.rng.Intn(256))
			}
			_ = nd.s.AddLocalInput(i, in)
			if err := nd.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatal(err)
			}
			for len(nd.s.Events()) > 0 {
				if d, ok := (<-nd.s.Events()).(rollback.EventDesync); ok {
					t.Fatalf("p%d: %+v", i, d)
				}
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("session over the mesh stuck at frames %d %d %d", nodes[0].s.Frame(), nodes[1].s.Frame(), nodes[2].s.Frame())
		}
		<-tick.C
	}
	common := 0
	for f, sum := range nodes[0].sums {
		if s1, ok := nodes[1].sums[f]; ok {
			if s2, ok := nodes[2].sums[f]; ok {
				if s1 != sum || s2 != sum {
					t.Fatalf("frame %d: checksums %x %x %x", f, sum, s1, s2)
				}
				common++
			}
		}
	}
	for _, nd := range nodes {
		rollbacks += nd.s.Stats().Rollbacks
		if nd.s.Stats().Compared == 0 {
			t.Fatal("no checksum compared over the mesh")
		}
	}
	if common < frames/10 {
		t.Fatalf("only %d frames checksummed on every peer", common)
	}
	st, _ := nodes[0].s.PeerStats("p1")
	t.Logf("%d common checksums, %d rollbacks, RTT p0-p1 %v", common, rollbacks, st.RTT)
}
