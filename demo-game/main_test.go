package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/ui"
	"github.com/rallypoint/rallypoint/internal/netns"
)

// binary is the demo built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "demo-game-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "demo-game")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the demo: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	Frames    uint32 `json:"frames"`
	Checksum  string `json:"checksum"`
	Players   int    `json:"players"`
	Phase     string `json:"phase"`
	Winner    int    `json:"winner"`
	Wins      []int  `json:"wins"`
	Confirmed *struct {
		Frame      int    `json:"frame"`
		Checksum   string `json:"checksum"`
		PeersAgree bool   `json:"peers_agree"`
	} `json:"confirmed"`
}

func runDemo(t *testing.T, ctx context.Context, args ...string) (result, string) {
	t.Helper()
	r, _, out := runDemoOutput(t, ctx, args...)
	return r, out
}

// runDemoStderr runs the demo like runDemo and returns its standard error.
func runDemoStderr(t *testing.T, ctx context.Context, args ...string) (result, string) {
	t.Helper()
	r, stderr, _ := runDemoOutput(t, ctx, args...)
	return r, stderr
}

// runDemoOutput runs the demo binary and returns its parsed JSON line, its
// standard error and its standard output. Tests call it from several
// goroutines at once, so a failure is reported with t.Errorf (t.Fatal is only
// allowed on the test's own goroutine) and returns a zero result.
func runDemoOutput(t *testing.T, ctx context.Context, args ...string) (result, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("demo-game %v: %v\nstderr: %s", args, err, stderr.String())
		return result{}, stderr.String(), stdout.String()
	}
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
		t.Errorf("demo-game %v printed %q: %v", args, stdout.String(), err)
		return result{}, stderr.String(), stdout.String()
	}
	return r, stderr.String(), stdout.String()
}

// TestHeadlessProcessesAgree runs headless bot matches in separate processes
// at once, through rollback sessions over the simulated network with lag and
// loss, and checks that they end identically and that every process's peers
// agree on the last confirmed frame.
func TestHeadlessProcessesAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"-headless", "-bot", "-fast", "-players", "3", "-seed", "7", "-lag", "40ms", "-loss", "0.1"}
	var wg sync.WaitGroup
	res := make([]result, 3)
	for i := range res {
		wg.Go(func() { res[i], _ = runDemo(t, ctx, args...) })
	}
	wg.Wait()
	for i, r := range res {
		if r.Phase != "match over" || r.Winner < 0 || r.Wins[r.Winner] != arena.WinRounds || r.Players != 3 {
			t.Fatalf("process %d: %+v", i, r)
		}
		if r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame < int(r.Frames)-20 {
			t.Fatalf("process %d: confirmed %+v after %d frames", i, r.Confirmed, r.Frames)
		}
		if r.Checksum != res[0].Checksum || r.Frames != res[0].Frames || *r.Confirmed != *res[0].Confirmed {
			t.Fatalf("process %d ended with %s at frame %d, process 0 with %s at frame %d", i, r.Checksum, r.Frames, res[0].Checksum, res[0].Frames)
		}
	}
}

// TestHeadlessWithoutNetwork checks -net none against the rules run in this
// process.
func TestHeadlessWithoutNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, _ := runDemo(t, ctx, "-headless", "-bot", "-fast", "-net", "none", "-players", "4", "-seed", "5")
	s := arena.New(4, 5)
	in := make([]arena.Input, 4)
	for s.Phase != arena.PhaseMatchOver {
		for p := range in {
			in[p] = arena.BotInput(s, p)
		}
		s.Step(in)
	}
	if got := fmt.Sprintf("%016x", s.Checksum()); got != r.Checksum || r.Frames != s.Frame || r.Confirmed != nil {
		t.Fatalf("in-process %s at frame %d, process %+v", got, s.Frame, r)
	}
}

func TestHeadlessPacedDuration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	r, _ := runDemo(t, ctx, "-headless", "-bot", "-players", "4", "-duration", "1s")
	if r.Frames != arena.TickRate || r.Phase == "match over" {
		t.Fatalf("1 s of play: %+v", r)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Fatalf("1 s of paced play took %v", el)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-headless"},
		{"-headless", "-bot", "-players", "5"},
		{"-players", "1"},
		{"-screenshot", "x.png"},
		{"extra"},
		{"-net", "carrier-pigeon"},
		{"-loss", "2"},
		{"-headless", "-bot", "-server", "ws://127.0.0.1:1/ws"},
		{"-headless", "-bot", "-quick", "-frames", "10"},
		{"-headless", "-bot", "-code", "ABCDEF", "-frames", "10"},
		{"-headless", "-bot", "-server", "ws://127.0.0.1:1/ws", "-quick", "-players", "3", "-frames", "10"},
		{"-headless", "-bot", "-spectate", "-frames", "10"},
		{"-headless", "-bot", "-server", "ws://127.0.0.1:1/ws", "-spectate", "-frames", "10"},
		{"-headless", "-bot", "-server", "ws://127.0.0.1:1/ws", "-code", "ABCDEF", "-rejoin", "T", "-frames", "10"},
		{"-headless", "-bot", "-lan", "host", "-rejoin", "T", "-frames", "10"},
		{"-headless", "-bot", "-lan", "host", "-spectate", "-frames", "10"},
		{"-headless", "-bot", "-lan", "host", "-spectate-delay", "-1s", "-frames", "10"},
		{"-headless", "-bot", "-lan", "host", "-spectate-delay", "2m", "-frames", "10"},
	} {
		cmd := exec.Command(binary, args...)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 || !bytes.Contains(out, []byte("demo-game: ")) {
			t.Errorf("demo-game %v: err %v, output %q; want exit 2 with a message", args, err, out)
		}
	}
}

