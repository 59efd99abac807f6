package mesh_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"go.uber.org/goleak"
)

// TestMeshOnDemand: in a room of three OnDemand meshes, only the pair that
// one side dialed connects; the answering side (the larger id) may dial,
// and the third member stays unconnected until it dials too.
func TestMeshOnDemand(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	var hub memsignal.Hub
	ms := map[string]*mesh.Mesh{}
	for _, id := range []string{"a", "b", "c"} {
		s, err := hub.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mesh.New(s, mesh.Config{Loopback: true, OnDemand: true})
		if err != nil {
			t.Fatal(err)
		}
		ms[id] = m
		t.Cleanup(func() { m.Close(); s.Leave() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// "c" > "a": the dialing side answers, the other offers.
	if err := ms["c"].Dial("a"); err != nil {
		t.Fatal(err)
	}
	if err := ms["a"].WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := ms["c"].WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := ms["a"].Connected(); !slices.Equal(got, []netcode.PeerID{"c"}) {
		t.Fatalf("a connected to %v, want [c]", got)
	}
	if got := ms["b"].Connected(); len(got) != 0 {
		t.Fatalf("b connected to %v before dialing anyone", got)
	}
	if err := ms["a"].Dial("b"); err != nil {
		t.Fatal(err)
	}
	if err := ms["b"].WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := ms["a"].WaitConnected(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := ms["a"].Send("b", netcode.Reliable, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := ms["c"].Connected(); !slices.Equal(got, []netcode.PeerID{"a"}) {
		t.Fatalf("c connected to %v, want [a]", got)
	}
	if err := ms["a"].Dial("a"); err == nil {
		t.Fatal("dialing itself succeeded")
	}
	// Hangup ends the pair for good (the other side reports it left and
	// does not reconnect); a new Dial connects it again.
	if err := ms["c"].Hangup("a"); err != nil {
		t.Fatal(err)
	}
	for ms["c"].Peers()["a"] == mesh.PeerStateConnected {
		select {
		case <-ctx.Done():
			t.Fatal("c still connected to a after Hangup")
		case <-time.After(5 * time.Millisecond):
		}
	}
	for ms["a"].Peers()["c"] == mesh.PeerStateConnected {
		select {
		case <-ctx.Done():
			t.Fatal("a still connected to c after c hung up")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := ms["c"].Dial("a"); err != nil {
		t.Fatal(err)
	}
	if err := ms["c"].WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
}
