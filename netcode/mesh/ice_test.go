package mesh

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/transport/v4/vnet"
	"github.com/pion/turn/v5"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/signaling"
)

// startTURN runs a pion TURN server on nw (a virtual network's host) and
// returns its URL and a counter of the permissions it granted.
func startTURN(t *testing.T, nw *vnet.Net, ip, user, pass string) (string, *atomic.Int64) {
	t.Helper()
	const realm = "rallypoint.test"
	key := turn.GenerateAuthKey(user, realm, pass)
	return startTURNAuth(t, nw, ip, realm, func(ra *turn.RequestAttributes) (string, []byte, bool) {
		if ra.Username != user {
			return "", nil, false
		}
		return user, key, true
	})
}

func startTURNAuth(t *testing.T, nw *vnet.Net, ip, realm string, auth turn.AuthHandler) (string, *atomic.Int64) {
	t.Helper()
	pc, err := nw.ListenPacket("udp4", net.JoinHostPort(ip, "3478"))
	if err != nil {
		t.Fatal(err)
	}
	var perms atomic.Int64
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm:       realm,
		AuthHandler: auth,
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: pc,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP(ip),
				Address:      ip,
				Net:          nw,
			},
			PermissionHandler: func(net.Addr, net.IP) bool {
				perms.Add(1)
				return true
			},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("turn:%s?transport=udp", pc.LocalAddr()), &perms
}

func udpIP(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.IP.String()
	}
	return ""
}

func TestTURNFallbackPerPair(t *testing.T) {
	checkLeaks(t)
	// Peers p00..p02 and a TURN server on a virtual network. The network
	// drops every packet between p00 and p01; p02 reaches both, and all
	// three reach the TURN server.
	lab := newVNetLab(t, 4)
	turnIP := "10.9.0.13"
	url, perms := startTURN(t, lab.nets[3], turnIP, "alice", "s3cret")
	lab.setFilter(func(c vnet.Chunk) bool {
		src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr())
		return !(src == "10.9.0.10" && dst == "10.9.0.11" || src == "10.9.0.11" && dst == "10.9.0.10")
	})
	hub := &memsignal.Hub{}
	ms := startMeshes(t, hub, 3, func(i int) Config {
		c := lab.config(i)
		c.ICEServers = []netcode.ICEServer{
			{URLs: []string{"stun:10.9.0.99:3478"}}, // unreachable STUN: trickle ICE never waits for it
			{URLs: []string{url}, Username: "alice", Credential: "s3cret"},
		}
		c.TURNFallbackAfter = time.Second
		return c
	})
	start := time.Now()
	waitAll(t, ms, 2)
	t.Logf("mesh of 3 with one relayed pair up after %v", time.Since(start))
	a, b, c := ms[0], ms[1], ms[2]

	// A check that arrives through the relay before the relay candidate's
	// signal shows as peer-reflexive until the signal lands: allow for it.
	var ab PeerStats
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if ab, err = a.Stats(b.LocalID()); err != nil {
			t.Fatal(err)
		}
		if ab.Relayed {
			break
		}
	}
	if !ab.Relayed {
		t.Errorf("blocked pair p00-p01 not relayed: %s/%s", ab.LocalCandidate, ab.RemoteCandidate)
	}
	for _, pair := range [][2]*testMesh{{a, c}, {b, c}} {
		st, err := pair[0].Stats(pair[1].LocalID())
		if err != nil {
			t.Fatal(err)
		}
		if st.Relayed || st.LocalCandidate != "host" {
			t.Errorf("open pair %s-%s: %s/%s, want direct host", pair[0].LocalID(), pair[1].LocalID(), st.LocalCandidate, st.RemoteCandidate)
		}
	}
	if perms.Load() == 0 {
		t.Error("TURN server granted no permission")
	}
	// Data crosses the relay both ways.
	if err := a.Send(b.LocalID(), netcode.Reliable, []byte("via relay")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(a.LocalID(), netcode.Unreliable, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, b.Mesh, 1, 5*time.Second); len(got) != 1 || string(got[0].data) != "via relay" {
		t.Fatalf("b received %v", got)
	}
	if got := collect(t, a.Mesh, 1, 5*time.Second); len(got) != 1 || string(got[0].data) != "back" {
		t.Fatalf("a received %v", got)
	}
}