// readPNG decodes the screenshot at path.
func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// arenaRect is where the arena is drawn on the screen.
func arenaRect() image.Rectangle {
	return image.Rect(ui.ArenaX, ui.ArenaY, ui.ArenaX+int(arena.Width/arena.One), ui.ArenaY+int(arena.Height/arena.One))
}

// needXvfb returns the path of xvfb-run, skipping the test with a clear
// message where it (or, with keyboard, xdotool) is missing; scripts/setup.sh
// installs both, so CI runs these tests.
func needXvfb(t *testing.T, keyboard bool) string {
	t.Helper()
	xvfb, err := exec.LookPath("xvfb-run")
	if err != nil {
		t.Skip("xvfb-run not found: install xvfb (scripts/setup.sh does) to run the windowed game in tests")
	}
	if keyboard {
		if _, err := exec.LookPath("xdotool"); err != nil {
			t.Skip("xdotool not found: install it (scripts/setup.sh does) to type into the window")
		}
	}
	return xvfb
}

// xvfbShot runs the windowed demo under Xvfb with args plus a screenshot, and
// returns the picture after checking it is the game's size and not blank.
func xvfbShot(t *testing.T, args ...string) image.Image {
	t.Helper()
	xvfb := needXvfb(t, false)
	shot := filepath.Join(t.TempDir(), "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args = append([]string{"-a", "-s", "-screen 0 1024x768x24", binary}, append(args, "-screenshot", shot)...)
	if out, err := exec.CommandContext(ctx, xvfb, args...).CombinedOutput(); err != nil {
		t.Fatalf("xvfb-run demo-game: %v\n%s", err, out)
	}
	img := readPNG(t, shot)
	if b := img.Bounds(); b.Dx() != ui.ScreenWidth || b.Dy() != ui.ScreenHeight {
		t.Fatalf("screenshot is %v, want %dx%d", b, ui.ScreenWidth, ui.ScreenHeight)
	}
	distinct := map[color.RGBA]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			distinct[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)] = true
		}
	}
	if len(distinct) < 30 {
		t.Fatalf("screenshot has %d distinct colours: a blank or broken frame", len(distinct))
	}
	return img
}

// countColor counts the pixels of exactly colour c in r.
func countColor(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == c {
				n++
			}
		}
	}
	return n
}

// TestScreensUnderXvfb opens the menu, the lobby and the results screen in
// the real window and checks each shows what it should.
func TestScreensUnderXvfb(t *testing.T) {
	full := image.Rect(0, 0, ui.ScreenWidth, ui.ScreenHeight)
	img := xvfbShot(t, "-frames", "10")
	// The selected "Play vs 1 bot" item is drawn in the accent colour, and
	// the four seat colours are in the title.
	if n := countColor(img, full, ui.ColorAccent); n < 200 {
		t.Errorf("menu: accent colour on %d pixels", n)
	}
	for i, c := range ui.PlayerColors {
		if n := countColor(img, full, c); n < 50 {
			t.Errorf("menu: %s on %d pixels", ui.PlayerNames[i], n)
		}
	}
	img = xvfbShot(t, "-start", "lobby", "-players", "3", "-frames", "10")
	for i := 0; i < 3; i++ {
		if n := countColor(img, full, ui.PlayerColors[i]); n < 100 {
			t.Errorf("lobby: seat %s on %d pixels", ui.PlayerNames[i], n)
		}
	}
	if n := countColor(img, full, ui.PlayerColors[3]); n > 0 {
		t.Errorf("lobby of 3 shows the fourth seat's colour on %d pixels", n)
	}
	img = xvfbShot(t, "-start", "results", "-players", "2", "-seed", "1", "-frames", "10")
	// The winner's name is written large in its colour.
	most := 0
	for _, c := range ui.PlayerColors {
		most = max(most, countColor(img, full, c))
	}
	if most < 2000 {
		t.Errorf("results: no winner's colour on more than %d pixels", most)
	}
}

