package service

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

func isCode(err error, code string) bool { return errors.Is(err, &signaling.Error{Code: code}) }

// match1v1 enqueues a and b in "1v1", runs a pass and returns the match.
func match1v1(t *testing.T, e *env, a, b *signaling.Client) MatchedData {
	t.Helper()
	aev, bev := a.Events(), b.Events()
	enqueue(t, a, EnqueueData{Queue: "1v1"})
	enqueue(t, b, EnqueueData{Queue: "1v1"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var ma, mb MatchedData
	waitMessage(t, aev, TypeMatched, &ma)
	waitMessage(t, bev, TypeMatched, &mb)
	if ma.Session != mb.Session {
		t.Fatalf("sessions %s and %s", ma.Session, mb.Session)
	}
	return ma
}

// TestAbuseRatings has a row per rating attack of the hostile-client
// review: a player's two connections, forged agreement, results that
// disagree, anonymous ratings.
func TestAbuseRatings(t *testing.T) {
	ctx := testCtx(t)
	t.Run("one ticket per player across connections, never matched against themselves", func(t *testing.T) {
		e := newEnv(t, Config{Interval: time.Hour})
		a1, a2 := dialAs(t, e.url, "mallory"), dialAs(t, e.url, "mallory")
		enqueue(t, a1, EnqueueData{Queue: "1v1"})
		if _, err := a2.Request(ctx, TypeEnqueue, EnqueueData{Queue: "1v1"}); !isCode(err, CodeAlreadyQueued) {
			t.Fatalf("second connection's ticket: %v", err)
		}
		if err := e.svc.Pass(); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.svc.Matchmaker().Stats("1v1"); st.Tickets != 1 || st.Matches != 0 {
			t.Fatalf("stats %+v: the player was matched against itself", st)
		}
		// A party of one player's two connections is refused too.
		b1, b2 := dialAs(t, e.url, "trudy"), dialAs(t, e.url, "trudy")
		if _, err := b2.Request(ctx, TypeParty, PartyData{Leader: b1.ID()}); err != nil {
			t.Fatal(err)
		}
		if _, err := b1.Request(ctx, TypeEnqueue, EnqueueData{Queue: "1v1", Party: []string{b2.ID()}}); !isCode(err, CodeInvalidTicket) {
			t.Fatalf("party of one player twice: %v", err)
		}
		// Once the first ticket is canceled, another connection may queue.
		if _, err := a1.Request(ctx, TypeCancel, nil); err != nil {
			t.Fatal(err)
		}
		enqueue(t, a2, EnqueueData{Queue: "1v1"})
	})
	t.Run("results count per player and apply only when reports agree", func(t *testing.T) {
		// No skill window, so that the same two keep meeting.
		e := newEnv(t, Config{Interval: time.Hour, Queues: []matchmaker.QueueConfig{{Name: "1v1"}}})
		a, b := dial(t, e.url), dial(t, e.url)
		m := match1v1(t, e, a, b)
		// A second connection of a player is not a player of the session.
		a2 := dialAs(t, e.url, sub(a))
		if _, err := a2.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: []float64{1, 2}}); !isCode(err, CodeUnknownMatch) {
			t.Fatalf("report from a second connection: %v", err)
		}
		// One report of two is not a majority; reporting again does not
		// count twice.
		for range 3 {
			raw, err := a.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: []float64{1, 2}})
			if err != nil {
				t.Fatal(err)
			}
			if string(raw) != `{"accepted":true,"applied":false,"reports":1,"needed":2}` {
				t.Fatalf("reply %s", raw)
			}
		}
		// The opponent disagrees: the session is disputed and nobody's
		// rating moves.
		if _, err := b.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: []float64{2, 1}}); !isCode(err, CodeDisputed) {
			t.Fatalf("disagreeing report: %v", err)
		}
		if _, err := a.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: []float64{1, 2}}); !isCode(err, CodeDisputed) {
			t.Fatalf("report after the dispute: %v", err)
		}
		for _, c := range []*signaling.Client{a, b} {
			if _, ok, _ := e.stor.Get(ctx, sub(c)); ok {
				t.Fatalf("%s was rated from a disputed session", sub(c))
			}
		}
		// Five agreed games between the two raise the winner's mu once per
		// game, keyed by the player whatever the connection.
		for range 5 {
			m := match1v1(t, e, a, b)
			for _, c := range []*signaling.Client{a, b} {
				if _, err := c.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: rankFor(m, a.ID())}); err != nil {
					t.Fatal(err)
				}
			}
		}
		ra, _, _ := e.stor.Get(ctx, sub(a))
		rb, _, _ := e.stor.Get(ctx, sub(b))
		if ra.Mu <= rb.Mu || ra.Mu > 40 {
			t.Fatalf("after five agreed wins: winner %+v, loser %+v", ra, rb)
		}
	})
	t.Run("anonymous ratings are not stored", func(t *testing.T) {
		e := newEnv(t, Config{Interval: time.Hour})
		a, b := dialAs(t, e.url, ""), dialAs(t, e.url, "")
		m := match1v1(t, e, a, b)
		aev := a.Events()
		for _, c := range []*signaling.Client{a, b} {
			if _, err := c.Request(ctx, TypeResult, ResultData{Session: m.Session, Ranks: []float64{1, 2}}); err != nil {
				t.Fatal(err)
			}
		}
		var rd RatedData
		waitMessage(t, aev, TypeRated, &rd)
		for _, k := range []string{a.ID(), b.ID(), ""} {
			if _, ok, _ := e.stor.Get(ctx, k); ok {
				t.Fatalf("an anonymous rating was stored under %q", k)
			}
		}
	})
}

