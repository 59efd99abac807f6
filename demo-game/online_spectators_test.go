package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
)

// outProc is a demo process on this host: its standard output (read after
// it exited) and its standard error as it comes.
type outProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr lockedBuffer
	done   chan error
}

func startOut(t *testing.T, ctx context.Context, args ...string) *outProc {
	t.Helper()
	p := &outProc{cmd: exec.CommandContext(ctx, binary, args...), done: make(chan error, 1)}
	p.cmd.Stdout = &p.stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.stderr.WriteString(sc.Text() + "\n")
		}
	}()
	go func() {
		<-read
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done // wait puts the status back
	})
	return p
}

// await polls the process's standard error until re matches.
func (p *outProc) await(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v printed no %q in %v\nstderr: %s", p.cmd.Args[1:], re, within, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its last line of
// standard output.
func (p *outProc) wait(t *testing.T, within time.Duration) (string, error) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return lastLine(p.stdout.String()), err
	case <-time.After(within):
		t.Fatalf("%v did not exit in %v\nstderr: %s", p.cmd.Args[1:], within, p.stderr.String())
		return "", nil
	}
}

// TestOnlineSpectatorTree watches an online lobby match (a real
// `rallypoint serve` on loopback, the host -lobby and a joiner -code) with
// three spectator processes (-code CODE -spectate): the players feed at
// most two relays each, the joiner first, so one spectator hangs under
// another. That relay is SIGKILLed: the server reports its connection
// dropped, and its child re-attaches (the gap is logged, at most 3 s); the
// two remaining spectators end on the players' final confirmed checksum,
// which the end that came down the tree confirms.
func TestOnlineSpectatorTree(t *testing.T) {
	if testing.Short() {
		t.Skip("five processes and a server: skipped in -short")
	}
	const frames = 900
	ws := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	common := []string{"-headless", "-bot", "-server", ws, "-frames", strconv.Itoa(frames), "-wait", "90s"}
	host := startOut(t, ctx, append(common, "-lobby", "-players", "2", "-spectate-delay", "1s", "-name", "host")...)
	code := host.await(t, codeLine, time.Minute)[1]
	joiner := startOut(t, ctx, append(common, "-code", code, "-name", "joiner")...)
	players := []*outProc{host, joiner}
	for _, p := range players {
		p.await(t, startedLine, time.Minute)
	}
	var tvs []*outProc
	ids := map[string]int{}
	for i := range 3 {
		// One after the other, so the tree's shape is known: two relays
		// under the joiner, the third spectator under one of them.
		tv := startOut(t, ctx, append(common, "-code", code, "-spectate", "-name", "tv"+strconv.Itoa(i))...)
		ids[tv.await(t, specIDLine, time.Minute)[1]] = i
		tv.await(t, treeLine, 30*time.Second)
		tvs = append(tvs, tv)
	}
	time.Sleep(2 * time.Second) // mid-match
	parent, depth := treeParent(tvs[2].stderr.String())
	victim, ok := ids[parent]
	if !ok || depth != 2 {
		t.Fatalf("the third spectator hangs under %s at depth %d, want a spectator at depth 2\nstderr: %s", parent, depth, tvs[2].stderr.String())
	}
	if err := tvs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	tvs[victim].wait(t, 30*time.Second)
	re := regexp.MustCompile(strings.ReplaceAll(reattachFmt, "%s", regexp.QuoteMeta(parent)))
	m := tvs[2].await(t, re, 30*time.Second)
	gap, _ := strconv.ParseFloat(m[6], 64)
	t.Logf("the orphan re-attached to %s (seat %s, depth %s) at frame %s, %s: the stream stopped %s s (load %s)", m[1], m[2], m[3], m[4], m[5], m[6], loadavg())
	if gap > 3 {
		t.Errorf("the orphan's stream stopped %.3f s, want under 3 s", gap)
	}

	var ref lossResult
	for i, p := range players {
		line, err := p.wait(t, time.Minute)
		var r lossResult
		if jerr := json.Unmarshal([]byte(line), &r); err != nil || jerr != nil || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame != frames-1 {
			t.Fatalf("player %d (%v): %s\nstderr: %s", i, err, line, p.stderr.String())
		}
		if i == 0 {
			ref = r
		} else if r.Confirmed.Checksum != ref.Confirmed.Checksum {
			t.Fatalf("the players disagree: %s and %s", ref.Confirmed.Checksum, r.Confirmed.Checksum)
		}
	}
	for i, tv := range tvs {
		if i == victim {
			continue
		}
		line, err := tv.wait(t, time.Minute)
		var w match.WatchResult
		if jerr := json.Unmarshal([]byte(line), &w); err != nil || jerr != nil || w.Frames != frames || w.Confirmed.Frame != frames-1 ||
			w.Confirmed.Checksum != ref.Confirmed.Checksum || w.Ended == nil || !w.Ended.Match || w.DelayFrames != 60 {
			t.Fatalf("spectator %d (%v): %s\nplayers: %s\nstderr: %s", i, err, line, ref.Confirmed.Checksum, tv.stderr.String())
		}
	}
	t.Logf("2 players and 2 spectators end on %s at frame %d", ref.Confirmed.Checksum, frames-1)
}