// TestScreenshotUnderXvfb runs the real windowed game under Xvfb, lets it
// take a screenshot of a 4-bot match, and checks that the picture shows the
// game: the arena's colours, its walls and the tanks.
func TestScreenshotUnderXvfb(t *testing.T) {
	img := xvfbShot(t, "-bot", "-players", "4", "-seed", "3", "-frames", "200", "-lag", "30ms", "-loss", "0.05")
	count := func(r image.Rectangle, c color.RGBA) int { return countColor(img, r, c) }
	b := img.Bounds()
	area := arenaRect()
	// The floor covers most of the arena; walls cover their known area.
	if n, total := count(area, ui.ColorFloor), area.Dx()*area.Dy(); n < total/2 {
		t.Errorf("arena floor colour on %d of %d pixels", n, total)
	}
	wallArea := 0
	for _, w := range arena.Walls {
		wallArea += int((w.X1 - w.X0) / arena.One * (w.Y1 - w.Y0) / arena.One)
	}
	if n := count(area, ui.ColorWall); n < wallArea/2 {
		t.Errorf("wall colour on %d pixels, walls cover %d", n, wallArea)
	}
	if n := count(b, ui.ColorBackground); n < 10000 {
		t.Errorf("background colour on only %d pixels", n)
	}
	// Tanks: each seat's colour inside the arena (the HUD cards are
	// outside it), a tank's hull is ~300 pixels.
	drawn := 0
	for i := 0; i < 4; i++ {
		if n := count(area, ui.PlayerColors[i]); n >= 100 {
			drawn++
		} else {
			t.Logf("%s: %d pixels in the arena", ui.PlayerNames[i], n)
		}
	}
	if drawn < 2 {
		t.Errorf("only %d tanks drawn in the arena", drawn)
	}
}

var (
	serveOnce   sync.Once
	serveBinary string
	serveErr    error
)

// buildServe builds the rallypoint binary (once) and returns its path.
func buildServe(t *testing.T) string {
	t.Helper()
	serveOnce.Do(func() {
		serveBinary = filepath.Join(filepath.Dir(binary), "rallypoint")
		out, err := exec.Command("go", "build", "-o", serveBinary, "../cmd/rallypoint").CombinedOutput()
		if err != nil {
			serveErr = fmt.Errorf("building rallypoint: %v\n%s", err, out)
		}
	})
	if serveErr != nil {
		t.Fatal(serveErr)
	}
	return serveBinary
}

// startServe builds `rallypoint serve` (once) and runs it on loopback until
// the test ends, and returns its signaling URL.
func startServe(t *testing.T) string {
	t.Helper()
	srv := exec.Command(buildServe(t), "serve", "-addr", "127.0.0.1:0", "-log-format", "json")
	logs, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	})
	// The server logs its signaling URL once it listens.
	url := make(chan string, 1)
	go func() {
		dec := json.NewDecoder(logs)
		for {
			var line map[string]any
			if dec.Decode(&line) != nil {
				return
			}
			if u, ok := line["signaling"].(string); ok {
				select {
				case url <- u:
				default:
				}
			}
		}
	}()
	select {
	case ws := <-url:
		return ws
	case <-time.After(30 * time.Second):
		t.Fatal("rallypoint serve did not report its address")
		return ""
	}
}

// startDemo starts the demo (or xvfb-run with args) and returns the join
// code it prints on standard error once it is in a lobby.
func startDemo(t *testing.T, ctx context.Context, name string, args ...string) (*exec.Cmd, *bytes.Buffer, *lockedBuffer, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout bytes.Buffer
	stderr := &lockedBuffer{}
	cmd.Stdout = &stdout
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	code := make(chan string, 1)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			stderr.WriteString(line + "\n") // read after Wait only
			if m := codeLine.FindStringSubmatch(line); m != nil {
				select {
				case code <- m[1]:
				default:
				}
			}
		}
		close(code)
	}()
	select {
	case c, ok := <-code:
		if !ok {
			cmd.Wait()
			t.Fatalf("%s %v printed no lobby code\nstderr: %s", name, args, stderr.String())
		}
		return cmd, &stdout, stderr, c
	case <-time.After(90 * time.Second):
		t.Fatalf("%s %v printed no lobby code in 90 s", name, args)
		return nil, nil, nil, ""
	}
}

// lockedBuffer is a buffer written by one goroutine and read by another.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// codeLine is what the demo prints when it is in a lobby with a join code.
var codeLine = regexp.MustCompile(`demo-game: lobby code ([A-Z0-9]{6})`)

