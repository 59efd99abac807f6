package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

const helperEnv = "RALLYPOINT_MM_HELPER_URL"

// helperMain runs the test binary as a matchmaking client when the helper
// variable is set: it dials, enqueues in 1v1, prints the mm.matched payload
// as one JSON line with its own id, and exits.
func helperMain() bool {
	url := os.Getenv(helperEnv)
	if url == "" {
		return false
	}
	if err := runHelper(url); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// helperOutput is what a helper process prints.
type helperOutput struct {
	ID      string      `json:"id"`
	Room    string      `json:"room"`
	Matched MatchedData `json:"matched"`
}

func runHelper(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	events := c.Events() // before the match can arrive
	if _, err := c.Request(ctx, TypeEnqueue, EnqueueData{Queue: "1v1"}); err != nil {
		return err
	}
	for {
		select {
		case ev := <-events:
			m, ok := ev.(signaling.Message)
			if !ok || m.Type != TypeMatched {
				continue
			}
			var out helperOutput
			if err := json.Unmarshal(m.Data, &out.Matched); err != nil {
				return err
			}
			out.ID, out.Room = c.ID(), c.Room()
			return json.NewEncoder(os.Stdout).Encode(out)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// TestTwoProcessesMatched: two clients in separate processes (this test
// binary re-executed) are matched through a real server.
func TestTwoProcessesMatched(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	e := newEnv(t, Config{Interval: 20 * time.Millisecond})
	var outs [2]bytes.Buffer
	var cmds [2]*exec.Cmd
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+e.url)
		cmds[i].Stdout = &outs[i]
		cmds[i].Stderr = os.Stderr
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	var got [2]helperOutput
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		if err := json.Unmarshal(outs[i].Bytes(), &got[i]); err != nil {
			t.Fatalf("helper %d printed %q: %v", i, outs[i].String(), err)
		}
	}
	a, b := got[0], got[1]
	if a.Matched.Session == "" || a.Matched.Session != b.Matched.Session || a.Room != b.Room || a.Room != a.Matched.Room {
		t.Fatalf("not the same session/room: %+v / %+v", a, b)
	}
	if a.Matched.Host != b.Matched.Host || len(a.Matched.Peers) != 2 {
		t.Fatalf("host/peers differ: %+v / %+v", a.Matched, b.Matched)
	}
	peers := map[string]bool{a.Matched.Peers[0]: true, a.Matched.Peers[1]: true}
	if !peers[a.ID] || !peers[b.ID] || a.ID == b.ID {
		t.Fatalf("peers %v do not name both processes %s %s", a.Matched.Peers, a.ID, b.ID)
	}
}
