package dnssd

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// TestNodeLifecycle runs childLifecycle in a namespace: the API contract of
// one Node (contexts, Close, ErrClosed, own services seen by own browses, no
// leaked goroutines), over real sockets.
func TestNodeLifecycle(t *testing.T) {
	t.Parallel()
	lab := netns.New(t)
	a, b := lab.NS("a"), lab.NS("b")
	lab.Link(a, b, netns.LinkOptions{})
	c := startChild(a, "lifecycle", childConfig{})
	if l := next(t, c, 30*time.Second); l.What != "ok" {
		t.Fatalf("lifecycle: %+v", l)
	}
}

func childLifecycle() error {
	ctx := context.Background()
	n, err := New(Config{HostName: "self"})
	if err != nil {
		return err
	}
	if len(n.Interfaces()) != 1 || n.Interfaces()[0] != "eth0" || n.HostName() != "self.local." {
		return fmt.Errorf("interfaces %v host %q", n.Interfaces(), n.HostName())
	}

	// A browse whose context ends closes its channel.
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	short, err := n.Browse(bctx, "")
	if err != nil {
		return err
	}
	cancel()
	if err := drained(short); err != nil {
		return fmt.Errorf("cancelled browse: %w", err)
	}

	// The Node's own services show up in its own browses.
	events, err := n.Browse(ctx, DefaultType)
	if err != nil {
		return err
	}
	reg, err := n.Advertise(ctx, Service{Instance: "Mine", Port: 1234, TXT: []string{"k=v"}})
	if err != nil {
		return err
	}
	if _, err := n.Advertise(ctx, Service{Instance: "mine", Port: 1}); !errors.Is(err, ErrDuplicate) {
		return fmt.Errorf("duplicate instance: %v", err)
	}
	ev, err := nextEvent(events)
	if err != nil || ev.Kind != Added || ev.Instance != "Mine" || ev.Port != 1234 {
		return fmt.Errorf("own service: %+v %v", ev, err)
	}
	if err := reg.UpdateTXT(ctx, []string{"k=w"}); err != nil {
		return err
	}
	if ev, err := nextEvent(events); err != nil || ev.Kind != Updated {
		return fmt.Errorf("own update: %+v %v", ev, err)
	}
	if s := reg.Service(); s.TXT[0] != "k=w" || s.Host != "self.local." || s.Type != DefaultType {
		return fmt.Errorf("Service() = %+v", s)
	}
	if err := reg.Close(); err != nil {
		return err
	}
	if err := reg.Close(); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("second Close: %v", err)
	}
	if err := reg.UpdateTXT(ctx, nil); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("UpdateTXT after Close: %v", err)
	}
	if ev, err := nextEvent(events); err != nil || ev.Kind != Removed {
		return fmt.Errorf("own goodbye: %+v %v", ev, err)
	}

	// A cancelled context stops a blocking call with context.Canceled.
	dead, cancelDead := context.WithCancel(ctx)
	cancelDead()
	defer cancelDead()
	if _, err := n.Advertise(dead, Service{Instance: "Late", Port: 1}); !errors.Is(err, context.Canceled) {
		return fmt.Errorf("Advertise with a cancelled context: %v", err)
	}

	// A context that ends during probing withdraws the service and frees
	// its name.
	quick, cancelQuick := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelQuick()
	if _, err := n.Advertise(quick, Service{Instance: "Hasty", Port: 1}); !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("Advertise cut short by its context: %v", err)
	}
	hasty, err := n.Advertise(ctx, Service{Instance: "Hasty", Port: 1})
	if err != nil {
		return fmt.Errorf("Advertise of a withdrawn name: %v", err)
	}
	if ev, err := nextEvent(events); err != nil || ev.Kind != Added || ev.Instance != "Hasty" {
		return fmt.Errorf("after withdrawal: %+v %v", ev, err)
	}
	_ = hasty

	// Close withdraws what is left, closes browses, and later calls fail.
	reg2, err := n.Advertise(ctx, Service{Instance: "Second", Port: 2})
	if err != nil {
		return err
	}
	if err := n.Close(); err != nil {
		return err
	}
	if err := n.Close(); err != nil {
		return fmt.Errorf("second Node.Close: %v", err)
	}
	if err := drained(events); err != nil {
		return fmt.Errorf("browse after Node.Close: %w", err)
	}
	if err := reg2.Close(); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Registration.Close after Node.Close: %v", err)
	}
	if _, err := n.Advertise(ctx, Service{Instance: "After", Port: 1}); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Advertise after Close: %v", err)
	}
	if _, err := n.Browse(ctx, ""); !errors.Is(err, ErrClosed) {
		return fmt.Errorf("Browse after Close: %v", err)
	}
	if st := n.Stats(); st.PacketsSent == 0 || st.PacketsReceived == 0 {
		return fmt.Errorf("stats %+v", st)
	}
	if err := goleak.Find(); err != nil {
		return err
	}
	emit(childLine{What: "ok"})
	return nil
}

func nextEvent(events <-chan Event) (Event, error) {
	select {
	case ev, ok := <-events:
		if !ok {
			return Event{}, errors.New("channel closed")
		}
		return ev, nil
	case <-time.After(5 * time.Second):
		return Event{}, errors.New("no event within 5 s")
	}
}

// drained reads events until the channel closes, for at most 5 s.
func drained(events <-chan Event) error {
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return nil
			}
		case <-deadline:
			return errors.New("channel not closed within 5 s")
		}
	}
}
