package dnssd

import (
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// The LAN tests run advertisers and browsers as separate processes in
// network namespaces joined by veth pairs or a bridge, with no route out.

func TestLANAdvertiseBrowseUpdateGoodbye(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})

	browser := startChild(b, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "Alice's lobby. Come in", Port: 7777, TXT: []string{"v=1", "players=1", "max=4"}},
	})
	advertised := expect(t, adv, "advertised", 10*time.Second)

	added := expectEvent(t, browser, Added, "Alice's lobby. Come in", 10*time.Second)
	inTime(t, "Added", added.at().Sub(advertised.announced()), time.Second)
	ev := added.Event
	if ev.Port != 7777 || ev.Host != "host-a.local." || ev.Type != DefaultType ||
		!slices.Equal(ev.TXT, []string{"v=1", "players=1", "max=4"}) {
		t.Errorf("added event %+v", ev)
	}
	if !hasAddr(ev.Addrs, ea.IPv4) || !hasAddr(ev.Addrs, ea.IPv6) {
		t.Errorf("addresses %v lack %s or %s", ev.Addrs, ea.IPv4, ea.IPv6)
	}

	// A browser that starts later finds the service through its queries.
	late := startChild(b, "browse", childConfig{Type: DefaultType})
	lateReady := expect(t, late, "ready", 10*time.Second)
	lateAdded := expectEvent(t, late, Added, "Alice's lobby. Come in", 10*time.Second)
	t.Logf("late browser: Added %v after it started", lateAdded.at().Sub(lateReady.at()))

	if err := adv.Send("txt v=1 players=2 max=4"); err != nil {
		t.Fatal(err)
	}
	updated := expect(t, adv, "updated", 5*time.Second)
	for _, br := range []*netns.Child{browser, late} {
		up := expectEvent(t, br, Updated, "Alice's lobby. Come in", 10*time.Second)
		if !slices.Equal(up.Event.TXT, []string{"v=1", "players=2", "max=4"}) {
			t.Errorf("updated TXT %q", up.Event.TXT)
		}
		inTime(t, "Updated", up.at().Sub(updated.at()), time.Second)
	}

	if err := adv.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := expect(t, adv, "closed", 5*time.Second)
	for _, br := range []*netns.Child{browser, late} {
		rm := expectEvent(t, br, Removed, "Alice's lobby. Come in", 10*time.Second)
		inTime(t, "Removed", rm.at().Sub(closed.at()), time.Second)
	}
	// No re-announcement of a withdrawn service.
	noEvent(t, browser, 2*time.Second)
}

func TestLANRemovedAfterTTLWhenHostVanishes(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})

	const ttl = 3 * time.Second
	browser := startChild(b, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a", HostTTL: ttl, ServiceTTL: 2 * ttl},
		Service: Service{Instance: "Short-lived", Port: 7000},
	})
	expect(t, adv, "advertised", 10*time.Second)
	expectEvent(t, browser, Added, "Short-lived", 5*time.Second)
	// Announcements end at 3 s; the TTL is 3 s: only the browser's refresh
	// queries at 80-95% of the TTL keep the instance alive after 6 s.
	noEvent(t, browser, 10*time.Second)

	adv.Kill() // no goodbye
	killed := time.Now()
	rm := expectEvent(t, browser, Removed, "Short-lived", 10*time.Second)
	// The records were refreshed at most ~95% of the TTL ago.
	inTime(t, "Removed after SIGKILL", rm.at().Sub(killed), ttl)
}

func TestLANIPv6Only(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{NoIPv4: true})

	browser := startChild(b, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"},
		Service: Service{Instance: "v6 lobby", Port: 7777},
		Listen:  true,
	})
	advertised := expect(t, adv, "advertised", 10*time.Second)
	added := expectEvent(t, browser, Added, "v6 lobby", 10*time.Second)
	inTime(t, "Added", added.at().Sub(advertised.announced()), time.Second)
	linkLocal := false
	for _, a := range added.Event.Addrs {
		if a.Is4() {
			t.Errorf("IPv4 address %v on an IPv6-only link", a)
		}
		if a.IsLinkLocalUnicast() {
			linkLocal = true
			if a.Zone() != "eth0" {
				t.Errorf("link-local %v without the zone eth0", a)
			}
		}
	}
	if !hasAddr(added.Event.Addrs, ea.IPv6) || !linkLocal {
		t.Errorf("addresses %v, want %s and a link-local one", added.Event.Addrs, ea.IPv6)
	}
	// Every reported address, link-local ones with their zone, reaches
	// the service from the browser's namespace.
	for _, ap := range added.Event.AddrPorts() {
		if err := b.Do(func() error {
			c, err := net.DialTimeout("tcp", ap.String(), 5*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			buf := make([]byte, 5)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
				return fmt.Errorf("read %q: %v", buf, err)
			}
			return nil
		}); err != nil {
			t.Errorf("dial %v: %v", ap, err)
		}
	}
	if err := adv.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := expect(t, adv, "closed", 5*time.Second)
	rm := expectEvent(t, browser, Removed, "v6 lobby", 10*time.Second)
	inTime(t, "Removed", rm.at().Sub(closed.at()), time.Second)
}

