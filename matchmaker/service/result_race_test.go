package service

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

// gateStore is a MemoryStore whose Get, once armed, stops until released.
type gateStore struct {
	MemoryStore
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Get(ctx context.Context, player string) (matchmaker.Rating, bool, error) {
	g.mu.Lock()
	armed := g.armed
	g.armed = false
	g.mu.Unlock()
	if armed {
		close(g.entered)
		<-g.release
	}
	return g.MemoryStore.Get(ctx, player)
}

func (g *gateStore) arm() {
	g.mu.Lock()
	g.armed = true
	g.mu.Unlock()
}

// TestResultRatesThePlayersWhoPlayed: a backfill delivered while the
// session's result is being applied must not change who is rated: the
// player who left is rated, the newcomer is not (and does not get the
// leaver's rating).
func TestResultRatesThePlayersWhoPlayed(t *testing.T) {
	st := &gateStore{entered: make(chan struct{}), release: make(chan struct{})}
	q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}}
	e := newEnv(t, Config{Queues: q, Interval: 1 << 62, Store: st})
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
	leaver := 0
	leaverID := cs[leaver].ID()
	leaverSub := sub(cs[leaver])
	if err := cs[leaver].Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cs[1].Request(ctx, TypeBackfill, BackfillData{Session: md[1].Session, Missing: []string{leaverID}}); err != nil {
		t.Fatal(err)
	}
	n := dial(t, e.url)
	nev := n.Events()
	enqueue(t, n, EnqueueData{Queue: "2v2"})

	ranks := []float64{1, 2}
	for _, c := range cs[1:3] {
		if _, err := c.Request(ctx, TypeResult, ResultData{Session: md[1].Session, Ranks: ranks}); err != nil {
			t.Fatal(err)
		}
	}
	// The third report completes the majority; its rating reads stop in
	// the store while a pass delivers the backfill.
	st.arm()
	done := make(chan error, 1)
	go func() {
		_, err := cs[3].Request(ctx, TypeResult, ResultData{Session: md[1].Session, Ranks: ranks})
		done <- err
	}()
	<-st.entered
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var nm MatchedData
	waitMessage(t, nev, TypeMatched, &nm)
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var rd RatedData
	waitMessage(t, evs[1], TypeRated, &rd)
	if _, ok := rd.Ratings[n.ID()]; ok {
		t.Errorf("the newcomer was rated for a game it did not play: %v", rd.Ratings)
	}
	if _, ok := rd.Ratings[leaverID]; !ok || len(rd.Ratings) != 4 {
		t.Errorf("ratings %v, want the four players who played", rd.Ratings)
	}
	if _, ok, _ := st.MemoryStore.Get(ctx, sub(n)); ok {
		t.Error("the store holds a rating for the newcomer")
	}
	if r, ok, _ := st.MemoryStore.Get(ctx, leaverSub); !ok || r.Sigma >= matchmaker.DefaultSigma {
		t.Errorf("the leaver's rating was not updated: %+v %v", r, ok)
	}
	// The session is over: no more backfill.
	if _, err := cs[1].Request(ctx, TypeBackfill, BackfillData{Session: md[1].Session, Missing: []string{n.ID()}}); !errors.Is(err, &signaling.Error{Code: CodeAlreadyRated}) {
		t.Errorf("backfill after the result: %v", err)
	}
}
