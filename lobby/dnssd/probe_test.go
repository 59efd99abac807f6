package dnssd

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// probingNode is a test node with probing on and a registration for
// "Lobby" in the middle of probing.
func probingNode(t *testing.T) (*testNode, *Registration) {
	tn := newTestNode(t, Config{})
	tn.cfg.NoProbe = false
	r, err := tn.newRegistration(Service{Instance: "Lobby", Port: 7777})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.addRegistration(r, t0); err != nil {
		t.Fatal(err)
	}
	return tn, r
}

func ready(r *Registration) (error, bool) {
	select {
	case err := <-r.ready:
		return err, true
	default:
		return nil, false
	}
}

func TestProbesThreeTimesThenAnnounces(t *testing.T) {
	tn, r := probingNode(t)
	var probesAt, announcedAt []time.Duration
	for at := time.Duration(0); at <= 2*time.Second; at += 10 * time.Millisecond {
		tn.wake(t0.Add(at))
		for _, p := range tn.take() {
			if p.v6 {
				continue
			}
			if p.m.response() {
				announcedAt = append(announcedAt, at)
				continue
			}
			q := p.m.Questions
			if len(q) != 1 || q[0].Type != typeANY || q[0].QU || q[0].Name != "Lobby._rallypoint._tcp.local." ||
				len(p.m.Authorities) != 2 {
				t.Fatalf("probe %+v", p.m)
			}
			probesAt = append(probesAt, at)
		}
		// Nobody hears about it while it probes.
		if len(announcedAt) == 0 {
			tn.receive(ptrQuery(), querier, t0.Add(at))
			if len(tn.pending) > 0 {
				t.Fatal("answered a query while probing")
			}
		}
	}
	if len(probesAt) != 3 || probesAt[0] > probeGap || probesAt[1]-probesAt[0] != probeGap || probesAt[2]-probesAt[1] != probeGap {
		t.Fatalf("probes at %v, want three 250 ms apart starting within 250 ms", probesAt)
	}
	if len(announcedAt) == 0 || announcedAt[0] != probesAt[2]+probeGap {
		t.Fatalf("announced at %v, want 250 ms after the last probe (%v)", announcedAt, probesAt[2])
	}
	if err, ok := ready(r); !ok || err != nil {
		t.Fatalf("ready: %v %v", err, ok)
	}
}

func TestProbeConflictRenames(t *testing.T) {
	tn, r := probingNode(t)
	tn.wake(t0.Add(250 * time.Millisecond))
	// Someone else already answers for "Lobby" with another port.
	other := response("Lobby", 9999, nil, "10.0.0.5", 120)
	tn.receive(other, querier, t0.Add(300*time.Millisecond))
	if r.svc.Instance != "Lobby (2)" || r.instFQDN != "Lobby (2)._rallypoint._tcp.local." {
		t.Fatalf("renamed to %q (%q)", r.svc.Instance, r.instFQDN)
	}
	// A response repeating our own proposed records is no conflict.
	mine := &message{Flags: flagResponse, Answers: []record{tn.srvRecord(r), tn.txtRecord(r)}}
	tn.receive(mine, querier, t0.Add(350*time.Millisecond))
	if r.svc.Instance != "Lobby (2)" {
		t.Fatalf("renamed again to %q", r.svc.Instance)
	}
	tn.run(t0.Add(400*time.Millisecond), t0.Add(2*time.Second))
	if err, ok := ready(r); !ok || err != nil {
		t.Fatalf("ready: %v %v", err, ok)
	}
	if len(tn.regs) != 1 || tn.regs[0] != r || r.svc.Instance != "Lobby (2)" {
		t.Fatalf("registered %+v", tn.regs)
	}
}

func TestProbeGivesUpAfterTenRenames(t *testing.T) {
	tn, r := probingNode(t)
	now := t0
	for i := 0; i < 20; i++ {
		now = now.Add(10 * time.Millisecond)
		tn.receive(response(r.svc.Instance, 9999, nil, "10.0.0.5", 120), querier, now)
		if err, ok := ready(r); ok {
			if err == nil || !errorsIs(err, ErrConflict) {
				t.Fatalf("ready: %v", err)
			}
			if len(tn.probing) != 0 || len(tn.regs) != 0 {
				t.Fatal("registration left behind")
			}
			return
		}
	}
	t.Fatal("never gave up")
}

func TestRenamedKeepsWithinOneLabel(t *testing.T) {
	long := string(slices.Repeat([]byte("é"), 31)) // 62 bytes
	got := renamed(long, 12)
	if len(got) > MaxInstanceLen || got[len(got)-5:] != " (12)" || validInstance(got) != "" {
		t.Fatalf("renamed: %q (%d bytes)", got, len(got))
	}
}

