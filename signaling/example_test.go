package signaling_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// Two clients meet in a next=2 group and exchange a signal through a
// server on loopback.
func Example() {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer alice.Close()
	bob, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer bob.Close()
	bobEvents := bob.Events()

	ra, _ := alice.JoinNext(ctx, "quickmatch", 2)
	rb, _ := bob.JoinNext(ctx, "quickmatch", 2)
	fmt.Println("same room:", ra.Name == rb.Name, "bob sees alice:", rb.Peers[0] == alice.ID())

	alice.Signal(ctx, bob.ID(), json.RawMessage(`{"type":"offer","sdp":"v=0..."}`))
	for ev := range bobEvents {
		if s, ok := ev.(signaling.Signal); ok {
			fmt.Println("from alice:", s.From == alice.ID(), string(s.Data))
			break
		}
	}
	// Output:
	// same room: true bob sees alice: true
	// from alice: true {"type":"offer","sdp":"v=0..."}
}

// A matchmaker-style service registers a handler for its message type and
// answers requests; clients call it with Request.
func ExampleServer_Handle() {
	srv := signaling.NewServer(signaling.Config{})
	srv.Handle("mm.enqueue", func(req *signaling.Request) {
		var q struct{ Queue string }
		if err := json.Unmarshal(req.Envelope.Data, &q); err != nil || q.Queue == "" {
			req.ReplyError("mm.bad_queue", "queue required")
			return
		}
		req.Reply(map[string]string{"ticket": "t-1", "queue": q.Queue})
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	ctx := context.Background()
	c, err := signaling.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	reply, _ := c.Request(ctx, "mm.enqueue", map[string]string{"queue": "duel"})
	fmt.Println(string(reply))
	_, err = c.Request(ctx, "mm.enqueue", nil)
	var se *signaling.Error
	if errors.As(err, &se) {
		fmt.Println(se.Code)
	}
	// Output:
	// {"queue":"duel","ticket":"t-1"}
	// mm.bad_queue
}

// Short-lived TURN credentials in the TURN REST API scheme.
func ExampleTURNCredentials() {
	user, pass := signaling.TURNCredentials("turnsecret", "peer1", time.Hour, time.Unix(1_800_000_000, 0))
	fmt.Println(user)
	fmt.Println(pass)
	// Output:
	// 1800003600:peer1
	// JlX2EUaUjPDRmUhdHTj/0UznFOs=
}

// Issue a token for a player and verify it as the server would.
func ExampleHMACAuth() {
	auth := signaling.HMACAuth{Secret: []byte("server-secret")}
	tok, _ := auth.Issue(signaling.Identity{Subject: "ana", Claims: map[string]string{"region": "eu"}}, time.Hour)
	id, err := auth.Verify(tok)
	fmt.Println(id.Subject, id.Claims["region"], err)
	_, err = auth.Verify(tok + "x")
	fmt.Println(err)
	// Output:
	// ana eu <nil>
	// signaling: invalid auth token: bad signature
}

// A signal sent before the receiver subscribes (here, right after the
// match) is kept and handed to its first subscriber.
func ExampleClient_SubscribeSignals() {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	alice, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer alice.Close()
	bob, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer bob.Close()
	bobEvents := bob.Events()
	bob.Join(ctx, "duel")
	alice.Join(ctx, "duel")
	alice.Signal(ctx, bob.ID(), json.RawMessage(`{"type":"offer"}`))
	for ev := range bobEvents { // wait until bob has read it
		if _, ok := ev.(signaling.Signal); ok {
			break
		}
	}

	cancelSub := bob.SubscribeSignals(func(from string, payload []byte) {
		fmt.Println("from alice:", from == alice.ID(), string(payload))
	}, func(peer string, joined bool) {
		fmt.Println("alice in the room:", peer == alice.ID() && joined)
	})
	defer cancelSub()
	fmt.Println("dropped:", bob.DroppedSignals())
	// Output:
	// alice in the room: true
	// from alice: true {"type":"offer"}
	// dropped: 0
}

// A protocol (a lobby or matchmaker client) claims the message types the
// server pushes for it; they arrive on the subscription's own queue, apart
// from the application's Events channel and the mesh's callbacks.
func ExampleClient_Subscribe() {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	sub := c.Subscribe("game.*")
	defer sub.Close()
	_ = srv.Send(c.ID(), "game.hello", map[string]string{"msg": "welcome"})
	for ev := range sub.Events() {
		switch ev := ev.(type) {
		case signaling.Message:
			fmt.Println(ev.Type, string(ev.Data))
		case signaling.Reconnected:
			// the connection was replaced: resync the protocol's state
		case signaling.Overflow:
			// events were lost (sub.Dropped()): resync the protocol's state
		}
		break
	}
	// Output: game.hello {"msg":"welcome"}
}
