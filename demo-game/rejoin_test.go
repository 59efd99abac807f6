package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// demoProc is a demo process whose standard error is watched line by line.
type demoProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr lockedBuffer
	start  time.Time

	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced at every line, and at the end
	done  bool
}

func startProc(t *testing.T, ctx context.Context, args ...string) *demoProc {
	t.Helper()
	p := &demoProc{more: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, binary, args...)
	p.cmd.Stdout = &p.stdout
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		p.mu.Lock()
		p.done = true
		close(p.more)
		p.mu.Unlock()
	}()
	return p
}

// await returns the submatches of the first stderr line matching re, and
// when it was seen.
func (p *demoProc) await(t *testing.T, re *regexp.Regexp, within time.Duration) ([]string, time.Time) {
	t.Helper()
	deadline := time.After(within)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if m := re.FindStringSubmatch(p.lines[seen]); m != nil {
				p.mu.Unlock()
				return m, time.Now()
			}
		}
		more, done := p.more, p.done
		p.mu.Unlock()
		if done {
			t.Fatalf("demo-game %v ended without printing %q\nstderr: %s", p.cmd.Args[1:], re, p.stderr.String())
		}
		select {
		case <-more:
		case <-deadline:
			t.Fatalf("demo-game %v printed no %q in %v\nstderr: %s", p.cmd.Args[1:], re, within, p.stderr.String())
		}
	}
}

// rejoinResult is the part of the demo's JSON line this test reads.
type rejoinResult struct {
	Frames    uint32 `json:"frames"`
	Checksum  string `json:"checksum"`
	Confirmed *struct {
		Frame      int    `json:"frame"`
		Checksum   string `json:"checksum"`
		PeersAgree bool   `json:"peers_agree"`
		RosterFull bool   `json:"roster_full"`
		Reason     string `json:"reason"`
		Rejoins    []struct {
			Peer  string `json:"peer"`
			Seats []int  `json:"seats"`
			Frame int    `json:"frame"`
			Self  bool   `json:"self"`
		} `json:"rejoins"`
	} `json:"confirmed"`
}

// wait waits for the process and parses its JSON line; the exit status is
// returned, not judged.
func (p *demoProc) wait(t *testing.T) (rejoinResult, int) {
	t.Helper()
	err := p.cmd.Wait()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("demo-game %v: %v", p.cmd.Args[1:], err)
	}
	var r rejoinResult
	if err := json.Unmarshal(bytes.TrimSpace(p.stdout.Bytes()), &r); err != nil {
		t.Fatalf("demo-game %v (exit %d) printed %q: %v\nstderr: %s", p.cmd.Args[1:], code, p.stdout.String(), err, p.stderr.String())
	}
	return r, code
}

var (
	ticketLine  = regexp.MustCompile(`demo-game: rejoin ticket (\S+)`)
	startedLine = regexp.MustCompile(`demo-game: match started`)
)

// TestRejoinThroughServer: three headless bots meet on a real `rallypoint
// serve` and play over pion; one is SIGKILLed mid-match and restarted with
// the rejoin ticket it printed, and two seconds later killed and restarted
// again with its new ticket. Each time it takes its seat back through the
// server, reconnects to the others, receives the match state and plays on:
// it is playing again within 3 s of the restart, every process ends on the
// same final checksum with the peers agreeing, and the results report the
// rejoins.
func TestRejoinThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := startServe(t)
	const frames = 1200 // 20 s at 60 frames a second
	args := []string{"-headless", "-bot", "-server", ws, "-room", "rejoin", "-players", "3",
		"-frames", fmt.Sprint(frames), "-seed", "11", "-wait", "1m"}
	procs := make([]*demoProc, 3)
	for i := range procs {
		procs[i] = startProc(t, ctx, args...)
	}
	m, _ := procs[2].await(t, ticketLine, time.Minute)
	ticket := m[1]
	procs[2].await(t, startedLine, time.Minute)
	// Mid-match: let it play two seconds, then kill it.
	select {
	case <-time.After(2 * time.Second):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// Killed, restarted with its ticket; then the restarted process is
	// killed too and restarted with the ticket it printed in turn.
	victim := procs[2]
	var restart *demoProc
	for round := range 2 {
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		victim.cmd.Wait()
		restart = startProc(t, ctx, append(args, "-rejoin", ticket)...)
		_, playing := restart.await(t, startedLine, time.Minute)
		back := playing.Sub(restart.start)
		t.Logf("round %d: the restarted process plays again %.3f s after its start", round, back.Seconds())
		if back > 3*time.Second {
			t.Errorf("round %d: the restarted process took %v to rejoin, want at most 3 s", round, back)
		}
		m, _ := restart.await(t, ticketLine, time.Minute)
		if m[1] == ticket {
			t.Fatalf("round %d: the restarted process printed the ticket it was given", round)
		}
		ticket, victim = m[1], restart
		if round == 0 {
			select {
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
	}

	res := make([]rejoinResult, 3)
	codes := make([]int, 3)
	res[0], codes[0] = procs[0].wait(t)
	res[1], codes[1] = procs[1].wait(t)
	res[2], codes[2] = restart.wait(t)
	for i, r := range res {
		t.Logf("process %d (exit %d): frames %d checksum %s confirmed %+v", i, codes[i], r.Frames, r.Checksum, r.Confirmed)
		if r.Frames != frames || r.Confirmed == nil {
			t.Fatalf("process %d: %+v\nstderr: %s", i, r, []*demoProc{procs[0], procs[1], restart}[i].stderr.String())
		}
		if r.Checksum != res[0].Checksum || r.Confirmed.Checksum != res[0].Confirmed.Checksum {
			t.Fatalf("process %d ended with %s, process 0 with %s", i, r.Checksum, res[0].Checksum)
		}
		if codes[i] != 0 || !r.Confirmed.PeersAgree || !r.Confirmed.RosterFull {
			t.Errorf("process %d: exit %d, outcome %+v", i, codes[i], r.Confirmed)
		}
		if n := len(r.Confirmed.Rejoins); n == 0 || n > 2 || r.Confirmed.Rejoins[n-1].Self != (i == 2) || (i < 2 && n != 2) {
			t.Fatalf("process %d reports rejoins %+v", i, r.Confirmed.Rejoins)
		}
	}
	if f := res[0].Confirmed.Rejoins[1].Frame; res[1].Confirmed.Rejoins[1].Frame != f || res[2].Confirmed.Rejoins[len(res[2].Confirmed.Rejoins)-1].Frame != f {
		t.Fatalf("rejoin frames differ: %+v %+v %+v", res[0].Confirmed.Rejoins, res[1].Confirmed.Rejoins, res[2].Confirmed.Rejoins)
	}
}
