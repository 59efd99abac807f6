package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

// A new leader puts the saved tickets back in their queues under the same
// ids, with the wait they had, takes the saved sessions' results from
// there, and keeps the saved party consents.
func TestLeaderLoadsTicketsAndSessions(t *testing.T) {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	s, err := New(srv, Config{Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr, _ := json.Marshal(ticketRec{Ticket: matchmaker.Ticket{ID: "t1", Queue: "1v1",
		Players: []matchmaker.Player{{ID: "p1", Rating: matchmaker.Rating{Mu: 30, Sigma: 5}}}},
		Keys: map[string]string{"p1": "alice"}, IP: "1.2.3.4", At: time.Now().Add(-20 * time.Second).UnixMilli()})
	sr, _ := json.Marshal(sessionRec{Host: "a", Queue: "1v1", Teams: [][]string{{"a"}, {"b"}}, Capacity: []int{1, 1},
		Keys: map[string]string{"a": "ka", "b": "kb"}, Reports: map[string]string{"sub:ka": "[0 1]"}, At: time.Now().UnixMilli()})
	cr, _ := json.Marshal(consentRec{Leader: "p1", Key: "bob"})
	recs := map[string][]byte{"t.t1": tr, "s.s1": sr, "t.bad": []byte("["), "c.m1": cr, "c.bad": []byte("["), "c.p1": cr}
	if err := s.lead(context.Background(), signaling.ServiceState{Records: recs}); err != nil {
		t.Fatal(err)
	}
	st, err := s.mm.Status("t1")
	if err != nil || st.Queue != "1v1" {
		t.Fatalf("ticket t1 after load: %+v %v", st, err)
	}
	if st.Waited < 20*time.Second || st.Waited > time.Minute {
		t.Errorf("ticket t1 waited %v after load, want its 20 s and on", st.Waited)
	}
	s.mu.Lock()
	ok := s.byPeer["p1"] == "t1" && s.bySubject["alice"] == "t1" && s.perIP["1.2.3.4"] == 1 &&
		s.sessions["s1"] != nil && s.sessions["s1"].reports["sub:ka"] == "[0 1]"
	consents := len(s.consent) == 1 && s.consent["m1"] == "p1" && s.consentKey["m1"] == "bob"
	s.mu.Unlock()
	if !ok {
		t.Fatal("maps not rebuilt")
	}
	if !consents {
		t.Fatal("consent of m1 not loaded (or the consent of p1, who waits in a ticket, loaded)")
	}
	// Stepping down empties the pool.
	s.follow()
	if _, err := s.mm.Status("t1"); err == nil {
		t.Fatal("ticket still waiting after follow")
	}
}

// FuzzTicketRecord: a new leader loads any record without panicking.
func FuzzTicketRecord(f *testing.F) {
	tr, _ := json.Marshal(ticketRec{Ticket: matchmaker.Ticket{ID: "t1", Queue: "1v1", Players: []matchmaker.Player{{ID: "p1"}}}})
	f.Add("t.t1", tr)
	f.Add("s.s1", []byte(`{"teams":[["a"],["b"]],"keys":{"a":""}}`))
	f.Add("c.m1", []byte(`{"leader":"p1","key":"k"}`))
	f.Add("b.s1", []byte(`{"request":{"id":"bf","queue":"1v1","session":"s1","open_slots":[0,1]},"peer":"a"}`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		srv := signaling.NewServer(signaling.Config{})
		defer srv.Close()
		s, err := New(srv, Config{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.lead(context.Background(), signaling.ServiceState{Records: map[string][]byte{key: data}}); err != nil {
			t.Fatal(err)
		}
		s.follow()
	})
}

// A new leader drops the ticket of a match made known (its players are in
// the room of a session recorded after the ticket's enqueue) whose
// removal the old leader had not written, and keeps a ticket enqueued
// after such a session.
func TestLeaderDropsTicketsOfMatchMadeKnown(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a, b := dial(t, e.url), dial(t, e.url)
	if err := e.srv.CreateRoom("s1", []string{a.ID(), b.ID()}); err != nil {
		t.Fatal(err)
	}
	if !e.srv.InRoom(a.ID(), "s1") {
		t.Fatal("a is not in the session's room")
	}
	now := time.Now()
	ticket := func(id string, at time.Time, peers ...string) []byte {
		r := ticketRec{Ticket: matchmaker.Ticket{ID: id, Queue: "1v1"}, At: at.UnixMilli()}
		for _, p := range peers {
			r.Ticket.Players = append(r.Ticket.Players, matchmaker.Player{ID: p})
		}
		b, _ := json.Marshal(r)
		return b
	}
	sr, _ := json.Marshal(sessionRec{Host: a.ID(), Queue: "1v1", Teams: [][]string{{a.ID()}, {b.ID()}}, Capacity: []int{1, 1},
		Keys: map[string]string{a.ID(): "", b.ID(): ""}, At: now.UnixMilli()})
	recs := map[string][]byte{
		"s.s1":  sr,
		"t.old": ticket("old", now.Add(-5*time.Second), a.ID()), // matched into s1
		"t.new": ticket("new", now.Add(time.Second), b.ID()),    // enqueued after s1
	}
	e.svc.follow()
	if err := e.svc.lead(context.Background(), signaling.ServiceState{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.mm.Status("old"); err == nil {
		t.Error("the ticket of the match made known waits again")
	}
	if _, err := e.svc.mm.Status("new"); err != nil {
		t.Errorf("the ticket enqueued after the session: %v", err)
	}
}

// A new leader orders a backfill like a new match: a newcomer in the
// room of a session whose backfill was recorded after the newcomer's
// enqueue has its ticket dropped (the removal was not written); a
// newcomer of a backfill recorded but not delivered (not in the room) is
// taken out of the session and its ticket waits again; a player of the
// session from before the backfill keeps a ticket enqueued after the
// session started.
func TestLeaderOrdersBackfill(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a, b, c, d := dial(t, e.url), dial(t, e.url), dial(t, e.url), dial(t, e.url)
	if err := e.srv.CreateRoom("s1", []string{a.ID(), b.ID(), c.ID()}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ticket := func(id string, at time.Time, peer string) []byte {
		r := ticketRec{Ticket: matchmaker.Ticket{ID: id, Queue: "1v1", Players: []matchmaker.Player{{ID: peer}}}, At: at.UnixMilli()}
		b, _ := json.Marshal(r)
		return b
	}
	sr, _ := json.Marshal(sessionRec{Host: a.ID(), Queue: "2v2", Teams: [][]string{{a.ID(), c.ID()}, {b.ID(), d.ID()}},
		Capacity: []int{2, 2}, Keys: map[string]string{a.ID(): "", b.ID(): "", c.ID(): "", d.ID(): ""},
		At: now.Add(-time.Minute).UnixMilli(), Added: []string{c.ID(), d.ID()}, Backfilled: now.UnixMilli(), Pending: true})
	recs := map[string][]byte{
		"s.s1": sr,
		"t.tc": ticket("tc", now.Add(-5*time.Second), c.ID()), // backfilled into s1, in its room
		"t.td": ticket("td", now.Add(-5*time.Second), d.ID()), // backfill recorded, not in the room
		"t.ta": ticket("ta", now.Add(-5*time.Second), a.ID()), // a player of s1 before the backfill
	}
	e.svc.follow()
	if err := e.svc.lead(context.Background(), signaling.ServiceState{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.mm.Status("tc"); err == nil {
		t.Error("the ticket of a newcomer in the room waits again")
	}
	for _, id := range []string{"td", "ta"} {
		if _, err := e.svc.mm.Status(id); err != nil {
			t.Errorf("ticket %s: %v", id, err)
		}
	}
	e.svc.mu.Lock()
	ss := e.svc.sessions["s1"]
	_, hasD := ss.keys[d.ID()]
	_, hasC := ss.keys[c.ID()]
	teams := fmt.Sprint(ss.teams)
	e.svc.mu.Unlock()
	if hasD || !hasC {
		t.Errorf("session keys %v: want c in, d (not in the room) out", ss.keys)
	}
	if want := fmt.Sprint([][]string{{a.ID(), c.ID()}, {b.ID()}}); teams != want {
		t.Errorf("session teams %s, want %s", teams, want)
	}
}

// A backfill's session is recorded with its newcomers (pending) before
// they enter the room; once they are in it is no longer pending, and
// when the room refuses them (a newcomer gone) the session goes back to
// its teams before the backfill.
func TestBackfillRecordedBeforeRoom(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a, b, c := dial(t, e.url), dial(t, e.url), dial(t, e.url)
	if err := e.srv.CreateRoom("s1", []string{a.ID(), b.ID()}); err != nil {
		t.Fatal(err)
	}
	e.svc.mu.Lock()
	e.svc.sessions["s1"] = &session{host: a.ID(), queue: "2v2", teams: [][]string{{a.ID()}, {b.ID()}},
		capacity: []int{2, 2}, keys: map[string]string{a.ID(): "ka", b.ID(): "kb"},
		reports: map[string]string{}, ranks: map[string][]float64{}, at: time.Now(), backfill: "bf1"}
	e.svc.mu.Unlock()
	match := func(bf, newcomer string) matchmaker.Match {
		return matchmaker.Match{Backfill: bf, Session: "s1", Queue: "2v2",
			Teams:   [][]matchmaker.Player{{{ID: a.ID()}, {ID: newcomer}}, {{ID: b.ID()}}},
			Tickets: []matchmaker.MatchedTicket{{Ticket: matchmaker.Ticket{ID: "t-" + newcomer, Queue: "2v2", Players: []matchmaker.Player{{ID: newcomer}}}}}}
	}
	state := func() (teams string, pending bool, added []string) {
		e.svc.mu.Lock()
		defer e.svc.mu.Unlock()
		ss := e.svc.sessions["s1"]
		return fmt.Sprint(ss.teams), ss.prev != nil, ss.added
	}
	before := fmt.Sprint([][]string{{a.ID()}, {b.ID()}})
	after := fmt.Sprint([][]string{{a.ID(), c.ID()}, {b.ID()}})

	// A newcomer gone before the room: the session goes back.
	m := match("bf1", "ghost")
	if !e.svc.recordBackfill(m, time.Now()) {
		t.Fatal("backfill not recorded")
	}
	if teams, pending, _ := state(); !pending || teams != fmt.Sprint([][]string{{a.ID(), "ghost"}, {b.ID()}}) {
		t.Fatalf("recorded: teams %s pending %v, want the backfill's teams, pending", teams, pending)
	}
	e.svc.deliverBackfill(m, time.Now())
	if teams, pending, _ := state(); pending || teams != before {
		t.Fatalf("refused: teams %s pending %v, want %s, not pending", teams, pending, before)
	}

	// A newcomer who enters the room.
	e.svc.mu.Lock()
	e.svc.sessions["s1"].backfill = "bf2"
	e.svc.mu.Unlock()
	m = match("bf2", c.ID())
	if !e.svc.recordBackfill(m, time.Now()) {
		t.Fatal("backfill not recorded")
	}
	if e.srv.InRoom(c.ID(), "s1") {
		t.Fatal("the newcomer is in the room before its backfill was delivered")
	}
	e.svc.deliverBackfill(m, time.Now())
	if !e.srv.InRoom(c.ID(), "s1") {
		t.Fatal("the newcomer is not in the room")
	}
	if teams, pending, added := state(); pending || teams != after || len(added) != 1 || added[0] != c.ID() {
		t.Fatalf("delivered: teams %s pending %v added %v, want %s, not pending, %s added", teams, pending, added, after, c.ID())
	}
}

// A new leader puts the saved backfill requests whose session it has back
// in the engine under their ids, with the time they were made, once it has
// the sessions: a request whose session's last backfill filled it (its
// newcomer in the room) is not put back, one whose newcomers are not in
// the room waits again, and one for an unknown session is dropped. A
// ticket that arrives then fills the oldest request, and its requester
// hears of it under the request's id.
func TestLeaderRestoresBackfill(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a, b, c, d, n := dial(t, e.url), dial(t, e.url), dial(t, e.url), dial(t, e.url), dial(t, e.url)
	aev, nev := a.Events(), n.Events()
	if err := e.srv.CreateRoom("s1", []string{a.ID()}); err != nil { // b left s1
		t.Fatal(err)
	}
	if err := e.srv.CreateRoom("s2", []string{c.ID()}); err != nil { // c filled s2's backfill
		t.Fatal(err)
	}
	now := time.Now()
	r := matchmaker.Rating{Mu: 25, Sigma: 8}
	session := func(teams [][]string, fill string, added ...string) []byte {
		keys := map[string]string{}
		for _, t := range teams {
			for _, p := range t {
				keys[p] = ""
			}
		}
		sr := sessionRec{Host: teams[0][0], Queue: "1v1", Teams: teams, Capacity: []int{1, 1}, Keys: keys, At: now.Add(-time.Minute).UnixMilli()}
		if fill != "" {
			sr.Added, sr.Fill, sr.Backfilled, sr.Pending = added, fill, now.UnixMilli(), true
		}
		b, _ := json.Marshal(sr)
		return b
	}
	backfill := func(id, sess, host string, at time.Time) []byte {
		b, _ := json.Marshal(backfillRec{Request: matchmaker.BackfillRequest{ID: id, Queue: "1v1", Session: sess, Host: host,
			Teams: [][]matchmaker.Player{{{ID: host, Rating: r}}}, OpenSlots: []int{0, 1}}, Peer: host, At: at.UnixMilli()})
		return b
	}
	recs := map[string][]byte{
		"s.s1": session([][]string{{a.ID()}, {b.ID()}}, ""),
		"b.s1": backfill("bf1", "s1", a.ID(), now.Add(-20*time.Second)),
		// Filled (c in the room), the record's removal not written.
		"s.s2": session([][]string{{"x2"}, {c.ID()}}, "bf2", c.ID()),
		"b.s2": backfill("bf2", "s2", "x2", now.Add(-30*time.Second)),
		// Recorded as filled by d, who is not in the room: waits again.
		"s.s3": session([][]string{{"x3"}, {d.ID()}}, "bf3", d.ID()),
		"b.s3": backfill("bf3", "s3", "x3", now.Add(-10*time.Second)),
		"b.s4": backfill("bf4", "s4", "x4", now), // no such session
		"b.s5": backfill("bf5", "s1", a.ID(), now),
		"b.s6": []byte("["),
	}
	e.svc.follow()
	if err := e.svc.lead(context.Background(), signaling.ServiceState{Records: recs}); err != nil {
		t.Fatal(err)
	}
	for id, waited := range map[string]time.Duration{"bf1": 20 * time.Second, "bf3": 10 * time.Second} {
		at, ok := e.svc.mm.BackfillRequestedAt(id)
		if !ok {
			t.Fatalf("backfill %s not put back", id)
		}
		if w := time.Since(at); w < waited || w > waited+time.Minute {
			t.Errorf("backfill %s waited %v after load, want its %v and on", id, w, waited)
		}
	}
	for _, id := range []string{"bf2", "bf4", "bf5"} {
		if _, ok := e.svc.mm.BackfillRequestedAt(id); ok {
			t.Errorf("backfill %s put back", id)
		}
	}
	e.svc.mu.Lock()
	got := e.svc.sessions["s1"].backfill + " " + e.svc.sessions["s2"].backfill + " " + e.svc.sessions["s3"].backfill
	_, dIn := e.svc.sessions["s3"].keys[d.ID()]
	e.svc.mu.Unlock()
	if got != "bf1  bf3" {
		t.Errorf("sessions' pending backfills %q, want %q", got, "bf1  bf3")
	}
	if dIn {
		t.Error("d, not in s3's room, is still a player of s3")
	}
	// n fills the oldest pending request, bf1.
	enqueue(t, n, EnqueueData{Queue: "1v1"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var bd BackfilledData
	waitMessage(t, aev, TypeBackfilled, &bd)
	if bd.Session != "s1" || bd.Backfill != "bf1" || len(bd.Added) != 1 || bd.Added[0] != n.ID() {
		t.Fatalf("backfilled %+v, want %s added to s1 by bf1", bd, n.ID())
	}
	var md MatchedData
	waitMessage(t, nev, TypeMatched, &md)
	if md.Session != "s1" || !e.srv.InRoom(n.ID(), "s1") {
		t.Fatalf("newcomer matched %+v, in s1's room %v", md, e.srv.InRoom(n.ID(), "s1"))
	}
}

// FuzzBackfillRecord: a new leader loads any backfill record of a session
// it has without panicking.
func FuzzBackfillRecord(f *testing.F) {
	br, _ := json.Marshal(backfillRec{Request: matchmaker.BackfillRequest{ID: "bf", Queue: "1v1", Session: "s1", Host: "a",
		Teams: [][]matchmaker.Player{{{ID: "a"}}}, OpenSlots: []int{0, 1}}, Peer: "a", At: 1})
	f.Add(br)
	f.Add([]byte(`{"request":{"id":"bf","queue":"5v5","session":"s1","open_slots":[9,-1]}}`))
	f.Add([]byte(`{"request":{"id":"bf","queue":"1v1","session":"s1","teams":[[{"id":"a","rating":{"mu":1e999}}]],"open_slots":[0,1]},"at":-1}`))
	sr, _ := json.Marshal(sessionRec{Host: "a", Queue: "1v1", Teams: [][]string{{"a"}, {"b"}}, Capacity: []int{1, 1},
		Keys: map[string]string{"a": "", "b": ""}, Added: []string{"b"}, Fill: "bf", Pending: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		srv := signaling.NewServer(signaling.Config{})
		defer srv.Close()
		s, err := New(srv, Config{Interval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.lead(context.Background(), signaling.ServiceState{Records: map[string][]byte{"s.s1": sr, "b.s1": data}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Pass(); err != nil {
			t.Fatal(err)
		}
		s.follow()
	})
}

// A backfill whose newcomer is gone before the room takes it waits again
// under its id, with the time it was made: it ends filled or pending,
// never dropped.
func TestBackfillWaitsAgainWhenNewcomerGone(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	a := dial(t, e.url)
	if err := e.srv.CreateRoom("s1", []string{a.ID()}); err != nil {
		t.Fatal(err)
	}
	made := time.Now().Add(-5 * time.Second)
	ss := &session{host: a.ID(), queue: "1v1", teams: [][]string{{a.ID()}, {"b"}}, capacity: []int{1, 1},
		keys: map[string]string{a.ID(): "", "b": ""}, reports: map[string]string{}, ranks: map[string][]float64{}, at: time.Now()}
	e.svc.mu.Lock()
	e.svc.sessions["s1"] = ss
	e.svc.setBackfillLocked("s1", ss, backfillRec{Request: matchmaker.BackfillRequest{ID: "bf1", Queue: "1v1", Session: "s1", Host: a.ID(),
		Teams: [][]matchmaker.Player{{{ID: a.ID()}}}, OpenSlots: []int{0, 1}}, Peer: a.ID(), At: made.UnixMilli()})
	e.svc.mu.Unlock()
	m := matchmaker.Match{Backfill: "bf1", Session: "s1", Queue: "1v1", Host: a.ID(),
		Teams:   [][]matchmaker.Player{{{ID: a.ID()}}, {{ID: "ghost"}}},
		Tickets: []matchmaker.MatchedTicket{{Ticket: matchmaker.Ticket{ID: "t-ghost", Queue: "1v1", Players: []matchmaker.Player{{ID: "ghost"}}}}}}
	if !e.svc.recordBackfill(m, time.Now()) {
		t.Fatal("backfill not recorded")
	}
	e.svc.deliverBackfill(m, time.Now())
	at, ok := e.svc.mm.BackfillRequestedAt("bf1")
	if !ok || at.UnixMilli() != made.UnixMilli() {
		t.Fatalf("bf1 requested at %v %v, want pending again since %v", at, ok, made)
	}
	e.svc.mu.Lock()
	pending, fill, req := ss.backfill, ss.fill, ss.req != nil
	e.svc.mu.Unlock()
	if pending != "bf1" || fill != "" || !req {
		t.Fatalf("session's backfill %q (fill %q, request kept %v), want bf1 pending", pending, fill, req)
	}
}

// A requester that leaves for good withdraws its backfill request, as its
// ticket would be: a fitting ticket then waits.
func TestBackfillWithdrawnWhenRequesterGone(t *testing.T) {
	e := newEnv(t, Config{Interval: time.Hour})
	ctx := testCtx(t)
	a, b := dial(t, e.url), dial(t, e.url)
	aev := a.Events()
	enqueue(t, a, EnqueueData{Queue: "1v1"})
	enqueue(t, b, EnqueueData{Queue: "1v1"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	var md MatchedData
	waitMessage(t, aev, TypeMatched, &md)
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := a.Request(ctx, TypeBackfill, BackfillData{Session: md.Session, Missing: []string{b.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	var br BackfillReply
	_ = json.Unmarshal(raw, &br)
	if _, ok := e.svc.mm.BackfillRequestedAt(br.Backfill); !ok {
		t.Fatalf("backfill %+v not pending", br)
	}
	e.svc.peerGone(a.ID())
	if _, ok := e.svc.mm.BackfillRequestedAt(br.Backfill); ok {
		t.Fatal("the backfill of a requester gone is still pending")
	}
	e.svc.mu.Lock()
	pending, requesters := e.svc.sessions[md.Session].backfill, len(e.svc.requesters)
	e.svc.mu.Unlock()
	if pending != "" || requesters != 0 {
		t.Fatalf("session's backfill %q, %d requesters, want none", pending, requesters)
	}
	n := dial(t, e.url)
	td := enqueue(t, n, EnqueueData{Queue: "1v1"})
	if err := e.svc.Pass(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.mm.Status(td.Ticket); err != nil {
		t.Fatalf("the ticket fitting the withdrawn backfill: %v", err)
	}
}
