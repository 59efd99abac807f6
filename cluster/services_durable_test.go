package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/matchmaker"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestLeaderDiesAfterReply: the lobby and matchmaker leader (one node)
// answers a lobby.create, an mm.party and an mm.enqueue, and matches two
// players, while its writes are slow, and dies right after the replies
// and mm.matched: the next leader has the lobby, the consent and the
// ticket, and does not put the matched players' tickets back.
func TestLeaderDiesAfterReply(t *testing.T) {
	stores := make([]*slowStore, 3)
	nodes := startClusterWith(t, 3, signaling.Config{ResumeGrace: 5 * time.Second, RatePerSec: 10000, RateBurst: 10000},
		func(i int, bp signaling.Backplane) signaling.Backplane {
			stores[i] = &slowStore{Backplane: bp, died: make(chan struct{})}
			return stores[i]
		})
	lobbies := make([]*lobby.Service, len(nodes))
	mms := make([]*mmservice.Service, len(nodes))
	start := func(i int) {
		var err error
		if lobbies[i], err = lobby.New(nodes[i].srv, lobby.Config{}); err != nil {
			t.Fatal(err)
		}
		q := []matchmaker.QueueConfig{{Name: "2v2", Shape: matchmaker.Shape{TeamSize: 2}}, {Name: "1v1"}}
		if mms[i], err = mmservice.New(nodes[i].srv, mmservice.Config{Queues: q, Interval: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mms[i].Close(); lobbies[i].Close() })
	}
	// Node 0 leads both services: it starts them first.
	start(0)
	for deadline := time.Now().Add(30 * time.Second); lobbies[0].Leader() != "node0" || mms[0].Leader() != "node0"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node 0 does not lead the services")
		}
	}
	start(1)
	start(2)
	a, b, c := dial(t, nodes[1].url), dial(t, nodes[2].url), dial(t, nodes[1].url)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	request := func(c *signaling.Client, typ string, data, out any) error {
		raw, err := c.Request(ctx, typ, data)
		if err == nil && out != nil {
			err = json.Unmarshal(raw, out)
		}
		return err
	}
	// d and e are matched: they hear of it once the match's records (d's
	// ticket removed: it was written before the writes became slow) are
	// written.
	d, e := dial(t, nodes[1].url), dial(t, nodes[2].url)
	dm, em := d.Subscribe("mm.matched"), e.Subscribe("mm.matched")
	var dt mmservice.TicketData
	if err := request(d, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}, &dt); err != nil {
		t.Fatalf("enqueue 1v1: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); mms[0].Pending() > 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the leader's records are not written")
		}
	}
	const delay = 300 * time.Millisecond
	for _, s := range stores {
		s.set(func(st *slowStore) { st.delay = delay })
	}
	if err := request(e, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}, &dt); err != nil {
		t.Fatalf("enqueue 1v1: %v", err)
	}
	for _, sub := range []*signaling.Subscription{dm, em} {
		select {
		case <-sub.Events():
		case <-ctx.Done():
			t.Fatal("no mm.matched")
		}
	}
	var st lobby.State
	if err := request(a, lobby.TypeCreate, lobby.CreateData{Name: "kept"}, &st); err != nil || st.ID == "" {
		t.Fatalf("create: %+v %v", st, err)
	}
	// b agrees to join a's party (not used before the leader dies); c
	// enqueues alone.
	if err := request(b, mmservice.TypeParty, mmservice.PartyData{Leader: a.ID()}, nil); err != nil {
		t.Fatalf("party: %v", err)
	}
	start0 := time.Now()
	var tk mmservice.TicketData
	if err := request(c, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "2v2"}, &tk); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	took := time.Since(start0)
	stores[0].kill()
	nodes[0].close()
	for _, s := range stores {
		s.set(func(st *slowStore) { st.delay = 0 })
	}
	var got lobby.State
	if err := request(a, lobby.TypeSync, lobby.SyncData{}, &got); err != nil || got.ID != st.ID {
		t.Fatalf("sync after the leader died: %+v %v, want lobby %s", got, err, st.ID)
	}
	var ss mmservice.StatusData
	if err := request(c, mmservice.TypeStatus, nil, &ss); err != nil || ss.Ticket != tk.Ticket {
		t.Fatalf("status after the leader died: %+v %v, want ticket %s", ss, err, tk.Ticket)
	}
	for _, p := range []*signaling.Client{d, e} {
		var st mmservice.StatusData
		err := request(p, mmservice.TypeStatus, nil, &st)
		var se *signaling.Error
		if !errors.As(err, &se) || se.Code != mmservice.CodeNotFound {
			t.Fatalf("status of a matched player after the leader died: %+v %v, want %s", st, err, mmservice.CodeNotFound)
		}
	}
	var party mmservice.TicketData
	if err := request(a, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "2v2", Party: []string{b.ID()}}, &party); err != nil {
		t.Fatalf("enqueue with the party b agreed to before the leader died: %v", err)
	}
	if took < delay {
		t.Fatalf("enqueue answered in %v, before its record's write (%v)", took, delay)
	}
	t.Logf("next leaders %s, %s: lobby %s and ticket %s kept", lobbies[1].Leader(), mms[1].Leader(), got.ID, ss.Ticket)
}
