package meshjs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/browser"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
	"github.com/rallypoint/rallypoint/web/meshjs"
)

// lab is a signaling server and the files a page needs, on one origin.
type lab struct {
	srv   *httptest.Server
	wsURL string
}

func newLab(t *testing.T, extra map[string]http.Handler) *lab {
	t.Helper()
	sig := signaling.NewServer(signaling.Config{})
	mux := http.NewServeMux()
	mux.Handle("/ws", sig)
	for p, h := range extra {
		mux.Handle(p, h)
	}
	mux.Handle("/", meshjs.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = sig.Close()
		srv.Close()
	})
	return &lab{srv: srv, wsURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"}
}

// nativePeer is a Go mesh with the same echo rules as peer.html, recording
// what it receives.
type nativePeer struct {
	c  *signaling.Client
	m  *mesh.Mesh
	mu sync.Mutex
	in []inMsg
}

type inMsg struct {
	from netcode.PeerID
	ch   netcode.Channel
	data []byte
}

// dialWhere dials signaling clients until one's id satisfies ok (ids are
// random), closing the others.
//
// Ids are random, so n dials find none on the wanted side of another
// peer's id with a chance of about 1/n (when that id is among the lowest
// or highest 1/n of all): 200 dials failed a test about once in 100.
// Most tests need a handful; 4,000 on loopback take a few seconds.
func dialWhere(t *testing.T, url string, ok func(id string) bool) *signaling.Client {
	t.Helper()
	for range 4000 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if ok(c.ID()) {
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
		_ = c.Close()
	}
	t.Fatal("no signaling id with the wanted order after 4,000 dials")
	return nil
}

func startNative(t *testing.T, c *signaling.Client, room string) *nativePeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	n := &nativePeer{c: c}
	var m *mesh.Mesh
	cfg := mesh.Config{ConnectTimeout: 30 * time.Second, OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		if len(data) > 0 && data[0] == 1 {
			_ = m.Send(from, ch, data) // an RTT probe
			return
		}
		n.mu.Lock()
		n.in = append(n.in, inMsg{from, ch, bytes.Clone(data)})
		n.mu.Unlock()
		if s, ok := strings.CutPrefix(string(data), "echo:"); ok {
			_ = m.Send(from, ch, []byte("re:"+s))
		}
	}}
	m, err := mesh.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	n.m = m
	return n
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *nativePeer) has(from netcode.PeerID, ch netcode.Channel, pred func([]byte) bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.in {
		if m.from == from && m.ch == ch && pred(m.data) {
			return true
		}
	}
	return false
}

type pageMsg struct {
	From string `json:"from"`
	Ch   int    `json:"ch"`
	Len  int    `json:"len"`
	Sum  uint32 `json:"sum"`
	Text string `json:"text"`
}

func pageGot(t *testing.T, p *browser.Page) []pageMsg {
	var out []pageMsg
	p.MustEval(t, `rp.got()`, &out)
	return out
}

func pageHas(t *testing.T, p *browser.Page, pred func(pageMsg) bool) bool {
	for _, m := range pageGot(t, p) {
		if pred(m) {
			return true
		}
	}
	return false
}

func bigPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + 3)
	}
	b[0] = 2
	return b
}

func fnv32(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum32()
}

var channels = []netcode.Channel{netcode.Reliable, netcode.Unreliable, netcode.Sequenced}

// copies is how many times a test message goes on ch: once on Reliable,
// three times on the datagram channels.
func copies(ch netcode.Channel) int {
	if ch == netcode.Reliable {
		return 1
	}
	return 3
}

