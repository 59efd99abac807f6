package examples_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// inNamespaceEnv marks the test binary re-executed inside its namespace.
const inNamespaceEnv = "RALLYPOINT_EXAMPLES_NETNS"

// TestMain runs the examples inside a network namespace of their own: the
// LAN example multicasts, which must never happen in the root namespace
// (its loopback has no MULTICAST flag and its other interfaces lead out of
// the machine). The namespace holds a veth pair, both ends up with an
// address, standing for a LAN: mDNS multicasts on it and WebRTC gathers its
// host candidates from it. Without
// root or iproute2 the LAN example is skipped and the others run here.
func TestMain(m *testing.M) {
	if os.Getenv(inNamespaceEnv) == "" {
		code, err := runInNamespace()
		if err == nil {
			os.Exit(code)
		}
		fmt.Fprintf(os.Stderr, "examples: no network namespace (%v): Example_lanMatch skipped\n", err)
		flag.Parse()
		skip := "^Example_lanMatch$"
		if old := flag.Lookup("test.skip").Value.String(); old != "" {
			skip = old + "|" + skip
		}
		_ = flag.Set("test.skip", skip)
	}
	goleak.VerifyTestMain(m)
}

// runInNamespace re-executes the test binary in a fresh namespace and
// returns its exit code.
func runInNamespace() (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("not root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return 0, err
	}
	ns := "rpex" + strconv.Itoa(os.Getpid())
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		return 0, err
	}
	defer ip("netns", "del", ns)
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "lan0", "type", "veth", "peer", "name", "lan1"},
		{"link", "set", "lan0", "up"},
		{"link", "set", "lan1", "up"},
		{"addr", "add", "10.97.0.1/24", "dev", "lan0"},
		{"addr", "add", "10.97.0.2/24", "dev", "lan1"},
		{"route", "add", "224.0.0.0/4", "dev", "lan0"},
	} {
		if err := ip(append([]string{"-n", ns}, args...)...); err != nil {
			return 0, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, exe}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), inNamespaceEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitCode(), nil
	}
	return 0, err
}
