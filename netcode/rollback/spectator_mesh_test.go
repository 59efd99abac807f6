package rollback_test

import (
	"context"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"go.uber.org/goleak"
)

// TestSpectatorFailoverOverPionMesh: three players in a match over real
// pion data channels; a spectator joins the room mid-match, receives a
// state and catches up. Then its feeder's mesh closes (the process is
// gone as far as the others can tell): the spectator hears the mesh's
// disconnect, moves to the next player and stays in sync with the
// survivors' confirmed checksums to the end.
//
// In the "hung" case the feeder's process stops running its session (as a
// stopped or wedged process would) while its mesh stays up: no disconnect
// arrives, and the spectator moves on after FeederTimeout of silence.
func TestSpectatorFailoverOverPionMesh(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	t.Run("closed", func(t *testing.T) { spectatorFailoverOverPion(t, false) })
	t.Run("hung", func(t *testing.T) { spectatorFailoverOverPion(t, true) })
}

func spectatorFailoverOverPion(t *testing.T, hung bool) {
	var hub memsignal.Hub
	ids := []netcode.PeerID{"p0", "p1", "p2"}
	const n = 3
	newMesh := func(id string) (*mesh.Mesh, *memsignal.Signaler) {
		s, err := hub.Join(id)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mesh.New(s, mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(); s.Leave() })
		return m, s
	}
	type node struct {
		m    *mesh.Mesh
		sig  *memsignal.Signaler
		s    *rollback.Session
		g    *toyGame
		sums map[int]uint64
		rng  *rand.Rand
		dead bool
	}
	nodes := make([]*node, n)
	for i := range nodes {
		m, sig := newMesh(string(ids[i]))
		nodes[i] = &node{m: m, sig: sig, g: newToyGame(n), sums: map[int]uint64{}, rng: rand.New(rand.NewSource(int64(i)))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, nd := range nodes {
		if err := nd.m.WaitConnected(ctx, n-1); err != nil {
			t.Fatalf("%s: mesh not connected: %v", nd.m.LocalID(), err)
		}
	}
	for i, nd := range nodes {
		players := make([]rollback.Player, n)
		for h := range players {
			if h != i {
				players[h].Peer = ids[h]
			}
		}
		sums := nd.sums
		s, err := rollback.New(nd.m, nd.g, rollback.Config{Players: players, ChecksumInterval: 1,
			Spectators:        []netcode.PeerID{"tv"},
			DisconnectTimeout: 4 * time.Second, InterruptTimeout: time.Second,
			OnConfirmedState: func(f int, sum uint64, _ []byte) { sums[f] = sum }})
		if err != nil {
			t.Fatal(err)
		}
		nd.s = s
	}

	var (
		tvMesh   *mesh.Mesh
		tv       *rollback.Spectator
		tvSums   = map[int]uint64{}
		tvGame   = &recordingGame{toyGame: newToyGame(n), sums: tvSums}
		changes  []rollback.EventFeederChanged
		joinedAt = -1
		checked  int
		after    int // frames checked after the failover
		switchAt = -1
		start    time.Time
	)
	const killAt, frames = 500, 900
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for i, nd := range nodes {
			if nd.dead {
				continue
			}
			if nd.s.Frame() < frames+60 {
				done = false
			}
			in := []byte{0}
			if nd.s.Frame() < frames {
				in[0] = byte(nd.rng.Intn(256))
			}
			_ = nd.s.AddLocalInput(i, in)
			if err := nd.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatalf("p%d: %v", i, err)
			}
			for len(nd.s.Events()) > 0 {
				switch e := (<-nd.s.Events()).(type) {
				case rollback.EventDesync:
					t.Fatalf("p%d: %+v", i, e)
				case rollback.EventSpectatorJoined:
					if e.Peer == "tv" && i == 0 {
						joinedAt = e.Frame
					}
				}
			}
		}
		live := nodes[1]
		if tv == nil && live.s.Frame() >= 200 {
			tvMesh, _ = newMesh("tv")
			if err := tvMesh.WaitConnected(ctx, n); err != nil {
				t.Fatalf("spectator's mesh: %v", err)
			}
			var err error
			tv, err = rollback.NewSpectator(tvMesh, tvGame, rollback.SpectatorConfig{Feeders: ids, Players: n, CatchUpSpeed: 8})
			if err != nil {
				t.Fatal(err)
			}
		}
		if !nodes[0].dead && live.s.Frame() >= killAt {
			if tv == nil || tv.Frame() < 300 {
				t.Fatal("spectator not caught up before the kill")
			}
			t.Logf("kill: spectator at %d with %d frames recorded", tv.Frame(), len(tvSums))
			nodes[0].dead = true
			if !hung {
				_ = nodes[0].s.Close()
				_ = nodes[0].m.Close()
				nodes[0].sig.Leave()
			}
			start = time.Now()
		}
		if tv != nil {
			for len(tvMesh.Events()) > 0 {
				if d, ok := (<-tvMesh.Events()).(mesh.EventDisconnected); ok {
					tv.FeederLeft(d.Peer)
				}
			}
			for {
				err := tv.AdvanceFrame()
				if errors.Is(err, rollback.ErrSpectatorWaiting) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if tv.Behind() < 2 {
					break
				}
			}
			for len(tv.Events()) > 0 {
				if fc, ok := (<-tv.Events()).(rollback.EventFeederChanged); ok {
					changes = append(changes, fc)
					switchAt = fc.Frame
					t.Logf("feeder changed %s -> %s at frame %d (%v) %v after the kill", fc.From, fc.To, fc.Frame, fc.Reason, time.Since(start))
				}
			}
		}
		if done && tv != nil && live.s.Frame()-tv.Frame() <= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck: players at %d %d, spectator at %d", nodes[1].s.Frame(), nodes[2].s.Frame(), tv.Frame())
		}
		<-tick.C
	}
	if joinedAt < 150 {
		t.Fatalf("spectator joined p0 at frame %d, want a mid-match state", joinedAt)
	}
	want := rollback.FeederLeft
	if hung {
		want = rollback.FeederSilent
	}
	if len(changes) != 1 || changes[0].From != "p0" || changes[0].To != "p1" || changes[0].Reason != want {
		t.Fatalf("feeder changes %+v, want p0 -> p1 (%v)", changes, want)
	}
	for f, got := range tvSums {
		want, ok := nodes[1].sums[f]
		if !ok {
			want, ok = nodes[2].sums[f]
		}
		if ok {
			if got != want {
				t.Fatalf("spectator frame %d: %x, players %x", f, got, want)
			}
			checked++
			if f > switchAt {
				after++
			}
		}
	}
	if checked < 500 || after < 300 {
		t.Fatalf("only %d spectator frames checked, %d after the failover (joined at %d, ended at %d)", checked, after, joinedAt, tv.Frame())
	}
	t.Logf("spectator joined at frame %d, %d frames checked (%d after the failover), ended at %d (players %d)", joinedAt, checked, after, tv.Frame(), nodes[1].s.Frame())
}

// recordingGame records the checksum of its state after every frame: the
// key is the next frame, as in Session.Frame and Spectator.Frame.
type recordingGame struct {
	*toyGame
	sums map[int]uint64
}

func (g *recordingGame) AdvanceFrame(in *rollback.Inputs) {
	g.toyGame.AdvanceFrame(in)
	g.sums[in.Frame+1] = rollback.Checksum(g.SaveState(nil))
}
