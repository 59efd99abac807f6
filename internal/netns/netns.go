package netns

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ErrUnavailable is returned by Check when namespaces cannot be used here.
var ErrUnavailable = errors.New("netns: network namespaces unavailable")

// Check reports whether this process can build namespaces: it must run as
// root and find iproute2's ip command. The error wraps ErrUnavailable and says
// what is missing.
func Check() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: needs Linux, running on %s", ErrUnavailable, runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); run the tests as root", ErrUnavailable)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%w: iproute2's ip command not found (scripts/setup.sh installs it)", ErrUnavailable)
	}
	return nil
}

// TB is what a Lab needs of its owner: testing.TB satisfies it, and so
// can a benchmark command that builds a lab outside a test (Fatal must
// then stop the calling goroutine, as t.Fatal does, for example with
// runtime.Goexit or a panic the command recovers).
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
	Logf(format string, args ...any)
	Skip(args ...any)
	Skipf(format string, args ...any)
	TempDir() string
}

var _ TB = testing.TB(nil)

// Require skips t when Check fails.
func Require(t TB) {
	t.Helper()
	if err := Check(); err != nil {
		t.Skipf("skipping LAN test: %v", err)
	}
}

// Lab is a set of namespaces and links owned by one test. Its methods fail
// the test (t.Fatal) when a step does not work; they may be called from the
// test's goroutine only.
type Lab struct {
	t      TB
	prefix string

	mu       sync.Mutex
	spaces   []*NS
	children []*Child
	links    int
}

// New creates an empty Lab for t, skipping t when namespaces are unavailable
// (see Require). Everything the Lab creates is removed when t ends.
func New(t TB) *Lab {
	t.Helper()
	Require(t)
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netns: random name: %v", err)
	}
	sweepOnce.Do(sweepStale)
	l := &Lab{t: t, prefix: fmt.Sprintf("rp%dx%s", os.Getpid(), hex.EncodeToString(b[:]))}
	t.Cleanup(l.cleanup)
	return l
}

var (
	sweepOnce sync.Once
	// staleName matches the namespaces of a Lab: "rp" PID "x" random "-".
	staleName = regexp.MustCompile(`^rp([0-9]+)x[0-9a-f]{6}-`)
)

// sweepStale removes what Labs of test processes that no longer exist left
// behind (a test binary killed before its cleanup ran): the processes still
// running in their namespaces, the namespaces and their /etc/netns files.
func sweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := staleName.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || !processGone(pid) {
			continue // its owner still runs (or the pid was reused)
		}
		if pids, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			for _, f := range strings.Fields(string(pids)) {
				if p, err := strconv.Atoi(f); err == nil {
					killPID(p)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", name).Run()
		_ = os.RemoveAll(filepath.Join("/etc/netns", name))
	}
}

// NS is a network namespace created by a Lab.
type NS struct {
	// Name is the namespace's name as "ip netns" knows it.
	Name string

	lab    *Lab
	mu     sync.Mutex
	ifaces int
	routed bool
	voids  int
}

// NS creates a namespace called name (made unique by the Lab's prefix) with
// its loopback up and IPv6 duplicate address detection off.
func (l *Lab) NS(name string) *NS {
	l.t.Helper()
	ns := &NS{Name: l.prefix + "-" + name, lab: l}
	l.ip("netns", "add", ns.Name)
	l.mu.Lock()
	l.spaces = append(l.spaces, ns)
	l.mu.Unlock()
	l.ip("-n", ns.Name, "link", "set", "lo", "up")
	for _, key := range []string{"all", "default"} {
		if out, err := ns.Run("sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/"+key+"/accept_dad"); err != nil {
			l.t.Fatalf("netns: disable DAD in %s: %v\n%s", ns.Name, err, out)
		}
	}
	return ns
}

// LinkOptions tunes Link and Bridge. The zero value gives dual-stack links.
type LinkOptions struct {
	// NoIPv4 leaves the interfaces without IPv4 addresses and without the
	// IPv4 multicast route: an IPv6-only link. False means dual stack.
	NoIPv4 bool
}

// Iface is one end of a link: an interface inside a namespace.
type Iface struct {
	// NS is the namespace holding the interface.
	NS *NS
	// Name is the interface's name inside NS, such as "eth0".
	Name string
	// IPv4 is the interface's IPv4 address ("10.99.1.1"), or "" on an
	// IPv6-only link.
	IPv4 string
	// IPv6 is the interface's unique-local IPv6 address ("fd99:1::1").
	IPv6 string
}

// Link joins a and b with a veth pair and returns the two ends. The first
// link of a lab uses 10.99.1.0/24 and fd99:1::/64, the next 10.99.2.0/24 and
// so on; a gets host number 1 and b host number 2.
func (l *Lab) Link(a, b *NS, opt LinkOptions) (Iface, Iface) {
	l.t.Helper()
	n := l.nextLink()
	ea, eb := a.nextIface(), b.nextIface()
	l.ip("link", "add", ea, "netns", a.Name, "type", "veth", "peer", "name", eb, "netns", b.Name)
	return l.setup(a, ea, n, 1, opt), l.setup(b, eb, n, 2, opt)
}

