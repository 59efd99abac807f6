package mmclient_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a real signaling server on 127.0.0.1 with the real matchmaker
// service. Passes run only when a test calls pass, so that matching is
// deterministic.
type env struct {
	srv *signaling.Server
	svc *service.Service
	url string
}

func newEnv(t *testing.T, scfg signaling.Config, cfg service.Config) *env {
	t.Helper()
	srv := signaling.NewServer(scfg)
	hs := httptest.NewServer(srv)
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour
	}
	svc, err := service.New(srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return &env{srv: srv, svc: svc, url: "ws" + strings.TrimPrefix(hs.URL, "http")}
}

func (e *env) pass(t *testing.T) {
	t.Helper()
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// player dials a signaling client and wraps it in a matchmaker client.
func player(t *testing.T, url string) *mmclient.Client {
	t.Helper()
	sc, err := signaling.Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := mmclient.New(sc, nil)
	t.Cleanup(func() {
		c.Close()
		sc.Close()
	})
	return c
}

func id(c *mmclient.Client) string { return c.Signaling().ID() }

// waitFor returns the next event of type T from c.
func waitFor[T mmclient.Event](t *testing.T, c *mmclient.Client) T {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatalf("events closed while waiting for %T", *new(T))
			}
			if e, ok := ev.(T); ok {
				return e
			}
		case <-timeout:
			t.Fatalf("timed out waiting for %T", *new(T))
		}
	}
}

// sameMatch checks that the players got one match with one roster, apart
// from Self, and each is in the match's room.
func sameMatch(t *testing.T, players []*mmclient.Client, ms []mmclient.Matched) {
	t.Helper()
	first := ms[0].Roster
	for i, m := range ms {
		r := m.Roster
		if r.Self != netcode.PeerID(id(players[i])) {
			t.Errorf("player %d: Self %q, want %q", i, r.Self, id(players[i]))
		}
		if err := r.Validate(); err != nil {
			t.Error(err)
		}
		if r.Session != m.Session || r.Session != first.Session || !slices.Equal(r.Players, first.Players) {
			t.Errorf("player %d: roster %+v, first %+v", i, r, first)
		}
		if got := players[i].Signaling().Room(); got != m.Room {
			t.Errorf("player %d in room %q, want %q", i, got, m.Room)
		}
		if seat := r.SeatOf(r.Self); seat < 0 || r.Players[seat].Team != m.Team || !slices.Contains(m.Teams[m.Team], id(players[i])) {
			t.Errorf("player %d: seat %d team %d teams %v", i, seat, m.Team, m.Teams)
		}
	}
}