// TestJSPagesAndNativeMeshes puts two pages running rallypoint-mesh.js in
// Chromium and two native Go meshes in one room of a real signaling
// server. The native ids are picked so that one is below both pages' ids
// (it offers to them: the pages answer) and one above (the pages offer to
// it: a Go answerer takes Chromium's in-band channels, whose ids Chromium
// chose), and the two pages connect to each other. Messages go both ways
// on every channel of every browser pair, and 100 kB reliable messages
// (chunked) arrive intact in both directions.
func TestJSPagesAndNativeMeshes(t *testing.T) {
	l := newLab(t, nil)
	b := browser.ForTest(t)
	room := "js-native"
	var pages [2]*browser.Page
	var pageIDs [2]string
	for i := range pages {
		pages[i] = b.Open(t, l.srv.URL+"/peer.html")
		pages[i].MustWait(t, 10*time.Second, `window.rpReady`)
		pages[i].MustEval(t, fmt.Sprintf(`rp.start(%q, %q)`, l.wsURL, room), &pageIDs[i])
	}
	lowest, highest := min(pageIDs[0], pageIDs[1]), max(pageIDs[0], pageIDs[1])
	lo := startNative(t, dialWhere(t, l.wsURL, func(id string) bool { return id < lowest }), room)
	hi := startNative(t, dialWhere(t, l.wsURL, func(id string) bool { return id > highest }), room)
	t.Logf("pages %v, native offerer %s, native answerer %s", pageIDs, lo.c.ID(), hi.c.ID())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []*nativePeer{lo, hi} {
		if err := n.m.WaitConnected(ctx, 3); err != nil {
			for _, p := range pages {
				t.Logf("page log: %s", mustJSON(t, p, `rp.log()`))
			}
			t.Fatalf("native %s: %v", n.c.ID(), err)
		}
	}
	for _, p := range pages {
		p.MustWait(t, 20*time.Second, `rp.connected().length === 3`)
	}
	// Every channel has its settings whoever opened it: Chromium reports
	// what the in-band open (DCEP) of a Go or JavaScript offerer carried.
	for i, p := range pages {
		var bad []string
		p.MustEval(t, `[...mesh.peers.values()].flatMap(peer => peer.conn.dcs.map((dc, i) => {
			const want = [[true, null, true, 0], [false, 2, false, null], [false, 2, false, null], [false, 0, false, null]][i];
			const got = [dc.ordered, dc.maxRetransmits, dc.negotiated, want[3] === null ? null : dc.id];
			return JSON.stringify(got) === JSON.stringify(want) && dc.label === ["rp-reliable", "rp-unreliable", "rp-sequenced", "rp-control"][i]
				? null : peer.id + " " + dc.label + " " + JSON.stringify(got);
		})).filter(x => x)`, &bad)
		if len(bad) > 0 {
			t.Fatalf("page %d: channels with other settings: %v", i, bad)
		}
	}

	// Native → page, echoed back. Datagrams go three times: a loaded
	// host may drop one on loopback (the checks look for any copy).
	for _, n := range []*nativePeer{lo, hi} {
		for i, pid := range pageIDs {
			for _, ch := range channels {
				msg := fmt.Sprintf("echo:%s-to-%d-ch%d", n.c.ID(), i, ch)
				for range copies(ch) {
					if err := n.m.Send(netcode.PeerID(pid), ch, []byte(msg)); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	// Page → native and page → page, echoed back.
	for i, p := range pages {
		for _, to := range []string{lo.c.ID(), hi.c.ID(), pageIDs[1-i]} {
			for _, ch := range channels {
				for range copies(ch) {
					p.MustEval(t, fmt.Sprintf(`rp.send(%q, %d, %q)`, to, ch, fmt.Sprintf("echo:page%d-ch%d", i, ch)), nil)
				}
			}
		}
	}
	// Large reliable messages: native → page (echoed back whole) and
	// page → page (echoed back whole).
	big := bigPayload(100_000)
	for _, pid := range pageIDs {
		if err := lo.m.Send(netcode.PeerID(pid), netcode.Reliable, big); err != nil {
			t.Fatal(err)
		}
		if err := hi.m.Send(netcode.PeerID(pid), netcode.Reliable, big); err != nil {
			t.Fatal(err)
		}
	}
	var pageSum uint32
	pages[0].MustEval(t, fmt.Sprintf(`rp.sendBig(%q, 100000)`, pageIDs[1]), &pageSum)
	if pageSum != fnv32(big) {
		t.Fatalf("page checksum %08x, Go %08x of the same pattern", pageSum, fnv32(big))
	}

	for _, n := range []*nativePeer{lo, hi} {
		for i, pid := range pageIDs {
			for _, ch := range channels {
				want := fmt.Sprintf("re:%s-to-%d-ch%d", n.c.ID(), i, ch)
				waitFor(t, 10*time.Second, want, func() bool {
					return n.has(netcode.PeerID(pid), ch, func(b []byte) bool { return string(b) == want })
				})
				want = fmt.Sprintf("echo:page%d-ch%d", i, ch)
				waitFor(t, 10*time.Second, want, func() bool {
					return n.has(netcode.PeerID(pid), ch, func(b []byte) bool { return string(b) == want })
				})
			}
			waitFor(t, 10*time.Second, "100 kB echo from page", func() bool {
				return n.has(netcode.PeerID(pid), netcode.Reliable, func(b []byte) bool { return bytes.Equal(b, big) })
			})
		}
	}
	for i, p := range pages {
		for _, from := range []string{lo.c.ID(), hi.c.ID(), pageIDs[1-i]} {
			for _, ch := range channels {
				want := fmt.Sprintf("re:page%d-ch%d", i, ch)
				p.MustWait(t, 10*time.Second, fmt.Sprintf(`rp.got().some(m => m.from === %q && m.ch === %d && m.text === %q)`, from, ch, want))
			}
		}
		for _, from := range []string{lo.c.ID(), hi.c.ID()} {
			p.MustWait(t, 10*time.Second, fmt.Sprintf(`rp.got().some(m => m.from === %q && m.ch === 0 && m.len === 100000 && m.sum === %d)`, from, fnv32(big)))
		}
	}
	pages[1].MustWait(t, 10*time.Second, fmt.Sprintf(`rp.got().some(m => m.from === %q && m.len === 100000 && m.sum === %d)`, pageIDs[0], fnv32(big)))
	pages[0].MustWait(t, 10*time.Second, fmt.Sprintf(`rp.got().some(m => m.from === %q && m.len === 100000 && m.sum === %d)`, pageIDs[1], fnv32(big)))

	// The pages answer pings: the native meshes measure an RTT.
	for _, n := range []*nativePeer{lo, hi} {
		for _, pid := range pageIDs {
			st, err := n.m.Stats(netcode.PeerID(pid))
			if err != nil || st.RTT <= 0 {
				t.Fatalf("native %s: stats of page %s: %+v, %v", n.c.ID(), pid, st, err)
			}
		}
	}
}

func mustJSON(t *testing.T, p *browser.Page, expr string) string {
	var v any
	p.MustEval(t, expr, &v)
	b, _ := json.Marshal(v)
	return string(b)
}
