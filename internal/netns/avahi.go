package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Avahi interoperation support. StartAvahi runs an avahi-daemon of its own
// inside a namespace: its configuration and service files come from
// /etc/netns/NAME/avahi (bind-mounted over /etc/avahi by "ip netns exec"),
// its runtime directory is a private tmpfs (unshare -m), and it talks to
// avahi clients (avahi-browse) over a private dbus-daemon whose socket
// lives in the test's temporary directory.

const avahiDbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
`

const avahiConf = `[server]
host-name=avahi-host
use-ipv4=yes
use-ipv6=yes
allow-interfaces=eth0
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
`

// Avahi is an avahi-daemon running in a namespace, on its eth0, with the
// host name "avahi-host".
type Avahi struct {
	// Env is the environment avahi clients need
	// (DBUS_SYSTEM_BUS_ADDRESS of the private bus).
	Env []string
	// Daemon is the avahi-daemon process; its output is the daemon's log.
	Daemon *Child
}

// StartAvahi runs dbus-daemon and avahi-daemon in ns with the given
// service files (file name -> XML) and waits until avahi has started. It
// skips the test when avahi-daemon, avahi-browse, dbus-daemon or unshare
// is not installed.
func StartAvahi(t testing.TB, ns *NS, services map[string]string) *Avahi {
	t.Helper()
	for _, prog := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("skipping avahi interop: %s not installed (scripts/setup.sh installs avahi-daemon, avahi-utils and dbus-daemon)", prog)
		}
	}
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "dbus.conf")
	if err := os.WriteFile(conf, []byte(strings.Replace(avahiDbusConf, "BUS", bus, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(filepath.Join(etc, "avahi", "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "avahi", "avahi-daemon.conf"), []byte(avahiConf), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, xml := range services {
		if err := os.WriteFile(filepath.Join(etc, "avahi", "services", name), []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus}
	// dbus-daemon prints its address once it accepts connections.
	bd := ns.StartProcess(nil, "dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address")
	if _, err := bd.WaitFor(10*time.Second, func(s string) bool { return strings.HasPrefix(s, "unix:") }); err != nil {
		t.Fatalf("dbus-daemon did not start: %v\n%s", err, bd.Stderr())
	}
	d := ns.StartProcess(env, "unshare", "-m", "--propagation", "private", "sh", "-c",
		"mkdir -p /run/avahi-daemon && mount -t tmpfs none /run/avahi-daemon && "+
			"exec avahi-daemon --no-drop-root --no-chroot --no-rlimits 2>&1")
	var log []string
	if _, err := d.WaitFor(15*time.Second, func(s string) bool {
		log = append(log, s)
		return strings.Contains(s, "Server startup complete")
	}); err != nil {
		t.Fatalf("avahi-daemon did not start: %v\n%s", err, strings.Join(log, "\n"))
	}
	return &Avahi{Env: env, Daemon: d}
}

// AvahiLine is one parsed line of "avahi-browse -p -r".
type AvahiLine struct {
	Event    string // "+" (found), "=" (resolved), "-" (removed)
	Proto    string // "IPv4", "IPv6"
	Instance string // unescaped
	// Host, Addr, Port and TXT are set on "=" lines.
	Host string
	Addr string
	Port string
	TXT  []string
}

// ParseAvahiLine parses one line of "avahi-browse -p -r"; it reports false
// for lines of another shape.
func ParseAvahiLine(s string) (AvahiLine, bool) {
	f := strings.Split(s, ";")
	if len(f) < 6 {
		return AvahiLine{}, false
	}
	l := AvahiLine{Event: f[0], Proto: f[2], Instance: unescapeAvahi(f[3])}
	if l.Event == "=" && len(f) >= 10 {
		l.Host, l.Addr, l.Port = f[6], f[7], f[8]
		// TXT: "a=1" "b=2"
		for _, q := range strings.Split(f[9], `" "`) {
			l.TXT = append(l.TXT, strings.Trim(q, `"`))
		}
	}
	return l, true
}

// unescapeAvahi undoes avahi-browse's \DDD escapes.
func unescapeAvahi(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if d := s[i+1 : i+4]; d[0] >= '0' && d[0] <= '9' && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9' {
				b.WriteByte(byte(int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