// Bridge joins every namespace in spaces to one Ethernet segment: a bridge
// with multicast snooping off, in a namespace of its own, and a veth pair from
// each namespace to it. The i-th namespace gets host number i+1 on the
// segment's subnet. It returns the interfaces in the order of spaces.
func (l *Lab) Bridge(opt LinkOptions, spaces ...*NS) []Iface {
	l.t.Helper()
	_, ifaces := l.BridgeSwitch(opt, spaces...)
	return ifaces
}

// BridgeSwitch is Bridge, and also returns the namespace that holds the
// bridge (where SetLoss drops what crosses it).
func (l *Lab) BridgeSwitch(opt LinkOptions, spaces ...*NS) (*NS, []Iface) {
	l.t.Helper()
	n := l.nextLink()
	sw := l.NS(fmt.Sprintf("sw%d", n))
	l.ip("-n", sw.Name, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	l.ip("-n", sw.Name, "link", "set", "br0", "up")
	ifaces := make([]Iface, 0, len(spaces))
	for i, ns := range spaces {
		name := ns.nextIface()
		port := fmt.Sprintf("p%d", i)
		l.ip("link", "add", name, "netns", ns.Name, "type", "veth", "peer", "name", port, "netns", sw.Name)
		l.ip("-n", sw.Name, "link", "set", port, "master", "br0")
		l.ip("-n", sw.Name, "link", "set", port, "up")
		ifaces = append(ifaces, l.setup(ns, name, n, i+1, opt))
	}
	return sw, ifaces
}

func (l *Lab) nextLink() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.links++
	if l.links > 250 {
		l.t.Fatal("netns: more than 250 links in one lab")
	}
	return l.links
}

func (ns *NS) nextIface() string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	name := fmt.Sprintf("eth%d", ns.ifaces)
	ns.ifaces++
	return name
}

// setup addresses interface name in ns as host h of link n and brings it up.
func (l *Lab) setup(ns *NS, name string, n, h int, opt LinkOptions) Iface {
	l.t.Helper()
	ifc := Iface{NS: ns, Name: name, IPv6: fmt.Sprintf("fd99:%d::%d", n, h)}
	l.ip("-n", ns.Name, "link", "set", name, "multicast", "on")
	l.ip("-n", ns.Name, "link", "set", name, "up")
	l.ip("-n", ns.Name, "-6", "addr", "add", ifc.IPv6+"/64", "dev", name, "nodad")
	if !opt.NoIPv4 {
		ifc.IPv4 = fmt.Sprintf("10.99.%d.%d", n, h)
		l.ip("-n", ns.Name, "addr", "add", ifc.IPv4+"/24", "dev", name)
		ns.mu.Lock()
		first := !ns.routed
		ns.routed = true
		ns.mu.Unlock()
		if first {
			// One multicast route per namespace: senders that name their
			// interface (IP_MULTICAST_IF, IP_PKTINFO) use any interface.
			l.ip("-n", ns.Name, "route", "add", "224.0.0.0/4", "dev", name)
		}
	}
	return ifc
}

// ip runs the ip command and fails the test on error.
func (l *Lab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("netns: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Run runs a command inside ns and returns its combined output.
func (ns *NS) Run(name string, args ...string) (string, error) {
	out, err := ns.Command(name, args...).CombinedOutput()
	return string(out), err
}

// Command returns a command that runs name inside ns through "ip netns exec".
// Files under /etc/netns/NAME/ replace their counterparts in /etc for it
// (see ip-netns(8)).
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on a locked OS thread switched into ns and returns its error.
// Sockets fn creates belong to ns; goroutines fn starts do not run in ns.
// The thread is discarded afterwards.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked: Go exits it when this goroutine
		// returns, so no other goroutine ever runs in ns by accident.
		runtime.LockOSThread()
		f, err := os.Open("/var/run/netns/" + ns.Name)
		if err != nil {
			errc <- fmt.Errorf("netns: open %s: %w", ns.Name, err)
			return
		}
		defer f.Close()
		if err := setns(f); err != nil {
			errc <- fmt.Errorf("netns: setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (l *Lab) cleanup() {
	l.mu.Lock()
	children, spaces := l.children, l.spaces
	l.children, l.spaces = nil, nil
	l.mu.Unlock()
	for _, c := range children {
		c.Kill()
	}
	for _, c := range children {
		c.wait()
		if l.t.Failed() && c.stderr.Len() > 0 {
			l.t.Logf("stderr of child %s:\n%s", c.Role, c.stderrString())
		}
	}
	for i := len(spaces) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", spaces[i].Name).CombinedOutput(); err != nil {
			l.t.Errorf("netns: ip netns del %s: %v\n%s", spaces[i].Name, err, bytes.TrimSpace(out))
		}
	}
}
