package broadcast_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
	"go.uber.org/goleak"
)

// pionPeer is one process's view of the room: a signaling client and an
// on-demand mesh.
type pionPeer struct {
	c *signaling.Client
	m *mesh.Mesh
}

func joinPion(ctx context.Context, t *testing.T, url string) *pionPeer {
	t.Helper()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "broadcast"); err != nil {
		t.Fatal(err)
	}
	m, err := mesh.New(c, mesh.Config{Loopback: true, OnDemand: true, ConnectTimeout: 30 * time.Second,
		// The players' liveness is not under test: a loaded machine
		// (-race, other jobs) must not drop a player.
		// The mesh restarts ICE after three interrupt periods of a
		// peer's silence, which a peer starved of CPU can cause: the
		// tree's own silence detection is under test here, not the
		// mesh's.
		InterruptAfter: 3 * time.Second, DisconnectAfter: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := &pionPeer{c: c, m: m}
	t.Cleanup(p.close)
	return p
}

// maxGap bounds a re-attach over pion in this test (see the test).
const maxGap = 15 * time.Second

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// load1 returns the load average over the last minute (0 when unknown).
func load1() float64 {
	var v float64
	_, _ = fmt.Sscan(loadAvg(), &v)
	return v
}

func (p *pionPeer) close() {
	p.m.Close()
	p.c.Close()
}

// TestBroadcastOverPion: 3 players and 30 spectators, each on its own
// WebRTC mesh (pion, loopback) that connects only to the peers it talks
// to; the spectators form a tree; three relays die mid-match (their
// meshes close and they stop, with no broadcast goodbye); every orphan
// re-attaches (the time is measured and logged), and every spectator
// ends with the players' final checksum.
func TestBroadcastOverPion(t *testing.T) {
	if os.Getenv("RALLYPOINT_BROADCAST_PION") == "" {
		// On a loaded 2-core machine, under -race, 33 peers' WebRTC
		// handshakes in one process do not all complete within the
		// test's deadlines yet; run it by hand. In CI,
		// TestBroadcastOverPionSmall runs in one process and
		// TestBroadcastOverPionProcesses runs 30 spectators in five.
		t.Skip("set RALLYPOINT_BROADCAST_PION=1 to run the 30-spectator pion test")
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	pionTree(t, pionCase{players: 3, spectators: 30, kills: 3, fanout: broadcast.DefaultFanout,
		rootFanout: broadcast.DefaultRootFanout, parentTimeout: 500 * time.Millisecond})
}

// TestBroadcastOverPionSmall is the same with 2 players, 8 spectators in
// a tree of fan-out 2 under one relay per player, and one relay killed.
func TestBroadcastOverPionSmall(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	pionTree(t, pionCase{players: 2, spectators: 8, kills: 1, fanout: 2, rootFanout: 1, parentTimeout: time.Second})
}

type pionCase struct {
	players, spectators, kills int
	fanout, rootFanout         int
	parentTimeout              time.Duration
}

func pionTree(t *testing.T, pc pionCase) {
	players, spectators := pc.players, pc.spectators
	// One process plays 33 peers: the per-connection signal rate (50/s by
	// default) is not under test.
	srv := signaling.NewServer(signaling.Config{MaxRoomSize: 64, RatePerSec: 1000, RateBurst: 2000})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	peers := map[netcode.PeerID]*pionPeer{}
	var ids []netcode.PeerID
	for range players {
		p := joinPion(ctx, t, url)
		id := p.m.LocalID()
		peers[id] = p
		ids = append(ids, id)
	}
	for _, a := range ids {
		for _, b := range ids {
			if a < b {
				_ = peers[a].m.Dial(b)
			}
		}
	}
	for _, id := range ids {
		if err := peers[id].m.WaitConnected(ctx, players-1); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// The spectators' meshes join the room first (on a loaded machine a
	// join takes up to a second, which would stall the match's loop).
	var specs []*pionPeer
	for range spectators {
		p := joinPion(ctx, t, url)
		peers[p.m.LocalID()] = p
		specs = append(specs, p)
	}
	// 30 ticks a second and a flush every 100 ms halve the messages of
	// 33 peers in one process; a parent is given 500 ms of silence.
	const tick = time.Second / 30
	base := broadcast.Config{Delay: 15, FlushInterval: 100 * time.Millisecond, ParentTimeout: pc.parentTimeout,
		Fanout: pc.fanout, RootFanout: pc.rootFanout}
	m := newMatch(t, ids, time.Now, base, func(id netcode.PeerID) (netcode.Transport, netcode.Transport) {
		return broadcast.Split(peers[id].m)
	}, func(id netcode.PeerID, c *broadcast.Config) {
		c.Hangup = func(to netcode.PeerID) { _ = peers[id].m.Hangup(to) }
	})
	// Every spectator ticks at 60 Hz on a goroutine of its own, as its own
	// process would; the players tick together below.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	runViewer := func(v *viewer) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(tick)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					v.tick(t)
				}
			}
		}()
	}
	// runFor ticks the players at 60 Hz until cond holds or d passes.
	next := time.Now()
	runFor := func(d time.Duration, cond func() bool) bool {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			m.stepPlayers()
			if cond != nil && cond() {
				return true
			}
			next = next.Add(tick)
			if w := time.Until(next); w > 0 {
				time.Sleep(w) // the tick rate, not a wait for an event
			} else {
				next = time.Now()
			}
		}
		return cond == nil
	}
	runFor(500*time.Millisecond, nil)
	// Spectators arrive while the match runs, one after the other; each is
	// told of one spectator already there (as a lobby would name one),
	// which redirects it to a free slot.
	for i := range spectators {
		p := specs[i]
		id := p.m.LocalID()
		m.addViewer(id, p.m, func(c *broadcast.Config) {
			c.Dial = func(to netcode.PeerID) { _ = p.m.Dial(to) }
			c.Hangup = func(to netcode.PeerID) { _ = p.m.Hangup(to) }
			if i > 0 {
				c.Entry = []netcode.PeerID{m.viewers[(i*7)%i].id}
			}
		})
		v := m.viewers[len(m.viewers)-1]
		runViewer(v)
		// One at a time, as a lobby admits them: many WebRTC handshakes
		// at once starve each other on a small machine.
		if !runFor(40*time.Second, func() bool {
			v.mu.Lock()
			defer v.mu.Unlock()
			_, ok := v.sp.Parent()
			return ok
		}) {
			for _, r := range ids {
				st := peers[r].m.Peers()[v.id]
				t.Logf("root %s sees %s as %v (%d peers)", r, v.id, st, len(peers[r].m.Peers()))
			}
			t.Logf("%s sees %v", v.id, peers[v.id].m.Peers())
			t.Fatalf("spectator %d not attached after 40 s: %s", i, v.sp.DebugState())
		}
	}
	attached := func() bool {
		for _, v := range m.viewers {
			v.mu.Lock()
			_, ok := v.sp.Parent()
			ok = ok || v.dead
			v.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}
	start := time.Now()
	if !runFor(30*time.Second, attached) {
		for _, v := range m.viewers {
			v.mu.Lock()
			t.Logf("%s: %s %v", v.id, v.sp.DebugState(), v.trace)
			v.mu.Unlock()
		}
		t.Logf("root %s peers %v; spectator %s peers %v, dropped signals: %d", ids[0], peers[ids[0]].m.Peers(),
			m.viewers[5].id, peers[m.viewers[5].id].m.Peers(), peers[ids[0]].m.BadSignals())
		t.Fatalf("%d spectators not all attached after 30 s", spectators)
	}
	t.Logf("%d spectators attached in %v", spectators, time.Since(start).Round(time.Millisecond))
	runFor(time.Second, nil)
	m.checkShape(pc.fanout, pc.rootFanout)
	var killed []netcode.PeerID
	for _, v := range m.relays() {
		if len(killed) == pc.kills {
			break
		}
		v.mu.Lock()
		v.dead = true // it stops ticking: no goodbye of the broadcast
		v.mu.Unlock()
		killed = append(killed, v.id)
		peers[v.id].close()
	}
	t.Logf("%s killed relays %v", time.Now().Format("05.000"), killed)
	orphansBack := func() bool {
		for _, v := range m.viewers {
			v.mu.Lock()
			p, ok := v.sp.Parent()
			ok = v.dead || ok && !slices.Contains(killed, p)
			v.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	}
	if !runFor(20*time.Second, orphansBack) {
		t.Fatal("orphans did not re-attach within 20 s")
	}
	runFor(500*time.Millisecond, nil)
	m.checkShape(pc.fanout, pc.rootFanout)
	m.finish(m.players[0].s.Frame() + 30)
	if !runFor(30*time.Second, m.allEnded) {
		t.Fatal("spectators did not all reach the end within 30 s")
	}
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	sum, ok := m.final()
	if !ok {
		t.Fatal("no final checksum")
	}
	var gaps []time.Duration
	for _, v := range m.viewers {
		if v.dead {
			continue
		}
		if v.ended.Checksum != sum || !v.ended.Match {
			t.Errorf("%s ended with %x at frame %d, players %x", v.id, v.ended.Checksum, v.ended.Frame, sum)
		}
		gaps = append(gaps, v.gaps...)
		if slices.ContainsFunc(v.gaps, func(g time.Duration) bool { return g > maxGap }) {
			t.Logf("%s: %v", v.id, v.trace)
		}
	}
	slices.Sort(gaps)
	if len(gaps) == 0 {
		t.Fatal("no spectator re-attached")
	}
	t.Logf("re-attach gaps (from the parent's last message): p50 %v, max %v, all %v (load %s)",
		gaps[len(gaps)/2], gaps[len(gaps)-1], gaps, loadAvg())
	// The protocol's own timing (a re-attach within 1 s) is pinned with an
	// injectable clock by TestTreeRelaysKilled; here 33 pion peers share
	// one process on a possibly loaded machine, where a starved goroutine
	// also looks silent, so the bound only catches a spectator stuck.
	for _, g := range gaps {
		if g > maxGap {
			t.Errorf("a re-attach took %v, more than %v", g, maxGap)
		}
	}
	var up []string
	for _, p := range m.players {
		st := p.src.Stats()
		up = append(up, fmt.Sprintf("%s %d B in %d msgs", p.id, st.BytesSent, st.MessagesSent))
	}
	t.Logf("players' broadcast upload: %v", up)
	for _, p := range m.players {
		p.src.Close()
	}
}
