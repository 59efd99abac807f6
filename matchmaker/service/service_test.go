package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

func TestMain(m *testing.M) {
	if helperMain() {
		return
	}
	goleak.VerifyTestMain(m)
}

type env struct {
	srv  *signaling.Server
	svc  *Service
	url  string
	stor *MemoryStore
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	srv := signaling.NewServer(signaling.Config{Auth: optionalAuth{}})
	hs := httptest.NewServer(srv)
	if cfg.Store == nil {
		cfg.Store = &MemoryStore{}
	}
	svc, err := New(srv, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stor, _ := cfg.Store.(*MemoryStore) // nil for a test's own Store
	e := &env{srv: srv, svc: svc, url: "ws" + strings.TrimPrefix(hs.URL, "http"), stor: stor}
	t.Cleanup(func() {
		svc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		hs.Close()
	})
	return e
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testAuth signs the tokens of the players dial makes: ratings are stored
// per authenticated subject only.
var testAuth = signaling.HMACAuth{Secret: []byte("test secret")}

// optionalAuth checks a token when there is one and lets anonymous peers
// in otherwise.
type optionalAuth struct{}

func (optionalAuth) Authenticate(r *http.Request) (signaling.Identity, error) {
	if r.URL.Query().Get("token") == "" && r.Header.Get("Authorization") == "" {
		return signaling.Identity{}, nil
	}
	return testAuth.Authenticate(r)
}

var (
	subjectSeq atomic.Int64
	subjects   sync.Map // *signaling.Client -> subject
)

// dial connects a player with a subject of its own (see sub).
func dial(t *testing.T, url string) *signaling.Client {
	t.Helper()
	return dialAs(t, url, fmt.Sprintf("player-%d", subjectSeq.Add(1)))
}

// dialAs connects a connection of the player subject ("" for anonymous).
func dialAs(t *testing.T, url, subject string) *signaling.Client {
	t.Helper()
	cfg := &signaling.ClientConfig{EventBuffer: 256}
	if subject != "" {
		tok, err := testAuth.Issue(signaling.Identity{Subject: subject}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Token = tok
	}
	c, err := signaling.Dial(testCtx(t), url, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	subjects.Store(c, subject)
	t.Cleanup(func() { c.Close() })
	return c
}

// sub is the subject c was dialled as.
func sub(c *signaling.Client) string {
	s, _ := subjects.Load(c)
	return s.(string)
}

func waitEvent[T signaling.Event](t *testing.T, ch <-chan signaling.Event, match func(T) bool) T {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("events closed while waiting for %T", *new(T))
			}
			if e, ok := ev.(T); ok && (match == nil || match(e)) {
				return e
			}
		case <-timeout:
			var zero T
			t.Fatalf("timed out waiting for %T", zero)
			return zero
		}
	}
}

func waitMessage(t *testing.T, ch <-chan signaling.Event, typ string, v any) {
	t.Helper()
	m := waitEvent(t, ch, func(m signaling.Message) bool { return m.Type == typ })
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
}

func enqueue(t *testing.T, c *signaling.Client, d EnqueueData) TicketData {
	t.Helper()
	raw, err := c.Request(testCtx(t), TypeEnqueue, d)
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	var td TicketData
	if err := json.Unmarshal(raw, &td); err != nil {
		t.Fatal(err)
	}
	return td
}

// TestServedMatchFlow: two real clients enqueue through a real signaling
// server, both receive mm.matched with the same session, peers and host, are
// in the same fresh room, exchange a signal, and report a result that
// updates their stored ratings.
func TestServedMatchFlow(t *testing.T) {
	e := newEnv(t, Config{Interval: 20 * time.Millisecond})
	a, b := dial(t, e.url), dial(t, e.url)
	aev, bev := a.Events(), b.Events()
	ta := enqueue(t, a, EnqueueData{Queue: "1v1"})
	if ta.Ticket == "" || ta.Rating == nil || ta.Rating.Mu != matchmaker.DefaultMu {
		t.Fatalf("ticket %+v", ta)
	}
	raw, err := a.Request(testCtx(t), TypeStatus, nil)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st StatusData
	_ = json.Unmarshal(raw, &st)
	if st.Ticket != ta.Ticket || st.Queue != "1v1" {
		t.Errorf("status %+v", st)
	}
	enqueue(t, b, EnqueueData{Queue: "1v1"})

	var ma, mb MatchedData
	waitMessage(t, aev, TypeMatched, &ma)
	waitMessage(t, bev, TypeMatched, &mb)
	if ma.Session == "" || ma.Session != mb.Session || ma.Host != mb.Host || ma.Host != a.ID() {
		t.Fatalf("matched a=%+v b=%+v", ma, mb)
	}
	if len(ma.Peers) != 2 || ma.Team == mb.Team || ma.Quality <= 0 {
		t.Fatalf("matched %+v", ma)
	}
	if a.Room() != ma.Room || b.Room() != ma.Room {
		t.Fatalf("rooms %q %q, want %q", a.Room(), b.Room(), ma.Room)
	}
	// The players can signal each other in their fresh room.
	if err := a.Signal(testCtx(t), b.ID(), json.RawMessage(`{"sdp":"offer"}`)); err != nil {
		t.Fatal(err)
	}
	sig := waitEvent(t, bev, func(s signaling.Signal) bool { return s.From == a.ID() })
	if string(sig.Data) != `{"sdp":"offer"}` {
		t.Errorf("signal %s", sig.Data)
	}
	// Status after the match: no ticket.
	if _, err := a.Request(testCtx(t), TypeStatus, nil); !errors.Is(err, &signaling.Error{Code: CodeNotFound}) {
		t.Errorf("status after match: %v", err)
	}
	// Results: team of a wins. One report is not a majority of two.
	ranks := make([]float64, 2)
	ranks[ma.Team], ranks[mb.Team] = 1, 2
	raw, err = a.Request(testCtx(t), TypeResult, ResultData{Session: ma.Session, Ranks: ranks})
	if err != nil {
		t.Fatal(err)
	}
	var rr ResultReply
	_ = json.Unmarshal(raw, &rr)
	if !rr.Accepted || rr.Applied || rr.Needed != 2 {
		t.Fatalf("first report %+v", rr)
	}
	raw, err = b.Request(testCtx(t), TypeResult, ResultData{Session: ma.Session, Ranks: ranks})
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(raw, &rr)
	if !rr.Applied {
		t.Fatalf("second report %+v", rr)
	}
	var rated RatedData
	waitMessage(t, aev, TypeRated, &rated)
	if rated.Ratings[a.ID()].Mu <= matchmaker.DefaultMu || rated.Ratings[b.ID()].Mu >= matchmaker.DefaultMu {
		t.Fatalf("rated %+v", rated)
	}
	stored, ok, _ := e.stor.Get(context.Background(), sub(a))
	if !ok || stored != rated.Ratings[a.ID()] {
		t.Errorf("store has %+v %v", stored, ok)
	}
	if _, err := a.Request(testCtx(t), TypeResult, ResultData{Session: ma.Session, Ranks: ranks}); !errors.Is(err, &signaling.Error{Code: CodeAlreadyRated}) {
		t.Errorf("third report: %v", err)
	}
}

func TestServedErrors(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a := dial(t, e.url)
	ctx := testCtx(t)
	cases := []struct {
		typ  string
		data any
		code string
	}{
		{TypeEnqueue, json.RawMessage(`{"queue":5}`), CodeBadRequest},
		{TypeEnqueue, EnqueueData{}, CodeBadRequest},
		{TypeEnqueue, EnqueueData{Queue: "nope"}, CodeUnknownQueue},
		{TypeEnqueue, EnqueueData{Queue: "1v1", Latencies: map[string]float64{"eu": -1}}, CodeInvalidTicket},
		{TypeCancel, nil, CodeNotFound},
		{TypeStatus, nil, CodeNotFound},
		{TypeStats, StatsRequest{Queue: "nope"}, CodeUnknownQueue},
		{TypeResult, ResultData{Session: "x", Ranks: []float64{1, 2}}, CodeUnknownMatch},
		{TypeResult, ResultData{Session: "x", Ranks: []float64{1}}, CodeBadRequest},
		{TypeResult, json.RawMessage(`[1,2]`), CodeBadRequest},
	}
	for _, c := range cases {
		_, err := a.Request(ctx, c.typ, c.data)
		if !errors.Is(err, &signaling.Error{Code: c.code}) {
			t.Errorf("%s %v: %v, want %s", c.typ, c.data, err, c.code)
		}
	}
	enqueue(t, a, EnqueueData{Queue: "5v5"})
	if _, err := a.Request(ctx, TypeEnqueue, EnqueueData{Queue: "1v1"}); !errors.Is(err, &signaling.Error{Code: CodeAlreadyQueued}) {
		t.Errorf("second enqueue: %v", err)
	}
	raw, err := a.Request(ctx, TypeStats, StatsRequest{Queue: "5v5"})
	if err != nil {
		t.Fatal(err)
	}
	var st StatsData
	_ = json.Unmarshal(raw, &st)
	if st.Tickets != 1 || st.Players != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, err := a.Request(ctx, TypeCancel, nil); err != nil {
		t.Errorf("cancel: %v", err)
	}
	if st, _ := e.svc.Matchmaker().Stats("5v5"); st.Tickets != 0 || st.Canceled != 1 {
		t.Errorf("after cancel %+v", st)
	}
	// A peer that goes away loses its ticket.
	enqueue(t, a, EnqueueData{Queue: "5v5"})
	a.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, _ := e.svc.Matchmaker().Stats("5v5")
		if st.Tickets == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ticket of a departed peer still waiting")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func FuzzDecodeEnqueue(f *testing.F) {
	f.Add([]byte(`{"queue":"1v1"}`))
	f.Add([]byte(`{"queue":"5v5","strings":{"mode":"ctf"},"numbers":{"level":3},"tags":["a"],"latencies":{"eu":20}}`))
	f.Add([]byte(`{"queue":"2v2","party":["a1b2c3"]}`))
	f.Add([]byte(`{"queue":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeEnqueue(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		d2, err := DecodeEnqueue(b)
		if err != nil {
			t.Fatalf("round trip of %s: %v", b, err)
		}
		b2, _ := json.Marshal(d2)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s to %s", b, b2)
		}
		// Whatever decodes must be judged by the matchmaker, never crash it.
		m := matchmaker.New(matchmaker.Config{})
		_ = m.AddQueue(matchmaker.QueueConfig{Name: d.Queue, Rules: []matchmaker.Rule{{Kind: matchmaker.RuleLatency, Value: 50}, {Kind: matchmaker.RuleTags}}})
		_, _ = m.Enqueue(matchmaker.Ticket{Queue: d.Queue, Players: []matchmaker.Player{{ID: "p"}}, Strings: d.Strings, Numbers: d.Numbers, Tags: d.Tags, Latencies: d.Latencies})
		m.Process()
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Add([]byte(`{"session":"abc","ranks":[1,2]}`))
	f.Add([]byte(`{"session":"abc","ranks":[1,1,3]}`))
	f.Add([]byte(`{"session":"","ranks":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := DecodeResult(data)
		if err != nil {
			return
		}
		b, _ := json.Marshal(d)
		d2, err := DecodeResult(b)
		if err != nil || len(d2.Ranks) != len(d.Ranks) || d2.Session != d.Session {
			t.Fatalf("round trip of %s: %+v %v", b, d2, err)
		}
		r := matchmaker.NewRater(matchmaker.RatingConfig{})
		teams := make([][]matchmaker.Rating, len(d.Ranks))
		for i := range teams {
			teams[i] = []matchmaker.Rating{r.NewRating()}
		}
		if err := r.Rate(teams, d.Ranks); err != nil {
			t.Fatalf("valid result refused by the rater: %v", err)
		}
	})
}

// TestMatchWithDepartedPlayerRequeues: a match whose other player has no
// session any more is not lost: the live player is told and waits again,
// with the wait it had, and the departed player's ticket does not linger.
func TestMatchWithDepartedPlayerRequeues(t *testing.T) {
	var clockMu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now
	}
	e := newEnv(t, Config{Interval: time.Hour, Now: clock})
	a := dial(t, e.url)
	aev := a.Events()
	first := enqueue(t, a, EnqueueData{Queue: "1v1"})
	clockMu.Lock()
	now = now.Add(7 * time.Second)
	clockMu.Unlock()
	// A ticket for a peer the signaling server does not know, as if it left
	// right after the pass.
	if _, err := e.svc.Matchmaker().Enqueue(matchmaker.Ticket{Queue: "1v1", Players: []matchmaker.Player{{ID: "ghost"}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var rq TicketData
	waitMessage(t, aev, TypeRequeued, &rq)
	if rq.Ticket == "" || rq.Ticket == first.Ticket || rq.Queue != "1v1" {
		t.Fatalf("requeued %+v", rq)
	}
	raw, err := a.Request(testCtx(t), TypeStatus, nil)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st StatusData
	_ = json.Unmarshal(raw, &st)
	if st.Ticket != rq.Ticket || st.WaitedMs != 7000 {
		t.Errorf("status %+v, want ticket %s that waited 7000 ms (since its first enqueue)", st, rq.Ticket)
	}
	if qs, _ := e.svc.Matchmaker().Stats("1v1"); qs.Tickets != 1 || e.svc.Matchmaker().TicketOf("ghost") != "" {
		t.Errorf("pool %+v, ghost ticket %q", qs, e.svc.Matchmaker().TicketOf("ghost"))
	}
}

// TestServedParty: a member agrees with mm.party, the leader enqueues the
// party, and the party plays on one team of a 2v2 made with two solo
// players. A cancel by a member withdraws the whole ticket.
func TestServedParty(t *testing.T) {
	q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}
	e := newEnv(t, Config{Queues: q, Interval: time.Hour})
	ctx := testCtx(t)
	lead, mem, c, d := dial(t, e.url), dial(t, e.url), dial(t, e.url), dial(t, e.url)
	lev, mev, cev, dev := lead.Events(), mem.Events(), c.Events(), d.Events()

	if _, err := lead.Request(ctx, TypeEnqueue, EnqueueData{Queue: "2v2", Party: []string{mem.ID()}}); !errors.Is(err, &signaling.Error{Code: CodePartyNotReady}) {
		t.Fatalf("party without consent: %v", err)
	}
	if _, err := mem.Request(ctx, TypeParty, PartyData{Leader: lead.ID()}); err != nil {
		t.Fatal(err)
	}
	td := enqueue(t, lead, EnqueueData{Queue: "2v2", Party: []string{mem.ID()}})
	var note TicketData
	waitMessage(t, mev, TypeEnqueued, &note)
	if note.Ticket != td.Ticket {
		t.Fatalf("member told %+v, leader got %+v", note, td)
	}
	// The member may cancel for the party; the leader is told.
	if _, err := mem.Request(ctx, TypeCancel, nil); err != nil {
		t.Fatal(err)
	}
	var cd CanceledData
	waitMessage(t, lev, TypeCanceled, &cd)
	if cd.Ticket != td.Ticket || cd.By != mem.ID() {
		t.Fatalf("canceled %+v", cd)
	}
	// Again, and this time a match.
	if _, err := mem.Request(ctx, TypeParty, PartyData{Leader: lead.ID()}); err != nil {
		t.Fatal(err)
	}
	enqueue(t, lead, EnqueueData{Queue: "2v2", Party: []string{mem.ID()}})
	enqueue(t, c, EnqueueData{Queue: "2v2"})
	enqueue(t, d, EnqueueData{Queue: "2v2"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var ml, mm MatchedData
	waitMessage(t, lev, TypeMatched, &ml)
	waitMessage(t, mev, TypeMatched, &mm)
	if ml.Session != mm.Session || ml.Team != mm.Team || len(ml.Peers) != 4 {
		t.Fatalf("party split or wrong match: %+v / %+v", ml, mm)
	}
	var mc, md MatchedData
	waitMessage(t, cev, TypeMatched, &mc)
	waitMessage(t, dev, TypeMatched, &md)
	if mc.Session != ml.Session || md.Session != ml.Session || mc.Team != md.Team || mc.Team == ml.Team {
		t.Fatalf("solo players: %+v / %+v", mc, md)
	}
	if lead.Room() != ml.Room || mem.Room() != ml.Room || c.Room() != ml.Room || d.Room() != ml.Room {
		t.Fatalf("not all in room %s", ml.Room)
	}
}

func TestCloseRefuses(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a := dial(t, e.url)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.svc.Pass(); !errors.Is(err, ErrClosed) {
		t.Errorf("Pass after Close: %v", err)
	}
	if _, err := a.Request(testCtx(t), TypeEnqueue, EnqueueData{Queue: "1v1"}); !errors.Is(err, &signaling.Error{Code: CodeClosed}) {
		t.Errorf("enqueue after Close: %v", err)
	}
}

// TestServedBackfill: a 2v2 session loses a player; another player asks for
// a replacement, which is served before new matches and joins the running
// session's room on the departed player's team.
func TestServedBackfill(t *testing.T) {
	q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}
	e := newEnv(t, Config{Queues: q, Interval: time.Hour})
	ctx := testCtx(t)
	var cs []*signaling.Client
	var evs []<-chan signaling.Event
	for i := 0; i < 4; i++ {
		c := dial(t, e.url)
		cs = append(cs, c)
		evs = append(evs, c.Events())
		enqueue(t, c, EnqueueData{Queue: "2v2"})
	}
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	md := make([]MatchedData, 4)
	for i := range cs {
		waitMessage(t, evs[i], TypeMatched, &md[i])
	}
	host := md[0].Host
	var asker, leaver int = -1, -1
	for i, c := range cs {
		switch {
		case c.ID() == host:
		case leaver < 0:
			leaver = i
		case asker < 0:
			asker = i
		}
	}
	if err := cs[leaver].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[asker].Request(ctx, TypeBackfill, BackfillData{Session: md[0].Session, Missing: []string{cs[asker].ID()}}); !errors.Is(err, &signaling.Error{Code: CodeInvalidBackfill}) {
		t.Errorf("backfill of oneself: %v", err)
	}
	if _, err := cs[asker].Request(ctx, TypeBackfill, BackfillData{Session: "nope", Missing: []string{cs[leaver].ID()}}); !errors.Is(err, &signaling.Error{Code: CodeUnknownMatch}) {
		t.Errorf("backfill of unknown session: %v", err)
	}
	raw, err := cs[asker].Request(ctx, TypeBackfill, BackfillData{Session: md[0].Session, Missing: []string{cs[leaver].ID()}})
	if err != nil {
		t.Fatal(err)
	}
	var br BackfillReply
	_ = json.Unmarshal(raw, &br)
	if br.Backfill == "" || br.OpenSlots[md[leaver].Team] != 1 {
		t.Fatalf("backfill reply %+v", br)
	}
	// Two newcomers wait; the backfill takes the older one first.
	n1, n2 := dial(t, e.url), dial(t, e.url)
	n1ev := n1.Events()
	enqueue(t, n1, EnqueueData{Queue: "2v2"})
	enqueue(t, n2, EnqueueData{Queue: "2v2"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var nm MatchedData
	waitMessage(t, n1ev, TypeMatched, &nm)
	if nm.Session != md[0].Session || nm.Team != md[leaver].Team || nm.Host != host {
		t.Fatalf("newcomer matched %+v, session %s team %d", nm, md[0].Session, md[leaver].Team)
	}
	var bd BackfilledData
	waitMessage(t, evs[asker], TypeBackfilled, &bd)
	if len(bd.Added) != 1 || bd.Added[0] != n1.ID() || bd.Backfill != br.Backfill {
		t.Fatalf("backfilled %+v, want %s added by backfill %s", bd, n1.ID(), br.Backfill)
	}
	if n1.Room() != md[0].Room {
		t.Fatalf("newcomer in room %q, want %q", n1.Room(), md[0].Room)
	}
	// The newcomer can signal the host in the running session's room.
	if err := n1.Signal(ctx, host, json.RawMessage(`"hello"`)); err != nil {
		t.Fatal(err)
	}
	var hostEv <-chan signaling.Event
	for i, c := range cs {
		if c.ID() == host {
			hostEv = evs[i]
		}
	}
	waitEvent(t, hostEv, func(s signaling.Signal) bool { return s.From == n1.ID() })
	if st, _ := e.svc.Matchmaker().Stats("2v2"); st.Tickets != 1 {
		t.Errorf("%d tickets left, want n2 waiting", st.Tickets)
	}
}
