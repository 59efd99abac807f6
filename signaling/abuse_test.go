package signaling

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drop cuts p's TCP connection without a close frame: its session waits
// for a resume.
func (p *rawPeer) drop(ts *testServer) {
	p.t.Helper()
	p.ws.UnderlyingConn().Close()
	waitFor(p.t, "the session to be interrupted", func() bool {
		ts.mu.RLock()
		defer ts.mu.RUnlock()
		s := ts.sessions[p.id]
		return s != nil && s.interruptedAt != 0
	})
}

func (ts *testServer) queuedOf(id string) int64 {
	ts.mu.RLock()
	s := ts.sessions[id]
	ts.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queued
}

// TestAbuseTable has a row per attack of the hostile-client review (issue
// 14) that the signaling server itself must refuse or bound; each row
// asserts the coded refusal or the bound, and two bystanders keep
// signaling between the rows.
func TestAbuseTable(t *testing.T) {
	const queueBytes = 8 << 10
	ts := newTestServer(t, Config{
		SendQueueBytes: queueBytes,
		MaxQueuedBytes: 256 << 10,
		ResumeGrace:    time.Minute,
	})
	ctx := testCtx(t)
	by1 := dialT(t, ts.URL, nil)
	by2 := dialT(t, ts.URL, nil)
	by2ev := by2.Events()
	by1.Join(ctx, "bystanders")
	by2.Join(ctx, "bystanders")

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"relayed JSON is byte-exact, no HTML escaping", func(t *testing.T) {
			a := rawDial(t, ts.URL)
			b := rawDial(t, ts.URL)
			for _, p := range []*rawPeer{a, b} {
				p.send(`{"type":"join","cid":"j","room":"exact"}`)
				p.expect(TypeJoined)
			}
			payload := `{ "sdp" : "<a>&<b>",  "n":[1, 2 ,3] }`
			a.send(`{"type":"signal","cid":"s","to":"` + b.id + `","data":` + payload + `}`)
			a.expect(TypeAck)
			b.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
			for {
				_, raw, err := b.ws.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(raw), `"type":"signal"`) {
					continue
				}
				if !strings.HasSuffix(string(raw), `,"data":`+payload+`}`) {
					t.Fatalf("relayed frame %s does not carry %s byte for byte", raw, payload)
				}
				break
			}
		}},
		{"send queue bounded in bytes, resume grace included", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.drop(ts)
			frame := strings.Repeat("<", 1000) // one byte each on the wire
			var err error
			sent := 0
			for ; err == nil && sent < 1000; sent++ {
				err = ts.Send(p.id, "mm.flood", frame)
			}
			if !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Send kept accepting (%d frames): %v", sent, err)
			}
			if q := ts.queuedOf(p.id); q > queueBytes || q < queueBytes-1100 {
				t.Fatalf("queue holds %d bytes; the bound is %d", q, queueBytes)
			}
		}},
		{"server-wide queue budget", func(t *testing.T) {
			// Fill interrupted sessions until the budget is reached: then a
			// peer with a queue is refused while an empty queue still takes
			// a message.
			base := ts.queued.Load()
			var filled []*rawPeer
			for ts.queued.Load() < ts.cfg.MaxQueuedBytes {
				p := rawDial(t, ts.URL)
				p.drop(ts)
				for ts.Send(p.id, "mm.flood", strings.Repeat("z", 2000)) == nil {
				}
				filled = append(filled, p)
				if len(filled) > 64 {
					t.Fatalf("budget %d never reached: %d queued", ts.cfg.MaxQueuedBytes, ts.queued.Load())
				}
			}
			if got := ts.queued.Load(); got > ts.cfg.MaxQueuedBytes+int64(len(filled))*2100 {
				t.Fatalf("queues hold %d bytes over a budget of %d", got, ts.cfg.MaxQueuedBytes)
			}
			q := rawDial(t, ts.URL)
			q.drop(ts)
			if err := ts.Send(q.id, "mm.one", "x"); err != nil {
				t.Fatalf("an empty queue refused a message over the budget: %v", err)
			}
			if err := ts.Send(q.id, "mm.two", "x"); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("a second message over the budget: %v", err)
			}
			// Sessions that end give their bytes back.
			for _, p := range append(filled, q) {
				r := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
				r.send(`{"type":"hello","cid":"r","data":{"resume":"` + p.resume + `"}}`)
				r.expect(TypeWelcome)
				r.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
			}
			waitFor(t, "the budget to be given back", func() bool { return ts.queued.Load() <= base })
		}},
		{"invalid UTF-8 closes with 1007", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.ws.WriteMessage(websocket.TextMessage, []byte("{\"type\":\"ping\",\"cid\":\"\xff\xfe\"}"))
			for {
				_, err := p.next()
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) || !strings.Contains(err.Error(), CodeInvalidUTF8) {
					t.Fatalf("want close 1007 %s, got %v", CodeInvalidUTF8, err)
				}
				return
			}
		}},
		{"WebSocket pings are rate limited", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			var pongs atomic.Int64
			p.ws.SetPongHandler(func(string) error { pongs.Add(1); return nil })
			const n = 1000
			for range n {
				p.ws.WriteControl(websocket.PingMessage, []byte("x"), time.Now().Add(10*time.Second))
			}
			// A ping message behind them: once its pong is read, every
			// answered ping's pong has been read too.
			p.ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","cid":"last"}`))
			for {
				env, err := p.next()
				if err != nil {
					t.Fatal(err)
				}
				if env.Type == TypePong || env.Type == TypeError {
					break
				}
			}
			// The bucket (burst 100 here, refilling at 50/s) answers
			// about a burst's worth.
			if got := pongs.Load(); got == 0 || got > 400 {
				t.Fatalf("%d of %d pings answered", got, n)
			}
		}},
		{"next=N group names are unguessable and unique", func(t *testing.T) {
			seen := map[string]bool{}
			for range 3 {
				a, b := rawDial(t, ts.URL), rawDial(t, ts.URL)
				a.send(`{"type":"join","cid":"j","room":"grp","data":{"next":2}}`)
				env := a.expect(TypeJoined)
				b.send(`{"type":"join","cid":"j","room":"grp","data":{"next":2}}`)
				b.expect(TypeJoined)
				name, ok := strings.CutPrefix(env.Room, "grp#")
				if !ok || len(name) != 16 || seen[name] {
					t.Fatalf("group room %q", env.Room)
				}
				seen[name] = true
				// Its name cannot be joined, guessed or not.
				q := rawDial(t, ts.URL)
				q.send(`{"type":"join","cid":"g","room":"` + env.Room + `"}`)
				q.expectError(CodeRoomClosed, "g")
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, tc.run)
		payload := json.RawMessage(fmt.Sprintf(`{"n":%d,"html":"<&>"}`, i))
		if err := by1.Signal(ctx, by2.ID(), payload); err != nil {
			t.Fatalf("bystander signal after %q: %v", tc.name, err)
		}
		if s := waitEvent[Signal](t, by2ev, nil); string(s.Data) != string(payload) {
			t.Fatalf("bystander got %s, want %s", s.Data, payload)
		}
	}
}