// TestTwoPlayersMatch: two clients enqueue through a real server and both
// get Matched, from WaitMatched and as an event, with identical rosters
// that carry the server's ICE servers.
func TestTwoPlayersMatch(t *testing.T) {
	ice := []signaling.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
	e := newEnv(t, signaling.Config{ICEServers: ice}, service.Config{})
	ctx := testCtx(t)
	a, b := player(t, e.url), player(t, e.url)
	qa, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"})
	if err != nil {
		t.Fatal(err)
	}
	if qa.ID == "" || qa.Queue != "1v1" || qa.Rating.Mu != matchmaker.DefaultMu {
		t.Fatalf("queued %+v", qa)
	}
	if got, ok := a.Ticket(); !ok || got.ID != qa.ID {
		t.Fatalf("Ticket() = %+v %v", got, ok)
	}
	st, err := a.Status(ctx)
	if err != nil || st.Ticket != qa.ID || st.Queue != "1v1" {
		t.Fatalf("status %+v %v", st, err)
	}
	if s, err := b.Stats(ctx, "1v1"); err != nil || s.Queue != "1v1" || s.Tickets != 1 || s.Players != 1 {
		t.Fatalf("stats %+v %v", s, err)
	}
	if _, err := b.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	var ms []mmclient.Matched
	for _, c := range []*mmclient.Client{a, b} {
		m, err := c.WaitMatched(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ev := waitFor[mmclient.Matched](t, c); ev.Session != m.Session {
			t.Fatalf("event %+v, WaitMatched %+v", ev, m)
		}
		ms = append(ms, m)
	}
	sameMatch(t, []*mmclient.Client{a, b}, ms)
	if r := ms[0].Roster; len(r.ICEServers) != 1 || r.ICEServers[0].URLs[0] != ice[0].URLs[0] {
		t.Fatalf("ICE servers %+v", r.ICEServers)
	}
	if ms[0].Host == "" || ms[0].Queue != "1v1" || ms[0].Team == ms[1].Team {
		t.Fatalf("matched %+v / %+v", ms[0], ms[1])
	}
	if _, ok := a.Ticket(); ok {
		t.Fatal("a ticket after the match")
	}
	// The match stays WaitMatched's answer until the next ticket.
	if m, err := a.WaitMatched(ctx); err != nil || m.Session != ms[0].Session {
		t.Fatalf("WaitMatched again: %+v %v", m, err)
	}
}

// TestCancel: Cancel ends a waiting WaitMatched with ErrCanceled; without a
// ticket the service's mm_not_found maps to ErrNotQueued.
func TestCancel(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{})
	ctx := testCtx(t)
	a := player(t, e.url)
	if _, err := a.WaitMatched(ctx); !errors.Is(err, mmclient.ErrNotQueued) {
		t.Fatalf("WaitMatched with no ticket: %v", err)
	}
	q, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := a.WaitMatched(ctx)
		waited <- err
	}()
	got, err := a.Cancel(ctx)
	if err != nil || got.ID != q.ID {
		t.Fatalf("Cancel: %+v %v", got, err)
	}
	select {
	case err := <-waited:
		if !errors.Is(err, mmclient.ErrCanceled) {
			t.Fatalf("WaitMatched after Cancel: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("WaitMatched did not return after Cancel")
	}
	if _, err := a.Cancel(ctx); !errors.Is(err, mmclient.ErrNotQueued) {
		t.Fatalf("second Cancel: %v", err)
	}
	if _, err := a.Status(ctx); !errors.Is(err, mmclient.ErrNotQueued) {
		t.Fatalf("Status without a ticket: %v", err)
	}
	// A context that ends while waiting cancels the ticket in Match.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := a.Match(short, mmclient.Ticket{Queue: "1v1"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Match past its deadline: %v", err)
	}
	if _, err := a.Status(ctx); !errors.Is(err, mmclient.ErrNotQueued) {
		t.Fatalf("ticket left behind by Match: %v", err)
	}
}

// TestUnknownQueue: a coded error from the service matches its sentinel,
// the *Error with its code, and signaling's wire error.
func TestUnknownQueue(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{})
	ctx := testCtx(t)
	a := player(t, e.url)
	_, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "no-such-queue"})
	if !errors.Is(err, mmclient.ErrUnknownQueue) {
		t.Fatalf("Enqueue in an unknown queue: %v", err)
	}
	var me *mmclient.Error
	if !errors.As(err, &me) || me.Code != service.CodeUnknownQueue {
		t.Fatalf("error %#v", err)
	}
	if !errors.Is(err, &signaling.Error{Code: service.CodeUnknownQueue}) {
		t.Fatalf("%v does not match the wire error", err)
	}
	if _, err := a.WaitMatched(ctx); !errors.Is(err, mmclient.ErrNotQueued) {
		t.Fatalf("WaitMatched after a refused Enqueue: %v", err)
	}
	if _, err := a.Stats(ctx, "nope"); !errors.Is(err, mmclient.ErrUnknownQueue) {
		t.Fatalf("Stats: %v", err)
	}
	if _, err := a.Report(ctx, "nope", []float64{1, 2}); !errors.Is(err, mmclient.ErrUnknownSession) {
		t.Fatalf("Report: %v", err)
	}
	a.Close()
	if _, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"}); !errors.Is(err, mmclient.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v", err)
	}
	if _, err := a.WaitMatched(ctx); !errors.Is(err, mmclient.ErrClosed) {
		t.Fatalf("WaitMatched after Close: %v", err)
	}
}

