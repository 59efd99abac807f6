package broadcast_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/signaling"
	"go.uber.org/goleak"
)

// treeProc is one treepeer process, started directly (procTree.start) or
// in a network namespace (procTree.startIn).
type treeProc struct {
	name    string
	send    func(line string) // a command on its stdin
	kill    func() error      // SIGKILL
	closeIn func()            // close its stdin (it exits)
	wait    func()            // wait for it to exit
	stderr  func() string
	done    chan struct{} // closed once its stdout is read to the end
	killed  bool
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// procEvent is one JSON line a process printed.
type procEvent struct {
	proc   int
	at     time.Time
	Ev     string   `json:"ev"`
	ID     string   `json:"id"`
	IDs    []string `json:"ids"`
	Parent string   `json:"parent"`
	Reason string   `json:"reason"`
	Depth  int      `json:"depth"`
	GapMS  int64    `json:"gap_ms"`
	Since  int64    `json:"ms_since_lost"`
	Sum    string   `json:"sum"`
	Match  bool     `json:"match"`
	Err    string   `json:"err"`
	URL    string   `json:"url"`
}

// procTree is what the test knows of the tree from the processes' lines.
type procTree struct {
	t       *testing.T
	evs     chan procEvent
	procs   []*treeProc
	host    map[string]int    // spectator -> process
	parent  map[string]string // current parent
	attachs map[string]int    // attachments so far
	ended   map[string]procEvent
	left    map[string]bool // spectators that said goodbye
	joined  []string
	players []string
	final   string
	gaps    []int64 // EventAttached.Gap of every re-attach, ms
	since   []int64 // from the detach to the re-attach, ms
	trace   map[string][]string
	grand   map[string]string // the lost parent's parent when it was lost
	lostP   map[string]string // the parent a spectator lost last
	moves   []string          // every re-attach: old parent -> new, time from the detach
	re      []reattach
	conns   []connTime // new connections the spectators made
	url     string     // the signaling server a players process serves (-serve)
	// The first re-attach of every orphan of the kills, and of every child
	// of the relay that left, in ms.
	gapsKill, gapsLeave []int64
}

// connTime is one new connection: when it came up and how long it took.
type connTime struct {
	at time.Time
	ms int64
}

// reattach is one EventAttached after the first.
type reattach struct {
	id         string
	at         time.Time
	gap, since int64
}

// start runs bin with args as a child of the test.
func (pt *procTree) start(bin string, args ...string) *treeProc {
	t := pt.t
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errBuf := &lockedBuffer{}
	cmd.Stderr = errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &treeProc{name: fmt.Sprintf("%s#%d", args[1], len(pt.procs)), done: make(chan struct{}),
		send:    func(l string) { _, _ = io.WriteString(stdin, l+"\n") },
		kill:    func() error { return cmd.Process.Kill() },
		closeIn: func() { stdin.Close() },
		wait:    func() { _ = cmd.Wait() },
		stderr:  errBuf.String}
	pt.procs = append(pt.procs, p)
	go pt.read(len(pt.procs)-1, p, nil, stdout)
	return p
}

// startIn runs bin with args in network namespace ns.
func (pt *procTree) startIn(ns *netns.NS, bin string, args ...string) *treeProc {
	c := ns.StartProcess(nil, bin, args...)
	p := &treeProc{name: fmt.Sprintf("%s#%d", args[1], len(pt.procs)), done: make(chan struct{}),
		send:    func(l string) { _ = c.Send(l) },
		kill:    func() error { return c.Signal(syscall.SIGKILL) },
		closeIn: func() { go func() { _ = c.Wait() }() },
		wait:    func() { _ = c.Wait() },
		stderr:  c.Stderr}
	pt.procs = append(pt.procs, p)
	go pt.read(len(pt.procs)-1, p, func() ([]byte, bool) {
		l, err := c.Next(time.Hour)
		return []byte(l.Text), err == nil
	}, nil)
	return p
}

// read passes a process's JSON lines to pt.evs, from r or, when r is nil,
// from next, until its output ends.
func (pt *procTree) read(idx int, p *treeProc, next func() ([]byte, bool), r io.Reader) {
	defer close(p.done)
	if r != nil {
		sc := bufio.NewScanner(r)
		next = func() ([]byte, bool) {
			ok := sc.Scan()
			return sc.Bytes(), ok
		}
	}
	for {
		line, ok := next()
		if !ok {
			return
		}
		var ev procEvent
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		ev.proc, ev.at = idx, time.Now()
		pt.evs <- ev
	}
}

// stopAll ends every process (closing stdin, then SIGKILL after 5 s) and
// waits for their output.
func (pt *procTree) stopAll() {
	for _, p := range pt.procs {
		p.closeIn()
	}
	deadline := time.After(5 * time.Second)
	for _, p := range pt.procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.kill()
		}
	}
	for _, p := range pt.procs {
		for drained := false; !drained; { // the readers may wait on a full channel
			select {
			case <-pt.evs:
			case <-p.done:
				drained = true
			}
		}
		p.wait()
	}
}

