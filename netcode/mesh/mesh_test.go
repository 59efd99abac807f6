package mesh

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"go.uber.org/goleak"
)

// checkLeaks fails the test when goroutines it started outlive it. Call it
// first, so its deferred check runs after the test's cleanups. Goroutines
// that were running before the test are not its own: a leak in one test
// fails that test only, not every test after it.
func checkLeaks(t *testing.T) {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
}

// testConfig returns a configuration for peers on one host: loopback
// candidates and generous timeouts for a loaded machine.
func testConfig() Config {
	return Config{Loopback: true, ConnectTimeout: 20 * time.Second}
}

type testMesh struct {
	*Mesh
	sig *memsignal.Signaler
}

// startMeshes joins n members to hub and starts a mesh for each.
func startMeshes(t *testing.T, hub *memsignal.Hub, n int, cfg func(i int) Config) []*testMesh {
	t.Helper()
	out := make([]*testMesh, n)
	for i := range out {
		s, err := hub.Join(fmt.Sprintf("p%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		c := testConfig()
		if cfg != nil {
			c = cfg(i)
		}
		m, err := New(s, c)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = &testMesh{Mesh: m, sig: s}
	}
	t.Cleanup(func() {
		for _, m := range out {
			if m != nil {
				m.Close()
				m.sig.Leave()
			}
		}
	})
	return out
}

func waitAll(t *testing.T, ms []*testMesh, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, n); err != nil {
			dumpMeshes(t, ms)
			t.Fatalf("%s: %d of %d peers connected: %v", m.LocalID(), len(m.Connected()), n, err)
		}
	}
}

// collect polls m until want messages arrived or the deadline passes.
func collect(t *testing.T, m *Mesh, want int, d time.Duration) []received {
	t.Helper()
	var out []received
	deadline := time.Now().Add(d)
	for len(out) < want && time.Now().Before(deadline) {
		m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			out = append(out, received{from, ch, bytes.Clone(data)})
		})
		time.Sleep(time.Millisecond)
	}
	return out
}

type received struct {
	from netcode.PeerID
	ch   netcode.Channel
	data []byte
}

func TestMeshSizes(t *testing.T) {
	for _, n := range []int{2, 4, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			checkLeaks(t)
			hub := &memsignal.Hub{}
			ms := startMeshes(t, hub, n, nil)
			waitAll(t, ms, n-1)
			// Every member sends one message of each kind to every other.
			// Reliable ones go once (see below); unreliable ones are repeated until
			// they arrive (a loaded host may drop datagrams on loopback).
			seen := make([]map[string]bool, n)
			for i := range seen {
				seen[i] = map[string]bool{}
			}
			index := map[netcode.PeerID]int{}
			for i, m := range ms {
				index[m.LocalID()] = i
			}
			// Reliable messages go once per connection: one is sent again
			// only when the send failed or either side reported the pair
			// disconnected since (a loaded host can time a pair out, and a
			// new connection does not carry the old one's messages). A
			// reliable message lost on a pair that stayed connected fails
			// the test.
			type pair struct{ from, to int }
			resend := map[pair]bool{}
			for i := range ms {
				for j := range ms {
					if i != j {
						resend[pair{i, j}] = true
					}
				}
			}
			sendReliable := func() {
				for i, m := range ms {
				drain:
					for {
						select {
						case ev := <-m.Events():
							if d, ok := ev.(EventDisconnected); ok {
								t.Logf("%s: %v", m.LocalID(), d)
								j := index[d.Peer]
								resend[pair{i, j}], resend[pair{j, i}] = true, true
							}
						default:
							break drain
						}
					}
				}
				for p, due := range resend {
					if !due {
						continue
					}
					m, id := ms[p.from], ms[p.to].LocalID()
					msg := fmt.Sprintf("%s>%s/%s", m.LocalID(), id, netcode.Reliable)
					if seen[p.to][msg] {
						resend[p] = false
						continue
					}
					resend[p] = m.Send(id, netcode.Reliable, []byte(msg)) != nil
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for done := false; !done && time.Now().Before(deadline); {
				sendReliable()
				for _, m := range ms {
					for _, id := range m.Connected() {
						for _, ch := range []netcode.Channel{netcode.Unreliable, netcode.Sequenced} {
							msg := fmt.Sprintf("%s>%s/%s", m.LocalID(), id, ch)
							if !seen[index[id]][msg] {
								_ = m.Send(id, ch, []byte(msg))
							}
						}
					}
				}
				time.Sleep(20 * time.Millisecond)
				done = true
				for i, m := range ms {
					m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
						want := fmt.Sprintf("%s>%s/%s", from, m.LocalID(), ch)
						if string(data) != want {
							t.Errorf("%s got %q from %s on %s", m.LocalID(), data, from, ch)
						}
						seen[i][want] = true
					})
					if len(seen[i]) < 3*(n-1) {
						done = false
					}
				}
			}
			for i, m := range ms {
				if len(seen[i]) != 3*(n-1) {
					t.Errorf("%s received %d distinct messages, want %d", m.LocalID(), len(seen[i]), 3*(n-1))
				}
			}
		})
	}
}

// dumpMeshes logs every mesh's view of its peers, for failures.
func dumpMeshes(t *testing.T, ms []*testMesh) {
	for _, m := range ms {
		done := make(chan struct{})
		if !m.post(func() {
			defer close(done)
			m.mu.Lock()
			defer m.mu.Unlock()
			for id, p := range m.peers {
				line := fmt.Sprintf("%s -> %s: %s offerer=%v", m.LocalID(), id, p.loadState(), p.offerer)
				if c := p.c; c != nil {
					line += fmt.Sprintf(" gen=%d relay=%v opened=%d ice=%s pc=%s signaling=%s age=%v",
						c.gen, c.relay, c.opened, c.pc.ICEConnectionState(), c.pc.ConnectionState(),
						c.pc.SignalingState(), time.Since(c.started).Round(time.Millisecond))
				}
				t.Log(line)
			}
		}) {
			continue
		}
		<-done
	}
}

// connectedPair starts two meshes in a fresh room (cfg may be nil) and
// waits until they are connected. a offers: its id is smaller.
func connectedPair(t *testing.T, cfg func(i int) Config) (a, b *testMesh) {
	t.Helper()
	ms := startMeshes(t, &memsignal.Hub{}, 2, cfg)
	waitAll(t, ms, 1)
	return ms[0], ms[1]
}
