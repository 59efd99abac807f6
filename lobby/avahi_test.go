package lobby_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby"
)

// Interoperation of LAN lobbies with avahi, the standard mDNS/DNS-SD stack
// of Linux: avahi-browse lists a hosted lobby with its TXT and drops it
// after the goodbye, and Browse lists a lobby that avahi-daemon publishes.
// Each test runs an avahi-daemon of its own inside a namespace, configured
// through /etc/netns/NAME/avahi (which "ip netns exec" bind-mounts over
// /etc/avahi), with a private runtime directory and a private dbus-daemon.

func TestAvahiListsHostedLobby(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})
	env := netns.StartAvahi(t, b, nil).Env
	browse := b.StartProcess(env, "avahi-browse", "-p", "-r", lobby.LANServiceType)

	host := start(a, "host", childArgs{Name: "Avahi sees us", Game: "arena", Players: 4, Pass: "secret"})
	await(t, host, "hosted", 20*time.Second, nil)
	resolved, err := browse.WaitFor(15*time.Second, func(s string) bool {
		l, ok := netns.ParseAvahiLine(s)
		return ok && l.Event == "=" && l.Proto == "IPv4" && l.Instance == "Avahi sees us"
	})
	if err != nil {
		t.Fatalf("avahi-browse never resolved the lobby: %v\n%s", err, browse.Stderr())
	}
	l, _ := netns.ParseAvahiLine(resolved.Text)
	// The line's protocol is the one mDNS ran over; avahi-browse resolves
	// the host's address in either family and reports the first A or AAAA
	// answer it has, which under load is at times the IPv6 link-local one
	// (the host advertises every address of the interface, and Browse
	// orders them: IPv4, routable IPv6, link-local with its zone). So the
	// address may be any of the host's on the link, and the A record is
	// checked on its own with avahi-resolve -4.
	own := hostAddrs(t, ea)
	t.Logf("avahi resolved %s; the host has %q", l.Addr, own)
	if !slices.Contains(own, l.Addr) {
		t.Errorf("avahi resolved address %s, not one of the host's %q", l.Addr, own)
	}
	res := b.StartProcess(env, "avahi-resolve", "-4", "-n", l.Host)
	a4, err := res.WaitFor(15*time.Second, func(s string) bool { return strings.Contains(s, "\t") })
	if err != nil {
		t.Fatalf("avahi-resolve -4 %s: %v\n%s", l.Host, err, res.Stderr())
	}
	if f := strings.Fields(a4.Text); len(f) != 2 || f[1] != ea.IPv4 {
		t.Errorf("avahi-resolve -4 %s: %q, want %s", l.Host, a4.Text, ea.IPv4)
	}
	for _, kv := range []string{"v=1", "game=arena", "name=Avahi sees us", "players=1", "max=4", "pw=1", "path=/ws"} {
		if !slices.Contains(l.TXT, kv) {
			t.Errorf("avahi's TXT %q lacks %q", l.TXT, kv)
		}
	}
	if err := host.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := await(t, host, "closed", 10*time.Second, nil)
	removed, err := browse.WaitFor(10*time.Second, func(s string) bool {
		l, ok := netns.ParseAvahiLine(s)
		return ok && l.Event == "-" && l.Instance == "Avahi sees us"
	})
	if err != nil {
		t.Fatalf("avahi-browse kept the lobby after the goodbye: %v", err)
	}
	// avahi waits 1 s after a goodbye (RFC 6762 §10.1).
	inTime(t, "avahi dropped the lobby", removed.At.Sub(closed.at()), time.Second)
}

// hostAddrs returns the addresses of ifc: its IPv4, unique-local IPv6 and
// link-local IPv6 addresses.
func hostAddrs(t *testing.T, ifc netns.Iface) []string {
	t.Helper()
	out, err := ifc.NS.Run("ip", "-6", "-o", "addr", "show", "dev", ifc.Name, "scope", "link")
	if err != nil {
		t.Fatalf("ip addr: %v\n%s", err, out)
	}
	own := []string{ifc.IPv4, ifc.IPv6}
	for _, line := range strings.Split(out, "\n") {
		// "2: eth0    inet6 fe80::1/64 scope link ..."
		if f := strings.Fields(line); len(f) >= 4 && f[2] == "inet6" {
			own = append(own, strings.Split(f[3], "/")[0])
		}
	}
	return own
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
	daemon := netns.StartAvahi(t, b, map[string]string{"lobby.service": avahiLobby}).Daemon
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

// TestAvahiDropsVanishedHost: avahi-browse drops the lobby of a host
// killed without a goodbye when the lobby's records expire: all of them,
// the PTR record avahi-browse lists included, carry LANConfig.HostTTL
// (100 s by default; 4 s here).
func TestAvahiDropsVanishedHost(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	env := netns.StartAvahi(t, b, nil).Env
	browse := b.StartProcess(env, "avahi-browse", "-p", lobby.LANServiceType)
	const ttl = 4 * time.Second
	host := start(a, "host", childArgs{Name: "Killed under avahi", Game: "arena", Players: 2, TTL: ttl})
	await(t, host, "hosted", 20*time.Second, nil)
	if _, err := browse.WaitFor(15*time.Second, func(s string) bool {
		l, ok := netns.ParseAvahiLine(s)
		return ok && l.Event == "+" && l.Instance == "Killed under avahi"
	}); err != nil {
		t.Fatalf("avahi-browse never listed the lobby: %v\n%s", err, browse.Stderr())
	}
	killed := time.Now()
	host.Kill()
	removed, err := browse.WaitFor(ttl+20*time.Second, func(s string) bool {
		l, ok := netns.ParseAvahiLine(s)
		return ok && l.Event == "-" && l.Instance == "Killed under avahi"
	})
	if err != nil {
		t.Fatalf("avahi-browse kept the killed host's lobby past its TTL: %v", err)
	}
	inTime(t, "avahi dropped the killed host's lobby", removed.At.Sub(killed), ttl)
}

// TestLANTTLs: every record of a hosted lobby, the PTR included, has the
// host TTL, 100 s unless set, so that standard browsers drop a dead
// host's lobby within 2 minutes.
func TestLANTTLs(t *testing.T) {
	for _, c := range []struct{ set, want time.Duration }{{0, 100 * time.Second}, {3 * time.Second, 3 * time.Second}} {
		host, service := lobby.NodeTTLs(lobby.LANConfig{HostTTL: c.set})
		if host != c.want || service != c.want || c.want >= 2*time.Minute {
			t.Errorf("HostTTL %v: records %v, PTR %v; want %v for both", c.set, host, service, c.want)
		}
	}
}
