package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// rawPeer speaks the protocol by hand, so that tests can send what a
// well-behaved Client never would.
type rawPeer struct {
	t      *testing.T
	ws     *websocket.Conn
	id     string
	resume string
}

func rawConnect(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func rawDial(t *testing.T, url string) *rawPeer {
	t.Helper()
	p := &rawPeer{t: t, ws: rawConnect(t, url)}
	p.send(`{"v":1,"type":"hello","cid":"h","data":{"versions":[1]}}`)
	env := p.expect(TypeWelcome)
	var w WelcomeData
	if err := json.Unmarshal(env.Data, &w); err != nil {
		t.Fatal(err)
	}
	p.id, p.resume = w.ID, w.Resume
	return p
}

func (p *rawPeer) send(s string) {
	p.t.Helper()
	p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := p.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// next reads the next envelope.
func (p *rawPeer) next() (Envelope, error) {
	p.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, b, err := p.ws.ReadMessage()
	if err != nil {
		return Envelope{}, err
	}
	return Decode(b)
}

// expect reads until a message of type typ, failing on an error message of
// another request or after the deadline.
func (p *rawPeer) expect(typ string) Envelope {
	p.t.Helper()
	for {
		env, err := p.next()
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if env.Type == typ {
			return env
		}
		if env.Type == TypeError {
			p.t.Fatalf("waiting for %s: got error %s", typ, env.Data)
		}
	}
}

// expectError reads until an error message and checks its code and cid.
func (p *rawPeer) expectError(code, cid string) {
	p.t.Helper()
	for {
		env, err := p.next()
		if err != nil {
			p.t.Fatalf("waiting for error %s: %v", code, err)
		}
		if env.Type != TypeError {
			continue
		}
		var ed ErrorData
		json.Unmarshal(env.Data, &ed)
		if ed.Code != code || env.Cid != cid {
			p.t.Fatalf("got error %q (cid %q, %q), want %q (cid %q)", ed.Code, env.Cid, ed.Message, code, cid)
		}
		if ed.Message == "" {
			p.t.Fatalf("error %s has no message", code)
		}
		return
	}
}

// alive checks the connection still serves requests.
func (p *rawPeer) alive() {
	p.t.Helper()
	p.send(`{"type":"ping","cid":"alive"}`)
	env := p.expect(TypePong)
	if env.Cid != "alive" {
		p.t.Fatalf("pong cid %q", env.Cid)
	}
}

func TestBadInputTable(t *testing.T) {
	ts := newTestServer(t, Config{
		MaxMessageSize: 1024,
		MaxRoomSize:    2,
		MaxRooms:       20,
		RatePerSec:     5,
		RateBurst:      20,
		ResumeGrace:    300 * time.Millisecond,
	})
	ctx := testCtx(t)

	// Two bystanders keep signaling through the whole table.
	by1 := dialT(t, ts.URL, nil)
	by2 := dialT(t, ts.URL, nil)
	by2ev := by2.Events()
	by1.Join(ctx, "bystanders")
	by2.Join(ctx, "bystanders")
	bystanderSignal := func(i int) {
		t.Helper()
		payload := json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		if err := by1.Signal(ctx, by2.ID(), payload); err != nil {
			t.Fatalf("bystander signal %d: %v", i, err)
		}
		s := waitEvent[Signal](t, by2ev, nil)
		if string(s.Data) != string(payload) {
			t.Fatalf("bystander got %s, want %s", s.Data, payload)
		}
	}

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"invalid JSON", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"type":"join",`)
			p.expectError(CodeBadRequest, "")
			p.send(`[1,2,3]`)
			p.expectError(CodeBadRequest, "")
			p.alive()
		}},
		{"missing type", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"cid":"m1","data":{}}`)
			p.expectError(CodeBadRequest, "m1")
			p.alive()
		}},
		{"unknown type", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"v":1,"type":"frobnicate","cid":"u1"}`)
			p.expectError(CodeUnknownType, "u1")
			p.send(`{"v":1,"type":"welcome","cid":"u2"}`)
			p.expectError(CodeUnknownType, "u2")
			p.alive()
		}},
		{"unsupported envelope version", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"v":7,"type":"ping","cid":"v7"}`)
			p.expectError(CodeUnsupportedVersion, "v7")
			p.alive()
		}},
		{"oversized frame", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			big := `{"type":"ping","cid":"big","data":"` + strings.Repeat("x", 2000) + `"}`
			p.send(big)
			p.expectError(CodeTooLarge, "")
			p.alive()
		}},
		{"far oversized frame closes", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`"` + strings.Repeat("x", 8000) + `"`)
			for {
				if _, err := p.next(); err != nil {
					if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
						t.Fatalf("want close 1009, got %v", err)
					}
					return
				}
			}
		}},
		{"binary frame", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.ws.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2, 3})
			p.expectError(CodeBinaryUnsupported, "")
			p.alive()
		}},
		{"message before hello", func(t *testing.T) {
			ws := rawConnect(t, ts.URL)
			p := &rawPeer{t: t, ws: ws}
			p.send(`{"type":"join","cid":"j","room":"x"}`)
			p.expectError(CodeHelloRequired, "j")
		}},
		{"hello with no common version", func(t *testing.T) {
			ws := rawConnect(t, ts.URL)
			p := &rawPeer{t: t, ws: ws}
			p.send(`{"v":99,"type":"hello","cid":"h","data":{"versions":[99]}}`)
			p.expectError(CodeUnsupportedVersion, "h")
		}},
		{"invalid room name", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"type":"join","cid":"r1","room":"no spaces allowed"}`)
			p.expectError(CodeInvalidRoom, "r1")
			p.send(`{"type":"join","cid":"r2","room":"ok","data":{"next":1}}`)
			p.expectError(CodeInvalidRoom, "r2")
			p.alive()
		}},
		{"signal outside a room", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"type":"signal","cid":"s0","to":"` + by2.ID() + `","data":{}}`)
			p.expectError(CodeNotInRoom, "s0")
		}},
		{"signal to a peer in another room", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			p.send(`{"type":"join","cid":"j","room":"elsewhere"}`)
			p.expect(TypeJoined)
			p.send(`{"type":"signal","cid":"s1","to":"` + by2.ID() + `","data":{"sdp":"evil"}}`)
			p.expectError(CodeUnknownPeer, "s1")
			p.alive()
		}},
		{"forged sender", func(t *testing.T) {
			a := rawDial(t, ts.URL)
			b := rawDial(t, ts.URL)
			a.send(`{"type":"join","cid":"j","room":"forge"}`)
			a.expect(TypeJoined)
			b.send(`{"type":"join","cid":"j","room":"forge"}`)
			b.expect(TypeJoined)
			// b claims to be the bystander by1 when signaling a.
			b.send(`{"type":"signal","cid":"f1","from":"` + by1.ID() + `","to":"` + a.id + `","data":{"x":1}}`)
			b.expectError(CodeForgedSender, "f1")
			// A correct signal still goes through, stamped with b's id.
			b.send(`{"type":"signal","cid":"f2","to":"` + a.id + `","data":{"x":2}}`)
			b.expect(TypeAck)
			sig := a.expect(TypeSignal)
			if sig.From != b.id || string(sig.Data) != `{"x":2}` {
				t.Fatalf("a got %+v %s: the forged signal leaked or the stamp is wrong", sig, sig.Data)
			}
		}},
		{"flood past the rate limit", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			const n = 60
			for i := range n {
				p.send(fmt.Sprintf(`{"type":"ping","cid":"f%d"}`, i))
			}
			pongs, limited := 0, 0
			for pongs+limited < n {
				env, err := p.next()
				if err != nil {
					t.Fatal(err)
				}
				switch env.Type {
				case TypePong:
					pongs++
				case TypeError:
					var ed ErrorData
					json.Unmarshal(env.Data, &ed)
					if ed.Code != CodeRateLimited || !strings.HasPrefix(env.Cid, "f") {
						t.Fatalf("error %+v cid %q", ed, env.Cid)
					}
					limited++
				}
			}
			// Burst 20 (one token went to hello) plus a few refilled tokens.
			if limited < n-35 || pongs < 15 {
				t.Fatalf("pongs %d, rate_limited %d", pongs, limited)
			}
			time.Sleep(500 * time.Millisecond) // refill
			p.alive()
		}},
		{"a flood of garbage is rate limited too", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			const n = 60
			for range n {
				p.send(`{not json`)
			}
			bad, limited := 0, 0
			for bad+limited < n {
				env, err := p.next()
				if err != nil {
					t.Fatal(err)
				}
				var ed ErrorData
				json.Unmarshal(env.Data, &ed)
				switch ed.Code {
				case CodeBadRequest:
					bad++
				case CodeRateLimited:
					limited++
				default:
					t.Fatalf("unexpected %s %s", env.Type, env.Data)
				}
			}
			if limited < n-35 {
				t.Fatalf("bad_request %d, rate_limited %d", bad, limited)
			}
			time.Sleep(500 * time.Millisecond)
			p.alive()
		}},
		{"joining a full room", func(t *testing.T) {
			a := rawDial(t, ts.URL)
			b := rawDial(t, ts.URL)
			c := rawDial(t, ts.URL)
			for _, p := range []*rawPeer{a, b} {
				p.send(`{"type":"join","cid":"j","room":"full"}`)
				p.expect(TypeJoined)
			}
			c.send(`{"type":"join","cid":"j3","room":"full"}`)
			c.expectError(CodeRoomFull, "j3")
			c.alive()
		}},
		{"too many rooms", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			q := rawDial(t, ts.URL)
			// Fill the remaining room slots, one peer per room.
			var holders []*rawPeer
			for i := 0; ts.Rooms() < 20; i++ {
				h := rawDial(t, ts.URL)
				h.send(fmt.Sprintf(`{"type":"join","cid":"j","room":"filler-%d"}`, i))
				h.expect(TypeJoined)
				holders = append(holders, h)
			}
			p.send(`{"type":"join","cid":"tm","room":"one-too-many"}`)
			p.expectError(CodeTooManyRooms, "tm")
			q.send(`{"type":"join","cid":"tn","room":"another","data":{"next":2}}`)
			q.expectError(CodeTooManyRooms, "tn")
			for _, h := range holders {
				h.send(`{"type":"leave","cid":"l"}`)
				h.expect(TypeLeft)
			}
		}},
		{"resume with a forged token", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			forged := p.resume[:len(p.resume)-2] + "AA"
			if forged == p.resume {
				forged = p.resume[:len(p.resume)-2] + "BB"
			}
			q := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
			q.send(`{"type":"hello","cid":"r","data":{"resume":"` + forged + `"}}`)
			q.expectError(CodeInvalidToken, "r")
			q.send(`{"type":"hello","cid":"r2","data":{"resume":"garbage"}}`)
			q.expectError(CodeInvalidToken, "r2")
			// The connection may still start a fresh session.
			q.send(`{"type":"hello","cid":"h"}`)
			w := q.expect(TypeWelcome)
			var wd WelcomeData
			json.Unmarshal(w.Data, &wd)
			if wd.ID == p.id || wd.Resumed {
				t.Fatalf("fresh session took over %s", p.id)
			}
		}},
		{"resume with an expired token", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			tok := p.resume
			p.ws.Close()
			deadline := time.Now().Add(15 * time.Second)
			for {
				ts.mu.RLock()
				_, ok := ts.sessions[p.id]
				ts.mu.RUnlock()
				if !ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("session never expired")
				}
				time.Sleep(20 * time.Millisecond)
			}
			q := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
			q.send(`{"type":"hello","cid":"r","data":{"resume":"` + tok + `"}}`)
			q.expectError(CodeResumeExpired, "r")
		}},
		{"a used resume token is superseded", func(t *testing.T) {
			p := rawDial(t, ts.URL)
			tok := p.resume
			q := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
			q.send(`{"type":"hello","cid":"r","data":{"resume":"` + tok + `"}}`)
			q.expect(TypeWelcome)
			r := &rawPeer{t: t, ws: rawConnect(t, ts.URL)}
			r.send(`{"type":"hello","cid":"r","data":{"resume":"` + tok + `"}}`)
			r.expectError(CodeInvalidToken, "r")
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, tc.run)
		bystanderSignal(i)
	}
	st := ts.Stats()
	for _, code := range []string{CodeBadRequest, CodeUnknownType, CodeTooLarge, CodeBinaryUnsupported, CodeRateLimited, CodeRoomFull, CodeForgedSender, CodeUnknownPeer, CodeInvalidToken, CodeResumeExpired} {
		if st.Errors[code] == 0 {
			t.Errorf("stats count no %s errors: %v", code, st.Errors)
		}
	}
}