// TestHeadlessOnlineThroughServer starts a real `rallypoint serve` and runs
// headless bots in separate processes that meet on it (grouped in a named
// queue, then a quick match through its matchmaker), connect to each other
// over WebRTC, play a fixed number of frames and print the same confirmed
// final state.
func TestHeadlessOnlineThroughServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ws := startServe(t)

	for _, players := range []int{2, 3} {
		args := []string{"-headless", "-bot", "-server", ws, "-room", fmt.Sprintf("test%d", players),
			"-players", fmt.Sprint(players), "-frames", "300", "-seed", "4"}
		res := make([]result, players)
		var wg sync.WaitGroup
		for i := range res {
			wg.Go(func() { res[i], _ = runDemo(t, ctx, args...) })
		}
		wg.Wait()
		for i, r := range res {
			if r.Frames != 300 || r.Players != players || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame < 299 {
				t.Fatalf("%d players: process %d: %+v", players, i, r)
			}
			if r.Checksum != res[0].Checksum {
				t.Fatalf("%d players: process %d ended with %s, process 0 with %s", players, i, r.Checksum, res[0].Checksum)
			}
		}
		t.Logf("%d processes agree on frame 300: checksum %s", players, res[0].Checksum)
	}

	// An online lobby: a host creates it and prints its join code, two
	// players join by that code and get ready, the host starts once all
	// are in, and all three play the session the lobby started.
	host, hostOut, hostErr, code := startDemo(t, ctx, binary, "-headless", "-bot", "-server", ws, "-lobby", "-players", "3",
		"-frames", "300", "-seed", "8", "-name", "host")
	lres := make([]result, 3)
	lerr := make([]string, 3)
	var lwg sync.WaitGroup
	for i := 1; i < 3; i++ {
		lwg.Go(func() {
			lres[i], lerr[i] = runDemoStderr(t, ctx, "-headless", "-bot", "-server", ws, "-code", strings.ToLower(code), "-frames", "300", "-name", fmt.Sprint("bot", i))
		})
	}
	lwg.Wait()
	if err := host.Wait(); err != nil {
		t.Fatalf("lobby host: %v\nstderr: %s", err, hostErr.String())
	}
	lerr[0] = hostErr.String()
	if err := json.Unmarshal(bytes.TrimSpace(hostOut.Bytes()), &lres[0]); err != nil {
		t.Fatalf("lobby host printed %q: %v", hostOut.String(), err)
	}
	seats := map[string]bool{}
	for i, r := range lres {
		// The host has seat 0 (the lobby's join order); each member its own.
		m := sessionLine.FindStringSubmatch(lerr[i])
		if m == nil || m[1] != sessionLine.FindStringSubmatch(lerr[0])[1] || seats[m[2]] || (i == 0) != (m[2] == "0") {
			t.Fatalf("lobby member %d: session line %q, host's stderr: %s", i, m, lerr[0])
		}
		seats[m[2]] = true
		if r.Frames != 300 || r.Players != 3 || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Checksum != lres[0].Checksum {
			t.Fatalf("lobby member %d: %+v, host: %+v", i, r, lres[0])
		}
	}
	t.Logf("3 processes met in lobby %s and agree on frame 300: checksum %s", code, lres[0].Checksum)

	// A full quick match through the server's matchmaker (the mmclient
	// on its default 1v1 queue, then the mesh on the Matched roster), as
	// fast as the peers keep up: 2 bots, 4000 frames (a match takes about 2000 to
	// 3000); then both report the result and are rated.
	args := []string{"-headless", "-bot", "-fast", "-server", ws, "-quick", "-frames", "4000", "-seed", "2"}
	res := make([]result, 2)
	stderr := make([]string, 2)
	var wg sync.WaitGroup
	for i := range res {
		wg.Go(func() { res[i], stderr[i] = runDemoStderr(t, ctx, args...) })
	}
	wg.Wait()
	// Both played the session the matchmaker made, in different seats.
	s0, s1 := sessionLine.FindStringSubmatch(stderr[0]), sessionLine.FindStringSubmatch(stderr[1])
	if s0 == nil || s1 == nil || s0[1] != s1[1] || s0[2] == s1[2] {
		t.Fatalf("quick match sessions %q and %q\nstderr 0: %s\nstderr 1: %s", s0, s1, stderr[0], stderr[1])
	}
	for i, r := range res {
		if r.Phase != "match over" || r.Winner < 0 || r.Wins[r.Winner] != arena.WinRounds || !r.Confirmed.PeersAgree {
			t.Fatalf("full match: process %d: %+v", i, r)
		}
		if r.Checksum != res[0].Checksum || *r.Confirmed != *res[0].Confirmed {
			t.Fatalf("full match: process %d ended with %s, process 0 with %s", i, r.Checksum, res[0].Checksum)
		}
	}
	// Both reported the result (mm.result) and got their new ratings
	// (mm.rated): the winner's mean went up from 25, the loser's down.
	for i, e := range stderr {
		seat := sessionLine.FindStringSubmatch(e)[2]
		m := ratedLine.FindStringSubmatch(e)
		if m == nil {
			t.Fatalf("process %d was not rated: %s", i, e)
		}
		mu, _ := strconv.ParseFloat(m[1], 64)
		if won := seat == fmt.Sprint(res[i].Winner); won != (mu > 25) || mu == 25 {
			t.Fatalf("process %d (seat %s, winner %d) rated mu %v", i, seat, res[i].Winner, mu)
		}
	}
	t.Logf("full quick match through the matchmaker, session %s: winner %d, wins %v, checksum %s", s0[1], res[0].Winner, res[0].Wins, res[0].Checksum)
}

