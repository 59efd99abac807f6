package meshjs_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/browser"
	"github.com/rallypoint/rallypoint/netcode"
)

const wasmIndex = `<!doctype html><meta charset="utf-8"><title>wasm peer</title>
<script src="wasm_exec.js"></script>
<script>
const go = new Go();
WebAssembly.instantiateStreaming(fetch("peer.wasm"), go.importObject)
  .then(r => go.run(r.instance))
  .catch(e => { window.wasmPeer = { error: String(e) }; console.error(e); });
</script>`

// buildWasmPeer builds internal/wasmpeer for js/wasm into a directory with
// wasm_exec.js and an index page.
func buildWasmPeer(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "peer.wasm"), "./internal/wasmpeer")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm peer: %v\n%s", err, out)
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSpace(string(goroot))
	execJS, err := os.ReadFile(filepath.Join(root, "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		execJS, err = os.ReadFile(filepath.Join(root, "misc", "wasm", "wasm_exec.js")) // before Go 1.24
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "wasm_exec.js"), execJS, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(wasmIndex), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestWasmMeshOffersAndAnswers runs the js/wasm build of netcode/mesh in
// Chromium against two native meshes through a real signaling server: one
// native id is below the page's (the wasm mesh answers it), one above (the
// wasm mesh offers, with its in-band channels' ids chosen by Chromium).
// Messages go both ways on every channel, and a 100 kB reliable message
// comes back intact.
func TestWasmMeshOffersAndAnswers(t *testing.T) {
	b := browser.ForTest(t)
	dir := buildWasmPeer(t)
	l := newLab(t, map[string]http.Handler{"/wasm/": http.StripPrefix("/wasm/", http.FileServer(http.Dir(dir)))})
	room := "wasm-native"
	page := b.Open(t, fmt.Sprintf("%s/wasm/index.html?ws=%s&room=%s", l.srv.URL, l.wsURL, room))
	page.MustWait(t, 30*time.Second, `window.wasmPeer && (wasmPeer.id || wasmPeer.error)`)
	var id, failed string
	page.MustEval(t, `wasmPeer.error || ""`, &failed)
	if failed != "" {
		t.Fatalf("wasm peer: %s", failed)
	}
	page.MustEval(t, `wasmPeer.id`, &id)
	lo := startNative(t, dialWhere(t, l.wsURL, func(s string) bool { return s < id }), room)
	hi := startNative(t, dialWhere(t, l.wsURL, func(s string) bool { return s > id }), room)
	t.Logf("wasm %s, native offerer %s, native answerer %s", id, lo.c.ID(), hi.c.ID())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	for _, n := range []*nativePeer{lo, hi} {
		if err := n.m.WaitConnected(ctx, 2); err != nil {
			t.Fatalf("native %s: %v", n.c.ID(), err)
		}
	}
	page.MustWait(t, 20*time.Second, `wasmPeer.connected === 2`)
	t.Logf("connected in %v", time.Since(start))

	big := bigPayload(100_000)
	for _, n := range []*nativePeer{lo, hi} {
		for _, ch := range channels {
			for range copies(ch) {
				if err := n.m.Send(netcode.PeerID(id), ch, []byte(fmt.Sprintf("echo:%s-ch%d", n.c.ID(), ch))); err != nil {
					t.Fatal(err)
				}
			}
			// Send returns null once the message is handed to SCTP; a
			// pair that a loaded host dropped and connects again fails it
			// meanwhile (the page's console logs the events).
			for range copies(ch) {
				page.MustWait(t, 10*time.Second, fmt.Sprintf(`wasmPeer.send(%q, %d, %q) === null`, n.c.ID(), ch, fmt.Sprintf("echo:wasm-ch%d", ch)))
			}
		}
		if err := n.m.Send(netcode.PeerID(id), netcode.Reliable, big); err != nil {
			t.Fatal(err)
		}
		page.MustWait(t, 10*time.Second, fmt.Sprintf(`wasmPeer.sendBig(%q, 100000) === null`, n.c.ID()))
	}
	for _, n := range []*nativePeer{lo, hi} {
		for _, ch := range channels {
			want := fmt.Sprintf("re:%s-ch%d", n.c.ID(), ch)
			waitFor(t, 10*time.Second, want, func() bool {
				return n.has(netcode.PeerID(id), ch, func(b []byte) bool { return string(b) == want })
			})
			page.MustWait(t, 10*time.Second, fmt.Sprintf(`wasmPeer.got.some(m => m.from === %q && m.ch === %d && m.text === "re:wasm-ch%d")`, n.c.ID(), ch, ch))
		}
		// Both 100 kB messages: the one the wasm mesh sent, and the echo
		// of the native one.
		waitFor(t, 10*time.Second, "100 kB messages from the wasm mesh", func() bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			k := 0
			for _, m := range n.in {
				if m.from == netcode.PeerID(id) && m.ch == netcode.Reliable && bytes.Equal(m.data, big) {
					k++
				}
			}
			return k >= 2
		})
		page.MustWait(t, 10*time.Second, fmt.Sprintf(`wasmPeer.got.some(m => m.from === %q && m.len === 100000 && m.sum === %d)`, n.c.ID(), fnv32(big)))
	}
}
