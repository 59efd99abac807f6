package lobby_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

// Interoperation of LAN lobbies with avahi, the standard mDNS/DNS-SD stack
// of Linux: avahi-browse lists a hosted lobby with its TXT and drops it
// after the goodbye, and Browse lists a lobby that avahi-daemon publishes.
// Each test runs an avahi-daemon of its own inside a namespace, configured
// through /etc/netns/NAME/avahi (which "ip netns exec" bind-mounts over
// /etc/avahi), with a private runtime directory and a private dbus-daemon.

const lobbyDbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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

const lobbyAvahiConf = `[server]
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

// runAvahi starts dbus-daemon and avahi-daemon in ns with the given service
// files and returns the environment avahi clients need, and the daemon.
func runAvahi(t *testing.T, ns *netns.NS, services map[string]string) ([]string, *netns.Child) {
	t.Helper()
	for _, prog := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("skipping avahi interop: %s not installed (scripts/setup.sh installs avahi-daemon, avahi-utils and dbus-daemon)", prog)
		}
	}
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "dbus.conf")
	if err := os.WriteFile(conf, []byte(strings.Replace(lobbyDbusConf, "BUS", bus, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join("/etc/netns", ns.Name)
	if err := os.MkdirAll(filepath.Join(etc, "avahi", "services"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "avahi", "avahi-daemon.conf"), []byte(lobbyAvahiConf), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, xml := range services {
		if err := os.WriteFile(filepath.Join(etc, "avahi", "services", name), []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + bus}
	bd := ns.StartProcess(nil, "dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile", "--print-address")
	if _, err := bd.WaitFor(10*time.Second, func(s string) bool { return strings.HasPrefix(s, "unix:") }); err != nil {
		t.Fatalf("dbus-daemon did not start: %v\n%s", err, bd.Stderr())
	}
	d := ns.StartProcess(env, "unshare", "-m", "--propagation", "private", "sh", "-c",
		"mkdir -p /run/avahi-daemon && mount -t tmpfs none /run/avahi-daemon && "+
			"exec avahi-daemon --no-drop-root --no-chroot --no-rlimits 2>&1")
	if _, err := d.WaitFor(15*time.Second, func(s string) bool { return strings.Contains(s, "Server startup complete") }); err != nil {
		t.Fatalf("avahi-daemon did not start: %v", err)
	}
	return env, d
}

// avahiLine is one line of "avahi-browse -p -r": event ("+", "=", "-"),
// protocol, instance, and for "=" the address, port and TXT strings.
type avahiLine struct {
	event, proto, instance, addr, port string
	txt                                []string
}

func parseAvahiLine(s string) (avahiLine, bool) {
	f := strings.Split(s, ";")
	if len(f) < 6 {
		return avahiLine{}, false
	}
	l := avahiLine{event: f[0], proto: f[2], instance: strings.ReplaceAll(f[3], `\032`, " ")}
	if l.event == "=" && len(f) >= 10 {
		l.addr, l.port = f[7], f[8]
		for _, q := range strings.Split(f[9], `" "`) {
			l.txt = append(l.txt, strings.Trim(q, `"`))
		}
	}
	return l, true
}

func TestAvahiListsHostedLobby(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})
	env, _ := runAvahi(t, b, nil)
	browse := b.StartProcess(env, "avahi-browse", "-p", "-r", dnssd.DefaultType)

	host := start(a, "host", childArgs{Name: "Avahi sees us", Game: "arena", Players: 4, Pass: "secret"})
	await(t, host, "hosted", 20*time.Second, nil)
	resolved, err := browse.WaitFor(15*time.Second, func(s string) bool {
		l, ok := parseAvahiLine(s)
		return ok && l.event == "=" && l.proto == "IPv4" && l.instance == "Avahi sees us"
	})
	if err != nil {
		t.Fatalf("avahi-browse never resolved the lobby: %v\n%s", err, browse.Stderr())
	}
	l, _ := parseAvahiLine(resolved.Text)
	if l.addr != ea.IPv4 {
		t.Errorf("avahi resolved address %s, want %s", l.addr, ea.IPv4)
	}
	for _, kv := range []string{"v=1", "game=arena", "name=Avahi sees us", "players=1", "max=4", "pw=1", "path=/ws"} {
		if !slices.Contains(l.txt, kv) {
			t.Errorf("avahi's TXT %q lacks %q", l.txt, kv)
		}
	}
	if err := host.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := await(t, host, "closed", 10*time.Second, nil)
	removed, err := browse.WaitFor(10*time.Second, func(s string) bool {
		l, ok := parseAvahiLine(s)
		return ok && l.event == "-" && l.instance == "Avahi sees us"
	})
	if err != nil {
		t.Fatalf("avahi-browse kept the lobby after the goodbye: %v", err)
	}
	// avahi waits 1 s after a goodbye (RFC 6762 §10.1).
	inTime(t, "avahi dropped the lobby", removed.At.Sub(closed.at()), time.Second)
}

const avahiLobby = `<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Published by avahi</name>
  <service>
    <type>_rallypoint._tcp</type>
    <port>7100</port>
    <txt-record>v=1</txt-record>
    <txt-record>game=arena</txt-record>
    <txt-record>name=Published by avahi</txt-record>
    <txt-record>id=lavahi</txt-record>
    <txt-record>players=2</txt-record>
    <txt-record>max=6</txt-record>
    <txt-record>pw=1</txt-record>
  </service>
</service-group>
`

func TestBrowseListsAvahiLobby(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	_, eb := lab.Link(a, b, netns.LinkOptions{})
	watch := start(a, "watch", childArgs{})
	await(t, watch, "ready", 15*time.Second, nil)
	_, daemon := runAvahi(t, b, map[string]string{"lobby.service": avahiLobby})
	added := await(t, watch, "event", 15*time.Second, func(r report) bool { return r.Kind == "added" })
	l := added.Lobby
	if l.Name != "Published by avahi" || l.ID != "lavahi" || l.Game != "arena" || l.Players != 2 || l.Max != 6 || !l.Password {
		t.Errorf("listed %+v", l)
	}
	if want := "ws://" + eb.IPv4 + ":7100/ws"; l.URL != want {
		t.Errorf("URL %s, want %s", l.URL, want)
	}
	stopped := time.Now()
	if err := daemon.Signal(os.Interrupt); err != nil { // avahi says goodbye when it stops
		t.Fatal(err)
	}
	gone := await(t, watch, "event", 10*time.Second, func(r report) bool { return r.Kind == "removed" })
	inTime(t, "removed after avahi-daemon stopped", gone.at().Sub(stopped), 2*time.Second)
}