// TestHeadlessLANInNamespaces plays a full 3-player match with no server on
// a simulated LAN: three network namespaces on one Ethernet segment, the
// demo running in each. One hosts a lobby (lobby.NewHost: its own signaling
// and lobby server, advertised over mDNS/DNS-SD); the other two find it with
// lobby.Browse, join it and get ready; the host starts it once all are
// ready, and on the lobby's start all three connect over WebRTC, play 4000
// frames as fast as they keep up (a match is over well before) and print
// the same confirmed final state.
func TestHeadlessLANInNamespaces(t *testing.T) {
	lab := netns.New(t) // skips without root and iproute2
	host, a, b := lab.NS("host"), lab.NS("joinA"), lab.NS("joinB")
	lab.Bridge(netns.LinkOptions{}, host, a, b)
	common := []string{"-headless", "-bot", "-fast", "-frames", "4000", "-wait", "60s"}
	procs := []*netns.Child{
		host.StartProcess(nil, binary, append(common, "-lan", "host", "-players", "3", "-seed", "6")...),
		a.StartProcess(nil, binary, append(common, "-lan", "join")...),
		b.StartProcess(nil, binary, append(common, "-lan", "join")...),
	}
	res := make([]result, len(procs))
	for i, p := range procs {
		line, err := p.WaitFor(90*time.Second, func(s string) bool { return strings.HasPrefix(s, "{") })
		if err != nil {
			t.Fatalf("process %d: %v\nstderr: %s", i, err, p.Stderr())
		}
		if err := json.Unmarshal([]byte(line.Text), &res[i]); err != nil {
			t.Fatalf("process %d printed %q: %v", i, line.Text, err)
		}
		if err := p.Wait(); err != nil {
			t.Fatalf("process %d: %v\nstderr: %s", i, err, p.Stderr())
		}
	}
	var session string
	seats := map[string]bool{}
	for i, r := range res {
		if r.Frames != 4000 || r.Players != 3 || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Phase != "match over" {
			t.Fatalf("process %d: %+v\nstderr: %s", i, r, procs[i].Stderr())
		}
		// Every process played the session the lobby started, each in
		// its own seat.
		s := sessionLine.FindStringSubmatch(procs[i].Stderr())
		if s == nil || (i > 0 && s[1] != session) {
			t.Fatalf("process %d: session %q, the host's %q\nstderr: %s", i, s, session, procs[i].Stderr())
		}
		session = s[1]
		if seats[s[2]] {
			t.Fatalf("process %d: seat %s taken twice", i, s[2])
		}
		seats[s[2]] = true
		if r.Checksum != res[0].Checksum || *r.Confirmed != *res[0].Confirmed {
			t.Fatalf("process %d ended with %s, the host with %s", i, r.Checksum, res[0].Checksum)
		}
	}
	t.Logf("3 processes on a LAN played a full match: winner %d, wins %v, checksum %s", res[0].Winner, res[0].Wins, res[0].Checksum)
}

// sessionLine is what a headless demo prints once a lobby or the
// matchmaker started its session.
var sessionLine = regexp.MustCompile(`demo-game: session (\S+), seat (\d)`)

// ratedLine is what a headless demo prints after the matchmaker rated its
// match.
var ratedLine = regexp.MustCompile(`demo-game: rated mu ([0-9.]+) sigma ([0-9.]+)`)

// TestLANListUnderXvfb opens the "Join on LAN" screen in the real window, in
// a network namespace, while a headless demo in another namespace on the
// same segment hosts a match: the list must show it.
func TestLANListUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, false)
	lab := netns.New(t)
	hostNS, viewNS := lab.NS("host"), lab.NS("view")
	lab.Bridge(netns.LinkOptions{}, hostNS, viewNS)
	host := hostNS.StartProcess(nil, binary, "-headless", "-bot", "-lan", "host", "-players", "2", "-frames", "60", "-wait", "60s")
	// The list is live: the window browses while it counts its frames, and
	// the host announces within a second or two of starting.
	shot := filepath.Join(t.TempDir(), "lan.png")
	if dir := os.Getenv("DEMO_SHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "lan.png")
	}
	view := viewNS.StartProcess(nil, xvfb, "-a", "-s", "-screen 0 1024x768x24", binary, "-start", "lan", "-frames", "240", "-screenshot", shot)
	if err := view.Wait(); err != nil {
		t.Fatalf("windowed demo: %v\n%s", err, view.Stderr())
	}
	img := readPNG(t, shot)
	// The selected row of the list is drawn in the accent colour: the
	// lobby's name. With no lobby the screen has no accent colour at all.
	list := image.Rect(ui.ArenaX, 100, ui.ScreenWidth-ui.ArenaX, 600)
	if n := countColor(img, list, ui.ColorAccent); n < 100 {
		t.Fatalf("the LAN list shows no lobby (accent colour on %d pixels)\nhost stderr: %s", n, host.Stderr())
	}
}

// drive is the prelude of the scripts that drive the window with xdotool.
// The game runs with -trace "$TRACE" and the script waits on what it
// traces (the screen shown, the menu item selected), not on the clock: a
// key pressed before the window takes input, or while a loaded machine
// runs slow frames, is pressed again until the game shows its effect. Keys
// are held a moment, as a player would.
const drive = `alive() { kill -0 $pid 2>/dev/null || { echo "the game exited early; it traced:"; cat "$TRACE"; exit 1; }; }
seen() { grep -qxF "$1" "$TRACE" 2>/dev/null; }
waitfor() { until seen "$1"; do alive; sleep 0.1; done; }
press() { xdotool keydown "$1"; sleep 0.3; xdotool keyup "$1"; sleep 0.2; }
# pressuntil KEY EVENT [SECONDS]: press KEY, give the game SECONDS (1) to trace EVENT, again until it does.
pressuntil() {
  until seen "$2"; do
    alive; press "$1"; i=0
    while [ $i -lt $(( ${3:-1} * 10 )) ] && ! seen "$2"; do sleep 0.1; i=$((i+1)); done
  done
}
# step KEY: press KEY once and wait for the game to trace its effect (a new line).
step() {
  n=$(wc -l < "$TRACE"); press "$1"; i=0
  while [ "$(wc -l < "$TRACE")" -le "$n" ]; do
    alive; sleep 0.1; i=$((i+1)); [ $i -lt 50 ] || { press "$1"; i=0; }
  done
}
`

