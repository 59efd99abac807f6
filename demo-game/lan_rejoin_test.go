package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/internal/netns"
)

var (
	seatLine   = regexp.MustCompile(`demo-game: session \S+, seat (\d+)`)
	portLine   = regexp.MustCompile(`demo-game: hosting .* on port (\d+)`)
	syncLine   = regexp.MustCompile(`demo-game: back in sync at frame (\d+)`)
	watchLine  = regexp.MustCompile(`demo-game: attached to (\S+) \(seat (-?\d+)\)`)
	parentLine = regexp.MustCompile(`demo-game: parent \S+ \(seat (-?\d+)\) -> (\S+) \(seat (-?\d+)\).*stream stopped ([0-9.]+) s`)
)

// awaitStderr polls c's standard error until re matches a line, and
// returns the submatches and when it was seen (within the 10 ms poll).
func awaitStderr(t *testing.T, c *netns.Child, re *regexp.Regexp, within time.Duration) ([]string, time.Time) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(c.Stderr()); m != nil {
			return m, time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s printed no %q in %v\nstderr: %s", c.Role, re, within, c.Stderr())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLANRejoinAndSpectate plays a 4-player LAN match of demo processes in
// network namespaces on one bridge (a host and three joiners, over pion),
// watched by a fifth process that comes in a second into the match as a
// spectator (-lan join -spectate): it attaches to a player's broadcast
// (the first joiner's: spectators ask the host last) and watches the
// default 3 s behind. The
// player feeding the spectator is SIGKILLed mid-match: the spectator
// re-attaches to another player within 3 s of stream (the figure is
// logged; the signaling host's interruption notice makes it a fraction of
// a second), and the killed player's process is
// restarted with the rejoin ticket it printed (-lan join -rejoin: found
// over DNS-SD, re-seated by the LAN host). Two seconds later the restarted
// process is killed too and restarted with its new ticket through the
// host's address (-server ws://HOST:PORT/ws -rejoin). Each time it is
// playing again and back in sync (rollback.EventInSync: a peer's checksum
// of a confirmed frame past the rejoin frame matches its own) within 3 s
// of its start; every player ends on the same confirmed checksum with the
// peers agreeing and the full roster, and the spectator ends on that
// checksum for the same frame, which the match's end that came through
// the tree confirms.
func TestLANRejoinAndSpectate(t *testing.T) {
	if testing.Short() {
		t.Skip("five processes on a bridge: skipped in -short")
	}
	const frames = 1200 // 20 s at 60 frames a second
	lab := netns.New(t)
	names := []string{"host", "joinA", "joinB", "joinC", "tv"}
	spaces := make([]*netns.NS, len(names))
	for i, n := range names {
		spaces[i] = lab.NS(n)
	}
	_, ifs := lab.BridgeSwitch(netns.LinkOptions{}, spaces...)
	common := []string{"-headless", "-bot", "-frames", strconv.Itoa(frames), "-wait", "2m"}
	players := []*netns.Child{spaces[0].StartProcess(nil, binary, append(common, "-lan", "host", "-players", "4", "-seed", "5")...)}
	for _, ns := range spaces[1:4] {
		players = append(players, ns.StartProcess(nil, binary, append(common, "-lan", "join")...))
	}

	m, _ := awaitStderr(t, players[0], portLine, time.Minute)
	hostURL := fmt.Sprintf("ws://%s:%s/ws", ifs[0].IPv4, m[1])
	seatOf := make([]int, len(players)) // process index -> seat
	tickets := make([]string, len(players))
	for i, p := range players {
		m, _ := awaitStderr(t, p, seatLine, 2*time.Minute)
		seatOf[i], _ = strconv.Atoi(m[1])
		m, _ = awaitStderr(t, p, ticketLine, time.Minute)
		tickets[i] = m[1]
		awaitStderr(t, p, startedLine, time.Minute)
	}
	// The spectator comes in mid-match and attaches to a player's
	// broadcast, which runs 3 s behind.
	time.Sleep(time.Second)
	tv := spaces[4].StartProcess(nil, binary, append(common, "-lan", "join", "-spectate")...)
	m, _ = awaitStderr(t, tv, watchLine, time.Minute)
	parent, _ := strconv.Atoi(m[2])
	victim := -1
	for i, s := range seatOf {
		if s == parent {
			victim = i
		}
	}
	if victim <= 0 {
		t.Fatalf("the spectator's parent is seat %d, held by process %d (seats %v): want a joiner", parent, victim, seatOf)
	}
	time.Sleep(1500 * time.Millisecond) // mid-match, the spectator receives the stream

	ticket := tickets[victim]
	for round, via := range [][]string{{"-lan", "join"}, {"-server", hostURL}} {
		old := players[victim]
		if err := old.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = old.Wait()
		restart := spaces[victim].StartProcess(nil, binary, append(append(common, via...), "-rejoin", ticket)...)
		t0 := time.Now()
		players[victim] = restart
		_, playing := awaitStderr(t, restart, startedLine, time.Minute)
		m, inSync := awaitStderr(t, restart, syncLine, time.Minute)
		t.Logf("round %d (%s): the restarted process plays again %.3f s after its start, back in sync (frame %s) after %.3f s",
			round, via[0], playing.Sub(t0).Seconds(), m[1], inSync.Sub(t0).Seconds())
		if d := inSync.Sub(t0); d > 3*time.Second {
			t.Errorf("round %d: back in sync %v after the restart, want at most 3 s", round, d)
		}
		m, _ = awaitStderr(t, restart, ticketLine, time.Minute)
		if m[1] == ticket {
			t.Fatalf("round %d: the restarted process printed the ticket it was given", round)
		}
		ticket = m[1]
		if round == 0 {
			m, _ := awaitStderr(t, tv, parentLine, 30*time.Second)
			t.Logf("the spectator re-attached: %s", m[0])
			time.Sleep(2 * time.Second)
		}
	}

	procs := make([]*lanProc, len(players))
	for i, p := range players {
		procs[i] = &lanProc{child: p}
	}
	collect(t, procs, 2*time.Minute)
	ref := procs[0].res
	for i, p := range procs {
		r, c := p.res, p.res.Confirmed
		if p.exit != 0 || r.Frames != frames || c == nil || !c.PeersAgree || !c.RosterFull || c.Frame != frames-1 ||
			r.Checksum != ref.Checksum || c.Checksum != ref.Confirmed.Checksum {
			t.Fatalf("process %d (exit %d): %s\nhost: %s\nstderr: %s", i, p.exit, p.line.Text, procs[0].line.Text, p.child.Stderr())
		}
	}

	line, err := tv.WaitFor(time.Minute, func(s string) bool { return strings.HasPrefix(s, "{") })
	if err != nil {
		_ = tv.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
		t.Fatalf("spectator: %v\nstderr: %s\nplayers: %s\n%s\n%s\n%s", err, tv.Stderr(), procs[0].line.Text, procs[1].line.Text, procs[2].line.Text, procs[3].line.Text)
	}
	var w match.WatchResult
	if err := json.Unmarshal([]byte(line.Text), &w); err != nil {
		t.Fatalf("spectator printed %q: %v", line.Text, err)
	}
	err = tv.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil || !w.Spectator || w.Frames != frames || w.Confirmed.Frame != frames-1 || w.Confirmed.Checksum != ref.Confirmed.Checksum ||
		w.Ended == nil || !w.Ended.Match || w.Ended.Frame != frames || w.DelayFrames != 180 || w.ParentSeat != parent ||
		len(w.ParentChanges) == 0 || w.ParentChanges[0].FromSeat != parent || w.ParentChanges[0].ToSeat < 0 || time.Duration(w.ParentChanges[0].Gap) > 3*time.Second {
		t.Fatalf("spectator (%v): %s\nplayers: %s\nstderr: %s", err, line.Text, procs[0].line.Text, tv.Stderr())
	}
	t.Logf("4 players and the spectator agree on %s at frame %d; the spectator watched %d frames behind from frame %d and changed parents %+v (load %s)",
		ref.Confirmed.Checksum, frames-1, w.DelayFrames, w.JoinedFrame, w.ParentChanges, loadavg())
}

// loadavg returns the machine's load averages, for the logs beside
// timing figures.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
