package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// mmCluster is three nodes whose matchmaker node 0 leads, with the
// queues "1v1" and "duel" (both one against one).
type mmCluster struct {
	t     *testing.T
	nodes []*testNode
	mms   []*mmservice.Service
	ctx   context.Context
}

func startMMCluster(t *testing.T) *mmCluster {
	nodes := startCluster(t, 3, signaling.Config{ResumeGrace: time.Second, RatePerSec: 10000, RateBurst: 10000})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	c := &mmCluster{t: t, nodes: nodes, mms: make([]*mmservice.Service, len(nodes)), ctx: ctx}
	start := func(i int) {
		q := []matchmaker.QueueConfig{{Name: "1v1"}, {Name: "duel"}}
		var err error
		if c.mms[i], err = mmservice.New(nodes[i].srv, mmservice.Config{Queues: q, Interval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.mms[i].Close() })
	}
	start(0)
	for deadline := time.Now().Add(30 * time.Second); c.mms[0].Leader() != "node0"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node 0 does not lead the matchmaker")
		}
	}
	start(1)
	start(2)
	for deadline := time.Now().Add(30 * time.Second); c.mms[1].Leader() != "node0" || c.mms[2].Leader() != "node0"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nodes 1 and 2 see the leaders %q and %q, want node0", c.mms[1].Leader(), c.mms[2].Leader())
		}
	}
	return c
}