// TestKeyboardUnderXvfb plays the real window with the real keyboard: with
// no flags the menu opens on "Play vs bots", Enter starts the match, and
// holding Up drives the local tank (Orange) away from its spawn point.
func TestKeyboardUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, true)
	shot := filepath.Join(t.TempDir(), "keys.png")
	// Keys are held, not tapped: a press and release between two ticks
	// would be missed (as it would be by a player), and a loaded machine
	// runs the game slower than the clock. Up stays down until the game
	// exits, so the tank drives whenever the countdown ends.
	// Return is pressed until the match is on screen, and the game counts
	// its 240 frames from the match's start.
	script := `TRACE=$3
"$1" -frames 240 -frames-in-match -screenshot "$2" -trace "$TRACE" &
pid=$!
` + drive + `xdotool search --sync --name "Rallypoint Arena" windowfocus --sync
waitfor "screen menu"
pressuntil Return "screen play"
xdotool keydown Up
wait $pid`
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, xvfb, "-a", "-s", "-screen 0 1024x768x24", "sh", "-c", script, "sh", binary, shot, filepath.Join(t.TempDir(), "trace"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xvfb-run: %v\n%s", err, out)
	}
	img := readPNG(t, shot)
	area := arenaRect()
	if n, total := countColor(img, area, ui.ColorFloor), area.Dx()*area.Dy(); n < total/2 {
		t.Fatalf("not in a match: floor colour on %d of %d arena pixels", n, total)
	}
	// Where is Orange? The centroid of its colour in the arena.
	var sx, sy, n int
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)).(color.RGBA) == ui.PlayerColors[0] {
				sx, sy, n = sx+x, sy+y, n+1
			}
		}
	}
	if n < 50 {
		t.Fatalf("Orange is not drawn (%d pixels)", n)
	}
	spawnX, spawnY := ui.ArenaX+60, ui.ArenaY+60
	dx, dy := sx/n-spawnX, sy/n-spawnY
	if dx*dx+dy*dy < 30*30 {
		t.Fatalf("Orange is at (%d, %d), %d px from its spawn: Up did not drive it", sx/n, sy/n, int(math.Sqrt(float64(dx*dx+dy*dy))))
	}
	t.Logf("Orange drove to (%d, %d) from (%d, %d)", sx/n, sy/n, spawnX, spawnY)
}

// TestOnlineLobbyUnderXvfb opens a new online lobby in the real window on
// a real `rallypoint serve` (-start online), and a headless bot joins it
// with the join code the window printed, says hello and gets ready: the
// window's lobby screen must show both members (the host and the ready
// bot, each in its seat colour), the third seat open, and the bot's chat
// line.
func TestOnlineLobbyUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, false)
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ws := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shot := filepath.Join(t.TempDir(), "lobby.png")
	if dir := os.Getenv("DEMO_SHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "lobby.png")
	}
	window, _, windowErr, code := startDemo(t, ctx, xvfb, "-a", "-s", "-screen 0 1024x768x24", binary,
		"-server", ws, "-start", "online", "-players", "3", "-name", "Ann", "-frames", "480", "-screenshot", shot)
	// The bot waits in the lobby for a start that does not come: it is
	// stopped once the window has its picture.
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	bot := exec.CommandContext(bctx, binary, "-headless", "-bot", "-server", ws, "-code", code, "-name", "bot", "-frames", "60", "-wait", "2m")
	var botErr bytes.Buffer
	bot.Stderr = &botErr
	if err := bot.Start(); err != nil {
		t.Fatal(err)
	}
	if err := window.Wait(); err != nil {
		t.Fatalf("windowed demo: %v\n%s", err, windowErr.String())
	}
	bcancel()
	bot.Wait()
	if !strings.Contains(botErr.String(), "demo-game: in lobby "+code) {
		t.Fatalf("the bot did not join lobby %s: %s", code, botErr.String())
	}
	img := readPNG(t, shot)
	members := image.Rect(ui.ArenaX, 100, ui.ArenaX+420, 400)
	for i, want := range []bool{true, true, false} {
		n := countColor(img, members, ui.PlayerColors[i])
		if (n >= 100) != want {
			t.Errorf("seat %s: its colour on %d pixels of the member list, want a member: %v", ui.PlayerNames[i], n, want)
		}
	}
	if n := countColor(img, members, color.RGBA{0x4c, 0xe0, 0x7a, 0xff}); n < 10 {
		t.Errorf("no member shows ready (green on %d pixels)", n)
	}
	// Chat lines are written in the sender's seat colour: the bot's
	// greeting in the second seat's (the join-code notice is dim).
	chat := image.Rect(ui.ArenaX+440, 140, ui.ScreenWidth-ui.ArenaX, 510)
	if n := countColor(img, chat, ui.PlayerColors[1]); n < 10 {
		t.Errorf("the bot's chat line is not shown (its colour on %d pixels)", n)
	}
}

