package dnssd

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// BenchmarkLANDiscovery measures, between two processes in two network
// namespaces joined by a veth pair, the time from Advertise to the browser's
// Added event (without probing, and with it: probed-added-ms) and from
// Registration.Close to its Removed event, one
// advertise/close cycle per iteration. Its baseline, measured in the same
// run on the same link, is the one-way time of a raw UDP multicast datagram
// between the same two namespaces. Each iteration takes about a second
// (Removed comes GoodbyeDelay, 800 ms, after the goodbye), so run it with a
// fixed count:
//
//	go test -run '^$' -bench LANDiscovery -benchtime 20x ./lobby/dnssd/
func BenchmarkLANDiscovery(b *testing.B) {
	lab := netns.New(b)
	na, nb := lab.NS("a"), lab.NS("b")
	lab.Link(na, nb, netns.LinkOptions{})
	browser := startChild(nb, "browse", childConfig{Type: DefaultType})
	pong := startChild(nb, "pong", childConfig{})
	// adv announces at once (NoProbe) for the pure discovery latency;
	// prober probes first, as Advertise does by default.
	adv := startChild(na, "advertise", childConfig{Config: Config{HostName: "host-a", NoProbe: true}, Service: Service{Port: 7777, TXT: []string{"v=1"}}})
	prober := startChild(na, "advertise", childConfig{Config: Config{HostName: "host-p"}, Service: Service{Port: 7778, TXT: []string{"v=1"}}})
	benchExpect(b, browser, "ready")
	benchExpect(b, pong, "ready")

	var probe, added, removed, raw []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("Lobby %d", i)
		if err := adv.Send("adv " + name); err != nil {
			b.Fatal(err)
		}
		start := benchExpect(b, adv, "advertised")
		ev := benchExpect(b, browser, "event")
		if ev.Event.Kind != Added || ev.Event.Instance != name {
			b.Fatalf("got %+v, want Added %q", ev.Event, name)
		}
		added = append(added, ev.at().Sub(start.at()))

		if err := adv.Send("close " + name); err != nil {
			b.Fatal(err)
		}
		closed := benchExpect(b, adv, "closed")
		ev = benchExpect(b, browser, "event")
		if ev.Event.Kind != Removed || ev.Event.Instance != name {
			b.Fatalf("got %+v, want Removed %q", ev.Event, name)
		}
		removed = append(removed, ev.at().Sub(closed.at()))

		if err := prober.Send("adv P" + name); err != nil {
			b.Fatal(err)
		}
		start = benchExpect(b, prober, "advertised")
		ev = benchExpect(b, browser, "event")
		if ev.Event.Kind != Added || ev.Event.Instance != "P"+name {
			b.Fatalf("got %+v, want Added %q", ev.Event, "P"+name)
		}
		probe = append(probe, ev.at().Sub(start.at()))
		if err := prober.Send("close P" + name); err != nil {
			b.Fatal(err)
		}
		benchExpect(b, prober, "closed")
		benchExpect(b, browser, "event")

		if err := adv.Send("ping"); err != nil {
			b.Fatal(err)
		}
		sent := benchExpect(b, adv, "pinged")
		got := benchExpect(b, pong, "pong")
		raw = append(raw, got.at().Sub(sent.at()))
	}
	b.StopTimer()
	ma, mr, mb := median(added), median(removed), median(raw)
	b.ReportMetric(float64(median(probe))/1e6, "probed-added-ms")
	b.ReportMetric(float64(ma)/1e6, "added-ms")
	b.ReportMetric(float64(mr)/1e6, "removed-ms")
	b.ReportMetric(float64(mb)/1e3, "raw-multicast-µs")
	b.ReportMetric(float64(ma)/float64(mb), "added/raw")
	b.Logf("n=%d  Advertise->Added median %v (max %v; %v with probing)  Close->Removed median %v (max %v; GoodbyeDelay 800ms)  "+
		"raw multicast one-way median %v  ratio Added/raw %.1fx",
		len(added), ma, slices.Max(added), median(probe), mr, slices.Max(removed), mb, float64(ma)/float64(mb))
}

func benchExpect(b *testing.B, c *netns.Child, what string) childLine {
	b.Helper()
	l, err := c.Next(10 * time.Second)
	if err != nil {
		b.Fatalf("%s: %v", c.Role, err)
	}
	var cl childLine
	if err := jsonUnmarshal(l.Text, &cl); err != nil || cl.What != what {
		b.Fatalf("%s: got %q, want %q (%v)", c.Role, l.Text, what, err)
	}
	return cl
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
