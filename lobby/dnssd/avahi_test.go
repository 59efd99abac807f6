package dnssd

import (
	"os"
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

func TestAvahiBrowserListsOurServiceAndDropsItAfterGoodbye(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})
	av := netns.StartAvahi(t, b, nil)
	browse := b.StartProcess(av.Env, "avahi-browse", "-p", "-r", DefaultType)

	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "Rallypoint lobby", Port: 7777, TXT: []string{"v=1", "players=1", "max=4"}},
	})
	expect(t, adv, "advertised", 10*time.Second)

	resolved, err := browse.WaitFor(10*time.Second, func(s string) bool {
		bl, ok := netns.ParseAvahiLine(s)
		return ok && bl.Event == "=" && bl.Proto == "IPv4" && bl.Instance == "Rallypoint lobby"
	})
	if err != nil {
		t.Fatalf("avahi-browse never resolved our service: %v\n%s", err, browse.Stderr())
	}
	bl, _ := netns.ParseAvahiLine(resolved.Text)
	if bl.Host != "host-a.local" || bl.Addr != ea.IPv4 || bl.Port != "7777" {
		t.Errorf("avahi resolved %+v", bl)
	}
	for _, kv := range []string{"v=1", "players=1", "max=4"} {
		if !slices.Contains(bl.TXT, kv) {
			t.Errorf("avahi's TXT %q lacks %q", bl.TXT, kv)
		}
	}

	if err := adv.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := expect(t, adv, "closed", 5*time.Second)
	removed, err := browse.WaitFor(10*time.Second, func(s string) bool {
		bl, ok := netns.ParseAvahiLine(s)
		return ok && bl.Event == "-" && bl.Instance == "Rallypoint lobby"
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
	av := netns.StartAvahi(t, b, map[string]string{"lobby.service": avahiService})

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
	if err := av.Daemon.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rm := expectRemoved(t, browser, "Avahi lobby", 10*time.Second)
	inTime(t, "Removed after avahi-daemon stopped", rm.at().Sub(stopped), 2*time.Second)
}

func TestAvahiNameConflictRenamesOurs(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	av := netns.StartAvahi(t, b, map[string]string{"lobby.service": avahiService})
	browse := b.StartProcess(av.Env, "avahi-browse", "-p", "-r", DefaultType)
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
		bl, ok := netns.ParseAvahiLine(s)
		return ok && bl.Event == "=" && bl.Instance == "Avahi lobby (2)" && bl.Port == "7777"
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

	av := netns.StartAvahi(t, b, map[string]string{"lobby.service": avahiService})
	if _, err := av.Daemon.WaitFor(10*time.Second, func(s string) bool { return strings.Contains(s, "successfully established") }); err != nil {
		t.Fatalf("avahi did not publish its service: %v", err)
	}
	browse := b.StartProcess(av.Env, "avahi-browse", "-p", "-r", DefaultType)
	seen := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for !seen["Ours"] || !seen["Avahi lobby"] {
		l, err := browse.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("avahi-browse resolved %v: %v", seen, err)
		}
		if bl, ok := netns.ParseAvahiLine(l.Text); ok && bl.Event == "=" && bl.Proto == "IPv4" {
			seen[bl.Instance] = true
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