// TestOnlineLobbyStartUnderXvfb drives the real window with the real
// keyboard: it opens an online lobby on a real `rallypoint serve`, a
// headless bot joins it by code and gets ready, and F2 (the host's start)
// starts the match for both: the bot plays its frames through the mesh
// with the window's peer and confirms them, and the window shows the arena.
func TestOnlineLobbyStartUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, true)
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ws := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	shot := filepath.Join(t.TempDir(), "started.png")
	if dir := os.Getenv("DEMO_SHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "started.png")
	}
	// F2 (the host's start) is pressed until the match is on screen: while
	// the bot is not in the lobby or not ready the lobby refuses the start.
	// The window counts its frames from the match's start.
	script := `TRACE=$4
"$1" -server "$2" -start online -players 2 -name Ann -frames 600 -frames-in-match -screenshot "$3" -trace "$TRACE" &
pid=$!
` + drive + `xdotool search --sync --name "Rallypoint Arena" windowfocus --sync
waitfor "screen lobby"
pressuntil F2 "screen play"
wait $pid`
	window, _, windowErr, code := startDemo(t, ctx, xvfb, "-a", "-s", "-screen 0 1024x768x24", "sh", "-c", script, "sh", binary, ws, shot, filepath.Join(t.TempDir(), "trace"))
	bot, botErr := runDemoStderr(t, ctx, "-headless", "-bot", "-server", ws, "-code", code, "-name", "bot", "-frames", "300", "-wait", "2m")
	if err := window.Wait(); err != nil {
		t.Fatalf("windowed demo: %v\n%s", err, windowErr.String())
	}
	m := sessionLine.FindStringSubmatch(botErr)
	if m == nil || m[2] != "1" {
		t.Fatalf("the bot did not play seat 1 of the lobby's session: %s", botErr)
	}
	if bot.Frames != 300 || bot.Players != 2 || bot.Confirmed == nil || !bot.Confirmed.PeersAgree || bot.Confirmed.Frame != 299 {
		t.Fatalf("the bot's match with the window: %+v", bot)
	}
	img := readPNG(t, shot)
	area := arenaRect()
	if n, total := countColor(img, area, ui.ColorFloor), area.Dx()*area.Dy(); n < total/2 {
		t.Fatalf("the window is not in the match: floor colour on %d of %d arena pixels", n, total)
	}
	t.Logf("F2 in the window started session %s; the bot confirmed frame 299 with checksum %s", m[1], bot.Confirmed.Checksum)
}

// TestLANLobbyJoinUnderXvfb plays through the real window on a simulated
// LAN with the real keyboard: a headless demo in one namespace hosts a
// 2-player lobby; the window in another finds it in the live list, joins
// it (Enter) and gets ready (Tab); the host starts, and the window and the
// host play the match over WebRTC: the host confirms its frames with the
// window's peer, and the window shows the arena.
func TestLANLobbyJoinUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, true)
	lab := netns.New(t)
	hostNS, viewNS := lab.NS("host"), lab.NS("view")
	lab.Bridge(netns.LinkOptions{}, hostNS, viewNS)
	host := hostNS.StartProcess(nil, binary, "-headless", "-bot", "-lan", "host", "-players", "2", "-frames", "300", "-wait", "90s")
	shot := filepath.Join(t.TempDir(), "lanlobby.png")
	if dir := os.Getenv("DEMO_SHOT_DIR"); dir != "" {
		shot = filepath.Join(dir, "lanlobby.png")
	}
	// Enter joins the first lobby once the list shows it: it is pressed
	// until the lobby screen opens; Tab gets ready there, pressed until the
	// match is on screen (the host starts at once; a Tab that lands while
	// the start is on its way would make the window not ready again, so it
	// waits longer between presses). The window counts its frames from the
	// match's start.
	script := `TRACE=$3
"$1" -start lan -name Win -frames 400 -frames-in-match -screenshot "$2" -trace "$TRACE" &
pid=$!
` + drive + `xdotool search --sync --name "Rallypoint Arena" windowfocus --sync
waitfor "screen browse"
pressuntil Return "screen lobby" 2
pressuntil Tab "screen play" 5
wait $pid`
	view := viewNS.StartProcess(nil, xvfb, "-a", "-s", "-screen 0 1024x768x24", "sh", "-c", script, "sh", binary, shot, filepath.Join(t.TempDir(), "trace"))
	line, err := host.WaitFor(120*time.Second, func(s string) bool { return strings.HasPrefix(s, "{") })
	if err != nil {
		t.Fatalf("host: %v\nstderr: %s\nwindow: %s", err, host.Stderr(), view.Stderr())
	}
	var r result
	if err := json.Unmarshal([]byte(line.Text), &r); err != nil {
		t.Fatalf("host printed %q: %v", line.Text, err)
	}
	if r.Frames != 300 || r.Players != 2 || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame != 299 {
		t.Fatalf("the host's match with the window: %+v", r)
	}
	if err := view.Wait(); err != nil {
		t.Fatalf("windowed demo: %v\n%s", err, view.Stderr())
	}
	img := readPNG(t, shot)
	area := arenaRect()
	if n, total := countColor(img, area, ui.ColorFloor), area.Dx()*area.Dy(); n < total/2 {
		t.Fatalf("the window is not in the match: floor colour on %d of %d arena pixels", n, total)
	}
}

