package nearby

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// memNet is an in-memory lossy network of Nearby instances for the tests
// of the stream logic.
type memNet struct {
	mu    sync.Mutex
	loss  float64
	rng   *rand.Rand
	nodes map[netip.AddrPort]*Nearby
}

type memLink struct {
	net  *memNet
	self netip.AddrPort
}

func (l *memLink) send(r route, b []byte) error {
	l.net.mu.Lock()
	drop := l.net.rng.Float64() < l.net.loss
	dst := l.net.nodes[r.addr]
	l.net.mu.Unlock()
	if drop || dst == nil {
		return nil
	}
	select {
	case dst.in <- inbound{b: append([]byte(nil), b...), src: route{addr: l.self}}:
	case <-dst.quit:
	default: // a full queue drops, as a socket buffer would
	}
	return nil
}

func (l *memLink) close() {}

func (l *memLink) routeFor(string) (route, bool) { return route{}, false }

type nopPresence struct{}

func (nopPresence) publish(context.Context, Profile) error { return nil }
func (nopPresence) withdraw(context.Context) error         { return nil }
func (nopPresence) close()                                 {}

func (m *memNet) add(t *testing.T, port uint16, cfg Config) *Nearby {
	t.Helper()
	if cfg.Identity == nil {
		id, err := NewIdentity()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Identity = id
	}
	n := newNearby(cfg, cfg.Identity.ID())
	ap := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)
	n.link = &memLink{net: m, self: ap}
	n.pres = nopPresence{}
	m.mu.Lock()
	m.nodes[ap] = n
	m.mu.Unlock()
	n.start()
	t.Cleanup(func() { n.Close() })
	return n
}

// see makes a know b as a visible player.
func see(t *testing.T, a, b *Nearby, port uint16) {
	t.Helper()
	pl := &Player{ID: b.ID(), Key: b.ident.Public(), Profile: Profile{Name: "p" + b.ID()[:4], Status: Idle},
		Addr: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)}
	if err := a.call(context.Background(), func() error { a.presenceUpdate("inst-"+b.ID(), pl); return nil }); err != nil {
		t.Fatal(err)
	}
}

func newMemNet(loss float64) *memNet {
	return &memNet{loss: loss, rng: rand.New(rand.NewPCG(1, 2)), nodes: map[netip.AddrPort]*Nearby{}}
}

func nextEvent(t *testing.T, n *Nearby, match func(Event) bool) Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-n.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no matching event")
		}
	}
}

