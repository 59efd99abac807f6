package mesh

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

const (
	lanRoleEnv = "RALLYPOINT_MESH_LAN_ROLE"
	lanArgEnv  = "RALLYPOINT_MESH_LAN_ARG"
)

// TestHelperLANPeer is not a test: TestMeshAcrossNamespaces runs the test
// binary with it inside a network namespace. The "host" role serves the
// signaling protocol itself (as a LAN host does) and joins its own room;
// the "guest" role dials the host. Both print "connected" with what they
// measured; the guest then measures round trips.
func TestHelperLANPeer(t *testing.T) {
	role := os.Getenv(lanRoleEnv)
	if role == "" {
		t.Skip("helper process for TestMeshAcrossNamespaces")
	}
	ctx := context.Background()
	url := os.Getenv(lanArgEnv)
	if role == "host" {
		ln, err := net.Listen("tcp4", net.JoinHostPort(url, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := signaling.NewServer(signaling.Config{})
		go func() { _ = http.Serve(ln, srv) }()
		url = "ws://" + ln.Addr().String()
		fmt.Println("url", url)
	}
	c, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Join(ctx, "lan"); err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	m, err := New(c, Config{}) // the zero value: the LAN fast path
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WaitConnected(ctx, 1); err != nil {
		t.Fatal(err)
	}
	took := time.Since(joined)
	peer := m.Connected()[0]
	// A check that arrives before the peer's candidate signal shows the
	// peer as peer-reflexive until the signal lands: allow for it.
	st, _ := m.Stats(peer)
	for deadline := time.Now().Add(2 * time.Second); st.RemoteCandidate == "prflx" && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
		st, _ = m.Stats(peer)
	}
	fmt.Println("connected", took.Microseconds(), st.LocalCandidate, st.RemoteCandidate)
	if role == "host" {
		for {
			<-m.Ready()
			m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) { _ = m.Send(from, ch, data) })
		}
	}
	var rtts []float64
	msg := make([]byte, 32)
	for i := 0; i < 300; i++ {
		start := time.Now()
		if err := m.Send(peer, netcode.Unreliable, msg); err != nil {
			t.Fatal(err)
		}
		got := false
		for !got {
			select {
			case <-m.Ready():
			case <-time.After(time.Second):
				got = true // lost: skip
				continue
			}
			m.Poll(func(netcode.PeerID, netcode.Channel, []byte) { got = true })
		}
		rtts = append(rtts, float64(time.Since(start).Microseconds()))
	}
	slices.Sort(rtts)
	fmt.Println("rtt", rtts[len(rtts)/2])
	select {}
}

func TestMeshAcrossNamespaces(t *testing.T) {
	lab := netns.New(t) // skips without root and ip
	a, b := lab.NS("a"), lab.NS("b")
	ia, _ := lab.Link(a, b, netns.LinkOptions{})
	run := []string{"-test.run=^TestHelperLANPeer$", "-test.v"}
	host := a.StartProcess([]string{lanRoleEnv + "=host", lanArgEnv + "=" + ia.IPv4}, os.Args[0], run...)
	l, err := host.WaitFor(20*time.Second, func(s string) bool { return strings.HasPrefix(s, "url ") })
	if err != nil {
		t.Fatalf("host: %v\n%s", err, host.Stderr())
	}
	url := strings.TrimPrefix(l.Text, "url ")
	guest := b.StartProcess([]string{lanRoleEnv + "=guest", lanArgEnv + "=" + url}, os.Args[0], run...)
	for i, c := range []*netns.Child{host, guest} {
		name := []string{"host", "guest"}[i]
		l, err := c.WaitFor(30*time.Second, func(s string) bool { return strings.HasPrefix(s, "connected ") })
		if err != nil {
			t.Fatalf("%v\n%s", err, c.Stderr())
		}
		f := strings.Fields(l.Text)
		us, _ := strconv.Atoi(f[1])
		t.Logf("%s: connected %v after joining, pair %s/%s", name, time.Duration(us)*time.Microsecond, f[2], f[3])
		// A direct pair: our host candidate, and the peer's host one or,
		// rarely, one ICE learned from the peer's checks whose address
		// no signaled candidate matched (peer-reflexive); never a server
		// reflexive or relayed one.
		if f[2] != "host" || (f[3] != "host" && f[3] != "prflx") {
			t.Errorf("LAN pair %s/%s, want host/host", f[2], f[3])
		}
		// No STUN wait, no mDNS: a few milliseconds idle. The bound is
		// for a loaded machine running the race detector (3 s was seen);
		// the fast path itself is the host/host pair above and the
		// benchmark's figures.
		if time.Duration(us)*time.Microsecond > 10*time.Second {
			t.Errorf("LAN connect took %v", time.Duration(us)*time.Microsecond)
		}
	}
	l, err = guest.WaitFor(30*time.Second, func(s string) bool { return strings.HasPrefix(s, "rtt ") })
	if err != nil {
		t.Fatalf("%v\n%s", err, guest.Stderr())
	}
	t.Logf("round trip across the veth pair: p50 %s µs", strings.TrimPrefix(l.Text, "rtt "))
}