func TestICEFailedWithoutRelay(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	ms := startMeshes(t, hub, 2, func(i int) Config {
		c := testConfig()
		c.ConnectTimeout = 1500 * time.Millisecond
		c.dropCandidate = func(netcode.PeerID, string) bool { return true }
		return c
	})
	for _, m := range ms {
		other := ms[1].LocalID()
		if m == ms[1] {
			other = ms[0].LocalID()
		}
		ev := waitEvent[EventDisconnected](t, m.Mesh, other, 10*time.Second)
		if ev.Reason != ReasonICEFailed {
			t.Fatalf("%s: %v", m.LocalID(), ev)
		}
	}
}

func TestICEServersSelection(t *testing.T) {
	list := []netcode.ICEServer{
		{URLs: []string{"stun:stun.example:3478"}},
		{URLs: []string{"turn:relay.example:3478"}, Username: "u", Credential: "c"},
		{URLs: []string{"turns:relay2.example:5349"}, Username: "v", Credential: "d"},
	}
	cases := []struct {
		relay, hostOnly bool
		want            []string
	}{
		{false, false, []string{"stun:stun.example:3478"}},
		{false, true, nil},
		{true, false, []string{"stun:stun.example:3478", "turn:relay.example:3478", "turns:relay2.example:5349"}},
		{true, true, []string{"turn:relay.example:3478", "turns:relay2.example:5349"}},
	}
	for _, tc := range cases {
		got := iceServers(list, tc.relay, tc.hostOnly)
		var urls []string
		for _, s := range got {
			urls = append(urls, s.URLs...)
			if strings.HasPrefix(s.URLs[0], "turn") && s.Username == "" {
				t.Errorf("%v: credentials lost", s.URLs)
			}
		}
		if fmt.Sprint(urls) != fmt.Sprint(tc.want) {
			t.Errorf("relay=%v hostOnly=%v: %v, want %v", tc.relay, tc.hostOnly, urls, tc.want)
		}
	}
	if !hasRelay(list) || hasRelay(list[:1]) {
		t.Error("hasRelay")
	}
}

// turnRESTAuth checks TURN REST credentials as coturn's use-auth-secret
// does: the username is "expiry:user" and the password the base64 HMAC-SHA1
// of the username under the shared secret.
func turnRESTAuth(secret string) turn.AuthHandler {
	return func(ra *turn.RequestAttributes) (string, []byte, bool) {
		exp, _, ok := strings.Cut(ra.Username, ":")
		t, err := strconv.ParseInt(exp, 10, 64)
		if !ok || err != nil || time.Now().Unix() > t {
			return "", nil, false
		}
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write([]byte(ra.Username))
		pass := base64.StdEncoding.EncodeToString(mac.Sum(nil))
		return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, pass), true
	}
}

// TestRelayWithServerCredentials takes the ICE servers from a real
// signaling server, which hands out short-lived TURN REST credentials,
// and relays through a TURN server that checks them.
func TestRelayWithServerCredentials(t *testing.T) {
	checkLeaks(t)
	lab := newVNetLab(t, 3)
	const secret = "shared-turn-secret"
	url, perms := startTURNAuth(t, lab.nets[2], "10.9.0.12", "rallypoint.test", turnRESTAuth(secret))
	lab.setFilter(func(c vnet.Chunk) bool {
		src, dst := udpIP(c.SourceAddr()), udpIP(c.DestinationAddr())
		return !(src == "10.9.0.10" && dst == "10.9.0.11" || src == "10.9.0.11" && dst == "10.9.0.10")
	})
	sigURL, _ := startSignaling(t, signaling.Config{TURNSecret: secret, TURNURLs: []string{url}})
	var ms []*Mesh
	for i := 0; i < 2; i++ {
		c := dialJoin(t, sigURL, "relayed")
		var servers []netcode.ICEServer
		for _, s := range c.ICEServers() {
			servers = append(servers, netcode.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
		}
		if !hasRelay(servers) {
			t.Fatalf("signaling server sent no TURN server: %+v", c.ICEServers())
		}
		cfg := lab.config(i)
		cfg.ICEServers = servers
		cfg.TURNFallbackAfter = 500 * time.Millisecond
		m, err := New(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		ms = append(ms, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, m := range ms {
		if err := m.WaitConnected(ctx, 1); err != nil {
			t.Fatalf("%s: %v", m.LocalID(), err)
		}
	}
	var st PeerStats
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !st.Relayed; time.Sleep(10 * time.Millisecond) {
		st, _ = ms[0].Stats(ms[1].LocalID())
	}
	if !st.Relayed || perms.Load() == 0 {
		t.Fatalf("pair %s/%s, %d permissions", st.LocalCandidate, st.RemoteCandidate, perms.Load())
	}
}
