package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
)

// mapResult is the headless JSON with the map and outcome fields.
type mapResult struct {
	lossResult
	Map *struct {
		ID        string   `json:"id"`
		Name      string   `json:"name"`
		Source    string   `json:"source"`
		CacheFile string   `json:"cache_file"`
		Fetch     *float64 `json:"fetch_s"`
	} `json:"map"`
}

// TestLANMapContent: a LAN host plays a custom map (-map) with two joiners
// that do not have it, in network namespaces on one bridge with no server.
// The host offers the map as lobby content; the joiners fetch it from the
// others over the content swarm before the match, report it received and
// keep it in their -map-cache; the host starts only then, and all three
// finish the match on the custom map with one checksum. A second match of
// the same processes' successors loads the map from the caches without a
// fetch.
func TestLANMapContent(t *testing.T) {
	if testing.Short() {
		t.Skip("three processes on a bridge: skipped in -short")
	}
	lab := netns.New(t) // skips without root and ip
	names := []string{"cdmhost", "cdmj1", "cdmj2"}
	spaces := make([]*netns.NS, len(names))
	for i, n := range names {
		spaces[i] = lab.NS(n)
	}
	lab.Bridge(netns.LinkOptions{}, spaces...)
	mapFile := filepath.Join("maps", "crossfire.json")
	data, err := os.ReadFile(mapFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	dir := t.TempDir()
	caches := make([]string, len(names))
	for i := range caches {
		caches[i] = filepath.Join(dir, "cache"+strconv.Itoa(i))
	}
	for run, want := range []string{"fetched", "cache"} {
		t0 := time.Now()
		res, logs := playMapMatch(t, spaces, mapFile, caches, 3)
		for i, r := range res {
			if i == 0 {
				if r.Map == nil || r.Map.Source != "offered" || r.Map.ID != id {
					t.Fatalf("run %d: the host's map: %+v", run, r.Map)
				}
				continue
			}
			if r.Map == nil || r.Map.ID != id || r.Map.Name != "Crossfire" || r.Map.Source != want {
				t.Fatalf("run %d: joiner %d's map %+v, want %s %s", run, i, r.Map, want, id)
			}
			f := filepath.Join(caches[i], id)
			if r.Map.CacheFile != f {
				t.Fatalf("run %d: joiner %d's cache file %q, want %q", run, i, r.Map.CacheFile, f)
			}
			if b, err := os.ReadFile(f); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("run %d: joiner %d's cache file: %v", run, i, err)
			}
			fetch := "-"
			if r.Map.Fetch != nil {
				fetch = strconv.FormatFloat(*r.Map.Fetch, 'f', 3, 64) + " s"
			}
			log := logs[i]
			if (want == "fetched") != strings.Contains(log, "received:") || (want == "cache") != strings.Contains(log, "loaded from the cache") {
				t.Fatalf("run %d: joiner %d's log does not say the map was %s:\n%s", run, i, want, log)
			}
			t.Logf("run %d: joiner %d has map %s (%s, fetch %s)", run, i, id[:12], r.Map.Source, fetch)
		}
		t.Logf("run %d: 3 players agree on %s on the custom map after %v", run, res[0].Checksum, time.Since(t0).Round(time.Millisecond))
	}
}

// playMapMatch runs a LAN host with -map in spaces[0] and joiners without
// it in the others (each with its cache directory), and returns their
// results once every process agreed on the match.
func playMapMatch(t *testing.T, spaces []*netns.NS, mapFile string, caches []string, players int) ([]mapResult, []string) {
	t.Helper()
	const frames = 300
	common := []string{"-headless", "-bot", "-fast", "-frames", strconv.Itoa(frames), "-wait", "120s"}
	procs := []*lanProc{{child: spaces[0].StartProcess(nil, binary, append(common, "-lan", "host", "-players", strconv.Itoa(players),
		"-seed", "5", "-map", mapFile, "-map-cache", caches[0])...)}}
	for i, ns := range spaces[1:] {
		procs = append(procs, &lanProc{child: ns.StartProcess(nil, binary, append(common, "-lan", "join", "-map-cache", caches[i+1])...)})
	}
	collect(t, procs, 3*time.Minute)
	res := make([]mapResult, len(procs))
	logs := make([]string, len(procs))
	for i, p := range procs {
		logs[i] = p.child.Stderr()
		if err := json.Unmarshal([]byte(p.line.Text), &res[i]); err != nil {
			t.Fatal(err)
		}
		r, c := res[i], res[i].Confirmed
		if p.exit != 0 || r.Frames != frames || r.Players != players || c == nil || !c.PeersAgree || !c.RosterFull {
			t.Fatalf("process %d (exit %d): %s\nstderr: %s", i, p.exit, p.line.Text, p.child.Stderr())
		}
		if r.Checksum != res[0].Checksum || c.Checksum != res[0].Confirmed.Checksum {
			t.Fatalf("process %d ended with %s, the host with %s", i, r.Checksum, res[0].Checksum)
		}
		if i > 0 && !strings.Contains(p.child.Stderr(), "demo-game: map ") {
			t.Fatalf("joiner %d logged nothing of the map\nstderr: %s", i, p.child.Stderr())
		}
	}
	return res, logs
}
