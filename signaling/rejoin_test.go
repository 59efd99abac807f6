package signaling

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got %v, want an error with code %s", err, code)
	}
}

// A process killed mid-match (its connection cut, its session waiting out
// the resume grace) takes its seat back from a fresh client with its ticket.
func TestRejoinTakesSeatBack(t *testing.T) {
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, &ClientConfig{DisableReconnect: true})
	b := dialT(t, ts.URL, nil)
	bev := b.Events()
	ra, err := a.JoinNext(ctx, "q", 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.JoinNext(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	ticket := a.RejoinTicket()
	if s := b.Seats(); !slices.Equal(s, []string{a.ID(), b.ID()}) {
		t.Fatalf("b's seats %v", s)
	}
	if room, peer, ok := TicketSeat(ticket); !ok || room != ra.Name || peer != a.ID() {
		t.Fatalf("TicketSeat(%q) = %q %q %v", ticket, room, peer, ok)
	}
	if ticket == "" || b.RejoinTicket() == "" || ticket == b.RejoinTicket() {
		t.Fatalf("tickets a %q b %q", ticket, b.RejoinTicket())
	}
	old := a.ID()
	a.mu.Lock()
	cutConn(a.ws)
	a.mu.Unlock()
	waitEvent[PeerInterrupted](t, bev, func(e PeerInterrupted) bool { return e.Peer == old })

	a2 := dialT(t, ts.URL, nil)
	a2ev := a2.Events()
	info, err := a2.Rejoin(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != ra.Name || len(info.Peers) != 1 || info.Peers[0] != b.ID() || a2.Room() != ra.Name {
		t.Fatalf("rejoined %+v, room %q; want %s with [%s]", info, a2.Room(), ra.Name, b.ID())
	}
	if tk := a2.RejoinTicket(); tk == "" || tk == ticket {
		t.Fatalf("ticket after rejoin %q", tk)
	}
	if !slices.Equal(info.Seats, []string{a2.ID(), b.ID()}) {
		t.Fatalf("seats after the rejoin %v, want [%s %s]", info.Seats, a2.ID(), b.ID())
	}
	waitEvent[PeerLeft](t, bev, func(e PeerLeft) bool { return e.Peer == old })
	j := waitEvent[PeerJoined](t, bev, func(e PeerJoined) bool { return e.Peer == a2.ID() })
	if j.Replaces != old || j.Room != ra.Name {
		t.Fatalf("peer_joined %+v, want replaces %s", j, old)
	}
	if p := b.Peers(); len(p) != 1 || p[0] != a2.ID() {
		t.Fatalf("b's peers %v", p)
	}
	if s := b.Seats(); !slices.Equal(s, []string{a2.ID(), b.ID()}) {
		t.Fatalf("b's seats %v, want [%s %s]", s, a2.ID(), b.ID())
	}
	if err := b.Signal(ctx, a2.ID(), json.RawMessage(`"back"`)); err != nil {
		t.Fatal(err)
	}
	if s := waitEvent[Signal](t, a2ev, nil); string(s.Data) != `"back"` {
		t.Fatalf("signal %s", s.Data)
	}

	// The old ticket still names the seat: a third client takes it from
	// a2, which is told it left; a2's own ticket now replaces a3.
	a3 := dialT(t, ts.URL, nil)
	if _, err := a3.Rejoin(ctx, ticket); err != nil {
		t.Fatal(err)
	}
	waitEvent[Left](t, a2ev, func(e Left) bool { return e.Room == ra.Name })
	j = waitEvent[PeerJoined](t, bev, func(e PeerJoined) bool { return e.Peer == a3.ID() })
	if j.Replaces != a2.ID() {
		t.Fatalf("peer_joined %+v, want replaces %s", j, a2.ID())
	}
	if _, err := a3.Rejoin(ctx, a3.RejoinTicket()); err != nil {
		t.Fatalf("rejoin into the seat already held: %v", err)
	}
	if st := ts.Stats(); st.Rejoins != 2 {
		t.Fatalf("stats count %d rejoins, want 2", st.Rejoins)
	}
	// Rooms joined by name issue no tickets.
	c := dialT(t, ts.URL, nil)
	if _, err := c.Join(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	if tk := c.RejoinTicket(); tk != "" {
		t.Fatalf("ticket %q in a room joined by name", tk)
	}
}

func TestRejoinRefusals(t *testing.T) {
	ts := newTestServer(t, Config{})
	other := newTestServer(t, Config{})
	ctx := testCtx(t)
	a := dialT(t, ts.URL, nil)
	b := dialT(t, ts.URL, nil)
	if err := ts.CreateRoom("m1", []string{a.ID(), b.ID()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for a.RejoinTicket() == "" || b.RejoinTicket() == "" {
		if time.Now().After(deadline) {
			t.Fatal("no tickets after CreateRoom")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ticket := a.RejoinTicket()
	c := dialT(t, ts.URL, nil)
	parts := strings.Split(ticket, ".")
	forged := strings.Join([]string{parts[0], base64.RawURLEncoding.EncodeToString([]byte("m2")), parts[2], parts[3], parts[4]}, ".")
	for _, tk := range []string{"x", "1.a.b.c.d", forged, ticket + "A", strings.Replace(ticket, "1.", "2.", 1)} {
		_, err := c.Rejoin(ctx, tk)
		wantCode(t, err, CodeInvalidTicket)
	}
	// Another server's key does not check out.
	o := dialT(t, other.URL, nil)
	_, err := o.Rejoin(ctx, ticket)
	wantCode(t, err, CodeInvalidTicket)
	// No ticket at all.
	_, err = c.Request(ctx, TypeRejoin, nil)
	wantCode(t, err, CodeBadRequest)
	// Past its expiry.
	past := strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	expired := strings.Join([]string{parts[0], parts[1], parts[2], past, ts.ticketMAC("m1", parts[2], past, "")}, ".")
	_, err = c.Rejoin(ctx, expired)
	wantCode(t, err, CodeTicketExpired)
	// A member cannot take another seat of its own room.
	_, err = b.Rejoin(ctx, ticket)
	wantCode(t, err, CodeBadRequest)
	// Once everyone left, the room is gone.
	if err := a.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.Rejoin(ctx, ticket)
	wantCode(t, err, CodeTicketExpired)

	// A server with tickets off issues none.
	off := newTestServer(t, Config{RejoinTTL: -1})
	x := dialT(t, off.URL, nil)
	y := dialT(t, off.URL, nil)
	if _, err := x.JoinNext(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := y.JoinNext(ctx, "q", 2); err != nil {
		t.Fatal(err)
	}
	if x.RejoinTicket() != "" || y.RejoinTicket() != "" {
		t.Fatalf("tickets with RejoinTTL < 0: %q %q", x.RejoinTicket(), y.RejoinTicket())
	}
}

// FuzzParseRejoinTicket: only tickets the server issued parse, and every
// refusal is coded.
func FuzzParseRejoinTicket(f *testing.F) {
	s := NewServer(Config{})
	defer s.Close()
	r := &room{name: "m#0123", private: true}
	sess := &session{id: "abc"}
	s.mu.Lock()
	tok := s.rejoinTicketLocked(sess, r)
	s.mu.Unlock()
	f.Add(tok)
	f.Add("")
	f.Add("1....")
	f.Add("1.bSMwMTIz.abc.99.x")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := s.parseRejoinTicket(in, "")
		if err == nil {
			if in != tok || got.room != r.name || got.peer != sess.id {
				t.Fatalf("accepted %q as %+v", in, got)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeInvalidTicket {
			t.Fatalf("uncoded refusal %v", err)
		}
		if room, peer, ok := TicketSeat(in); ok && (!validRoomName(room) || peer == "") {
			t.Fatalf("TicketSeat(%q) = %q %q", in, room, peer)
		}
	})
}
