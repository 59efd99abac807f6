package netns_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// TestNATKinds checks the two NATs the way STUN would see them: one
// socket behind the NAT sends to two servers on the public side, which
// report the address they saw. A cone NAT shows both the same port; a
// symmetric one shows each a port of its own. The mapping carries the
// server's reply back, and the public side's route for private addresses
// swallows a send to the host's inside address without an error.
func TestNATKinds(t *testing.T) {
	for _, kind := range []netns.NATKind{netns.NATCone, netns.NATSymmetric} {
		t.Run(kind.String(), func(t *testing.T) {
			lab := netns.New(t)
			if _, err := lab.NS("probe").Run("iptables", "-w", "-L", "-n"); err != nil {
				t.Skipf("iptables unusable: %v", err)
			}
			pub, host, router := lab.NS("pub"), lab.NS("host"), lab.NS("nat")
			out, pubSide := lab.Link(router, pub, netns.LinkOptions{})
			in, hostSide := lab.Link(router, host, netns.LinkOptions{})
			router.Route("default", "via", pubSide.IPv4)
			host.Route("default", "via", in.IPv4)
			router.NAT(out, kind)
			pub.Forward()
			pub.DropUnrouted("10.0.0.0/8")

			// Two "STUN servers" on the public side.
			var servers []*net.UDPConn
			for _, port := range []int{3478, 3479} {
				var c *net.UDPConn
				if err := pub.Do(func() (err error) {
					c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(pubSide.IPv4), Port: port})
					return err
				}); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				servers = append(servers, c)
			}
			var hc *net.UDPConn
			if err := host.Do(func() (err error) {
				hc, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 40000})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer hc.Close()
			seen := make([]*net.UDPAddr, len(servers))
			for i, s := range servers {
				if _, err := hc.WriteToUDP([]byte("hi"), s.LocalAddr().(*net.UDPAddr)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 16)
				_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, from, err := s.ReadFromUDP(buf)
				if err != nil {
					t.Fatalf("server %d: %v", i, err)
				}
				seen[i] = from
				if from.IP.String() != out.IPv4 {
					t.Errorf("server %d saw %v, want the NAT's outside address %s", i, from, out.IPv4)
				}
			}
			same := seen[0].Port == seen[1].Port
			if same != (kind == netns.NATCone) {
				t.Errorf("%s NAT mapped one socket to %v and %v", kind, seen[0], seen[1])
			}
			// The mapping answers the server it was made for; the public
			// side cannot reach the inside address.
			if _, err := servers[0].WriteToUDP([]byte("back"), seen[0]); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16)
			_ = hc.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, _, err := hc.ReadFromUDP(buf); err != nil || string(buf[:n]) != "back" {
				t.Fatalf("reply through the mapping: %q %v", buf[:n], err)
			}
			if _, err := servers[0].WriteToUDP([]byte("direct"), &net.UDPAddr{IP: net.ParseIP(hostSide.IPv4), Port: 40000}); err != nil {
				t.Errorf("send to a private address on the public side: %v, want it swallowed", err)
			}
			_ = hc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, _, err := hc.ReadFromUDP(buf); err == nil {
				t.Errorf("the host received %q sent to its private address", buf[:n])
			}
			t.Logf("%s: %s", kind, strings.TrimSpace(fmt.Sprint(seen)))
		})
	}
}
