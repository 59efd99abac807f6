package rollback_test

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// leanRun plays two sessions for ticks over a simulated path and returns
// alice's payload bytes per datagram in the second half, and both
// sessions' stats. Inputs change every tick, so each frame carried costs
// a byte or more on the wire whatever the run-length coding does.
func leanRun(t *testing.T, cond netsim.Conditions, ticks int) (float64, [2]rollback.Stats) {
	t.Helper()
	net := netsim.New(netsim.Config{Seed: 3, Default: cond})
	var ss [2]*rollback.Session
	for i, id := range []netcode.PeerID{"alice", "bob"} {
		players := []rollback.Player{{}, {Peer: "bob"}}
		if id == "bob" {
			players = []rollback.Player{{Peer: "alice"}, {}}
		}
		s, err := rollback.New(net.Endpoint(id), &runner{}, rollback.Config{Players: players, InputDelay: 2, Clock: net.Now})
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	var b0, d0 uint64
	for tick := 0; tick < ticks; tick++ {
		if tick == ticks/2 {
			st := ss[0].Stats()
			b0, d0 = st.BytesSent, st.DatagramsSent
		}
		for i, s := range ss {
			in := pad{Right: tick%2 == 0, Left: tick%3 == i}
			if err := rollback.AddLocalInputOf(s, padCodec{}, i, in); err != nil {
				t.Fatal(err)
			}
			if err := s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				t.Fatal(err)
			}
		}
		net.Advance(time.Second / 60)
	}
	st := [2]rollback.Stats{ss[0].Stats(), ss[1].Stats()}
	return float64(st[0].BytesSent-b0) / float64(st[0].DatagramsSent-d0), st
}

// TestRedundancyAdaptsToRTT: on a long, clean path a datagram carries the
// last few frames rather than every frame of a round trip; on a lossy one
// it carries every unacknowledged frame again, and both games agree.
func TestRedundancyAdaptsToRTT(t *testing.T) {
	short, _ := leanRun(t, netsim.Conditions{Latency: 10 * time.Millisecond}, 600)
	long, st := leanRun(t, netsim.Conditions{Latency: 100 * time.Millisecond}, 600)
	lossy, lst := leanRun(t, netsim.Conditions{Latency: 100 * time.Millisecond, Loss: 0.2}, 600)
	t.Logf("bytes a datagram: 20 ms RTT %.1f, 200 ms %.1f, 200 ms with 20%% loss %.1f", short, long, lossy)
	// At 200 ms RTT about 14 frames are unacknowledged; every one would
	// cost a byte or more. The lean datagram is near the short path's.
	if long > short+3 {
		t.Errorf("200 ms RTT: %.1f bytes a datagram, want within 3 of the 20 ms path's %.1f", long, short)
	}
	if lossy < long+4 {
		t.Errorf("200 ms RTT with loss: %.1f bytes a datagram, want the full redundancy (well above %.1f)", lossy, long)
	}
	for _, s := range [][2]rollback.Stats{st, lst} {
		if s[0].Desyncs+s[1].Desyncs != 0 || s[0].ConfirmedFrame < 400 {
			t.Errorf("stats %+v", s)
		}
	}
}
