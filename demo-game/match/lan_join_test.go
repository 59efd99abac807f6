package match

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
)

// flakyFront listens on loopback and closes the first fail connections it
// accepts at once (a dial that gets no WebSocket handshake, as when a
// lossy LAN eats it); later ones are passed through to target.
type flakyFront struct {
	ln       net.Listener
	target   string
	fail     int32
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func newFlakyFront(t *testing.T, target string, fail int32) *flakyFront {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyFront{ln: ln, target: target, fail: fail}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return f
}

func (f *flakyFront) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		if f.accepted.Add(1) <= f.fail {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", f.target)
		if err != nil {
			c.Close()
			continue
		}
		f.wg.Add(2)
		pipe := func(dst, src net.Conn) {
			defer f.wg.Done()
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(up, c)
		go pipe(c, up)
	}
}

func (f *flakyFront) lanLobby(id string) lobby.LANLobby {
	ap := netip.MustParseAddrPort(f.ln.Addr().String())
	l := lobby.LANLobby{ID: id, Name: "flaky", Max: 4, Addrs: []netip.AddrPort{ap}}
	l.URL = l.URLFor(ap)
	return l
}

// TestJoinLANRetriesOnTheWay: a join whose first dials get no handshake
// (the connection closed at once) tries again until one gets through; a
// refusal by the host (no such lobby) is returned at once, after one try.
func TestJoinLANRetriesOnTheWay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url := lobbyServer(t)
	owner, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	created, err := owner.Create(ctx, lobby.CreateData{Name: "flaky", MaxMembers: 4})
	if err != nil {
		t.Fatal(err)
	}
	target := strings.TrimPrefix(url, "ws://")

	f := newFlakyFront(t, target, 2)
	lb, err := JoinLAN(ctx, f.lanLobby(created.ID), LobbyConfig{Player: "bot"})
	if err != nil {
		t.Fatalf("join after two failed dials: %v", err)
	}
	defer lb.Close()
	if n := f.accepted.Load(); n != 3 {
		t.Fatalf("%d connections for the join, want 2 closed and 1 that got through", n)
	}
	if st, _ := lb.Client().State(); st.ID != created.ID || len(st.Members) != 2 {
		t.Fatalf("lobby after the join: %+v", st)
	}

	g := newFlakyFront(t, target, 0)
	if _, err := JoinLAN(ctx, g.lanLobby("no-such-lobby"), LobbyConfig{Player: "bot"}); !errors.Is(err, lobby.ErrNotFound) {
		t.Fatalf("join of a lobby the host does not have: %v, want lobby.ErrNotFound", err)
	}
	if n := g.accepted.Load(); n != 1 {
		t.Fatalf("%d connections for a refused join, want 1", n)
	}

	dead := newFlakyFront(t, target, 1<<30)
	short, cancelShort := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancelShort()
	if _, err := JoinLAN(short, dead.lanLobby(created.ID), LobbyConfig{Player: "bot"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("join of a host that never answers: %v, want the context's deadline", err)
	}
	if n := dead.accepted.Load(); n < 2 {
		t.Fatalf("%d dials to a host that never answers in 1.5 s, want it tried again", n)
	}
}
