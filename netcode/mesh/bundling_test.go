package mesh

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// TestAckBundlingOverLoopback runs two meshes on real UDP sockets over
// loopback, each sending a datagram to the other 60 times a second and a
// reliable 256 KiB message in the middle: SCTP's acknowledgements travel
// inside the datagrams' UDP packets, and nothing is lost or corrupted on
// the way.
func TestAckBundlingOverLoopback(t *testing.T) {
	checkLeaks(t)
	a, b := connectedPair(t, nil)
	const n = 120
	big := bytes.Repeat([]byte("rallypoint"), 256<<10/10)
	tick := time.NewTicker(time.Second / 60)
	defer tick.Stop()
	got := [2]map[uint32]bool{{}, {}}
	var bigOK [2]bool
	drain := func(i int, m *testMesh) {
		m.Poll(func(_ netcode.PeerID, ch netcode.Channel, data []byte) {
			switch ch {
			case netcode.Unreliable:
				got[i][binary.BigEndian.Uint32(data)] = true
			case netcode.Reliable:
				bigOK[i] = bytes.Equal(data, big)
			}
		})
	}
	for k := 0; k < n; k++ {
		msg := binary.BigEndian.AppendUint32(nil, uint32(k))
		for _, pair := range [][2]*testMesh{{a, b}, {b, a}} {
			if err := pair[0].Send(pair[1].LocalID(), netcode.Unreliable, msg); err != nil {
				t.Fatal(err)
			}
		}
		if k == n/2 {
			for _, pair := range [][2]*testMesh{{a, b}, {b, a}} {
				if err := pair[0].Send(pair[1].LocalID(), netcode.Reliable, big); err != nil {
					t.Fatal(err)
				}
			}
		}
		drain(0, a)
		drain(1, b)
		<-tick.C
	}
	deadline := time.Now().Add(5 * time.Second)
	for (len(got[0]) < n || len(got[1]) < n || !bigOK[0] || !bigOK[1]) && time.Now().Before(deadline) {
		drain(0, a)
		drain(1, b)
		time.Sleep(5 * time.Millisecond)
	}
	for i, m := range []*testMesh{a, b} {
		bs := m.Bundling()
		t.Logf("%s: %d of %d datagrams, reliable message whole: %v; acks %+v", m.LocalID(), len(got[i]), n, bigOK[i], bs)
		if len(got[i]) != n || !bigOK[i] {
			t.Errorf("%s: %d of %d datagrams arrived, reliable message whole: %v", m.LocalID(), len(got[i]), n, bigOK[i])
		}
		if bs.Bundled < n/4 {
			t.Errorf("%s: acks %+v: fewer than %d rode in a datagram", m.LocalID(), bs, n/4)
		}
		// A record may still be held (for at most AckHold) as the counts
		// are read, one per socket.
		if sent := bs.Bundled + bs.Alone; bs.Held < sent || bs.Held > sent+2 {
			t.Errorf("%s: acks %+v: held ones unaccounted for", m.LocalID(), bs)
		}
	}
}
