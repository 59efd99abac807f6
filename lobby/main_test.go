package lobby_test

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

func TestMain(m *testing.M) {
	if role, args, ok := netns.ChildRole(); ok {
		os.Exit(runChild(role, args))
	}
	goleak.VerifyTestMain(m)
}

// served is a real signaling server with the lobby service on 127.0.0.1:0.
type served struct {
	url  string
	srv  *signaling.Server
	svc  *lobby.Service
	stop func()
}

func serve(t testing.TB, sc signaling.Config, lc lobby.Config) *served {
	t.Helper()
	srv := signaling.NewServer(sc)
	svc, err := lobby.New(srv, lc)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = svc.Close()
			_ = srv.Close()
			hs.Close()
		})
	}
	t.Cleanup(stop)
	return &served{url: "ws" + strings.TrimPrefix(hs.URL, "http"), srv: srv, svc: svc, stop: stop}
}

// droppable records the client's TCP connection so a test can cut it.
// While paused it refuses new connections.
type droppable struct {
	mu     sync.Mutex
	c      net.Conn
	paused bool
}

func (d *droppable) pause(p bool) {
	d.mu.Lock()
	d.paused = p
	d.mu.Unlock()
}

func (d *droppable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	paused := d.paused
	d.mu.Unlock()
	if paused {
		return nil, errors.New("test: network paused")
	}
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	d.mu.Lock()
	d.c = c
	d.mu.Unlock()
	return c, err
}

func (d *droppable) drop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.c != nil {
		d.c.Close()
	}
}

func dial(t testing.TB, url string, cfg *signaling.ClientConfig) *lobby.Client {
	t.Helper()
	if cfg == nil {
		cfg = &signaling.ClientConfig{DisableReconnect: true}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := lobby.Dial(ctx, url, &lobby.ClientConfig{Signaling: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitEvent returns the first event of c that match accepts, failing after
// a generous deadline.
func waitEvent(t testing.TB, c *lobby.Client, match func(lobby.Event) bool) lobby.Event {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("%s: events closed", c.ID())
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no matching event", c.ID())
		}
	}
}

// waitState waits for a state that satisfies ok: pushed as a change, or
// fetched whole by a resync (which the client does when it sees a gap in
// the versions, as a loaded machine can make happen around a join).
// States older than the one the client holds on entry are skipped: events
// an earlier wait left unread in the queue tell of the past, and one of
// them passing ok says nothing about the state now.
func waitState(t testing.TB, c *lobby.Client, ok func(lobby.State) bool) lobby.State {
	t.Helper()
	cur, in := c.State()
	if in && ok(cur) {
		return cur
	}
	var got lobby.State
	waitEvent(t, c, func(ev lobby.Event) bool {
		switch ev := ev.(type) {
		case lobby.StateChanged:
			got = ev.State
		case lobby.Resynced:
			if ev.Err != nil {
				return false
			}
			got = ev.State
		default:
			return false
		}
		if in && got.ID == cur.ID && got.Version < cur.Version {
			return false // old news
		}
		return ok(got)
	})
	return got
}

func wantCode(t testing.TB, err error, sentinel error, code string) {
	t.Helper()
	if sentinel == nil { // a raw request: only the wire error
		if !errors.Is(err, &signaling.Error{Code: code}) {
			t.Fatalf("got %v, want %s", err, code)
		}
		return
	}
	var le *lobby.Error
	if !errors.Is(err, sentinel) || !errors.As(err, &le) || le.Code != code {
		t.Fatalf("got %v, want %s (%v)", err, code, sentinel)
	}
	var se *signaling.Error
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("%v does not unwrap to the wire error", err)
	}
}

// loadSlack is what a timing assertion allows on top of a protocol figure:
// CI runs every package's -race tests at once on two loaded cores, where a
// child process may wait seconds for a CPU. The figures themselves (a
// lobby shows within 1 s of its announcement and goes within 1 s of its
// goodbye) are measured by BenchmarkLANDiscovery; tests log what they see
// and fail only past the slack, which still catches a removal that waits
// for the TTL or a missed announcement.
const loadSlack = 4 * time.Second

// inTime logs that what took d and fails the test when d is past want
// plus loadSlack.
func inTime(t testing.TB, what string, d, want time.Duration) {
	t.Helper()
	t.Logf("%s after %v (figure %v)", what, d, want)
	if d > want+loadSlack {
		t.Errorf("%s after %v, want within %v (+%v for load)", what, d, want, loadSlack)
	}
}