// TestParty: a member agrees, the leader enqueues the party (the member
// hears Enqueued), and the party plays on one team of a 2v2 with two solo
// players; all four hold the same roster.
func TestParty(t *testing.T) {
	q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}
	e := newEnv(t, signaling.Config{}, service.Config{Queues: q})
	ctx := testCtx(t)
	lead, mem, c, d := player(t, e.url), player(t, e.url), player(t, e.url), player(t, e.url)
	if _, err := lead.Enqueue(ctx, mmclient.Ticket{Queue: "2v2", Party: []string{id(mem)}}); !errors.Is(err, mmclient.ErrPartyNotReady) {
		t.Fatalf("party without consent: %v", err)
	}
	if err := mem.JoinParty(ctx, id(lead)); err != nil {
		t.Fatal(err)
	}
	lq, err := lead.Enqueue(ctx, mmclient.Ticket{Queue: "2v2", Party: []string{id(mem)}})
	if err != nil {
		t.Fatal(err)
	}
	note := waitFor[mmclient.Enqueued](t, mem)
	if note.Ticket.ID != lq.ID || !slices.Equal(note.Ticket.Party, []string{id(lead), id(mem)}) {
		t.Fatalf("member told %+v, leader got %+v", note, lq)
	}
	if got, ok := mem.Ticket(); !ok || got.ID != lq.ID {
		t.Fatalf("member's Ticket() = %+v %v", got, ok)
	}
	for _, s := range []*mmclient.Client{c, d} {
		if _, err := s.Enqueue(ctx, mmclient.Ticket{Queue: "2v2"}); err != nil {
			t.Fatal(err)
		}
	}
	e.pass(t)
	players := []*mmclient.Client{lead, mem, c, d}
	var ms []mmclient.Matched
	for _, p := range players {
		m, err := p.WaitMatched(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	sameMatch(t, players, ms)
	if ms[0].Team != ms[1].Team || ms[2].Team != ms[3].Team || ms[0].Team == ms[2].Team {
		t.Fatalf("teams %d %d %d %d", ms[0].Team, ms[1].Team, ms[2].Team, ms[3].Team)
	}
}

// TestPartyCancel: a member's cancel withdraws the party's ticket, and the
// leader hears Canceled and its WaitMatched ends.
func TestPartyCancel(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{Queues: []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}})
	ctx := testCtx(t)
	lead, mem := player(t, e.url), player(t, e.url)
	if err := mem.JoinParty(ctx, id(lead)); err != nil {
		t.Fatal(err)
	}
	if _, err := lead.Enqueue(ctx, mmclient.Ticket{Queue: "2v2", Party: []string{id(mem)}}); err != nil {
		t.Fatal(err)
	}
	waitFor[mmclient.Enqueued](t, mem)
	if _, err := mem.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := waitFor[mmclient.Canceled](t, lead); ev.By != id(mem) {
		t.Fatalf("canceled %+v", ev)
	}
	if _, err := lead.WaitMatched(ctx); !errors.Is(err, mmclient.ErrCanceled) {
		t.Fatalf("leader's WaitMatched: %v", err)
	}
	if _, err := mem.WaitMatched(ctx); !errors.Is(err, mmclient.ErrCanceled) {
		t.Fatalf("member's WaitMatched: %v", err)
	}
}

// TestReportAndRated: both players report the result; the second report
// applies it and both get Rated with their new ratings.
func TestReportAndRated(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{})
	ctx := testCtx(t)
	a, b := player(t, e.url), player(t, e.url)
	for _, c := range []*mmclient.Client{a, b} {
		if _, err := c.Enqueue(ctx, mmclient.Ticket{Queue: "1v1"}); err != nil {
			t.Fatal(err)
		}
	}
	e.pass(t)
	m, err := a.WaitMatched(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ranks := make([]float64, len(m.Teams))
	for i := range ranks {
		ranks[i] = 2
	}
	ranks[m.Team] = 1 // a wins
	r, err := a.Report(ctx, m.Session, ranks)
	if err != nil || !r.Accepted || r.Applied || r.Reports != 1 || r.Needed != 2 {
		t.Fatalf("first report %+v %v", r, err)
	}
	if r, err = b.Report(ctx, m.Session, ranks); err != nil || !r.Applied {
		t.Fatalf("second report %+v %v", r, err)
	}
	ra, rb := waitFor[mmclient.Rated](t, a), waitFor[mmclient.Rated](t, b)
	if ra.Session != m.Session || ra.Rating.Mu <= matchmaker.DefaultMu || rb.Rating.Mu >= matchmaker.DefaultMu {
		t.Fatalf("rated %+v / %+v", ra, rb)
	}
	if ra.Ratings[id(b)] != rb.Rating {
		t.Fatalf("a sees b at %+v, b sees itself at %+v", ra.Ratings[id(b)], rb.Rating)
	}
	if _, err := a.Report(ctx, m.Session, ranks); !errors.Is(err, mmclient.ErrAlreadyRated) {
		t.Fatalf("report after rating: %v", err)
	}
}

