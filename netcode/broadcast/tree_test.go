package broadcast_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
)

// fakeClock advances one tick per step.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

const tick = time.Second / 60

func memMatch(t *testing.T, players int, base broadcast.Config) (*match, *memNet, *fakeClock) {
	net := newMemNet()
	clk := &fakeClock{now: time.Unix(1000, 0)}
	base.Clock = clk.Now
	var ids []netcode.PeerID
	for i := range players {
		ids = append(ids, netcode.PeerID(fmt.Sprintf("p%d", i)))
	}
	m := newMatch(t, ids, clk.Now, base, func(id netcode.PeerID) (netcode.Transport, netcode.Transport) {
		return broadcast.Split(net.transport(id))
	}, nil)
	return m, net, clk
}

func (m *match) run(clk *fakeClock, ticks int, until func() bool) {
	for range ticks {
		clk.now = clk.now.Add(tick)
		m.step()
		if until != nil && until() {
			return
		}
	}
}

// TestTreeRelaysKilled: 3 players and 30 spectators in a tree of fan-out
// 4 under players that feed 2 relays each; relays die mid-match without a
// word; their children re-attach within a second and every spectator ends
// with the players' final checksum.
func TestTreeRelaysKilled(t *testing.T) {
	m, net, clk := memMatch(t, 3, broadcast.Config{Delay: 30})
	for i := range 30 {
		id := netcode.PeerID(fmt.Sprintf("s%02d", i))
		m.addViewer(id, net.transport(id), nil)
	}
	m.run(clk, 240, nil)
	m.checkShape(broadcast.DefaultFanout, broadcast.DefaultRootFanout)
	for _, v := range m.viewers {
		if _, ok := v.sp.Parent(); !ok {
			t.Fatalf("%s not attached after 4 s", v.id)
		}
	}
	// Kill three relays, the shallowest first (their subtrees are the
	// largest), and one more later.
	killed := 0
	for _, v := range m.relays() {
		if killed == 3 {
			break
		}
		v.dead = true
		net.kill(v.id)
		killed++
	}
	m.run(clk, 120, nil)
	if r := m.relays(); len(r) > 0 {
		v := r[len(r)-1]
		v.dead = true
		net.kill(v.id)
	}
	m.run(clk, 120, nil)
	m.checkShape(broadcast.DefaultFanout, broadcast.DefaultRootFanout)
	m.finish(m.players[0].s.Frame() + 30)
	m.run(clk, 1200, m.allEnded)
	sum, ok := m.final()
	if !ok {
		t.Fatal("players have no final checksum")
	}
	reattached := 0
	for _, v := range m.viewers {
		if v.dead {
			continue
		}
		if v.ended == nil {
			t.Fatalf("%s did not reach the end (frame %d, behind %d)", v.id, v.sp.Frame(), v.sp.Behind())
		}
		if !v.ended.Match || v.ended.Checksum != sum {
			t.Errorf("%s ended with %x, players %x", v.id, v.ended.Checksum, sum)
		}
		for _, g := range v.gaps {
			reattached++
			if g > time.Second {
				t.Errorf("%s re-attached after %v", v.id, g)
			}
		}
	}
	if reattached == 0 {
		t.Fatal("no spectator re-attached")
	}
	t.Logf("%d re-attaches; players' broadcast bytes: %v", reattached, func() (out []uint64) {
		for _, p := range m.players {
			out = append(out, p.src.Stats().BytesSent)
		}
		return
	}())
}

// TestTreeLateJoinGetsState: a spectator that joins after the players'
// buffers no longer reach frame 0 receives a snapshot and ends in sync; a
// second one joins under it and gets the first one's own state.
func TestTreeLateJoinGetsState(t *testing.T) {
	m, net, clk := memMatch(t, 2, broadcast.Config{Delay: 10, BufferFrames: 256, RootFanout: 1, Fanout: 1})
	m.run(clk, 600, nil)
	a := m.addViewer("a", net.transport("a"), nil)
	m.run(clk, 120, nil)
	if p, ok := a.sp.Parent(); !ok || a.sp.Frame() < 400 {
		t.Fatalf("late spectator at frame %d (parent %q %v)", a.sp.Frame(), p, ok)
	}
	b := m.addViewer("b", net.transport("b"), nil)
	m.run(clk, 120, nil)
	if p, _ := b.sp.Parent(); p != "a" && p != m.ids[1] {
		t.Logf("b's parent: %s", p)
	}
	m.finish(m.players[0].s.Frame() + 20)
	m.run(clk, 600, m.allEnded)
	sum, _ := m.final()
	for _, v := range m.viewers {
		if v.ended == nil || v.ended.Checksum != sum {
			t.Fatalf("%s: ended %+v, players %x", v.id, v.ended, sum)
		}
	}
}

// TestTreeDelay: the stream runs Delay ticks behind the players.
func TestTreeDelay(t *testing.T) {
	m, net, clk := memMatch(t, 2, broadcast.Config{Delay: 120})
	v := m.addViewer("v", net.transport("v"), nil)
	m.run(clk, 400, nil)
	lead := m.players[0].s.ConfirmedFrame() - v.sp.Frame()
	if lead < 115 || lead > 140 {
		t.Fatalf("spectator %d frames behind the confirmed frame, want about 120", lead)
	}
}

// TestTreeSuspect: a parent the game suspects (PeerSuspect: the signaling
// server saw its connection drop) is replaced after two missed
// heartbeats instead of ParentTimeout once it falls silent, and kept while
// it speaks.
func TestTreeSuspect(t *testing.T) {
	for _, suspect := range []bool{false, true} {
		t.Run(fmt.Sprint("suspect=", suspect), func(t *testing.T) {
			m, net, clk := memMatch(t, 2, broadcast.Config{Delay: 30, RootFanout: 1, Fanout: 2})
			for i := range 6 {
				id := netcode.PeerID(fmt.Sprintf("s%d", i))
				m.addViewer(id, net.transport(id), nil)
			}
			m.run(clk, 240, nil)
			relays := m.relays()
			if len(relays) == 0 {
				t.Fatal("no relay")
			}
			r := relays[0]
			kids := r.sp.Children()
			if suspect {
				// A live parent under suspicion keeps its children.
				for _, v := range m.viewers {
					if slices.Contains(kids, v.id) {
						v.sp.PeerSuspect(r.id)
					}
				}
				m.run(clk, 60, nil)
				if c := r.sp.Children(); len(c) != len(kids) {
					t.Fatalf("a suspected parent that speaks lost children: %v, was %v", c, kids)
				}
			}
			r.dead = true
			net.kill(r.id)
			for _, v := range m.viewers {
				if suspect && slices.Contains(kids, v.id) {
					v.sp.PeerSuspect(r.id)
				}
			}
			m.run(clk, 120, nil)
			n := 0
			for _, v := range m.viewers {
				if !slices.Contains(kids, v.id) {
					continue
				}
				if len(v.gaps) != 1 {
					t.Fatalf("%s: re-attaches %v", v.id, v.gaps)
				}
				n++
				g := v.gaps[0]
				if suspect && g >= broadcast.DefaultParentTimeout {
					t.Errorf("%s re-attached after %v with its parent suspected", v.id, g)
				}
				if !suspect && g < broadcast.DefaultParentTimeout {
					t.Errorf("%s re-attached after %v, less than ParentTimeout with no suspicion", v.id, g)
				}
				t.Logf("%s: gap %v", v.id, g)
			}
			if n == 0 {
				t.Fatal("the relay had no children")
			}
		})
	}
}