// TestSessionsPerIP: sessions waiting to resume hold no connection, so
// they are counted per IP on their own; a resume is not a new session.
func TestSessionsPerIP(t *testing.T) {
	ts := newTestServer(t, Config{MaxSessionsPerIP: 3, ResumeGrace: time.Minute})
	var ps []*rawPeer
	for range 3 {
		p := rawDial(t, ts.URL)
		p.drop(ts)
		ps = append(ps, p)
	}
	q := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
	q.send(`{"type":"hello","cid":"h"}`)
	q.expectError(CodeTooManySessions, "h")
	if _, err := q.next(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("want close 1008, got %v", err)
	}
	r := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
	r.send(`{"type":"hello","cid":"r","data":{"resume":"` + ps[0].resume + `"}}`)
	r.expect(TypeWelcome)
	r.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	waitFor(t, "the session to end", func() bool { return ts.Sessions() == 2 })
	rawDial(t, ts.URL) // a slot is free again
}

// TestSessionsPerSubject: one authenticated player holds a bounded number
// of sessions from any address; a session that ends frees its slot.
func TestSessionsPerSubject(t *testing.T) {
	auth := HMACAuth{Secret: []byte("k")}
	ts := newTestServer(t, Config{Auth: auth, MaxSessionsPerSubject: 2})
	tok, _ := auth.Issue(Identity{Subject: "mallory"}, time.Hour)
	other, _ := auth.Issue(Identity{Subject: "ana"}, time.Hour)
	c1 := dialT(t, ts.URL, &ClientConfig{Token: tok})
	dialT(t, ts.URL, &ClientConfig{Token: tok})
	_, err := Dial(testCtx(t), ts.URL, &ClientConfig{Token: tok, DisableReconnect: true})
	if !errors.Is(err, &Error{Code: CodeTooManySessions}) {
		t.Fatalf("third session of one subject: %v", err)
	}
	dialT(t, ts.URL, &ClientConfig{Token: other}) // another player is not affected
	c1.Close()
	waitFor(t, "the session to end", func() bool { return ts.Sessions() == 2 })
	dialT(t, ts.URL, &ClientConfig{Token: tok})
}