// TestExpiredAndRequeued: a ticket whose time to live runs out ends
// WaitMatched with ErrExpired; a match that falls through requeues the
// client, which then waits under the new ticket until matched.
func TestExpiredAndRequeued(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	q := []matchmaker.QueueConfig{{Name: "short", TTL: time.Minute}}
	e := newEnv(t, signaling.Config{}, service.Config{Queues: q, Now: clock})
	ctx := testCtx(t)
	a := player(t, e.url)
	qa, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "short"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	e.pass(t)
	if _, err := a.WaitMatched(ctx); !errors.Is(err, mmclient.ErrExpired) {
		t.Fatalf("WaitMatched after expiry: %v", err)
	}
	if ev := waitFor[mmclient.Expired](t, a); ev.Ticket != qa.ID {
		t.Fatalf("expired %+v, ticket %s", ev, qa.ID)
	}

	// A match with a peer the signaling server does not know falls
	// through: a waits again.
	first, err := a.Enqueue(ctx, mmclient.Ticket{Queue: "short"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Matchmaker().Enqueue(matchmaker.Ticket{Queue: "short", Players: []matchmaker.Player{{ID: "ghost"}}}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	rq := waitFor[mmclient.Requeued](t, a)
	if rq.Ticket.ID == "" || rq.Ticket.ID == first.ID {
		t.Fatalf("requeued %+v after %+v", rq, first)
	}
	if got, ok := a.Ticket(); !ok || got.ID != rq.Ticket.ID {
		t.Fatalf("Ticket() = %+v %v, want %s", got, ok, rq.Ticket.ID)
	}
	b := player(t, e.url)
	if _, err := b.Enqueue(ctx, mmclient.Ticket{Queue: "short"}); err != nil {
		t.Fatal(err)
	}
	e.pass(t)
	m, err := a.WaitMatched(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.Roster.Players, netcode.Seat{Peer: netcode.PeerID(id(b)), Team: 1 - m.Team}) {
		t.Fatalf("matched %+v", m)
	}
}

// QuickMatch leaves nothing open when it fails: an unknown queue gives the
// typed error at once, and a match that never comes ends with the context;
// either way the server sees the connection go.
func TestQuickMatchFailuresCloseTheConnection(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{})
	ctx := testCtx(t)
	if c, _, err := mmclient.QuickMatch(ctx, e.url, mmclient.Ticket{Queue: "nope"}, nil); !errors.Is(err, mmclient.ErrUnknownQueue) || c != nil {
		t.Fatalf("QuickMatch(unknown queue) = %v, %v; want nil, ErrUnknownQueue", c, err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if c, _, err := mmclient.QuickMatch(short, e.url, mmclient.Ticket{Queue: "1v1"}, nil); !errors.Is(err, context.DeadlineExceeded) || c != nil {
		t.Fatalf("QuickMatch(alone) = %v, %v; want nil, context.DeadlineExceeded", c, err)
	}
	// Goleak (TestMain) checks that no client goroutine is left. Match
	// cancels its ticket before QuickMatch closes the connection.
	if st, err := e.svc.Matchmaker().Stats("1v1"); err != nil || st.Tickets != 0 {
		t.Fatalf("after a failed QuickMatch: %+v, %v; want no ticket waiting", st, err)
	}
}

// QuickMatch pairs two players and hands each a client in the match's room.
func TestQuickMatch(t *testing.T) {
	e := newEnv(t, signaling.Config{}, service.Config{Interval: 10 * time.Millisecond})
	ctx := testCtx(t)
	type res struct {
		c   *mmclient.Client
		m   mmclient.Matched
		err error
	}
	out := make(chan res, 2)
	for range 2 {
		go func() {
			c, m, err := mmclient.QuickMatch(ctx, e.url, mmclient.Ticket{Queue: "1v1"}, nil)
			out <- res{c, m, err}
		}()
	}
	var ms []mmclient.Matched
	var cs []*mmclient.Client
	for range 2 {
		r := <-out
		if r.err != nil {
			t.Fatalf("QuickMatch: %v", r.err)
		}
		cs = append(cs, r.c)
		ms = append(ms, r.m)
		if got := r.c.Signaling().Room(); got != r.m.Room {
			t.Errorf("signaling room %q, want the match's %q", got, r.m.Room)
		}
	}
	sameMatch(t, cs, ms)
	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
