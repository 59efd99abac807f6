//go:build js && wasm

// Command wasmpeer is the js/wasm build of netcode/mesh in a page, for the
// browser tests of package meshjs: it reads the signaling URL and room from
// the page's query (?ws=...&room=...), joins, starts a mesh and follows
// peer.html's echo rules. It publishes its state on window.wasmPeer: id,
// connected (a count), got (received messages as {from, ch, len, sum,
// text}), error, and send(peer, channel, text) and sendBig(peer, n) (n
// bytes in peer.html's pattern on Reliable), which return an error message
// or null.
package main

import (
	"context"
	"hash/fnv"
	"net/url"
	"strings"
	"syscall/js"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

func main() {
	state := js.Global().Get("Object").New()
	got := js.Global().Get("Array").New()
	state.Set("got", got)
	state.Set("connected", 0)
	js.Global().Set("wasmPeer", state)
	if err := run(state, got); err != nil {
		state.Set("error", err.Error())
		js.Global().Get("console").Call("error", "wasmpeer:", err.Error())
	}
	select {}
}

func run(state, got js.Value) error {
	q, err := url.ParseQuery(strings.TrimPrefix(js.Global().Get("location").Get("search").String(), "?"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, q.Get("ws"), &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		return err
	}
	if _, err := c.Join(ctx, q.Get("room")); err != nil {
		return err
	}
	var m *mesh.Mesh
	cfg := mesh.Config{ConnectTimeout: 30 * time.Second, OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		if len(data) > 0 && data[0] == 1 {
			_ = m.Send(from, ch, data) // an RTT probe
			return
		}
		rec := js.Global().Get("Object").New()
		rec.Set("from", string(from))
		rec.Set("ch", int(ch))
		rec.Set("len", len(data))
		if len(data) > 0 && data[0] == 2 {
			h := fnv.New32a()
			h.Write(data)
			rec.Set("sum", h.Sum32())
			got.Call("push", rec)
			_ = m.Send(from, ch, data)
			return
		}
		rec.Set("text", string(data))
		got.Call("push", rec)
		if s, ok := strings.CutPrefix(string(data), "echo:"); ok {
			_ = m.Send(from, ch, []byte("re:"+s))
		}
	}}
	m, err = mesh.New(c, cfg)
	if err != nil {
		return err
	}
	state.Set("send", js.FuncOf(func(_ js.Value, args []js.Value) any {
		err := m.Send(netcode.PeerID(args[0].String()), netcode.Channel(args[1].Int()), []byte(args[2].String()))
		if err != nil {
			return err.Error()
		}
		return nil
	}))
	state.Set("sendBig", js.FuncOf(func(_ js.Value, args []js.Value) any {
		b := make([]byte, args[1].Int())
		for i := range b {
			b[i] = byte(i*7 + 3)
		}
		b[0] = 2
		if err := m.Send(netcode.PeerID(args[0].String()), netcode.Reliable, b); err != nil {
			return err.Error()
		}
		return nil
	}))
	state.Set("id", c.ID())
	go func() {
		for ev := range m.Events() {
			js.Global().Get("console").Call("log", "wasmpeer: "+ev.String())
			state.Set("connected", len(m.Connected()))
		}
	}()
	return nil
}