func TestSimultaneousProbeTiebreak(t *testing.T) {
	tn, r := probingNode(t)
	tn.wake(t0.Add(250 * time.Millisecond))
	probeFrom := func(port uint16) *message {
		srv := tn.srvRecord(r)
		srv.Port = port
		return &message{
			Questions:   []question{{Name: r.instFQDN, Type: typeANY, Class: classIN}},
			Authorities: []record{srv, tn.txtRecord(r)},
		}
	}
	// A rival with a lower port (lexicographically earlier SRV data)
	// loses: our probing goes on.
	left := r.probeLeft
	tn.receive(probeFrom(1), querier, t0.Add(260*time.Millisecond))
	if r.probeLeft != left || r.svc.Instance != "Lobby" {
		t.Fatalf("lost to an earlier rival: %d probes left, name %q", r.probeLeft, r.svc.Instance)
	}
	// Our own probe, looped back, is a tie: nothing happens.
	tn.receive(probeFrom(7777), querier, t0.Add(270*time.Millisecond))
	if r.probeLeft != left {
		t.Fatal("reacted to our own probe")
	}
	// A rival with a higher port wins: we wait a second and probe again.
	tn.receive(probeFrom(9000), querier, t0.Add(280*time.Millisecond))
	if r.probeLeft != probes || !r.probeNext.Equal(t0.Add(1280*time.Millisecond)) {
		t.Fatalf("after losing: %d probes left, next at +%v", r.probeLeft, r.probeNext.Sub(t0))
	}
}

func TestLANDuplicateNameIsRenamed(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b, c := lab.NS("a"), lab.NS("b"), lab.NS("c")
	lab.Bridge(netns.LinkOptions{}, a, b, c)
	browser := startChild(c, "browse", childConfig{Type: DefaultType})
	expect(t, browser, "ready", 10*time.Second)

	first := startChild(a, "advertise", childConfig{Config: Config{HostName: "host-a"}, Service: Service{Instance: "Lobby", Port: 1}})
	f := expect(t, first, "advertised", 10*time.Second)
	if f.Instance != "Lobby" {
		t.Fatalf("first got %q", f.Instance)
	}
	second := startChild(b, "advertise", childConfig{Config: Config{HostName: "host-b"}, Service: Service{Instance: "Lobby", Port: 2}})
	l := expect(t, second, "advertised", 10*time.Second)
	if l.Instance != "Lobby (2)" {
		t.Fatalf("second got %q, want Lobby (2)", l.Instance)
	}
	t.Logf("Advertise took %v (first), %v with the rename (second)", time.Duration(f.Took), time.Duration(l.Took))
	got := map[string]uint16{}
	for len(got) < 2 {
		ev := expect(t, browser, "event", 5*time.Second).Event
		if ev.Kind != Added {
			t.Fatalf("unexpected %+v", ev)
		}
		got[ev.Instance] = ev.Port
	}
	if got["Lobby"] != 1 || got["Lobby (2)"] != 2 {
		t.Fatalf("browser saw %v", got)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestDefendsNameAgainstProbeAtOnce(t *testing.T) {
	tn := newTestNode(t, Config{})
	r := tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.wake(t0) // first announcement: every record just multicast
	tn.take()
	srv := tn.srvRecord(r)
	srv.Port = 1
	probe := &message{
		Questions:   []question{{Name: r.instFQDN, Type: typeANY, Class: classIN}},
		Authorities: []record{srv},
	}
	tn.receive(probe, querier, t0.Add(300*time.Millisecond))
	sent := tn.take()
	if len(sent) != 1 || sent[0].dst.IsValid() || len(sent[0].m.Answers) != 2 {
		t.Fatalf("defence %+v, want an immediate multicast of SRV and TXT", sent)
	}
}

func TestLateConflictRenames(t *testing.T) {
	tn := newTestNode(t, Config{})
	r := tn.advertise(Service{Instance: "Lobby", Port: 7777}, t0)
	tn.cfg.NoProbe = false
	tn.run(t0, t0.Add(5*time.Second))
	<-r.ready

	// Our own records looped back, or from our own address: no conflict.
	other := response("Lobby", 9999, nil, "10.0.0.5", 120)
	tn.receive(other, netip.MustParseAddrPort("10.0.0.1:5353"), t0.Add(5*time.Second))
	if len(tn.regs) != 1 || r.svc.Instance != "Lobby" {
		t.Fatal("took a packet from its own address for a conflict")
	}
	// Another host announces "Lobby" with other data.
	tn.receive(other, querier, t0.Add(5*time.Second))
	if len(tn.regs) != 0 || r.svc.Instance != "Lobby (2)" || len(tn.probing) != 1 {
		t.Fatalf("after a late conflict: regs %d, probing %d, name %q", len(tn.regs), len(tn.probing), r.svc.Instance)
	}
	var bye bool
	for _, p := range tn.take() {
		for _, rec := range p.m.Answers {
			bye = bye || rec.Type == typeSRV && rec.TTL == 0 && rec.Name == "Lobby._rallypoint._tcp.local."
		}
	}
	if !bye {
		t.Fatal("no goodbye for the old name")
	}
	tn.run(t0.Add(5*time.Second), t0.Add(7*time.Second))
	if len(tn.regs) != 1 || tn.regs[0] != r {
		t.Fatal("not announced again under the new name")
	}
}
