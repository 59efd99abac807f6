package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOnlineMapContent: the same as TestLANMapContent through a real
// `rallypoint serve`: a host creates an online lobby with -map, two
// players join it by code without the map, fetch it from the others over
// the lobby's content room on the server (the mesh among them), cache it,
// and all three play the match on it with one checksum.
func TestOnlineMapContent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := startServe(t)
	mapFile := filepath.Join("maps", "crossfire.json")
	data, err := os.ReadFile(mapFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	dir := t.TempDir()

	host, hostOut, hostErr, code := startDemo(t, ctx, binary, "-headless", "-bot", "-fast", "-server", ws, "-lobby", "-players", "3",
		"-frames", "300", "-seed", "8", "-name", "host", "-map", mapFile)
	res := make([]mapResult, 3)
	logs := make([]string, 3)
	var wg sync.WaitGroup
	for i := 1; i < 3; i++ {
		wg.Go(func() {
			_, stderr, stdout := runDemoOutput(t, ctx, "-headless", "-bot", "-fast", "-server", ws, "-code", code, "-frames", "300",
				"-name", fmt.Sprint("bot", i), "-map-cache", filepath.Join(dir, fmt.Sprint("cache", i)))
			logs[i] = stderr
			if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &res[i]); err != nil {
				t.Errorf("player %d printed %q: %v", i, stdout, err)
			}
		})
	}
	wg.Wait()
	if err := host.Wait(); err != nil {
		t.Fatalf("lobby host: %v\nstderr: %s", err, hostErr.String())
	}
	logs[0] = hostErr.String()
	if err := json.Unmarshal(bytes.TrimSpace(hostOut.Bytes()), &res[0]); err != nil {
		t.Fatalf("lobby host printed %q: %v", hostOut.String(), err)
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, r := range res {
		c := r.Confirmed
		if r.Frames != 300 || r.Players != 3 || c == nil || !c.PeersAgree || r.Checksum != res[0].Checksum || r.Map == nil || r.Map.ID != id {
			t.Fatalf("player %d: %+v map %+v; host %+v\nstderr: %s", i, r, r.Map, res[0], logs[i])
		}
		if i == 0 {
			if r.Map.Source != "offered" {
				t.Fatalf("the host's map came from %q", r.Map.Source)
			}
			continue
		}
		f := filepath.Join(dir, fmt.Sprint("cache", i), id)
		if b, err := os.ReadFile(f); r.Map.Source != "fetched" || r.Map.CacheFile != f || err != nil || !bytes.Equal(b, data) {
			t.Fatalf("player %d: map %+v, cache file: %v\nstderr: %s", i, r.Map, err, logs[i])
		}
	}
	t.Logf("3 players met in lobby %s, 2 fetched map %s over the server's content room, and agree on %s", code, id[:12], res[0].Checksum)
}

// TestMapFlag: -map plays the file's arena in a local match (the checksum
// differs from the default arena's), and a file that is missing or not a
// map stops the demo with status 2 and the error, naming the field.
func TestMapFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-headless", "-bot", "-fast", "-frames", "300", "-seed", "3"}
	def, _ := runDemo(t, ctx, args...)
	custom, _ := runDemo(t, ctx, append(args, "-map", filepath.Join("maps", "crossfire.json"))...)
	again, _ := runDemo(t, ctx, append(args, "-map", filepath.Join("maps", "crossfire.json"))...)
	if def.Frames != 300 || custom.Frames != 300 || custom.Checksum == def.Checksum || again.Checksum != custom.Checksum {
		t.Fatalf("default %s, map %s, map again %s", def.Checksum, custom.Checksum, again.Checksum)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"arena":1,"size":[400,300],"spawns":[[5,5],[370,270],[370,30],[30,270]],"pickups":[[200,150]]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{bad: "spawns[0]", filepath.Join(t.TempDir(), "none.json"): "no such file"} {
		out, err := exec.CommandContext(ctx, binary, "-headless", "-bot", "-map", file).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), want) {
			t.Errorf("-map %s: %v, %q; want exit 2 naming %q", file, err, out, want)
		}
	}
}
