package netns

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireLoss skips t unless random loss can be injected on a bridge: it
// needs iptables and ip6tables with the statistic match and the kernel's
// br_netfilter (loaded with modprobe when missing), so that frames crossing
// a bridge go through the FORWARD chain of the bridge's namespace.
func RequireLoss(t testing.TB) {
	t.Helper()
	Require(t)
	for _, cmd := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(cmd); err != nil {
			t.Skipf("skipping lossy LAN test: %s not found (scripts/setup.sh installs iptables)", cmd)
		}
	}
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			t.Skipf("skipping lossy LAN test: br_netfilter is not loaded and modprobe failed: %v %s", err, out)
		}
	}
}

// SetLoss drops a random share p (0 to 1) of the TCP and UDP packets, IPv4
// and IPv6, that cross the bridge in sw (BridgeSwitch), independently for
// each packet and direction, with iptables' statistic match in the FORWARD
// chain of sw. It turns bridge-nf-call-iptables on in sw first. A second
// call replaces the rules; p 0 removes them. The rules go with the
// namespace when the Lab is cleaned up.
func (l *Lab) SetLoss(sw *NS, p float64) {
	l.t.Helper()
	if p < 0 || p > 1 {
		l.t.Fatalf("netns: loss %v, want 0 to 1", p)
	}
	for _, key := range []string{"bridge-nf-call-iptables", "bridge-nf-call-ip6tables"} {
		// /proc/sys/net is the namespace's own inside it.
		if out, err := sw.Run("sh", "-c", "echo 1 > /proc/sys/net/bridge/"+key); err != nil {
			l.t.Fatalf("netns: setting net.bridge.%s in %s: %v\n%s", key, sw.Name, err, out)
		}
	}
	for _, ipt := range []string{"iptables", "ip6tables"} {
		if out, err := sw.Run(ipt, "-w", "-F", "FORWARD"); err != nil {
			l.t.Fatalf("netns: %s -F FORWARD in %s: %v\n%s", ipt, sw.Name, err, out)
		}
		if p == 0 {
			continue
		}
		for _, proto := range []string{"tcp", "udp"} {
			args := []string{"-w", "-A", "FORWARD", "-p", proto, "-m", "statistic", "--mode", "random",
				"--probability", fmt.Sprintf("%.4f", p), "-j", "DROP"}
			if out, err := sw.Run(ipt, args...); err != nil {
				l.t.Fatalf("netns: %s %s in %s: %v\n%s", ipt, strings.Join(args, " "), sw.Name, err, out)
			}
		}
	}
}

// Blackout cuts ifc (an interface on the bridge in sw) off from the rest of
// the bridge, as if its cable were pulled, by dropping every packet from or
// to its addresses in sw's FORWARD chain (ahead of SetLoss's rules); on
// false it removes those rules again. The interface itself stays up.
func (l *Lab) Blackout(sw *NS, ifc Iface, on bool) {
	l.t.Helper()
	op := "-I"
	if !on {
		op = "-D"
	}
	for _, r := range []struct{ cmd, addr string }{{"iptables", ifc.IPv4}, {"ip6tables", ifc.IPv6}} {
		if r.addr == "" {
			continue
		}
		for _, dir := range []string{"-s", "-d"} {
			args := []string{"-w", op, "FORWARD", dir, r.addr, "-j", "DROP"}
			if out, err := sw.Run(r.cmd, args...); err != nil {
				l.t.Fatalf("netns: %s %s in %s: %v\n%s", r.cmd, strings.Join(args, " "), sw.Name, err, out)
			}
		}
	}
}