// rankFor returns the ranks of a 1v1 in which peer wins.
func rankFor(m MatchedData, peer string) []float64 {
	if m.Teams[0][0] == peer {
		return []float64{1, 2}
	}
	return []float64{2, 1}
}

// TestAbuseBackfill: a backfill replaces only players who left for good,
// and concurrent backfill requests never put more players into a match
// than it started with.
func TestAbuseBackfill(t *testing.T) {
	ctx := testCtx(t)
	q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}
	e := newEnv(t, Config{Queues: q, Interval: time.Hour})
	var cs []*signaling.Client
	var evs []<-chan signaling.Event
	for range 4 {
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
	session := md[0].Session
	// An opponent who is still there cannot be evicted.
	if _, err := cs[0].Request(ctx, TypeBackfill, BackfillData{Session: session, Missing: []string{cs[1].ID()}}); !isCode(err, CodeStillPresent) {
		t.Fatalf("backfill of a present player: %v", err)
	}
	// cs[1] leaves the room for good; both players left of its team and
	// the other ask for a backfill at once.
	if err := cs[1].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i, c := range []*signaling.Client{cs[0], cs[2], cs[3]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Request(ctx, TypeBackfill, BackfillData{Session: session, Missing: []string{cs[1].ID()}})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !isCode(err, CodeInvalidBackfill):
			t.Fatalf("concurrent backfill: %v", err)
		}
	}
	if ok == 0 {
		t.Fatal("no backfill request succeeded")
	}
	// Three newcomers wait; one slot is open.
	var ns []*signaling.Client
	for range 3 {
		n := dial(t, e.url)
		ns = append(ns, n)
		enqueue(t, n, EnqueueData{Queue: "2v2"})
	}
	for range 3 {
		if err := e.svc.Pass(); err != nil {
			t.Fatal(err)
		}
	}
	var bd BackfilledData
	waitMessage(t, evs[0], TypeBackfilled, &bd)
	if len(bd.Added) != 1 {
		t.Fatalf("backfilled %+v", bd)
	}
	in := 0
	for _, c := range append(cs, ns...) {
		if room, ok := e.srv.PeerRoom(c.ID()); ok && room == session {
			in++
		}
	}
	if in != 4 {
		t.Fatalf("%d players in the 2v2's room", in)
	}
	// A second backfill for the same open slot finds none: the leaver is
	// no longer a player of the session.
	if _, err := cs[0].Request(ctx, TypeBackfill, BackfillData{Session: session, Missing: []string{cs[1].ID()}}); !isCode(err, CodeInvalidBackfill) {
		t.Fatalf("backfill of a replaced player: %v", err)
	}
}

// TestAbuseTicketsPerIP: one address holds a bounded number of waiting
// tickets; a cancel gives its slot back.
func TestAbuseTicketsPerIP(t *testing.T) {
	ctx := testCtx(t)
	e := newEnv(t, Config{Interval: time.Hour, MaxTicketsPerIP: 2, Queues: []matchmaker.QueueConfig{{Name: "ffa", Shape: matchmaker.Shape{Teams: 8}}}})
	a, b, c := dial(t, e.url), dial(t, e.url), dial(t, e.url)
	enqueue(t, a, EnqueueData{Queue: "ffa"})
	enqueue(t, b, EnqueueData{Queue: "ffa"})
	if _, err := c.Request(ctx, TypeEnqueue, EnqueueData{Queue: "ffa"}); !isCode(err, CodeTooManyTickets) {
		t.Fatalf("third ticket from one address: %v", err)
	}
	if _, err := a.Request(ctx, TypeCancel, nil); err != nil {
		t.Fatal(err)
	}
	enqueue(t, c, EnqueueData{Queue: "ffa"})
}
