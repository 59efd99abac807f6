package netns

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// TURNOptions configures StartTURN.
type TURNOptions struct {
	// IP is the address coturn listens on and relays from: an address of
	// the namespace it runs in.
	IP string
	// Port is its listening port for UDP and TCP. Zero means 3478 (a
	// fresh namespace has every port free).
	Port int
	// Secret is the shared secret of TURN REST credentials
	// (use-auth-secret), as signaling.TURNCredentials makes them.
	Secret string
}

// TURN is a coturn server started by StartTURN.
type TURN struct {
	// UDP and TCP are the server's turn: URLs over each transport.
	UDP, TCP string
	// Started is how long coturn took to accept TCP connections.
	Started time.Duration
	child   *Child
}

// HaveTURN reports whether Debian's coturn (turnserver) is installed;
// scripts/setup.sh installs it.
func HaveTURN() bool {
	_, err := exec.LookPath("turnserver")
	return err == nil
}

// StartTURN runs Debian's coturn inside ns with a configuration of its
// own in a temporary directory: TURN REST credentials with opt.Secret,
// no TLS, no CLI, no database, peers on loopback allowed when opt.IP is
// one. It returns once the server accepts TCP connections; the Lab stops
// it when the test ends. The test is skipped when coturn is missing.
func (ns *NS) StartTURN(opt TURNOptions) *TURN {
	l := ns.lab
	l.t.Helper()
	if !HaveTURN() {
		l.t.Skip("skipping TURN test: coturn's turnserver not found (scripts/setup.sh installs it)")
	}
	if opt.Port == 0 {
		opt.Port = 3478
	}
	dir := l.t.TempDir()
	conf := []string{
		fmt.Sprintf("listening-port=%d", opt.Port),
		"listening-ip=" + opt.IP,
		"relay-ip=" + opt.IP,
		"use-auth-secret",
		"static-auth-secret=" + opt.Secret,
		"realm=rallypoint.test",
		"fingerprint",
		"no-tls", "no-dtls", "no-cli", "no-multicast-peers",
		"min-port=40000", "max-port=49999",
		"userdb=" + filepath.Join(dir, "turndb"),
		"pidfile=" + filepath.Join(dir, "turnserver.pid"),
		"log-file=stdout", "simple-log",
	}
	if ip := net.ParseIP(opt.IP); ip != nil && ip.IsLoopback() {
		conf = append(conf, "allow-loopback-peers")
	}
	path := filepath.Join(dir, "turnserver.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		l.t.Fatalf("netns: coturn config: %v", err)
	}
	start := time.Now()
	child := ns.StartProcess(nil, "turnserver", "-c", path)
	// coturn logs every allocation to stdout: keep reading, or it blocks
	// once the pipe is full. The lines end when the process does.
	go func() {
		for range child.lines {
		}
	}()
	addr := net.JoinHostPort(opt.IP, fmt.Sprint(opt.Port))
	for {
		err := ns.Do(func() error {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			break
		}
		if time.Since(start) > 15*time.Second {
			l.t.Fatalf("netns: coturn in %s not listening on %s after 15 s: %v\n%s", ns.Name, addr, err, child.stderrTail())
		}
		time.Sleep(20 * time.Millisecond) // polling for the listener
	}
	return &TURN{
		UDP:     "turn:" + addr + "?transport=udp",
		TCP:     "turn:" + addr + "?transport=tcp",
		Started: time.Since(start),
		child:   child,
	}
}

// Stop kills the server and waits for it.
func (t *TURN) Stop() {
	t.child.Kill()
	t.child.wait()
}
