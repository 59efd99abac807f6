package lobby_test

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"github.com/rallypoint/rallypoint/signaling"
)

// sumGame is a deterministic game whose state is one running hash of every
// input and of disconnects; it records its checksum after every frame.
type sumGame struct {
	h    uint64
	sums map[int]uint64
}

func (g *sumGame) SaveState(dst []byte) []byte { return binary.LittleEndian.AppendUint64(dst, g.h) }
func (g *sumGame) LoadState(b []byte) error {
	if len(b) != 8 {
		return errors.New("bad state")
	}
	g.h = binary.LittleEndian.Uint64(b)
	return nil
}
func (g *sumGame) AdvanceFrame(in *rollback.Inputs) {
	for p := 0; p < in.Players(); p++ {
		g.h = (g.h ^ uint64(in.Input(p)[0])) * 1099511628211
		if in.Status(p) == rollback.InputDisconnected { // predicted and confirmed differ between peers
			g.h = (g.h ^ 0xd15c) * 1099511628211
		}
	}
	if g.sums != nil {
		g.sums[in.Frame+1] = rollback.Checksum(g.SaveState(nil))
	}
}

// TestSpectateThroughLobby: three players start a match from a lobby on a
// real signaling server and play it over pion. A fourth client asks to
// spectate before the start (refused: not started), then mid-match: the
// service moves it into the session's room and the members see it in the
// session. It catches up from a state, then the lobby host's process goes
// away (its session, mesh and lobby connection closed): the spectator
// moves to the next player on the mesh's disconnect event and stays in
// sync with the survivors' confirmed checksums to the end.
func TestSpectateThroughLobby(t *testing.T) {
	t.Run("online", func(t *testing.T) {
		s := serve(t, signaling.Config{}, lobby.Config{StartWithoutReady: true})
		clients := []*lobby.Client{dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil)}
		st, err := clients[0].Create(tctx(t), lobby.CreateData{Name: "cup"})
		if err != nil {
			t.Fatal(err)
		}
		spectateMatch(t, clients, dial(t, s.url, nil), st, true)
	})
	// On a LAN the hosting player's process serves the lobby (lobby.Host;
	// private, so nothing is advertised over multicast). Its player's mesh
	// and session close, while its process keeps serving.
	t.Run("lan", func(t *testing.T) {
		h, err := lobby.NewHost(tctx(t), lobby.HostConfig{Addr: "127.0.0.1:0",
			Lobby: lobby.CreateData{Name: "lan cup", Private: true}, Service: lobby.Config{StartWithoutReady: true}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		st, _ := h.Client().State()
		clients := []*lobby.Client{h.Client(), dial(t, h.URL(), nil), dial(t, h.URL(), nil)}
		spectateMatch(t, clients, dial(t, h.URL(), nil), st, false)
	})
}

// spectateMatch runs the match of TestSpectateThroughLobby: clients[0]
// created the lobby st; closeLobby also closes clients[0]'s lobby client
// when its player goes.
func spectateMatch(t *testing.T, clients []*lobby.Client, watcher *lobby.Client, st lobby.State, closeLobby bool) {
	ctx := tctx(t)
	for _, c := range clients[1:] {
		if _, err := c.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := watcher.Spectate(ctx, "", st.Code, lobby.JoinOptions{})
	wantCode(t, err, lobby.ErrNotStarted, lobby.CodeNotStarted)
	if _, err := clients[0].Start(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 3
	type node struct {
		c    *lobby.Client
		m    *mesh.Mesh
		s    *rollback.Session
		g    *sumGame
		sums map[int]uint64
		rng  *rand.Rand
		me   int
		dead bool
	}
	nodes := make([]*node, n)
	for i, c := range clients {
		ev := waitEvent(t, c, func(ev lobby.Event) bool { _, ok := ev.(lobby.Started); return ok }).(lobby.Started)
		m, err := mesh.New(c.Signaling(), mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		nd := &node{c: c, m: m, g: &sumGame{}, sums: map[int]uint64{}, rng: rand.New(rand.NewSource(int64(i)))}
		nd.me = slices.Index(ev.Session.Peers, c.ID())
		sums := nd.sums
		nd.s, err = rollback.New(m, nd.g, rollback.Config{Roster: &ev.Roster, AcceptSpectators: true, ChecksumInterval: 1,
			DisconnectTimeout: 4 * time.Second, InterruptTimeout: time.Second,
			OnConfirmedState: func(f int, sum uint64, _ []byte) { sums[f] = sum }})
		if err != nil {
			t.Fatal(err)
		}
		nodes[i] = nd
	}
	for _, nd := range nodes {
		if err := nd.m.WaitConnected(ctx, n-1); err != nil {
			t.Fatalf("%s: mesh: %v", nd.c.ID(), err)
		}
	}

	var (
		tvMesh   *mesh.Mesh
		tv       *rollback.Spectator
		tvSums   = map[int]uint64{}
		tvGame   = &sumGame{sums: tvSums}
		changes  []rollback.EventFeederChanged
		switchAt = -1
		joinedAt = -1
	)
	const killAt, frames = 500, 900
	deadline := time.Now().Add(90 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	live := nodes[1]
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
			_ = nd.s.AddLocalInput(nd.me, in)
			if err := nd.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatalf("player %d: %v", i, err)
			}
			for len(nd.s.Events()) > 0 {
				switch e := (<-nd.s.Events()).(type) {
				case rollback.EventDesync:
					t.Fatalf("player %d: %+v", i, e)
				case rollback.EventSpectatorJoined:
					if i == 0 && e.Peer == netcode.PeerID(watcher.ID()) {
						joinedAt = e.Frame
					}
				}
			}
		}
		if tv == nil && live.s.Frame() >= 200 {
			sess, roster, err := watcher.Spectate(ctx, "", st.Code, lobby.JoinOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(sess.Spectators, watcher.ID()) || watcher.Signaling().Room() != sess.ID {
				t.Fatalf("spectator got %+v, in room %q", sess, watcher.Signaling().Room())
			}
			got := waitState(t, clients[2], func(s lobby.State) bool {
				return s.Session != nil && slices.Contains(s.Session.Spectators, watcher.ID())
			})
			if got.Session.ID != sess.ID {
				t.Fatalf("members see session %q, spectator %q", got.Session.ID, sess.ID)
			}
			if tvMesh, err = mesh.New(watcher.Signaling(), mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { tvMesh.Close() })
			if err := tvMesh.WaitConnected(ctx, n); err != nil {
				t.Fatalf("spectator's mesh: %v", err)
			}
			var feeders []netcode.PeerID
			for _, seat := range roster.Players {
				feeders = append(feeders, seat.Peer)
			}
			tv, err = rollback.NewSpectator(tvMesh, tvGame, rollback.SpectatorConfig{Feeders: feeders, Players: n, CatchUpSpeed: 8})
			if err != nil {
				t.Fatal(err)
			}
		}
		if !nodes[0].dead && live.s.Frame() >= killAt {
			if tv == nil || tv.Frame() < 300 {
				t.Fatal("spectator not caught up before the kill")
			}
			nodes[0].dead = true
			_ = nodes[0].s.Close()
			_ = nodes[0].m.Close()
			if closeLobby {
				_ = nodes[0].c.Close()
			}
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
				}
			}
		}
		if done && tv != nil && live.s.Frame()-tv.Frame() <= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stuck: players at %d %d, spectator at %v", nodes[1].s.Frame(), nodes[2].s.Frame(), tv != nil && tv.Frame() > 0)
		}
		<-tick.C
	}
	host := netcode.PeerID(clients[0].ID())
	if joinedAt < 150 {
		t.Fatalf("spectator joined at frame %d, want a mid-match state", joinedAt)
	}
	if len(changes) != 1 || changes[0].From != host || changes[0].To != netcode.PeerID(clients[1].ID()) {
		t.Fatalf("feeder changes %+v, want %s -> %s", changes, host, clients[1].ID())
	}
	checked, after := 0, 0
	for f, got := range tvSums {
		want, ok := nodes[1].sums[f]
		if !ok {
			want, ok = nodes[2].sums[f]
		}
		if !ok {
			continue
		}
		if got != want {
			t.Fatalf("spectator frame %d: %x, players %x", f, got, want)
		}
		checked++
		if f > switchAt {
			after++
		}
	}
	if checked < 500 || after < 300 {
		t.Fatalf("only %d spectator frames checked, %d after the failover", checked, after)
	}
	t.Logf("spectator joined at frame %d, switched at %d, %d frames checked (%d after), ended at %d (players %d)",
		joinedAt, switchAt, checked, after, tv.Frame(), live.s.Frame())
}