// TestJoinByCodeUnderXvfb types a join code into the real window: a
// headless demo hosts an online lobby on a real `rallypoint serve` and
// prints its code; the window picks "Join by code" in the menu, types the
// code (in lower case), joins with Enter and gets ready with Tab; the host
// starts, and the two play: the host confirms its frames with the window's
// peer.
func TestJoinByCodeUnderXvfb(t *testing.T) {
	xvfb := needXvfb(t, true)
	if testing.Short() {
		t.Skip("builds and runs the server: skipped in -short")
	}
	ws := startServe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host, hostOut, hostErr, code := startDemo(t, ctx, binary, "-headless", "-bot", "-server", ws, "-lobby", "-players", "2", "-frames", "300", "-wait", "120s")
	// "Join by code" is the ninth menu item: Down is pressed one step at
	// a time until the menu selects it. The code is typed once the code
	// screen is open; Return joins (pressed until the lobby screen opens);
	// Tab gets ready there, pressed until the match is on screen. The
	// window counts its frames from the match's start.
	script := `TRACE=$4
"$1" -server "$2" -name Win -frames 400 -frames-in-match -trace "$TRACE" &
pid=$!
` + drive + `xdotool search --sync --name "Rallypoint Arena" windowfocus --sync
waitfor "menu Play vs bots"
until seen "menu Join by code"; do alive; step Down; done
pressuntil Return "screen code" 2
xdotool type --delay 300 "$3"
pressuntil Return "screen lobby" 2
pressuntil Tab "screen play" 5
wait $pid`
	window := exec.CommandContext(ctx, xvfb, "-a", "-s", "-screen 0 1024x768x24", "sh", "-c", script, "sh", binary, ws, strings.ToLower(code), filepath.Join(t.TempDir(), "trace"))
	if out, err := window.CombinedOutput(); err != nil {
		t.Fatalf("windowed demo: %v\n%s", err, out)
	}
	if err := host.Wait(); err != nil {
		t.Fatalf("lobby host: %v\nstderr: %s", err, hostErr.String())
	}
	var r result
	if err := json.Unmarshal(bytes.TrimSpace(hostOut.Bytes()), &r); err != nil {
		t.Fatalf("lobby host printed %q: %v", hostOut.String(), err)
	}
	if r.Frames != 300 || r.Players != 2 || r.Confirmed == nil || !r.Confirmed.PeersAgree || r.Confirmed.Frame != 299 {
		t.Fatalf("the host's match with the window: %+v\nstderr: %s", r, hostErr.String())
	}
}

// TestHeadlessLANHostGone: demo joiners waiting in a LAN lobby for its
// start stop, with the reason, within seconds of its host going away
// (closed by SIGINT, or killed with SIGKILL) instead of waiting for -wait;
// a joiner learns the lobby's size (3, the host's -players) from the
// lobby, whatever its own -players says.
func TestHeadlessLANHostGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		sig  os.Signal
		want string
	}{{"interrupt", os.Interrupt, "the host closed the lobby"}, {"kill", syscall.SIGKILL, "the LAN host is gone"}} {
		t.Run(tc.name, func(t *testing.T) {
			lab := netns.New(t)
			hostNS, joinNS := lab.NS("host"), lab.NS("join")
			lab.Link(hostNS, joinNS, netns.LinkOptions{})
			common := []string{"-headless", "-bot", "-fast", "-frames", "600", "-wait", "60s"}
			host := hostNS.StartProcess(nil, binary, append(common, "-lan", "host", "-players", "3")...)
			join := joinNS.StartProcess(nil, binary, append(common, "-lan", "join", "-players", "4")...)
			// The joiner prints nothing on stdout before a match: poll its
			// stderr between reads that time out.
			for deadline := time.Now().Add(60 * time.Second); !strings.Contains(join.Stderr(), "demo-game: in lobby "); {
				if _, err := join.Next(50 * time.Millisecond); errors.Is(err, netns.ErrExited) || time.Now().After(deadline) {
					t.Fatalf("the joiner never joined: %v\nstderr: %s\nhost: %s", err, join.Stderr(), host.Stderr())
				}
			}
			if !strings.Contains(join.Stderr(), "(1 of 3 players)") {
				t.Fatalf("the joiner did not take the lobby's size: %s", join.Stderr())
			}
			at := time.Now()
			if err := host.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			err := join.Wait()
			d := time.Since(at)
			t.Logf("the joiner exited %v after the host's %s: %v: %s", d, tc.name, err, lastLine(join.Stderr()))
			if err == nil || !strings.Contains(join.Stderr(), tc.want) {
				t.Fatalf("joiner: %v, want an exit with %q\nstderr: %s", err, tc.want, join.Stderr())
			}
			if d > 3*time.Second+4*time.Second { // 3 s, plus slack for a loaded machine
				t.Errorf("the joiner took %v to see the host go, want about 3 s at most", d)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// envRuns returns how many times to repeat a slow test: the positive
// count in the environment variable name, 1 when it is unset. Anything
// else fails the test.
func envRuns(t *testing.T, name string) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive count", name, v)
	}
	return n
}
