package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestCloseWritesQueuedFrames: frames queued for a peer before Close (a
// last push, such as a LAN host's lobby.kicked) reach it before the close
// frame, even when the peer reads slowly: here its receive buffer is 4 KB
// and 1 MB is queued, so the server's writer is still writing when Close
// begins.
func TestCloseWritesQueuedFrames(t *testing.T) {
	ts := newTestServer(t, Config{SendQueueBytes: 8 << 20})
	d := websocket.Dialer{NetDialContext: (&net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}).DialContext}
	ws, _, err := d.Dial(ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	p := &rawPeer{t: t, ws: ws}
	p.send(`{"v":1,"type":"hello","cid":"h","data":{"versions":[1]}}`)
	var w WelcomeData
	if err := json.Unmarshal(p.expect(TypeWelcome).Data, &w); err != nil {
		t.Fatal(err)
	}

	const frames = 16
	pad := bytes.Repeat([]byte("x"), 64<<10)
	for i := range frames {
		if err := ts.Server.Send(w.ID, "test.last", map[string]any{"i": i, "pad": string(pad)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- ts.Server.Close() }()
	got := 0
	for {
		ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errorsAs(err, &ce) {
				t.Fatalf("after %d of %d frames: %v, want the server's close frame", got, frames, err)
			}
			break
		}
		if env, err := Decode(b); err == nil && env.Type == "test.last" {
			got++
		}
	}
	if got != frames {
		t.Fatalf("%d of %d queued frames arrived before the close", got, frames)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case <-closed:
	case <-ctx.Done():
		t.Fatal("Close did not return")
	}
}

// TestCloseDoesNotWaitForAStalledPeer: a peer that stopped reading holds
// Close back only until its queue has not shrunk for closeStall.
func TestCloseDoesNotWaitForAStalledPeer(t *testing.T) {
	ts := newTestServer(t, Config{SendQueueBytes: 8 << 20})
	p := rawDial(t, ts.URL) // never reads again
	pad := bytes.Repeat([]byte("x"), 64<<10)
	for i := range 64 {
		if err := ts.Server.Send(p.id, "test.last", map[string]any{"i": i, "pad": string(pad)}); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	start := time.Now()
	if err := ts.Server.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= closeDrain {
		t.Fatalf("Close took %v with a peer that does not read, want it to stop waiting after %v without progress", d, closeStall)
	} else {
		t.Logf("Close took %v", d)
	}
}
