package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logLine is a line a process wrote, with when the test read it.
type logLine struct {
	text string
	at   time.Time
}

// lineLog collects a process's lines as they come and lets a test wait
// for one.
type lineLog struct {
	mu    sync.Mutex
	lines []logLine
	wake  chan struct{} // closed and replaced on every line, and at the end
	ended bool
}

// startLogged starts cmd with its standard error read into a lineLog.
func startLogged(t *testing.T, cmd *exec.Cmd) *lineLog {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	return newLineLog(pr)
}

func newLineLog(r io.ReadCloser) *lineLog {
	l := &lineLog{wake: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, logLine{sc.Text(), time.Now()})
			close(l.wake)
			l.wake = make(chan struct{})
			l.mu.Unlock()
		}
		r.Close()
		l.mu.Lock()
		l.ended = true
		close(l.wake)
		l.mu.Unlock()
	}()
	return l
}

// waitFor returns the first line containing s, waiting at most timeout.
func (l *lineLog) waitFor(s string, timeout time.Duration) (logLine, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, ln := range l.lines {
			if strings.Contains(ln.text, s) {
				l.mu.Unlock()
				return ln, nil
			}
		}
		wake, ended := l.wake, l.ended
		l.mu.Unlock()
		if ended {
			return logLine{}, fmt.Errorf("no line with %q: the process ended", s)
		}
		select {
		case <-wake:
		case <-deadline.C:
			return logLine{}, fmt.Errorf("no line with %q within %v", s, timeout)
		}
	}
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, ln := range l.lines {
		b.WriteString(ln.text + "\n")
	}
	return b.String()
}

// serveNode is one `rallypoint serve` process of a test cluster.
type serveNode struct {
	name string
	cmd  *exec.Cmd
	url  string // signaling URL, ws://127.0.0.1:PORT/ws
	logs *lineLog
}

// startServeCluster starts n `rallypoint serve` processes on loopback
// that form one cluster over embedded NATS, and waits until every one
// listens (once the cluster has a JetStream quorum). The nodes are
// stopped when the test ends.
func startServeCluster(t *testing.T, n int, extra ...string) []*serveNode {
	t.Helper()
	bin := buildServe(t)
	addrs := make([]string, n)
	routes := make([]string, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i], routes[i] = l.Addr().String(), "nats://"+l.Addr().String()
		l.Close()
	}
	nodes := make([]*serveNode, n)
	for i := range n {
		nd := &serveNode{name: fmt.Sprintf("n%d", i)}
		args := append([]string{"serve", "-addr", "127.0.0.1:0", "-log-format", "json", "-data-dir", t.TempDir(), "-nats-dir", t.TempDir(),
			"-node", nd.name, "-cluster-listen", addrs[i], "-cluster-routes", strings.Join(routes, ",")}, extra...)
		nd.cmd = exec.Command(bin, args...)
		nd.logs = startLogged(t, nd.cmd)
		nodes[i] = nd
		t.Cleanup(func() {
			nd.cmd.Process.Signal(syscall.SIGTERM)
			nd.cmd.Wait()
			if t.Failed() {
				t.Logf("node %s logs:\n%s", nd.name, nd.logs)
			}
		})
	}
	for _, nd := range nodes {
		ln, err := nd.logs.waitFor(`"msg":"listening"`, 90*time.Second)
		if err != nil {
			t.Fatalf("node %s: %v\n%s", nd.name, err, nd.logs)
		}
		var rec struct {
			Signaling string `json:"signaling"`
		}
		if err := json.Unmarshal([]byte(ln.text), &rec); err != nil || rec.Signaling == "" {
			t.Fatalf("node %s: listening line %q", nd.name, ln.text)
		}
		nd.url = rec.Signaling
	}
	return nodes
}

// health reads a node's /healthz fields.
func (nd *serveNode) health() (map[string]string, error) {
	u := "http" + strings.TrimPrefix(strings.TrimSuffix(nd.url, "/ws"), "ws") + "/healthz"
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			out[k] = v
		}
	}
	return out, nil
}

// clusterBot is a headless demo bot process and its output.
type clusterBot struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr *lineLog
	res    lossResultReconnects
	exit   int
}

// lossResultReconnects is the headless JSON with the outcome and the
// signaling reconnects.
type lossResultReconnects struct {
	lossResult
	Reconnects []struct {
		URL     string  `json:"url"`
		Resumed bool    `json:"resumed"`
		Down    float64 `json:"down_s"`
	} `json:"reconnects"`
}