func TestLANTwoInterfaces(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	ab, _ := lab.Link(a, b, netns.LinkOptions{})
	ac, _ := lab.Link(a, c, netns.LinkOptions{})

	bb := startChild(b, "browse", childConfig{Type: DefaultType})
	cb := startChild(c, "browse", childConfig{Type: DefaultType})
	expect(t, bb, "ready", 10*time.Second)
	expect(t, cb, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{
		Config:  Config{HostName: "host-a"}, // both eth0 and eth1
		Service: Service{Instance: "Two-armed", Port: 7777},
	})
	advertised := expect(t, adv, "advertised", 10*time.Second)
	for _, tc := range []struct {
		br         *netns.Child
		own, other string
	}{{bb, ab.IPv4, ac.IPv4}, {cb, ac.IPv4, ab.IPv4}} {
		added := expectEvent(t, tc.br, Added, "Two-armed", 10*time.Second)
		inTime(t, "Added", added.at().Sub(advertised.announced()), time.Second)
		// Each link learns the addresses of its own interface (RFC 6762
		// §6.2), never those of the other link.
		if !hasAddr(added.Event.Addrs, tc.own) || hasAddr(added.Event.Addrs, tc.other) {
			t.Errorf("%s: addresses %v, want %s and not %s", tc.br.Role, added.Event.Addrs, tc.own, tc.other)
		}
	}
	if err := adv.Send("close"); err != nil {
		t.Fatal(err)
	}
	closed := expect(t, adv, "closed", 5*time.Second)
	for _, br := range []*netns.Child{bb, cb} {
		rm := expectEvent(t, br, Removed, "Two-armed", 10*time.Second)
		inTime(t, "Removed", rm.at().Sub(closed.at()), time.Second)
	}

	// The other way round: a browser on both interfaces finds a service
	// on each link, with that link's addresses.
	ab2 := startChild(a, "browse", childConfig{Type: DefaultType})
	expect(t, ab2, "ready", 10*time.Second)
	startChild(b, "advertise", childConfig{Config: Config{HostName: "host-b"}, Service: Service{Instance: "On link 1", Port: 1}})
	startChild(c, "advertise", childConfig{Config: Config{HostName: "host-c"}, Service: Service{Instance: "On link 2", Port: 2}})
	want := map[string]string{"On link 1": "10.99.1.2", "On link 2": "10.99.2.2"}
	zone := map[string]string{"On link 1": ab.Name, "On link 2": ac.Name}
	for len(want) > 0 {
		l := expect(t, ab2, "event", 5*time.Second)
		addr, ok := want[l.Event.Instance]
		if !ok || l.Event.Kind != Added {
			t.Fatalf("unexpected %+v", l.Event)
		}
		if !hasAddr(l.Event.Addrs, addr) || len(l.Event.Addrs) != 3 { // IPv4, ULA, link-local
			t.Errorf("%s: addresses %v, want %s and the link's IPv6 ones", l.Event.Instance, l.Event.Addrs, addr)
		}
		for _, a := range l.Event.Addrs {
			if a.IsLinkLocalUnicast() && a.Zone() != zone[l.Event.Instance] {
				t.Errorf("%s: %v, want zone %s", l.Event.Instance, a, zone[l.Event.Instance])
			}
		}
		delete(want, l.Event.Instance)
	}
}

func TestLANKnownAnswerSuppression(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	lab.Bridge(netns.LinkOptions{}, a, b, c)

	advX := startChild(a, "advertise", childConfig{Config: Config{HostName: "host-a"}, Service: Service{Instance: "Lobby X", Port: 7001}})
	advY := startChild(c, "advertise", childConfig{Config: Config{HostName: "host-c"}, Service: Service{Instance: "Lobby Y", Port: 7002}})
	expect(t, advX, "advertised", 10*time.Second)
	expect(t, advY, "advertised", 10*time.Second)
	// Let the announcements (0, 1, 3 s) pass, and the one-second rate limit
	// on multicasting a record after the last one (RFC 6762 §6).
	time.Sleep(4500 * time.Millisecond)

	query := func(known ...string) map[string]bool {
		q := startChild(b, "kaquery", childConfig{Type: DefaultType, Known: known})
		expect(t, q, "ready", 10*time.Second)
		seen := map[string]bool{}
		for {
			l := next(t, q, 10*time.Second)
			if l.What == "done" {
				return seen
			}
			for _, in := range l.Instances {
				seen[in] = true
			}
		}
	}
	// Knowing nothing, the querier learns both.
	if seen := query(); !seen["Lobby X"] || !seen["Lobby Y"] {
		t.Fatalf("plain query: answers named %v, want Lobby X and Lobby Y", seen)
	}
	// Knowing X, it still learns Y, and X's responder stays quiet.
	seen := query("Lobby X")
	if !seen["Lobby Y"] {
		t.Errorf("query knowing Lobby X: answers named %v, want Lobby Y", seen)
	}
	if seen["Lobby X"] {
		t.Errorf("query knowing Lobby X: Lobby X answered anyway (%v)", seen)
	}
}

func TestLANAddressChangeIsAnnounced(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	ea, _ := lab.Link(a, b, netns.LinkOptions{})
	browser := startChild(b, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)
	adv := startChild(a, "advertise", childConfig{Config: Config{HostName: "host-a", NoProbe: true}, Service: Service{Instance: "Roaming", Port: 1}})
	expect(t, adv, "advertised", 10*time.Second)
	expectEvent(t, browser, Added, "Roaming", 5*time.Second)
	time.Sleep(4 * time.Second) // past the announcements

	// The host loses its address and gets a new one.
	for _, args := range [][]string{{"addr", "del", ea.IPv4 + "/24", "dev", ea.Name}, {"addr", "add", "10.99.1.77/24", "dev", ea.Name}} {
		if out, err := a.Run("ip", args...); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	changed := time.Now()
	deadline := changed.Add(10 * time.Second)
	for {
		l := expectEvent(t, browser, Updated, "Roaming", time.Until(deadline))
		if hasAddr(l.Event.Addrs, "10.99.1.77") && !hasAddr(l.Event.Addrs, ea.IPv4) {
			t.Logf("new address reported %v after the change", l.at().Sub(changed))
			inTime(t, "new address reported", l.at().Sub(changed), 2*time.Second)
			return
		}
	}
}