func TestMessagesOnceInOrderUnderLoss(t *testing.T) {
	net := newMemNet(0.3)
	a := net.add(t, 1, Config{})
	b := net.add(t, 2, Config{RateLimit: 1000, RateBurst: 1000})
	see(t, a, b, 2)
	const count = 60
	var acks []<-chan error
	for i := range count {
		ack, err := a.Post(b.ID(), fmt.Sprintf("m%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, ack)
	}
	for i := range count {
		ev := nextEvent(t, b, func(ev Event) bool { _, ok := ev.(MessageReceived); return ok }).(MessageReceived)
		if want := fmt.Sprintf("m%03d", i); ev.Text != want {
			t.Fatalf("message %d is %q, want %q", i, ev.Text, want)
		}
		if ev.From.ID != a.ID() || !ev.From.Key.Equal(a.ident.Public()) || ev.From.Addr.Port() != 1 {
			t.Fatalf("sender %+v", ev.From)
		}
	}
	for _, ack := range acks {
		if err := <-ack; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case ev := <-b.Events():
		t.Fatalf("extra event %#v", ev)
	case <-time.After(300 * time.Millisecond):
	}
	if a.Stats().Retransmits == 0 {
		t.Fatal("no retransmission at 30% loss")
	}
	if h := a.History(b.ID()); len(h) != count || !h[0].Outgoing {
		t.Fatalf("sender history has %d entries", len(h))
	}
}

func TestHistoryBounded(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{})
	b := net.add(t, 2, Config{HistoryLen: 5, RateBurst: 100, RateLimit: 1000})
	see(t, a, b, 2)
	for i := range 12 {
		if err := a.Send(context.Background(), b.ID(), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	nextEvent(t, b, func(ev Event) bool { m, ok := ev.(MessageReceived); return ok && m.Text == "11" })
	h := b.History(a.ID())
	if len(h) != 5 || h[0].Text != "7" || h[4].Text != "11" || h[0].Outgoing {
		t.Fatalf("history %+v", h)
	}
}

func TestBlockAndUnknown(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{DeliveryTimeout: 500 * time.Millisecond})
	b := net.add(t, 2, Config{})
	see(t, a, b, 2)
	if err := a.Send(context.Background(), "nobody", "hi"); !errors.Is(err, ErrUnknownPlayer) {
		t.Fatalf("to an unknown player: %v", err)
	}
	b.Block(a.ID())
	if err := a.Send(context.Background(), b.ID(), "hi"); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("to a player that blocks us: %v", err)
	}
	a.Block(b.ID())
	if err := a.Send(context.Background(), b.ID(), "hi"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("to a blocked player: %v", err)
	}
	a.Unblock(b.ID())
	b.Unblock(a.ID())
	if err := a.Send(context.Background(), b.ID(), "after"); err != nil {
		t.Fatal(err)
	}
	// The given-up message is skipped (Base), the next one delivered.
	ev := nextEvent(t, b, func(ev Event) bool { _, ok := ev.(MessageReceived); return ok }).(MessageReceived)
	if ev.Text != "after" {
		t.Fatalf("got %q", ev.Text)
	}
}

func TestRateLimited(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{DeliveryTimeout: 300 * time.Millisecond})
	b := net.add(t, 2, Config{RateLimit: 0.001, RateBurst: 3})
	see(t, a, b, 2)
	for i := range 3 {
		if err := a.Send(context.Background(), b.ID(), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Send(context.Background(), b.ID(), "over"); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("past the burst: %v", err)
	}
	if b.Stats().Limited == 0 {
		t.Fatal("nothing counted as limited")
	}
}

func TestInviteAndAnswer(t *testing.T) {
	net := newMemNet(0.1)
	a := net.add(t, 1, Config{})
	b := net.add(t, 2, Config{})
	see(t, a, b, 2)
	id, err := a.Invite(context.Background(), b.ID(), Invitation{Lobby: "l1", Name: "Fun", Port: 7000})
	if err != nil {
		t.Fatal(err)
	}
	inv := nextEvent(t, b, func(ev Event) bool { _, ok := ev.(InviteReceived); return ok }).(InviteReceived)
	if inv.Invitation.ID != id || inv.Invitation.Lobby != "l1" || inv.From.ID != a.ID() {
		t.Fatalf("invitation %+v", inv)
	}
	// b answers to the address the invitation came from, without
	// presence of a.
	if err := b.Answer(context.Background(), inv.From.ID, id, true); err != nil {
		t.Fatal(err)
	}
	ans := nextEvent(t, a, func(ev Event) bool { _, ok := ev.(InviteAnswered); return ok }).(InviteAnswered)
	if ans.ID != id || !ans.Accepted || ans.From.ID != b.ID() {
		t.Fatalf("answer %+v", ans)
	}
}

// TestRestartedSender: a sender that restarts (new epoch) starts a new
// stream the receiver takes; packets of the old epoch are dropped.
func TestRestartedSender(t *testing.T) {
	net := newMemNet(0)
	id, _ := NewIdentity()
	a := net.add(t, 1, Config{Identity: id})
	b := net.add(t, 2, Config{})
	see(t, a, b, 2)
	if err := a.Send(context.Background(), b.ID(), "one"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, b, func(ev Event) bool { _, ok := ev.(MessageReceived); return ok })
	a.Close()
	a2 := net.add(t, 1, Config{Identity: id})
	a2.epoch = a.epoch // a clock that did not move: epochs still grow
	see(t, a2, b, 2)
	if err := a2.Send(context.Background(), b.ID(), "two"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, b, func(ev Event) bool { _, ok := ev.(MessageReceived); return ok }).(MessageReceived); ev.Text != "two" {
		t.Fatalf("got %q", ev.Text)
	}
}

func TestPresenceEvents(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{})
	b := net.add(t, 2, Config{})
	see(t, a, b, 2)
	if ev := nextEvent(t, a, func(Event) bool { return true }); ev.(PlayerJoined).Player.ID != b.ID() {
		t.Fatalf("%#v", ev)
	}
	pl := a.Players()[0]
	pl.Status = InMatch
	_ = a.call(context.Background(), func() error { a.presenceUpdate("inst-"+b.ID(), &pl); return nil })
	ch := nextEvent(t, a, func(Event) bool { return true }).(PlayerChanged)
	if ch.Old.Status != Idle || ch.Player.Status != InMatch {
		t.Fatalf("%+v", ch)
	}
	_ = a.call(context.Background(), func() error { a.presenceUpdate("inst-"+b.ID(), nil); return nil })
	if ev := nextEvent(t, a, func(Event) bool { return true }); ev.(PlayerLeft).Player.ID != b.ID() {
		t.Fatalf("%#v", ev)
	}
	if len(a.Players()) != 0 {
		t.Fatal("left player still listed")
	}
}

// TestForgottenSendStream: a sender that forgot its stream to a receiver
// (evicted) starts a new one with a newer epoch; the receiver takes it and
// nothing is acknowledged without being delivered.
func TestForgottenSendStream(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{})
	b := net.add(t, 2, Config{})
	see(t, a, b, 2)
	for _, text := range []string{"one", "two"} {
		if err := a.Send(context.Background(), b.ID(), text); err != nil {
			t.Fatal(err)
		}
		if ev := nextEvent(t, b, func(ev Event) bool { _, ok := ev.(MessageReceived); return ok }).(MessageReceived); ev.Text != text {
			t.Fatalf("got %q, want %q", ev.Text, text)
		}
		_ = a.call(context.Background(), func() error { a.evictOut(); return nil })
	}
}

func TestRTOEstimate(t *testing.T) {
	var st outStream
	if st.rto() != initialRTO {
		t.Fatalf("no sample: %v", st.rto())
	}
	for range 20 {
		st.sample(time.Millisecond)
	}
	if st.rto() != initialRTO {
		t.Fatalf("a fast link: %v, want the floor %v", st.rto(), initialRTO)
	}
	for range 50 {
		st.sample(300 * time.Millisecond)
	}
	if r := st.rto(); r < 300*time.Millisecond || r > maxRTO {
		t.Fatalf("a 300 ms link: %v", r)
	}
	for range 50 {
		st.sample(5 * time.Second)
	}
	if st.rto() != maxRTO {
		t.Fatalf("a slow link: %v, want the cap %v", st.rto(), maxRTO)
	}
}

func TestVisibleNeedsAName(t *testing.T) {
	net := newMemNet(0)
	a := net.add(t, 1, Config{})
	if err := a.SetVisible(context.Background(), true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("visible without a name: %v", err)
	}
	if err := a.SetProfile(context.Background(), Profile{Name: "Al"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetVisible(context.Background(), true); err != nil || !a.Visible() {
		t.Fatalf("visible: %v %v", err, a.Visible())
	}
	if err := a.SetProfile(context.Background(), Profile{Name: "bad\x00name"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("control character: %v", err)
	}
}