// TestClusterFailoverMidMatch plays one 3-player match of headless demo
// bots over a cluster of three `rallypoint serve` processes, each bot
// connected to a different node (its -server lists all three, its own
// first), and SIGKILLs a node in the middle of the match. The bot whose
// node died must resume its signaling session (same peer id and room) on
// the next node of its list within 3 s, which it prints, and which that
// node's /healthz shows; and the match must end with the full roster and
// identical checksums on every bot, its traffic being peer-to-peer.
func TestClusterFailoverMidMatch(t *testing.T) {
	if testing.Short() {
		t.Skip("three server and three demo processes: skipped in -short")
	}
	const frames = 540 // 9 s at 60 frames a second
	buildServe(t)
	t0 := time.Now()
	nodes := startServeCluster(t, 3)
	t.Logf("cluster up in %v", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	urls := []string{nodes[0].url, nodes[1].url, nodes[2].url}

	// The node to kill is not the KV bucket's stream leader: killing the
	// leader costs a JetStream election (4 to 9 s) during which joins wait,
	// which is not what this test measures; resumes do not wait for it.
	kill := -1
	for deadline := time.Now().Add(30 * time.Second); kill < 0; {
		h, err := nodes[0].health()
		if err == nil && h["live_nodes"] == "3" {
			for i, nd := range nodes {
				if h["kv_leader"] != "" && h["kv_leader"] != nd.name {
					kill = i
				}
			}
		}
		if kill < 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no KV leader or not every node live: %v %v", h, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	next := (kill + 1) % 3

	bots := make([]*clusterBot, 3)
	for i := range bots {
		// Bot i dials node i first, then the others in order.
		list := strings.Join(append(append([]string{}, urls[i:]...), urls[:i]...), ",")
		b := &clusterBot{cmd: exec.Command(binary, "-headless", "-bot", "-server", list, "-room", "failover",
			"-players", "3", "-frames", fmt.Sprint(frames), "-seed", "5", "-wait", "60s")}
		b.cmd.Stdout = &b.stdout
		b.stderr = startLogged(t, b.cmd)
		bots[i] = b
		t.Cleanup(func() { b.cmd.Process.Kill(); b.cmd.Wait() })
	}
	for i, b := range bots {
		if _, err := b.stderr.waitFor("match started", 60*time.Second); err != nil {
			t.Fatalf("bot %d: %v\nstderr: %s", i, err, b.stderr)
		}
	}
	t.Logf("match started %v after the cluster was up", time.Since(t0).Round(time.Millisecond))
	// One second into the match (the slowest bot's start), a node dies.
	time.Sleep(time.Second)
	before, err := nodes[next].health()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := nodes[kill].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ln, err := bots[kill].stderr.waitFor("signaling reconnected", 10*time.Second)
	if err != nil {
		t.Fatalf("bot %d: %v\nstderr: %s", kill, err, bots[kill].stderr)
	}
	took := ln.at.Sub(killed)
	want := "signaling reconnected to " + urls[next] + ", session resumed"
	if !strings.HasPrefix(strings.TrimPrefix(ln.text, "demo-game: "), want) {
		t.Fatalf("bot %d printed %q, want %q", kill, ln.text, want)
	}
	if took > 3*time.Second {
		t.Fatalf("bot %d resumed %v after the SIGKILL, want at most 3 s", kill, took)
	}
	after, err := nodes[next].health()
	if err != nil {
		t.Fatal(err)
	}
	// The node that took the session over now holds it too.
	if n0, n1 := atoi(before["sessions"]), atoi(after["sessions"]); n1 != n0+1 {
		t.Fatalf("node %s held %s sessions before the resume and %s after", nodes[next].name, before["sessions"], after["sessions"])
	}

	var ref *lossResultReconnects
	for i, b := range bots {
		err := b.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			b.exit = ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		if err := json.Unmarshal(bytes.TrimSpace(b.stdout.Bytes()), &b.res); err != nil {
			t.Fatalf("bot %d (exit %d) printed %q: %v\nstderr: %s", i, b.exit, b.stdout.String(), err, b.stderr)
		}
		r, c := b.res, b.res.Confirmed
		if b.exit != 0 || r.Frames != frames || r.Players != 3 || c == nil || !c.PeersAgree || !c.RosterFull ||
			len(c.Remaining) != 3 || c.Reports != 2 || c.Frame != frames-1 {
			t.Fatalf("bot %d (exit %d): %s\nstderr: %s", i, b.exit, b.stdout.String(), b.stderr)
		}
		if ref == nil {
			ref = &b.res
		} else if r.Checksum != ref.Checksum || c.Checksum != ref.Confirmed.Checksum {
			t.Fatalf("bot %d ended with %s, bot 0 with %s", i, r.Checksum, ref.Checksum)
		}
		switch {
		case i == kill && (len(r.Reconnects) != 1 || !r.Reconnects[0].Resumed || r.Reconnects[0].URL != urls[next] || r.Reconnects[0].Down > 3):
			t.Fatalf("bot %d on the killed node reports reconnects %+v, want one resumed on %s", i, r.Reconnects, urls[next])
		case i != kill && len(r.Reconnects) != 0:
			t.Fatalf("bot %d reports reconnects %+v, but its node lives", i, r.Reconnects)
		}
	}
	t.Logf("node %s SIGKILLed 1 s into a match of %d frames; its bot resumed on %s %v later (%.3f s without a server), %s sessions there; 3 bots agree on %s",
		nodes[kill].name, frames, nodes[next].name, took.Round(time.Millisecond), bots[kill].res.Reconnects[0].Down, after["sessions"], ref.Checksum)
	if os.Getenv("CLUSTER_LOGS") != "" {
		for i, b := range bots {
			t.Logf("bot %d stderr:\n%s", i, b.stderr)
		}
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
