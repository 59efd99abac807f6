package main

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// TestLANPauseUnderLoss plays a 4-player LAN match of demo processes (a
// host and three joiners, in network namespaces on one bridge, with 10% of
// the packets crossing it dropped at random) and stops one joiner's process
// twice in the middle of it for 1.2 s (SIGSTOP, then SIGCONT), as a machine
// too loaded to schedule it would. The pause is shorter than the rollback
// session's drop timeout (netcode.DefaultDropAfter, 2 s): nobody may be
// dropped, and every process must exit 0 with the same confirmed checksum,
// peers_agree and the full roster. RALLYPOINT_PAUSE_RUNS (default 1)
// repeats it; RALLYPOINT_PAUSE sets another pause (below 2 s).
func TestLANPauseUnderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("four processes on a lossy bridge: skipped in -short")
	}
	netns.Require(t)
	netns.RequireLoss(t)
	runs := envRuns(t, "RALLYPOINT_PAUSE_RUNS")
	for run := 1; run <= runs; run++ {
		t.Run("run"+strconv.Itoa(run), lanPause)
	}
}

func lanPause(t *testing.T) {
	const frames = 900 // 15 s at 60 frames a second
	pause := 1200 * time.Millisecond
	if v := os.Getenv("RALLYPOINT_PAUSE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d >= 2*time.Second {
			t.Fatalf("RALLYPOINT_PAUSE=%q: want a duration below the 2 s drop timeout", v)
		}
		pause = d
	}
	lab := netns.New(t)
	names := []string{"host", "joinA", "joinB", "joinC"}
	spaces := make([]*netns.NS, len(names))
	for i, n := range names {
		spaces[i] = lab.NS(n)
	}
	sw, _ := lab.BridgeSwitch(netns.LinkOptions{}, spaces...)
	lab.SetLoss(sw, 0.10)
	t0 := time.Now()
	procs := launch(t, spaces, frames)
	victim := procs[2]
	_, started := awaitStderr(t, victim.child, startedLine, 90*time.Second)
	var pauses []time.Duration
	for i, wait := range []time.Duration{2 * time.Second, 3 * time.Second} {
		time.Sleep(wait)
		if err := victim.child.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		time.Sleep(pause)
		if err := victim.child.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		pauses = append(pauses, time.Since(stopped).Round(time.Millisecond))
		t.Logf("pause %d: joinB stopped %.1f s into the match for %v", i+1, stopped.Sub(started).Seconds(), pauses[i])
	}
	collect(t, procs, 90*time.Second)
	for i, p := range procs {
		r, c := p.res, p.res.Confirmed
		if p.exit != 0 || r.Frames != frames || r.Players != 4 || c == nil || !c.PeersAgree || !c.RosterFull ||
			len(c.Remaining) != 4 || len(c.Dropped) != 0 || c.Reports != 3 || c.Frame != frames-1 {
			t.Fatalf("process %d (exit %d): %s\nstderr: %s", i, p.exit, p.line.Text, p.child.Stderr())
		}
		if r.Checksum != procs[0].res.Checksum || c.Checksum != procs[0].res.Confirmed.Checksum {
			t.Fatalf("process %d ended with %s, the host with %s", i, r.Checksum, procs[0].res.Checksum)
		}
	}
	t.Logf("10%% loss, joinB paused %v: 4 peers agree on %s after %d frames; started %.1f s, finished %.1f s after launch",
		pauses, procs[0].res.Confirmed.Checksum, frames, started.Sub(t0).Seconds(), time.Since(t0).Seconds())
}
