package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// memoryBound is the documented bound (docs/limits.md) on what never-reading
// clients can make a server grow: 64 MiB.
const memoryBound = 64 << 20

// TestServeMemoryBoundUnderAmplification runs the largest amplification a
// client has against a real `rallypoint serve`: 100 lobbies padded to their
// limits (every metadata value 256 bytes of '<', which JSON once wrote as six
// bytes each) are listed as fast as the rate limit allows by 64 connections
// from one address that never read a byte. The server's resident set and Go
// heap must grow by less than memoryBound, and a bystander must still be
// served.
func TestServeMemoryBoundUnderAmplification(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server under attack")
	}
	const attackers = 64
	url, cmd, _, logs := startServe(t, "-max-lobbies-per-ip", "32")
	pid := cmd.Process.Pid
	metricsURL := strings.Replace(strings.Replace(url, "ws://", "http://", 1), "/ws", "/metrics", 1)

	// The padding: 100 lobbies, each made by its own connection from
	// 127.0.0.2-5 (so that the attackers keep 127.0.0.1's 64 connections),
	// each draining what it receives.
	var pad sync.WaitGroup
	t.Cleanup(pad.Wait)
	meta := map[string]string{}
	member := map[string]string{}
	nums := map[string]float64{}
	for i := range 16 {
		k := fmt.Sprintf("k%02d%s", i, strings.Repeat("x", 28))
		meta[k] = strings.Repeat("<", 256)
		member[k] = strings.Repeat("&", 256)
		nums[k] = 1e300
	}
	for i := range 100 {
		ws := dialFrom(t, url, fmt.Sprintf("127.0.0.%d", 2+i%4))
		helloRaw(t, ws)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(map[string]any{"type": "lobby.create", "cid": "c", "data": map[string]any{
			"name": strings.Repeat(">", 63), "game": "g", "meta": meta, "numbers": nums, "member": member}})
		writeRaw(t, ws, b.Bytes())
		expectRaw(t, ws, "reply")
		pad.Add(1)
		go func() {
			defer pad.Done()
			for {
				if _, _, err := ws.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	bystander := dialFrom(t, url, "127.0.0.9")
	helloRaw(t, bystander)

	rss0, heap0 := rssOf(t, pid), heapOf(t, metricsURL)
	t.Logf("before the attack: rss %.1f MiB, heap %.1f MiB", mib(rss0), mib(heap0))

	// The attack: every attacker sends lobby.list for 100 lobbies as fast as
	// its token bucket lets through, and never reads.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	conns := make([]*websocket.Conn, attackers)
	for i := range conns {
		conns[i] = dialFrom(t, url, "127.0.0.1")
		helloRaw(t, conns[i])
	}
	list := []byte(`{"type":"lobby.list","data":{"limit":100}}`)
	for _, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil {
				for range 5 {
					ws.SetWriteDeadline(time.Now().Add(time.Second))
					if ws.WriteMessage(websocket.TextMessage, list) != nil {
						return
					}
				}
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		}()
	}
	peakRSS, peakHeap := rss0, heap0
	for ctx.Err() == nil {
		peakRSS, peakHeap = max(peakRSS, rssOf(t, pid)), max(peakHeap, heapOf(t, metricsURL))
		if peakRSS-rss0 > 4*memoryBound {
			cancel() // far past the bound: stop before the machine suffers
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	peakRSS, peakHeap = max(peakRSS, rssOf(t, pid)), max(peakHeap, heapOf(t, metricsURL))
	t.Logf("under attack by %d never-reading clients: peak rss %.1f MiB (+%.1f), peak heap %.1f MiB (+%.1f)",
		attackers, mib(peakRSS), mib(peakRSS-rss0), mib(peakHeap), mib(peakHeap-heap0))
	if peakRSS-rss0 > memoryBound || peakHeap-heap0 > memoryBound {
		t.Errorf("the server grew by %.1f MiB rss, %.1f MiB heap; the bound is %d MiB\n%s",
			mib(peakRSS-rss0), mib(peakHeap-heap0), memoryBound>>20, tail(logs.String(), 4000))
	}
	// The bystander is still served.
	writeRaw(t, bystander, []byte(`{"type":"ping","cid":"p"}`))
	expectRaw(t, bystander, "pong")
	for _, ws := range conns {
		ws.Close()
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// rssOf reads a process's resident set size from /proc.
func rssOf(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// heapOf reads the server's Go heap in use from its /metrics.
func heapOf(t *testing.T, metricsURL string) int64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	return 0
}

// dialFrom opens a WebSocket to url from the local address ip.
func dialFrom(t *testing.T, url, ip string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{
		HandshakeTimeout: 20 * time.Second,
		NetDialContext:   (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 20 * time.Second}).DialContext,
	}
	ws, _, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func writeRaw(t *testing.T, ws *websocket.Conn, b []byte) {
	t.Helper()
	ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// expectRaw reads until a message of type typ; an error message fails.
func expectRaw(t *testing.T, ws *websocket.Conn, typ string) json.RawMessage {
	t.Helper()
	for {
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		var env struct {
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if env.Type == typ {
			return env.Data
		}
		if env.Type == "error" {
			t.Fatalf("waiting for %s: error %s", typ, env.Data)
		}
	}
}

func helloRaw(t *testing.T, ws *websocket.Conn) {
	t.Helper()
	writeRaw(t, ws, []byte(`{"type":"hello","data":{"versions":[1]}}`))
	expectRaw(t, ws, "welcome")
}
