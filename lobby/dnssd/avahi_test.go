package dnssd

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// Interoperation with avahi, the standard mDNS/DNS-SD stack of Linux. Each
// test runs an avahi-daemon of its own inside a namespace: its configuration
// and service files come from /etc/netns/NAME/avahi (bind-mounted over
// /etc/avahi by "ip netns exec"), its runtime directory is a private tmpfs
// (unshare -m), and it talks to avahi-browse over a private dbus-daemon
// whose socket lives in the test's temporary directory.

const dbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
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

// avahi is an avahi-daemon running in a namespace.
type avahi struct {
	ns     *netns.NS
	env    []string // DBUS_SYSTEM_BUS_ADDRESS for clients
	daemon *netns.Child
}

// startAvahi runs avahi-daemon in ns with the given service files (name ->
// XML) and waits until it has started.
func startAvahi(t *testing.T, ns *netns.NS, services map[string]string) *avahi {
	t.Helper()
	for _, prog := range []string{"avahi-daemon", "avahi-browse", "dbus-daemon", "unshare"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Skipf("skipping avahi interop: %s not installed (scripts/setup.sh installs avahi-daemon, avahi-utils and dbus-daemon)", prog)
		}
	}
	dir := t.TempDir()
	bus := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "dbus.conf")
	if err := os.WriteFile(conf, []byte(strings.Replace(dbusConf, "BUS", bus, 1)), 0o644); err != nil {
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
	return &avahi{ns: ns, env: env, daemon: d}
}

// browseLine is one parsed line of "avahi-browse -p -r".
type browseLine struct {
	event    string // "+", "=", "-"
	proto    string // "IPv4", "IPv6"
	instance string
	host     string
	addr     string
	port     string
	txt      []string
}

func parseBrowseLine(s string) (browseLine, bool) {
	f := strings.Split(s, ";")
	if len(f) < 6 {
		return browseLine{}, false
	}
	bl := browseLine{event: f[0], proto: f[2], instance: unescapeAvahi(f[3])}
	if bl.event == "=" && len(f) >= 10 {
		bl.host, bl.addr, bl.port = f[6], f[7], f[8]
		// TXT: "a=1" "b=2"
		for _, q := range strings.Split(f[9], "\" \"") {
			bl.txt = append(bl.txt, strings.Trim(q, "\""))
		}
	}
	return bl, true
}

// unescapeAvahi undoes avahi-browse's \DDD escapes.
func unescapeAvahi(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if d := s[i+1 : i+4]; len(d) == 3 && d[0] >= '0' && d[0] <= '9' {
				n := int(d[0]-'0')*100 + int(d[1]-'0')*10 + int(d[2]-'0')
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func TestAvahiBrowserListsOurServiceAndDropsItAfterGoodbye(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})
	av := startAvahi(t, b, nil)
	browse := b.StartProcess(av.env, "avahi-browse", "-p", "-r", DefaultType)

	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "Rallypoint lobby", Port: 7777, TXT: []string{"v=1", "players=1", "max=4"}},
	})
	expect(t, adv, "advertised", 10*time.Second)

	resolved, err := browse.WaitFor(10*time.Second, func(s string) bool {
		bl, ok := parseBrowseLine(s)
		return ok && bl.event == "=" && bl.proto == "IPv4" && bl.instance == "Rallypoint lobby"
	})
	if err != nil {
		t.Fatalf("avahi-browse never resolved our service: %v\n%s", err, browse.Stderr())
	}
	bl, _ := parseBrowseLine(resolved.Text)
	if bl.host != "host-a.local" || bl.addr != ea.IPv4 || bl.port != "7777" {
		t.Errorf("avahi resolved %+v", bl)
	}
	for _, kv := range []string{"v=1", "players=1", "max=4"} {
		if !slices.Contains(bl.txt, kv) {
			t.Errorf("avahi's TXT %q lacks %q", bl.txt, kv)
		}
	}

	if err := adv.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := expect(t, adv, "closed", 5*time.Second)
	removed, err := browse.WaitFor(10*time.Second, func(s string) bool {
		bl, ok := parseBrowseLine(s)
		return ok && bl.event == "-" && bl.instance == "Rallypoint lobby"
	})
	if err != nil {
		t.Fatalf("avahi-browse kept our service after the goodbye: %v", err)
	}
	d := removed.At.Sub(closed.at())
	// avahi drops a record one second after its goodbye (RFC 6762 §10.1).
	inTime(t, "avahi removed our service", d, time.Second)
}

