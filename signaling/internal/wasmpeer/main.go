//go:build js && wasm

// Command wasmpeer is the js/wasm half of signaling's browser-transport
// test (TestWasmClientMeetsNativeClient): a signaling.Client compiled to
// WebAssembly that dials through the JavaScript WebSocket object of Node or
// a browser. Usage:
//
//	wasmpeer WS_URL ROOM
//
// It joins ROOM, where a native peer waits, sends it a signal, waits for
// the answer, stays idle for 12 seconds, pings the server, closes, and
// prints one line per step on stdout. Any failure prints "FAIL: ..." and
// exits with status 1.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

func main() {
	if len(os.Args) != 3 {
		fail(fmt.Errorf("usage: wasmpeer WS_URL ROOM"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, os.Args[1], nil)
	if err != nil {
		fail(err)
	}
	fmt.Println("dialed", c.ID())
	info, err := c.Join(ctx, os.Args[2])
	if err != nil {
		fail(err)
	}
	if len(info.Peers) != 1 {
		fail(fmt.Errorf("room %s has peers %v, want the native one", info.Name, info.Peers))
	}
	native := info.Peers[0]
	fmt.Println("joined", info.Name, "with", native)
	got := make(chan string, 1)
	cancelSub := c.SubscribeSignals(func(from string, payload []byte) {
		select {
		case got <- from + " " + string(payload):
		default:
		}
	}, nil)
	defer cancelSub()
	msg, _ := json.Marshal(map[string]string{"hello": "from wasm", "id": c.ID()})
	if err := c.SendSignal(ctx, native, msg); err != nil {
		fail(err)
	}
	select {
	case s := <-got:
		fmt.Println("signal", s)
	case <-ctx.Done():
		fail(fmt.Errorf("no answer from the native peer: %w", ctx.Err()))
	}
	// Stay idle for a while. The server pings far more often and drops a
	// connection that does not answer, so surviving proves that the
	// JavaScript WebSocket answers its pings; and the client's own read
	// deadline (2×ping interval + 10 s) passes, so surviving proves that
	// its application pings (which the page does see answered) keep it.
	time.Sleep(12 * time.Second)
	if _, err := c.Ping(ctx); err != nil {
		fail(err)
	}
	fmt.Println("ping ok")
	if err := c.Close(); err != nil {
		fail(err)
	}
	fmt.Println("closed")
}

func fail(err error) {
	fmt.Println("FAIL:", err)
	os.Exit(1)
}