// TestSpectatorBookkeeping: asking twice changes nothing, a spectator is no
// member, watching a second lobby is refused, and a spectator whose
// connection ends leaves Session.Spectators.
func TestSpectatorBookkeeping(t *testing.T) {
	s := serve(t, signaling.Config{ResumeGrace: 300 * time.Millisecond}, lobby.Config{StartWithoutReady: true})
	ctx := tctx(t)
	a, b, w := dial(t, s.url, nil), dial(t, s.url, nil), dial(t, s.url, nil)
	st, err := a.Create(ctx, lobby.CreateData{Name: "one"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.Create(ctx, lobby.CreateData{Name: "two"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*lobby.Client{a, b} {
		if _, err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		sess, _, err := w.Spectate(ctx, st.ID, "", lobby.JoinOptions{})
		if err != nil || !slices.Equal(sess.Spectators, []string{w.ID()}) {
			t.Fatalf("spectate #%d: %+v %v", i+1, sess, err)
		}
	}
	_, _, err = w.Spectate(ctx, other.ID, "", lobby.JoinOptions{})
	wantCode(t, err, lobby.ErrAlreadyMember, lobby.CodeAlreadyMember)
	got := waitState(t, a, func(s lobby.State) bool { return s.Session != nil && len(s.Session.Spectators) == 1 })
	if len(got.Members) != 1 {
		t.Fatalf("members %+v: a spectator is no member", got.Members)
	}
	_ = w.Signaling().Close()
	waitState(t, a, func(s lobby.State) bool { return s.Session != nil && len(s.Session.Spectators) == 0 })
}
