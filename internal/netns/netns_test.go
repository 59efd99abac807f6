package netns_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"

	"github.com/rallypoint/rallypoint/internal/netns"
)

func TestMain(m *testing.M) {
	if role, args, ok := netns.ChildRole(); ok {
		os.Exit(runChild(role, args))
	}
	goleak.VerifyTestMain(m)
}

// runChild is the body of the child processes the tests start.
func runChild(role string, args []string) int {
	switch role {
	case "echo":
		// Reports its interfaces, then echoes stdin in upper case.
		ifs, err := net.Interfaces()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		var names []string
		for _, ifc := range ifs {
			names = append(names, ifc.Name)
		}
		fmt.Printf("ifaces %s args %s\n", strings.Join(names, ","), strings.Join(args, ","))
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println(strings.ToUpper(sc.Text()))
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown role %q\n", role)
	return 2
}

func TestLinkReachesPeerAndNothingElse(t *testing.T) {
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, eb := lab.Link(a, b, netns.LinkOptions{})
	if ea.IPv4 != "10.99.1.1" || eb.IPv4 != "10.99.1.2" || eb.IPv6 != "fd99:1::2" {
		t.Fatalf("addresses: %+v %+v", ea, eb)
	}
	reach(t, a, b, eb.IPv4)
	reach(t, b, a, ea.IPv6)
	out, err := a.Run("ip", "route", "get", "1.1.1.1")
	if err == nil {
		t.Fatalf("namespace has a route out: %s", out)
	}
	out, err = a.Run("ip", "route", "show", "224.0.0.0/4")
	if err != nil || !strings.Contains(out, "dev "+ea.Name) {
		t.Fatalf("multicast route missing: %v %s", err, out)
	}
}

func TestIPv6OnlyLink(t *testing.T) {
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, eb := lab.Link(a, b, netns.LinkOptions{NoIPv4: true})
	if ea.IPv4 != "" || eb.IPv4 != "" {
		t.Fatalf("IPv4 on an IPv6-only link: %+v %+v", ea, eb)
	}
	out, err := a.Run("ip", "-4", "addr", "show", "dev", ea.Name)
	if err != nil || strings.Contains(out, "inet ") {
		t.Fatalf("IPv4 address present: %v %s", err, out)
	}
	reach(t, a, b, eb.IPv6)
}

func TestBridgeJoinsThree(t *testing.T) {
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	ifs := lab.Bridge(netns.LinkOptions{}, a, b, c)
	if len(ifs) != 3 || ifs[2].IPv4 != "10.99.1.3" {
		t.Fatalf("bridge interfaces: %+v", ifs)
	}
	reach(t, a, b, ifs[1].IPv4)
	reach(t, a, c, ifs[2].IPv4)
	reach(t, c, b, ifs[1].IPv6)
}

func TestMulticastCrossesLink(t *testing.T) {
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	_, eb := lab.Link(a, b, netns.LinkOptions{})
	group := &net.UDPAddr{IP: net.IPv4(239, 1, 2, 3), Port: 9999}

	var recv net.PacketConn
	if err := b.Do(func() error {
		ifc, err := net.InterfaceByName(eb.Name)
		if err != nil {
			return err
		}
		c, err := net.ListenPacket("udp4", "0.0.0.0:9999")
		if err != nil {
			return err
		}
		if err := ipv4.NewPacketConn(c).JoinGroup(ifc, group); err != nil {
			c.Close()
			return err
		}
		recv = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	if err := a.Do(func() error {
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.WriteTo([]byte("hello"), group)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	recv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, from, err := recv.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no multicast datagram: %v", err)
	}
	if string(buf[:n]) != "hello" || !strings.HasPrefix(from.String(), "10.99.1.1:") {
		t.Fatalf("got %q from %v", buf[:n], from)
	}
}

func TestChildRunsInsideNamespace(t *testing.T) {
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	c := a.StartChild("echo", "x", "y")
	l, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if l.Text != "ifaces lo,eth0 args x,y" {
		t.Fatalf("child saw %q", l.Text)
	}
	if err := c.Send("ping"); err != nil {
		t.Fatal(err)
	}
	if l, err := c.WaitFor(10*time.Second, func(s string) bool { return s == "PING" }); err != nil {
		t.Fatalf("echo: %v (%q)", err, l.Text)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
	if _, err := c.Next(time.Second); err == nil {
		t.Fatal("line after exit")
	}
}

func TestCleanupRemovesNamespaces(t *testing.T) {
	netns.Require(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		lab := netns.New(t)
		ns := lab.NS("gone")
		name = ns.Name
		ns.StartChild("echo") // left running: cleanup must kill it
	})
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), name) {
		t.Fatalf("namespace %s survived its test:\n%s", name, out)
	}
}

// reach opens a TCP connection from namespace from to addr, listened on in
// namespace to, and fails t if it cannot.
func reach(t *testing.T, from, to *netns.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := to.Do(func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(addr, "0"))
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, to.Name, err)
	}
	defer ln.Close()
	accepted := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	if err := from.Do(func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", ln.Addr(), from.Name, err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

func TestCheckExplainsWhatIsMissing(t *testing.T) {
	if os.Geteuid() != 0 {
		err := netns.Check()
		if !errors.Is(err, netns.ErrUnavailable) || !strings.Contains(err.Error(), "root") {
			t.Fatalf("Check as non-root: %v", err)
		}
		return
	}
	t.Setenv("PATH", t.TempDir())
	err := netns.Check()
	if !errors.Is(err, netns.ErrUnavailable) || !strings.Contains(err.Error(), "ip command not found") {
		t.Fatalf("Check without ip: %v", err)
	}
}

func TestSweepsNamespacesOfDeadProcesses(t *testing.T) {
	netns.Require(t)
	// A process that has exited: its pid names a stale namespace.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("rp%dxabcdef-left", cmd.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", stale).Run() })
	netns.SweepStaleForTest()
	out, _ := exec.Command("ip", "netns", "list").CombinedOutput()
	if strings.Contains(string(out), stale) {
		t.Fatalf("stale namespace %s not swept", stale)
	}
}
