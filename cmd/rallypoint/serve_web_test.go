package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/signaling"
)

// TestServeWeb serves a web game's directory at / next to the signaling
// endpoint: its files with their types, a page's WebSocket on the same
// origin, no listing of directories without an index.html.
func TestServeWeb(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":   "<!DOCTYPE html><title>game</title>",
		"wasm_exec.js": "globalThis.Go = class {}",
		"demo.wasm":    "\x00asm\x01\x00\x00\x00",
		"sub/x.txt":    "x",
	} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mux, srv, _, err := newServeMux(serveConfig{Web: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	get := func(path string) (int, string, string) {
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html", "<title>game</title>"},
		{"/?bot=1&quick=1", "text/html", "<title>game</title>"},
		{"/demo.wasm", "application/wasm", "\x00asm"},
		{"/wasm_exec.js", "javascript", "globalThis.Go"},
		{"/healthz", "text/plain", "ok"},
	} {
		code, ctype, body := get(tc.path)
		if code != 200 || !strings.Contains(ctype, tc.ctype) || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %s %q", tc.path, code, ctype, body)
		}
	}
	for _, p := range []string{"/sub/", "/missing.js", "/../serve.go"} {
		if code, _, body := get(p); code != 404 {
			t.Errorf("GET %s: %d %q, want 404", p, code, body)
		}
	}
	// A file with a gzipped copy goes compressed to a client that
	// accepts gzip, with the original's type, and plain to the others.
	if err := os.WriteFile(filepath.Join(dir, "demo.wasm.gz"), gzipped(t, "\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	for _, accept := range []string{"gzip, deflate, br", "br", "gzip;q=0", ""} {
		req, _ := http.NewRequest("GET", hs.URL+"/demo.wasm", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		wantGzip := accept == "gzip, deflate, br"
		if gz := resp.Header.Get("Content-Encoding") == "gzip"; gz != wantGzip || resp.Header.Get("Content-Type") != "application/wasm" || resp.StatusCode != 200 {
			t.Errorf("Accept-Encoding %q: %d %v", accept, resp.StatusCode, resp.Header)
		}
		if !wantGzip && string(body) != "\x00asm\x01\x00\x00\x00" {
			t.Errorf("Accept-Encoding %q: body %q", accept, body)
		}
		if wantGzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if plain, _ := io.ReadAll(zr); string(plain) != "\x00asm\x01\x00\x00\x00" {
				t.Errorf("gzipped body %q", plain)
			}
		}
	}

	// A page's WebSocket: same origin as the files.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestServeWebFlags(t *testing.T) {
	if _, err := parseServeFlags([]string{"-web", t.TempDir(), "-web-demo"}); err == nil {
		t.Error("-web with -web-demo was accepted")
	}
	cfg, err := parseServeFlags([]string{"-web", "/srv/game"})
	if err != nil || cfg.Web != "/srv/game" || cfg.WebDemo {
		t.Errorf("-web: %+v, %v", cfg, err)
	}
	// A directory without a page is refused before anything listens.
	cfg, err = parseServeFlags([]string{"-web", t.TempDir(), "-db", ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	err = serve(context.Background(), cfg, func(net.Addr) { t.Error("serve listened") })
	if err == nil || !strings.Contains(err.Error(), "no index.html") {
		t.Errorf("serve -web without index.html: %v", err)
	}
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