// dial connects a client to node i, again while the node counts itself
// cut off from the cluster (a loaded machine delays heartbeats).
func (c *mmCluster) dial(i int) *signaling.Client {
	c.t.Helper()
	for {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		p, err := signaling.Dial(ctx, c.nodes[i].url, &signaling.ClientConfig{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		cancel()
		if err == nil {
			c.t.Cleanup(func() { p.Close() })
			p.Events() // from now on
			return p
		}
		if !errors.Is(err, &signaling.Error{Code: signaling.CodeUnavailable}) || c.ctx.Err() != nil {
			c.t.Fatalf("dial node %d: %v", i, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *mmCluster) request(p *signaling.Client, typ string, data, out any) error {
	raw, err := p.Request(c.ctx, typ, data)
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	return err
}

// message waits for a push of type typ to p and decodes it into v.
func (c *mmCluster) message(p *signaling.Client, typ string, v any) {
	c.t.Helper()
	ev := waitEvent(c.t, p, typ, func(ev signaling.Event) bool {
		m, ok := ev.(signaling.Message)
		return ok && m.Type == typ
	})
	if err := json.Unmarshal(ev.(signaling.Message).Data, v); err != nil {
		c.t.Fatalf("%s: %v", typ, err)
	}
}

// match makes a session of x and y in queue, then y disconnects (its
// session ends after the resume grace: the backfill waits for that).
func (c *mmCluster) match(queue string, x, y *signaling.Client) string {
	c.t.Helper()
	for _, p := range []*signaling.Client{x, y} {
		if err := c.request(p, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: queue}, nil); err != nil {
			c.t.Fatalf("enqueue %s: %v", queue, err)
		}
	}
	var mx, my mmservice.MatchedData
	c.message(x, mmservice.TypeMatched, &mx)
	c.message(y, mmservice.TypeMatched, &my)
	if mx.Session != my.Session {
		c.t.Fatalf("sessions %s and %s", mx.Session, my.Session)
	}
	y.Close()
	return mx.Session
}

// backfill asks, as p, for a player to replace missing in session.
func (c *mmCluster) backfill(p *signaling.Client, session string, missing *signaling.Client) string {
	c.t.Helper()
	var br mmservice.BackfillReply
	start := time.Now()
	err := c.request(p, mmservice.TypeBackfill, mmservice.BackfillData{Session: session, Missing: []string{missing.ID()}}, &br)
	tries := 1
	for deadline := time.Now().Add(20 * time.Second); errors.Is(err, &signaling.Error{Code: mmservice.CodeStillPresent}) && time.Now().Before(deadline); tries++ {
		time.Sleep(20 * time.Millisecond) // the missing player's session has not ended yet
		err = c.request(p, mmservice.TypeBackfill, mmservice.BackfillData{Session: session, Missing: []string{missing.ID()}}, &br)
	}
	if err != nil || br.Backfill == "" {
		c.t.Fatalf("backfill after %d tries in %v: %+v %v", tries, time.Since(start), br, err)
	}
	if tries > 1 {
		c.t.Logf("backfill accepted at try %d, after %v", tries, time.Since(start))
	}
	return br.Backfill
}

// killLeader closes node 0 and waits until another node leads.
func (c *mmCluster) killLeader() {
	c.t.Helper()
	c.nodes[0].close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l := c.mms[1].Leader(); l != "" && l != "node0" {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatal("no new leader")
		}
	}
}

// TestBackfillSurvivesLeader: a backfill request the leader accepted
// (mm.backfill answered) before it died is served by the next leader
// under the same id: a ticket enqueued after the takeover fills it, the
// requester gets mm.backfilled naming it, and the newcomer is in the
// session's room.
func TestBackfillSurvivesLeader(t *testing.T) {
	c := startMMCluster(t)
	a, b := c.dial(1), c.dial(2)
	session := c.match("1v1", a, b)
	id := c.backfill(a, session, b)
	c.killLeader()
	n := c.dial(2)
	if err := c.request(n, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}, nil); err != nil {
		t.Fatalf("enqueue after the takeover: %v", err)
	}
	var bd mmservice.BackfilledData
	c.message(a, mmservice.TypeBackfilled, &bd)
	if bd.Session != session || bd.Backfill != id || len(bd.Added) != 1 || bd.Added[0] != n.ID() {
		t.Fatalf("backfilled %+v, want %s added to %s by backfill %s", bd, n.ID(), session, id)
	}
	var md mmservice.MatchedData
	c.message(n, mmservice.TypeMatched, &md)
	if md.Session != session || n.Room() != session {
		t.Fatalf("newcomer matched %+v, in room %q; want session %s", md, n.Room(), session)
	}
	t.Logf("backfill %s of %s served by %s", id, session, c.mms[1].Leader())
}

// TestBackfillNotResurrected: a backfill request replaced by a newer one,
// and that newer one filled, before the leader died are not served again
// by the next leader (a ticket that fits them waits), while a request
// still pending then is.
func TestBackfillNotResurrected(t *testing.T) {
	c := startMMCluster(t)
	a, b := c.dial(1), c.dial(2)
	e, f := c.dial(2), c.dial(1)
	s := c.match("1v1", a, b)
	tt := c.match("duel", e, f)
	old := c.backfill(a, s, b) // replaced by filled
	pending := c.backfill(e, tt, f)
	filled := c.backfill(a, s, b)
	if old == filled {
		t.Fatalf("a new request kept the id %s", old)
	}
	n := c.dial(2)
	if err := c.request(n, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}, nil); err != nil {
		t.Fatal(err)
	}
	var bd mmservice.BackfilledData
	c.message(a, mmservice.TypeBackfilled, &bd)
	if bd.Backfill != filled {
		t.Fatalf("backfilled %+v, want by %s", bd, filled)
	}
	c.killLeader()
	// g fits s's requests (were one served again it would join s first:
	// backfills go before new matches); d fits tt's, still pending.
	g, d := c.dial(1), c.dial(2)
	var gt mmservice.TicketData
	if err := c.request(g, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}, &gt); err != nil {
		t.Fatal(err)
	}
	if err := c.request(d, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "duel"}, nil); err != nil {
		t.Fatal(err)
	}
	c.message(e, mmservice.TypeBackfilled, &bd)
	if bd.Session != tt || bd.Backfill != pending || len(bd.Added) != 1 || bd.Added[0] != d.ID() {
		t.Fatalf("backfilled %+v, want %s added to %s by %s", bd, d.ID(), tt, pending)
	}
	// The pass that served tt's request had g's ticket: it still waits.
	var st mmservice.StatusData
	if err := c.request(g, mmservice.TypeStatus, nil, &st); err != nil || st.Ticket != gt.Ticket {
		t.Fatalf("g's status %+v %v, want its ticket %s waiting", st, err, gt.Ticket)
	}
	if g.Room() != "" {
		t.Fatalf("g is in room %q", g.Room())
	}
}