// until reads events until cond holds; false after d.
func (pt *procTree) until(d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !cond() {
		select {
		case ev := <-pt.evs:
			pt.apply(ev)
		case <-timer.C:
			return false
		}
	}
	return true
}

func (pt *procTree) apply(ev procEvent) {
	if ev.ID != "" && len(pt.trace[ev.ID]) < 32 {
		pt.trace[ev.ID] = append(pt.trace[ev.ID], fmt.Sprintf("%s %s %s %s gap %d", ev.at.Format("05.000"), ev.Ev, ev.Parent, ev.Reason, ev.GapMS))
	}
	switch ev.Ev {
	case "players":
		pt.players = ev.IDs
	case "serving":
		pt.url = ev.URL
	case "final":
		pt.final = ev.Sum
	case "joined":
		pt.host[ev.ID] = ev.proc
		pt.joined = append(pt.joined, ev.ID)
	case "connected":
		pt.conns = append(pt.conns, connTime{ev.at, ev.GapMS})
	case "attached":
		pt.parent[ev.ID] = ev.Parent
		pt.attachs[ev.ID]++
		if pt.attachs[ev.ID] > 1 {
			pt.gaps = append(pt.gaps, ev.GapMS)
			pt.since = append(pt.since, ev.Since)
			pt.re = append(pt.re, reattach{ev.ID, ev.at, ev.GapMS, ev.Since})
			pt.moves = append(pt.moves, fmt.Sprintf("%s %s->%s(%s) d%d %dms", ev.ID, pt.kind(pt.lostP[ev.ID]), pt.kind(ev.Parent),
				map[bool]string{true: "gp", false: "other"}[pt.grand[ev.ID] == ev.Parent], ev.Depth, ev.Since))
		}
	case "detached":
		delete(pt.parent, ev.ID)
		pt.lostP[ev.ID] = ev.Parent
		pt.grand[ev.ID] = pt.parent[ev.Parent]
	case "left":
		pt.left[ev.ID] = true
	case "ended":
		pt.ended[ev.ID] = ev
	case "rejected", "error":
		pt.t.Errorf("%s: %s %s", ev.ID, ev.Ev, ev.Err)
	}
}

// kind names a node for logs: player, or the process hosting it.
func (pt *procTree) kind(id string) string {
	if slices.Contains(pt.players, id) {
		return "player"
	}
	return fmt.Sprintf("p%d", pt.host[id])
}

func (pt *procTree) alive(id string) bool {
	if slices.Contains(pt.players, id) {
		return true
	}
	h, ok := pt.host[id]
	return ok && !pt.procs[h].killed && !pt.left[id]
}

func (pt *procTree) dump() {
	for _, id := range pt.joined {
		pt.t.Logf("%s (proc %d): %v", id, pt.host[id], pt.trace[id])
	}
	for _, p := range pt.procs {
		if s := p.stderr(); s != "" {
			pt.t.Logf("%s stderr: %s", p.name, s)
		}
	}
}

// TestBroadcastOverPionProcesses: 2 players in one process and 30
// spectators spread over 5 processes (6 each, interleaved in joining
// order), all on WebRTC meshes (pion, loopback) through a signaling
// server, with the package's default timings at 60 ticks a second. Two
// processes hosting relays are killed with SIGKILL one after the other,
// mid-match, and a relay leaves with a goodbye: every surviving orphan
// re-attaches within 1 s (2 s on a machine loaded beyond 2 per core; the
// gaps and the new connections' setup times are logged), and every
// survivor ends with the players' final checksum.
func TestBroadcastOverPionProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	t.Cleanup(func() { goleak.VerifyNone(t) })
	const spectators, nprocs = 30, 5
	bin := buildTreepeer(t)
	srv := signaling.NewServer(signaling.Config{MaxRoomSize: 64, RatePerSec: 1000, RateBurst: 2000})
	hs := httptest.NewServer(srv)
	defer func() { hs.Close(); srv.Close() }()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	pt := newProcTree(t)
	defer pt.stopAll()
	pt.run(procCase{spectators: spectators, nprocs: nprocs, common: []string{"-url", url},
		players:   func(args ...string) *treeProc { return pt.start(bin, args...) },
		spectator: func(_ int, args ...string) *treeProc { return pt.start(bin, args...) }})
}