const avahiService = `<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>Avahi lobby</name>
  <service>
    <type>_rallypoint._tcp</type>
    <port>7100</port>
    <txt-record>v=1</txt-record>
    <txt-record>game=demo</txt-record>
  </service>
</service-group>
`

func TestWeListAvahiService(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	_, eb := lab.Link(a, b, netns.LinkOptions{})

	browser := startChild(a, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)
	av := startAvahi(t, b, map[string]string{"lobby.service": avahiService})

	added := expectEvent(t, browser, Added, "Avahi lobby", 10*time.Second)
	ev := added.Event
	if ev.Port != 7100 || ev.Host != "avahi-host.local." || !hasAddr(ev.Addrs, eb.IPv4) {
		t.Errorf("added %+v", ev)
	}
	if v, _ := TXTValue(ev.TXT, "game"); v != "demo" {
		t.Errorf("TXT %q", ev.TXT)
	}

	// A stopping avahi-daemon sends goodbyes.
	stopped := time.Now()
	if err := av.daemon.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rm := expectEvent(t, browser, Removed, "Avahi lobby", 10*time.Second)
	inTime(t, "Removed after avahi-daemon stopped", rm.at().Sub(stopped), 2*time.Second)
}

func TestAvahiNameConflictRenamesOurs(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	av := startAvahi(t, b, map[string]string{"lobby.service": avahiService})
	browse := b.StartProcess(av.env, "avahi-browse", "-p", "-r", DefaultType)
	if _, err := browse.WaitFor(10*time.Second, func(s string) bool { return strings.HasPrefix(s, "=;eth0;IPv4;Avahi") }); err != nil {
		t.Fatalf("avahi-browse does not see avahi's own service: %v", err)
	}

	// avahi holds "Avahi lobby": probing finds out and takes the next name.
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "Avahi lobby", Port: 7777},
	})
	l := expect(t, adv, "advertised", 10*time.Second)
	if l.Instance != "Avahi lobby (2)" {
		t.Fatalf("advertised as %q, want %q", l.Instance, "Avahi lobby (2)")
	}
	if _, err := browse.WaitFor(10*time.Second, func(s string) bool {
		bl, ok := parseBrowseLine(s)
		return ok && bl.event == "=" && bl.instance == "Avahi lobby (2)" && bl.port == "7777"
	}); err != nil {
		t.Fatalf("avahi-browse does not list the renamed service: %v", err)
	}
}

// avahi-browse's queries list the instances avahi already knows as known
// answers (its own service, here). A responder that treats any packet with
// answers as a response (pion/mdns v2.2.2) stays silent; we must answer.
func TestAvahiKnownAnswerQueryStillLearnsOurs(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	sniff := startChild(a, "sniff", childConfig{Type: DefaultType})
	expect(t, sniff, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "Ours", Port: 7777, TXT: []string{"v=1"}},
	})
	expect(t, adv, "advertised", 10*time.Second)
	// Let our announcements (0, 1, 3 s) and their rate limit pass: avahi
	// can only learn of us by asking.
	time.Sleep(4500 * time.Millisecond)

	av := startAvahi(t, b, map[string]string{"lobby.service": avahiService})
	if _, err := av.daemon.WaitFor(10*time.Second, func(s string) bool { return strings.Contains(s, "successfully established") }); err != nil {
		t.Fatalf("avahi did not publish its service: %v", err)
	}
	browse := b.StartProcess(av.env, "avahi-browse", "-p", "-r", DefaultType)
	seen := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for !seen["Ours"] || !seen["Avahi lobby"] {
		l, err := browse.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("avahi-browse resolved %v: %v", seen, err)
		}
		if bl, ok := parseBrowseLine(l.Text); ok && bl.event == "=" && bl.proto == "IPv4" {
			seen[bl.instance] = true
		}
	}
	// On the wire: a query from avahi knowing its own lobby (and not ours),
	// then our answer naming ours.
	var knownAvahi bool
	for !knownAvahi {
		l := next(t, sniff, 5*time.Second)
		knownAvahi = l.What == "query" && slices.Contains(l.Instances, "Avahi lobby") && !slices.Contains(l.Instances, "Ours")
	}
	for {
		l := next(t, sniff, 5*time.Second)
		if l.What == "response" && slices.Contains(l.Instances, "Ours") {
			break
		}
	}
}
