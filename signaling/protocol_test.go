package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

// goldenMessages is one example of every message type of the protocol, as
// the server or client encodes it.
func goldenMessages() map[string]Envelope {
	raw := func(v any) json.RawMessage { return marshalData(v) }
	return map[string]Envelope{
		TypeHello:       {Type: TypeHello, Cid: "hello", Data: raw(HelloData{Versions: []int{1}, Resume: "9f2c4e1a7b3d5a60.1c2d3e4f5a6b7c8d.c2lnbmF0dXJlLXNpZ25hdHVyZQ"})},
		TypeJoin:        {Type: TypeJoin, Cid: "1", Room: "arena"},
		"join_next":     {Type: TypeJoin, Cid: "2", Room: "duel", Data: raw(JoinData{Next: 2})},
		TypeLeave:       {Type: TypeLeave, Cid: "3"},
		"signal_client": {Type: TypeSignal, Cid: "4", To: "5b1e0c9d2a8f7e6d", Data: json.RawMessage(`{"sdp":"v=0\r\n...","type":"offer"}`)},
		"signal_server": {Type: TypeSignal, From: "9f2c4e1a7b3d5a60", To: "5b1e0c9d2a8f7e6d", Room: "duel#1", Data: json.RawMessage(`{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"}`)},
		TypePing:        {Type: TypePing, Cid: "5"},
		TypeWelcome: {Type: TypeWelcome, Cid: "hello", Data: raw(WelcomeData{
			ID: "9f2c4e1a7b3d5a60", Resume: "9f2c4e1a7b3d5a60.1c2d3e4f5a6b7c8d.c2lnbmF0dXJlLXNpZ25hdHVyZQ",
			ICEServers: []ICEServer{
				{URLs: []string{"stun:stun.example.net:3478"}},
				{URLs: []string{"turn:turn.example.net:3478?transport=udp"}, Username: "1790000000:9f2c4e1a7b3d5a60", Credential: "bXktY3JlZGVudGlhbA=="},
			},
			PingIntervalMs: 25000, ResumeGraceMs: 30000,
			Limits: LimitsData{MaxMessageSize: 16384, MaxRoomSize: 16, RatePerSec: 50, RateBurst: 100},
		})},
		"welcome_resumed": {Type: TypeWelcome, Cid: "hello", Data: raw(WelcomeData{
			ID: "9f2c4e1a7b3d5a60", Resume: "9f2c4e1a7b3d5a60.2d3e4f5a6b7c8d9e.bmV3LXNpZ25hdHVyZQ", Resumed: true,
			Room: "duel#1", Peers: []string{"5b1e0c9d2a8f7e6d"}, PingIntervalMs: 25000, ResumeGraceMs: 30000,
			Limits: LimitsData{MaxMessageSize: 16384, MaxRoomSize: 16, RatePerSec: 50, RateBurst: 100},
		})},
		TypeJoined:          {Type: TypeJoined, Cid: "2", Room: "duel#1", Data: raw(JoinedData{Peers: []string{"9f2c4e1a7b3d5a60"}})},
		TypeLeft:            {Type: TypeLeft, Cid: "3", Room: "arena"},
		TypePeerJoined:      {Type: TypePeerJoined, Room: "duel#1", Data: raw(PeerData{Peer: "5b1e0c9d2a8f7e6d"})},
		TypePeerLeft:        {Type: TypePeerLeft, Room: "duel#1", Data: raw(PeerData{Peer: "5b1e0c9d2a8f7e6d"})},
		TypePeerInterrupted: {Type: TypePeerInterrupted, Room: "duel#1", Data: raw(PeerData{Peer: "5b1e0c9d2a8f7e6d"})},
		TypePeerResumed:     {Type: TypePeerResumed, Room: "duel#1", Data: raw(PeerData{Peer: "5b1e0c9d2a8f7e6d"})},
		TypeAck:             {Type: TypeAck, Cid: "4"},
		TypeReply:           {Type: TypeReply, Cid: "6", Data: json.RawMessage(`{"ticket":"t-42"}`)},
		TypePong:            {Type: TypePong, Cid: "5"},
		TypeError:           {Type: TypeError, Cid: "7", Data: raw(ErrorData{Code: CodeRateLimited, Message: "more than 50 messages per second"})},
		"extension_request": {Type: "mm.enqueue", Cid: "6", Data: json.RawMessage(`{"queue":"duel"}`)},
		"extension_push":    {Type: "mm.matched", Data: json.RawMessage(`{"room":"match-7","peers":["9f2c4e1a7b3d5a60","5b1e0c9d2a8f7e6d"]}`)},
	}
}