func TestRefusedUpgrades(t *testing.T) {
	auth := HMACAuth{Secret: []byte("s3cret")}
	ts := newTestServer(t, Config{Auth: auth, MaxConnsPerIP: 2})
	ctx := testCtx(t)
	check := func(err error, status int, code string) {
		t.Helper()
		var he *HTTPError
		if !errors.As(err, &he) || he.StatusCode != status || !errors.Is(err, &Error{Code: code}) {
			t.Fatalf("got %v, want HTTP %d %s", err, status, code)
		}
	}
	_, err := Dial(ctx, ts.URL, nil)
	check(err, http.StatusUnauthorized, CodeUnauthorized)
	_, err = Dial(ctx, ts.URL, &ClientConfig{Token: "forged.token"})
	check(err, http.StatusUnauthorized, CodeUnauthorized)
	expired, _ := HMACAuth{Secret: auth.Secret, Now: func() time.Time { return time.Now().Add(-time.Hour) }}.Issue(Identity{Subject: "old"}, time.Minute)
	_, err = Dial(ctx, ts.URL, &ClientConfig{Token: expired})
	check(err, http.StatusUnauthorized, CodeUnauthorized)

	tok, err := auth.Issue(Identity{Subject: "ana", Claims: map[string]string{"mmr": "1500"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var seen Identity
	ts.Handle("mm.whoami", func(r *Request) { seen = r.Identity; r.Reply(r.Identity) })
	c1 := dialT(t, ts.URL, &ClientConfig{Token: tok})
	if _, err := c1.Request(ctx, "mm.whoami", nil); err != nil || seen.Subject != "ana" || seen.Claims["mmr"] != "1500" {
		t.Fatalf("identity %+v, %v", seen, err)
	}
	dialT(t, ts.URL, &ClientConfig{Token: tok})
	_, err = Dial(ctx, ts.URL, &ClientConfig{Token: tok})
	check(err, http.StatusTooManyRequests, CodeTooManyConnections)

	h := http.Header{}
	h.Set("Origin", "https://evil.example")
	_, err = Dial(ctx, ts.URL, &ClientConfig{Token: tok, Header: h})
	check(err, http.StatusForbidden, CodeForbiddenOrigin)
}

func TestSlowConsumerDisconnected(t *testing.T) {
	ts := newTestServer(t, Config{SendQueueLen: 8, WriteTimeout: 2 * time.Second})
	p := rawDial(t, ts.URL) // never reads from here on
	big := strings.Repeat("y", 60_000)
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		err = ts.Send(p.id, "mm.flood", big)
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send to a peer that never reads: %v", err)
	}
	for ts.Stats().Connections != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := ts.Stats()
	if st.Errors[CodeSlowConsumer] == 0 || st.Connections != 0 {
		t.Fatalf("slow consumer still connected: %+v", st)
	}
}

func TestShutdownClosesWebSockets(t *testing.T) {
	s := NewServer(Config{})
	hs := newHTTPTestServer(s)
	defer hs.Close()
	c, err := Dial(testCtx(t), "ws"+strings.TrimPrefix(hs.URL, "http"), &ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := c.Events()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	d := waitEvent[Disconnected](t, ev, nil)
	if !websocket.IsCloseError(d.Err, websocket.CloseGoingAway) || !strings.Contains(d.Err.Error(), CodeShutdown) {
		t.Fatalf("disconnect reason %v", d.Err)
	}
	if err := s.Send("x", "mm.x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after shutdown: %v", err)
	}
}

// A relayed signal is written by the sender's reader when the target has
// nothing queued: a target whose socket is full holds that reader for at
// most inlineWriteTimeout, far below WriteTimeout, and is disconnected as
// a slow consumer.
func TestRelayToFullSocketBounded(t *testing.T) {
	ts := newTestServer(t, Config{WriteTimeout: 60 * time.Second, RatePerSec: 1e6, RateBurst: 1e6})
	target := rawDial(t, ts.URL) // reads nothing once in the room
	target.send(`{"v":1,"type":"join","cid":"j","room":"full"}`)
	target.expect(TypeJoined)
	sender := rawDial(t, ts.URL)
	sender.send(`{"v":1,"type":"join","cid":"j","room":"full"}`)
	sender.expect(TypeJoined)
	data := `"` + strings.Repeat("z", DefaultMaxMessageSize-1024) + `"`
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ts.Stats().Errors[CodeSlowConsumer] == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("target still connected after %d signals: %+v", i, ts.Stats())
		}
		cid := "s" + strconv.Itoa(i)
		t0 := time.Now()
		sender.send(`{"v":1,"type":"signal","cid":"` + cid + `","to":"` + target.id + `","data":` + data + `}`)
		env := sender.expect(TypeAck)
		if env.Cid != cid {
			t.Fatalf("ack %q, want %q", env.Cid, cid)
		}
		// Generous for a loaded machine, and still far below WriteTimeout.
		if d := time.Since(t0); d > 20*time.Second {
			t.Fatalf("signal %d answered after %v", i, d)
		}
	}
	for ts.Stats().Connections != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := ts.Stats().Connections; n != 1 {
		t.Fatalf("%d connections, want the sender's only", n)
	}
	sender.alive()
}
