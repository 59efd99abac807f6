package netns_test

import (
	"net"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// udpDelivered sends n datagrams from a to b's addr across the bridge and
// returns how many arrived (read until none came for 300 ms).
func udpDelivered(t *testing.T, from, to *netns.NS, addr string, n int) int {
	t.Helper()
	var rx *net.UDPConn
	if err := to.Do(func() (err error) {
		rx, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(addr)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	var tx *net.UDPConn
	if err := from.Do(func() (err error) {
		tx, err = net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for i := 0; i < n; i++ {
		if _, err := tx.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	buf := make([]byte, 16)
	for {
		rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := rx.Read(buf); err != nil {
			return got
		}
		got++
	}
}

// TestSetLossDropsOnTheBridge: all of the UDP and TCP crossing the bridge
// is dropped at loss 1, about half at 0.5, and none once it is back to 0;
// Blackout cuts one host off, both ways, until it ends.
func TestSetLossDropsOnTheBridge(t *testing.T) {
	netns.RequireLoss(t)
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	sw, ifs := lab.BridgeSwitch(netns.LinkOptions{}, a, b)
	addr := ifs[1].IPv4
	if got := udpDelivered(t, a, b, addr, 200); got != 200 {
		t.Fatalf("no loss: %d of 200 datagrams arrived", got)
	}
	lab.SetLoss(sw, 1)
	if got := udpDelivered(t, a, b, addr, 50); got != 0 {
		t.Fatalf("loss 1: %d of 50 datagrams arrived", got)
	}
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := a.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}); err == nil {
		t.Fatal("loss 1: a TCP connection crossed the bridge")
	}
	lab.SetLoss(sw, 0.5)
	// 400 datagrams at 50%: outside 120 to 280 is a 1-in-10^14 event.
	if got := udpDelivered(t, a, b, addr, 400); got < 120 || got > 280 {
		t.Fatalf("loss 0.5: %d of 400 datagrams arrived", got)
	}
	lab.SetLoss(sw, 0)
	if got := udpDelivered(t, a, b, addr, 200); got != 200 {
		t.Fatalf("loss back to 0: %d of 200 datagrams arrived", got)
	}
	// A blackout of b cuts it off both ways, until it ends.
	lab.Blackout(sw, ifs[1], true)
	if got := udpDelivered(t, a, b, addr, 50); got != 0 {
		t.Fatalf("blackout: %d of 50 datagrams arrived", got)
	}
	if got := udpDelivered(t, b, a, ifs[0].IPv6, 50); got != 0 {
		t.Fatalf("blackout: %d of 50 datagrams from b arrived over IPv6", got)
	}
	lab.Blackout(sw, ifs[1], false)
	if got := udpDelivered(t, a, b, addr, 200); got != 200 {
		t.Fatalf("after the blackout: %d of 200 datagrams arrived", got)
	}
}
