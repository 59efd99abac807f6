package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// TestTwoProcessesMatchedThroughServe runs `rallypoint serve` and two
// client processes (this test binary re-run as
// TestHelperMatchmakerClient) that enqueue in the default "1v1" queue: both
// must receive mm.matched for one session, room and host naming both of
// them, be in that room, report the result and receive their new ratings.
func TestTwoProcessesMatchedThroughServe(t *testing.T) {
	url, _, _, logs := startServe(t)
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := exec.Command(os.Args[0], "-test.run=^TestHelperMatchmakerClient$", "-test.v")
			c.Env = append(os.Environ(), "RALLYPOINT_TEST_MM_URL="+url)
			out, err := c.CombinedOutput()
			outs[i], errs[i] = string(out), err
		}()
	}
	wg.Wait()
	type report struct {
		ID, Room string
		Matched  mmservice.MatchedData
		Rated    mmservice.RatedData
	}
	var got [2]report
	for i := range 2 {
		_, line, ok := strings.Cut(outs[i], "MATCHED ")
		if errs[i] != nil || !ok {
			t.Fatalf("client %d: %v\n%s\nserver:\n%s", i, errs[i], outs[i], logs.String())
		}
		line, _, _ = strings.Cut(line, "\n")
		if err := json.Unmarshal([]byte(line), &got[i]); err != nil {
			t.Fatalf("client %d printed %q: %v", i, line, err)
		}
	}
	a, b := got[0], got[1]
	if a.ID == b.ID || a.Matched.Session == "" || a.Matched.Session != b.Matched.Session ||
		a.Room != a.Matched.Room || a.Room != b.Room || a.Matched.Host != b.Matched.Host {
		t.Fatalf("not one match: %+v / %+v", a, b)
	}
	if fmt.Sprint(a.Matched.Peers) != fmt.Sprint(b.Matched.Peers) || len(a.Matched.Peers) != 2 ||
		!strings.Contains(strings.Join(a.Matched.Peers, " "), a.ID) || !strings.Contains(strings.Join(a.Matched.Peers, " "), b.ID) {
		t.Fatalf("peers %v do not name both processes %s and %s", a.Matched.Peers, a.ID, b.ID)
	}
	for _, r := range got {
		won := r.Matched.Team == 0
		mu := r.Rated.Ratings[r.ID].Mu
		if r.Rated.Session != a.Matched.Session || (won && mu <= 25) || (!won && mu >= 25) {
			t.Fatalf("%s (team %d) rated %+v", r.ID, r.Matched.Team, r.Rated)
		}
	}
}

// TestHelperMatchmakerClient is a client process for
// TestTwoProcessesMatchedThroughServe; it does nothing in a normal run.
func TestHelperMatchmakerClient(t *testing.T) {
	url := os.Getenv("RALLYPOINT_TEST_MM_URL")
	if url == "" {
		t.Skip("helper process only")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ev := c.Events()
	if _, err := c.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}); err != nil {
		t.Fatal(err)
	}
	var out struct {
		ID, Room string
		Matched  mmservice.MatchedData
		Rated    mmservice.RatedData
	}
	next := func(typ string, v any) {
		for {
			select {
			case e := <-ev:
				if m, ok := e.(signaling.Message); ok && m.Type == typ {
					if err := json.Unmarshal(m.Data, v); err != nil {
						t.Fatal(err)
					}
					return
				}
			case <-ctx.Done():
				t.Fatalf("no %s: %v", typ, ctx.Err())
			}
		}
	}
	next(mmservice.TypeMatched, &out.Matched)
	out.ID, out.Room = c.ID(), c.Room()
	// Team 0 won.
	if _, err := c.Request(ctx, mmservice.TypeResult, mmservice.ResultData{Session: out.Matched.Session, Ranks: []float64{1, 2}}); err != nil {
		t.Fatal(err)
	}
	next(mmservice.TypeRated, &out.Rated)
	b, _ := json.Marshal(out)
	fmt.Printf("MATCHED %s\n", b)
}