// TestGolden pins the encoded form of every message type.
func TestGolden(t *testing.T) {
	msgs := goldenMessages()
	for _, typ := range []string{TypeHello, TypeJoin, TypeLeave, TypeSignal, TypePing, TypeWelcome, TypeJoined, TypeLeft,
		TypePeerJoined, TypePeerLeft, TypePeerInterrupted, TypePeerResumed, TypeAck, TypeReply, TypePong, TypeError} {
		found := false
		for _, e := range msgs {
			found = found || e.Type == typ
		}
		if !found {
			t.Errorf("no golden message of type %s", typ)
		}
	}
	for name, env := range msgs {
		got, err := Encode(env)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "golden", name+".json")
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestGolden -update)", err)
		}
		want = bytes.TrimSuffix(want, []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
		back, err := Decode(want)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		env.V = ProtocolVersion
		if !reflect.DeepEqual(back, env) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", name, back, env)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{``, `null`, `[]`, `"x"`, `{`, `{"type":""}`, `{"type":"a b"}`, `{"type":"` + strings.Repeat("t", 65) + `"}`,
		`{"type":"ping","cid":"` + strings.Repeat("c", 65) + `"}`, `{"v":2,"type":"ping"}`, `{"type":1}`} {
		if _, err := Decode([]byte(in)); err == nil {
			t.Errorf("Decode(%q) accepted", in)
		}
	}
	// Unknown fields are ignored for forward compatibility.
	env, err := Decode([]byte(`{"v":1,"type":"ping","cid":"1","future":{"x":1}}`))
	if err != nil || env.Type != TypePing || env.Cid != "1" {
		t.Fatalf("%+v %v", env, err)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{"type":"join",`, `{"v":1,"type":"frobnicate"}`, `{"type":"signal","from":"x","to":"y","data":null}`, "\x00\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := Decode(in)
		if err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Code == "" {
				t.Fatalf("Decode error without a code: %v", err)
			}
			return
		}
		out, err := Encode(env)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := Decode(out)
		if err != nil {
			t.Fatalf("decode of re-encoded %s: %v", out, err)
		}
		env.V = ProtocolVersion
		if !reflect.DeepEqual(normalize(env), normalize(again)) {
			t.Fatalf("round trip:\n%+v\n%+v", env, again)
		}
	})
}

// normalize compacts Data so that envelopes differing only in JSON
// whitespace compare equal.
func normalize(e Envelope) Envelope {
	if len(e.Data) > 0 {
		var b bytes.Buffer
		if json.Compact(&b, e.Data) == nil {
			e.Data = b.Bytes()
		}
	}
	return e
}

func FuzzHMACVerify(f *testing.F) {
	a := HMACAuth{Secret: []byte("k")}
	tok, _ := a.Issue(Identity{Subject: "u", Claims: map[string]string{"r": "eu"}}, time.Hour)
	f.Add(tok)
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := a.Verify(s)
		if err == nil && s != tok {
			t.Fatalf("accepted a token that was never issued: %q (%+v)", s, id)
		}
		if err != nil && !errors.Is(err, ErrBadToken) {
			t.Fatalf("error not wrapping ErrBadToken: %v", err)
		}
	})
}

// FuzzServerFrame sends each input as one text frame to a live server and
// checks that the connection still answers a ping afterwards and that the
// server is not disturbed.
func FuzzServerFrame(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"signal","from":"someone-else","to":"x","data":{}}`))
	f.Add([]byte(`{"type":"join","room":"r","data":{"next":-1}}`))
	s := NewServer(Config{RatePerSec: 1e6, RateBurst: 1e6, MaxMessageSize: 4096, MaxConnsPerIP: -1, ResumeGrace: time.Second})
	hs := newHTTPTestServer(s)
	defer func() { s.Close(); hs.Close() }()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	f.Fuzz(func(t *testing.T, in []byte) {
		p := rawDial(t, url)
		p.send(string(in))
		p.send(`{"type":"ping","cid":"fuzz-alive"}`)
		for {
			env, err := p.next()
			if err != nil && !utf8.Valid(in) && websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
				break // RFC 6455: a text frame that is not UTF-8 fails the connection with 1007
			}
			if err != nil {
				t.Fatalf("connection lost after %q: %v", in, err)
			}
			if env.Type == TypePong && env.Cid == "fuzz-alive" {
				break
			}
		}
		p.ws.Close()
	})
}

func TestHMACAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	a := HMACAuth{Secret: []byte("secret"), Now: func() time.Time { return now }}
	tok, err := a.Issue(Identity{Subject: "ana"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := a.Verify(tok); err != nil || id.Subject != "ana" {
		t.Fatalf("%+v %v", id, err)
	}
	if _, err := (HMACAuth{Secret: []byte("other")}).Verify(tok); !errorsIs(err, ErrBadToken) {
		t.Fatalf("other secret: %v", err)
	}
	tampered := "x" + tok[1:]
	if _, err := a.Verify(tampered); !errorsIs(err, ErrBadToken) {
		t.Fatalf("tampered: %v", err)
	}
	later := HMACAuth{Secret: a.Secret, Now: func() time.Time { return now.Add(2 * time.Minute) }}
	if _, err := later.Verify(tok); !errorsIs(err, ErrBadToken) {
		t.Fatalf("expired: %v", err)
	}
}

func TestTURNCredentials(t *testing.T) {
	// Reference value computed independently:
	// printf '1800003600:peer1' | openssl dgst -sha1 -hmac 'turnsecret' -binary | base64
	user, pass := TURNCredentials("turnsecret", "peer1", time.Hour, time.Unix(1_800_000_000, 0))
	if user != "1800003600:peer1" {
		t.Fatalf("user %q", user)
	}
	if pass != turnRef {
		t.Fatalf("password %q, want %q", pass, turnRef)
	}
}

func TestWelcomeCarriesTURN(t *testing.T) {
	ts := newTestServer(t, Config{
		ICEServers: []ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}},
		TURNURLs:   []string{"turn:127.0.0.1:3478"}, TURNSecret: "turnsecret", TURNTTL: time.Hour,
	})
	c := dialT(t, ts.URL, nil)
	ice := c.ICEServers()
	if len(ice) != 2 || ice[0].URLs[0] != "stun:127.0.0.1:3478" || ice[1].Username == "" {
		t.Fatalf("ice %+v", ice)
	}
	exp, peer, _ := strings.Cut(ice[1].Username, ":")
	if peer != c.ID() {
		t.Fatalf("TURN username %q for peer %q", ice[1].Username, c.ID())
	}
	var unix int64
	for _, ch := range exp {
		unix = unix*10 + int64(ch-'0')
	}
	_, want := TURNCredentials("turnsecret", c.ID(), 0, time.Unix(unix, 0))
	if ice[1].Credential != want {
		t.Fatalf("credential %q, want %q", ice[1].Credential, want)
	}
	if d := time.Until(time.Unix(unix, 0)); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiry in %v", d)
	}
}

const turnRef = "JlX2EUaUjPDRmUhdHTj/0UznFOs="

func errorsAs(err error, target any) bool { return errors.As(err, target) }
func errorsIs(err, target error) bool     { return errors.Is(err, target) }

// FuzzClientDispatch feeds server messages, hostile ones included, to a
// Client's dispatcher and checks it neither panics nor corrupts its room
// state.
func FuzzClientDispatch(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"joined","room":"r","data":{"peers":"not a list"}}`))
	f.Add([]byte(`{"type":"peer_left","room":"r","data":{"peer":""}}`))
	f.Add([]byte(`{"type":"error","cid":"1","data":7}`))
	f.Add([]byte(`{"type":"mm.matched","data":{"session":"s"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		env, err := Decode(in)
		if err != nil {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := &Client{pending: map[string]chan reply{}, subs: map[int]*subscription{}, events: make(chan Event, 4), ctx: ctx, log: slog.New(slog.DiscardHandler)}
		c.pending["1"] = make(chan reply, 1)
		c.pending["hello"] = make(chan reply, 1)
		c.room, c.peers = "r", []string{"a"}
		c.SubscribeSignals(func(string, []byte) {}, func(string, bool) {})
		sub := c.SubscribeWith(SubscriptionConfig{Types: []string{"mm.*", "lobby.delta"}, Queue: 1})
		c.dispatch(env)
		c.dispatch(env)
		if n := len(sub.Events()); n > 2 {
			t.Fatalf("%d events queued on a subscription of one", n)
		}
		if c.room == "" && len(c.peers) != 0 {
			t.Fatalf("peers %v outside a room", c.peers)
		}
	})
}