// buildTreepeer builds internal/treepeer without -race (33 WebRTC peers
// under the race detector do not keep time on a small machine).
func buildTreepeer(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "treepeer")
	if out, err := exec.Command("go", "build", "-o", bin, "./internal/treepeer").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newProcTree(t *testing.T) *procTree {
	return &procTree{t: t, evs: make(chan procEvent, 256), host: map[string]int{}, parent: map[string]string{},
		attachs: map[string]int{}, ended: map[string]procEvent{}, left: map[string]bool{}, trace: map[string][]string{},
		lostP: map[string]string{}, grand: map[string]string{}}
}

// procCase is a run of treepeer processes: players (a process that
// plays the match), and spectators in nprocs processes.
type procCase struct {
	spectators, nprocs int
	common             []string // flags for every process
	players            func(args ...string) *treeProc
	spectator          func(i int, args ...string) *treeProc
}

// run plays the match: the spectators join one at a time, two processes
// hosting relays are killed, a relay leaves with a goodbye, and every
// survivor must end with the players' final checksum, each orphan back
// within the re-attach bound.
func (pt *procTree) run(pc procCase) {
	t := pt.t
	spectators, nprocs := pc.spectators, pc.nprocs
	common := append([]string{"-players", "2", "-hz", "60", "-delay", "60"}, pc.common...)
	players := pc.players(append([]string{"-role", "players"}, common...)...)
	if !pt.until(30*time.Second, func() bool { return pt.players != nil }) {
		pt.dump()
		t.Fatal("players not up within 30 s")
	}
	var specProcs []*treeProc
	for i := range nprocs {
		specProcs = append(specProcs, pc.spectator(i, append([]string{"-role", "spectators", "-roots", strings.Join(pt.players, ",")}, common...)...))
	}
	start := time.Now()
	for i := range spectators {
		entry := "-"
		if i > 0 {
			entry = pt.joined[(i*7)%i]
		}
		specProcs[i%nprocs].send("add " + entry)
		// One at a time, as a lobby admits them.
		if !pt.until(20*time.Second, func() bool { return len(pt.joined) == i+1 && pt.parent[pt.joined[i]] != "" }) {
			pt.dump()
			t.Fatalf("spectator %d not attached within 20 s", i)
		}
	}
	t.Logf("%d spectators in %d processes attached in %v (load %s)", spectators, nprocs, time.Since(start).Round(time.Millisecond), loadAvg())
	var killGaps, killSince []int64 // the orphans' first re-attach after each kill
	var firstKill time.Time
	var loadAtKill float64
	for round := range 2 {
		// Kill the live process whose spectators have the most children
		// in other live processes.
		victim, most := -1, 0
		for pi, p := range pt.procs {
			if p == players || p.killed {
				continue
			}
			n := 0
			for id, par := range pt.parent {
				if h, ok := pt.host[par]; ok && h == pi && pt.alive(id) && pt.host[id] != pi {
					n++
				}
			}
			if n > most {
				victim, most = pi, n
			}
		}
		if victim < 0 {
			pt.dump()
			t.Fatalf("round %d: no process hosts a relay of another", round)
		}
		var orphans []string
		base := map[string]int{}
		for id, par := range pt.parent {
			if h, ok := pt.host[par]; ok && h == victim && pt.alive(id) && pt.host[id] != victim {
				orphans = append(orphans, id)
				base[id] = pt.attachs[id]
			}
		}
		if err := pt.procs[victim].kill(); err != nil {
			t.Fatal(err)
		}
		pt.procs[victim].killed = true
		killed := time.Now()
		if round == 0 {
			firstKill, loadAtKill = killed, load1()
		}
		back := func() bool {
			for _, id := range pt.joined {
				if !pt.alive(id) {
					continue
				}
				par, ok := pt.parent[id]
				if !ok || !pt.alive(par) || slices.Contains(orphans, id) && pt.attachs[id] == base[id] {
					return false
				}
			}
			return true
		}
		if !pt.until(15*time.Second, back) {
			pt.dump()
			t.Fatalf("round %d: orphans %v not back within 15 s of the kill of %s", round, orphans, pt.procs[victim].name)
		}
		for _, id := range orphans {
			for _, r := range pt.re {
				if r.id == id && r.at.After(killed) {
					if r.gap > 1000 {
						t.Logf("slow re-attach of %s: %v", id, pt.trace[id])
					}
					killGaps = append(killGaps, r.gap)
					killSince = append(killSince, r.since)
					break
				}
			}
		}
		t.Logf("round %d: killed %s, its %d orphans in other processes all back %v after the kill",
			round, pt.procs[victim].name, len(orphans), time.Since(killed).Round(time.Millisecond))
	}
	// A relay leaves with a goodbye: its children move at once.
	var relay string
	for _, id := range pt.joined {
		if !pt.alive(id) {
			continue
		}
		for kid, par := range pt.parent {
			if par == id && pt.alive(kid) && pt.host[kid] != pt.host[id] {
				relay = id
			}
		}
		if relay != "" {
			break
		}
	}
	if relay == "" {
		pt.dump()
		t.Fatal("no live relay left")
	}
	var kids []string
	base := map[string]int{}
	for kid, par := range pt.parent {
		if par == relay && pt.alive(kid) {
			kids = append(kids, kid)
			base[kid] = pt.attachs[kid]
		}
	}
	pt.procs[pt.host[relay]].send("leave " + relay)
	left := time.Now()
	if !pt.until(15*time.Second, func() bool {
		if !pt.left[relay] {
			return false
		}
		for _, id := range kids {
			if par, ok := pt.parent[id]; !ok || !pt.alive(par) || pt.attachs[id] == base[id] {
				return false
			}
		}
		return true
	}) {
		pt.dump()
		t.Fatalf("the children %v of %s, which left, not back within 15 s", kids, relay)
	}
	var leaveGaps []int64
	for _, id := range kids {
		for _, r := range pt.re {
			if r.id == id && r.at.After(left) {
				leaveGaps = append(leaveGaps, r.gap)
				break
			}
		}
	}
	t.Logf("a relay left with a goodbye: its %d children back %v later, gaps %v ms", len(kids),
		time.Since(left).Round(time.Millisecond), leaveGaps)
	players.send("finish")
	var survivors []string
	for _, id := range pt.joined {
		if pt.alive(id) {
			survivors = append(survivors, id)
		}
	}
	if !pt.until(20*time.Second, func() bool {
		if pt.final == "" {
			return false
		}
		for _, id := range survivors {
			if _, ok := pt.ended[id]; !ok {
				return false
			}
		}
		return true
	}) {
		pt.dump()
		t.Fatalf("final %q; not every one of %d survivors ended within 20 s (%d did)", pt.final, len(survivors), len(pt.ended))
	}
	for _, id := range survivors {
		if e := pt.ended[id]; e.Sum != pt.final || !e.Match {
			t.Errorf("%s ended with %s (match %v), players %s", id, e.Sum, e.Match, pt.final)
		}
	}
	if len(survivors) != spectators-2*spectators/nprocs-1 {
		t.Errorf("%d survivors, want %d", len(survivors), spectators-2*spectators/nprocs-1)
	}
	pt.gapsKill, pt.gapsLeave = killGaps, leaveGaps
	gaps, since := slices.Clone(killGaps), slices.Clone(killSince)
	slices.Sort(gaps)
	slices.Sort(since)
	if len(gaps) == 0 {
		t.Fatal("no spectator re-attached")
	}
	t.Logf("%d re-attaches in all (a loaded machine also makes live parents look silent)", len(pt.gaps))
	t.Logf("%d orphans of the kills over pion, separate processes: gap from the parent's last message p50 %d ms, max %d ms (all %v); from the detach p50 %d ms, max %d ms; load %s",
		len(gaps), gaps[len(gaps)/2], gaps[len(gaps)-1], gaps, since[len(since)/2], since[len(since)-1], loadAvg())
	t.Logf("re-attaches: %v", pt.moves)
	var setup []int64
	for _, c := range pt.conns {
		if c.at.After(firstKill) {
			setup = append(setup, c.ms)
		}
	}
	slices.Sort(setup)
	if len(setup) > 0 {
		t.Logf("%d new connections after the first kill took p50 %d ms, max %d ms", len(setup), setup[len(setup)/2], setup[len(setup)-1])
	}
	// The target: children re-attach within 1 s, every one of them (the
	// slowest, not the median). The tree keeps it while a new WebRTC
	// connection comes up within about 150 ms (TestTreeReattachDeadCandidates
	// pins that with an injectable clock). On a machine loaded well beyond
	// a CI run (a load average above 2 per core: other jobs) new
	// connections were measured at 0.5 to 1 s, and an orphan that needs
	// one cannot be back within 1 s: the bound is then 2 s.
	bound := time.Second
	if l := max(loadAtKill, load1()); l > 2*float64(runtime.NumCPU()) {
		bound = 2 * time.Second
		t.Logf("load average %.1f on %d cores: re-attaches held to %v", l, runtime.NumCPU(), bound)
	}
	if worst := time.Duration(gaps[len(gaps)-1]) * time.Millisecond; worst > bound {
		pt.dump()
		t.Errorf("the slowest re-attach took %v, more than %v (median %d ms, load %s)", worst, bound, gaps[len(gaps)/2], loadAvg())
	}
	for _, g := range leaveGaps {
		if d := time.Duration(g) * time.Millisecond; d > bound {
			t.Errorf("a child of a relay that left re-attached after %v, more than %v (load %s)", d, bound, loadAvg())
		}
	}
}
