package nearby_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/signaling"
)

func rawClient(t *testing.T, url, user string) *signaling.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{Header: http.Header{"X-User": {user}}, DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !errors.Is(err, &signaling.Error{Code: code}) {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// TestServerWire pins the JSON of the nearby.* family as a client sees
// it, and the server's answers to bad requests.
func TestServerWire(t *testing.T) {
	url := onlineServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ann, ben := rawClient(t, url, "ann"), rawClient(t, url, "ben")
	sub := ben.Subscribe(nearby.TypePresence, nearby.TypePacket)
	defer sub.Close()
	raw, err := ben.Request(ctx, nearby.TypeWatch, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"id":"ben","players":[]}` {
		t.Fatalf("watch reply %s", raw)
	}
	if _, err := ann.Request(ctx, nearby.TypeShow, json.RawMessage(`{"name":"Ann","status":"lobby","game":"arena"}`)); err != nil {
		t.Fatal(err)
	}
	push := func() string {
		t.Helper()
		select {
		case ev := <-sub.Events():
			m, ok := ev.(signaling.Message)
			if !ok {
				t.Fatalf("event %#v", ev)
			}
			return m.Type + " " + string(m.Data)
		case <-ctx.Done():
			t.Fatal("no push")
		}
		return ""
	}
	got := push()
	at := got[strings.LastIndex(got, `"at":`)+5 : strings.LastIndex(got, "}}")]
	if want := `nearby.presence {"player":{"id":"ann","name":"Ann","status":"lobby","game":"arena","at":` + at + `}}`; got != want {
		t.Fatalf("push\n got %s\nwant %s", got, want)
	}
	if _, err := ann.Request(ctx, nearby.TypeSend, json.RawMessage(`{"to":"ben","pkt":"AQID"}`)); err != nil {
		t.Fatal(err)
	}
	if got := push(); got != `nearby.packet {"from":"ann","pkt":"AQID"}` {
		t.Fatalf("packet push %s", got)
	}
	if _, err := ann.Request(ctx, nearby.TypeHide, nil); err != nil {
		t.Fatal(err)
	}
	if got := push(); !strings.HasSuffix(got, `,"gone":true}`) {
		t.Fatalf("hide push %s", got)
	}

	_, err = ann.Request(ctx, nearby.TypeShow, json.RawMessage(`{"name":"","status":"idle"}`))
	wantCode(t, err, nearby.CodeInvalid)
	_, err = ann.Request(ctx, nearby.TypeShow, json.RawMessage(`{"name":"Ann","status":"asleep"}`))
	wantCode(t, err, nearby.CodeInvalid)
	_, err = ann.Request(ctx, nearby.TypeSend, json.RawMessage(`{"to":"nobody","pkt":"AQID"}`))
	wantCode(t, err, nearby.CodeUnknownPlayer)
	_, err = ann.Request(ctx, nearby.TypeSend, json.RawMessage(`{"to":"ben"}`))
	wantCode(t, err, signaling.CodeBadRequest)
	limited := false
	for range 100 { // burst 40
		_, err = ann.Request(ctx, nearby.TypeSend, json.RawMessage(`{"to":"ben","pkt":"AQID"}`))
		if errors.Is(err, &signaling.Error{Code: nearby.CodeRateLimited}) {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("100 sends at once were never rate-limited")
	}
	long := rawClient(t, url, strings.Repeat("x", 65))
	_, err = long.Request(ctx, nearby.TypeWatch, nil)
	wantCode(t, err, nearby.CodeInvalid)
}
