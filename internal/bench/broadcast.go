package bench

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// SpectatorBenchConfig holds the flags of rallypoint bench content
// -spectators.
type SpectatorBenchConfig struct {
	JSON      bool
	Audiences []int // spectator counts measured (1, 10, 30, 100)
	Players   int   // players of the match (2)
	Seconds   int   // match seconds measured after every spectator attached (20)
}

// wireOverhead is what one data-channel message costs on the wire beyond
// its payload (28 IP/UDP, 29 DTLS, 12 SCTP, 20 I-DATA, padding: see
// netcode/mesh "Bytes on the wire").
const wireOverhead = 97

// spectatorBenchResult is what -json prints.
type spectatorBenchResult struct {
	Transport string `json:"transport"`
	Players   int    `json:"players"`
	Seconds   int    `json:"seconds"`
	// Upload of one player for the broadcast, bytes per second on the
	// wire (payload plus 97 bytes a message), by audience.
	PlayersUploadBps map[string]float64 `json:"players_upload_bps"`
	Upload1          float64            `json:"players_upload_bps_1"`
	Upload10         float64            `json:"players_upload_bps_10"`
	Upload30         float64            `json:"players_upload_bps_30"`
	Upload100        float64            `json:"players_upload_bps_100"`
	// The same upload had every spectator been fed by a player directly
	// (the rollback.Spectator way): the baseline.
	DirectUpload100 float64 `json:"direct_upload_bps_100"`
	Ratio10to100    float64 `json:"spectator_upload_ratio_10_100"`
	Ratio1to100     float64 `json:"spectator_upload_ratio_1_100"`
	MaxDepth        int     `json:"max_depth_100"`
	ReattachMaxMs   float64 `json:"reattach_max_ms_100"`
	Target          float64 `json:"target_ratio_10_100"`
	TargetsMet      bool    `json:"targets_met"`
	LoadAvg         string  `json:"load_avg"`
}

// Spectators runs the spectator part of rallypoint bench content.
func Spectators(cfg SpectatorBenchConfig) error {
	r, err := RunSpectatorBench(cfg)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printSpectatorTable(os.Stdout, r)
	return nil
}

// RunSpectatorBench measures the players' broadcast upload as the
// audience grows. Everything runs in this process on an in-process
// transport with a simulated clock (100 pion peers are too heavy for a
// 2-core machine); the bytes are the messages the library sends, plus a
// data channel's per-message overhead.
func RunSpectatorBench(cfg SpectatorBenchConfig) (spectatorBenchResult, error) {
	if len(cfg.Audiences) == 0 {
		cfg.Audiences = []int{1, 10, 30, 100}
	}
	if cfg.Players <= 0 {
		cfg.Players = 2
	}
	if cfg.Seconds <= 0 {
		cfg.Seconds = 20
	}
	r := spectatorBenchResult{Transport: "in-process (simulated clock), 97 bytes of data-channel overhead a message",
		Players: cfg.Players, Seconds: cfg.Seconds, PlayersUploadBps: map[string]float64{}, Target: 1.1}
	for _, n := range cfg.Audiences {
		up, depth, reattach, err := runAudience(cfg.Players, n, cfg.Seconds, n == 100)
		if err != nil {
			return r, fmt.Errorf("bench spectators %d: %w", n, err)
		}
		r.PlayersUploadBps[fmt.Sprint(n)] = up
		switch n {
		case 1:
			r.Upload1 = up
		case 10:
			r.Upload10 = up
		case 30:
			r.Upload30 = up
		case 100:
			r.Upload100 = up
			r.MaxDepth = depth
			r.ReattachMaxMs = float64(reattach) / float64(time.Millisecond)
			// Fed directly, a player sends every spectator one message a
			// flush interval of its own stream: 100/K times the tree's.
			r.DirectUpload100 = up * float64(n) / float64(broadcast.DefaultRootFanout)
		}
	}
	if r.Upload10 > 0 && r.Upload100 > 0 {
		r.Ratio10to100 = r.Upload100 / r.Upload10
	}
	if r.Upload1 > 0 && r.Upload100 > 0 {
		r.Ratio1to100 = r.Upload100 / r.Upload1
	}
	r.TargetsMet = r.Ratio10to100 > 0 && r.Ratio10to100 <= r.Target
	r.LoadAvg = loadAvg()
	return r, nil
}

// runAudience plays a match of players with n spectators and returns one
// player's mean broadcast upload per second once every spectator is
// attached; with kill set it then kills a twentieth of the audience among
// the relays and reports the longest re-attach.
func runAudience(players, n, seconds int, kill bool) (bps float64, depth int, reattach time.Duration, err error) {
	const tick = time.Second / 60
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	net := &spectNet{boxes: map[netcode.PeerID][]spectMsg{}, dead: map[netcode.PeerID]bool{}, sent: map[netcode.PeerID]uint64{}}
	ids := make([]netcode.PeerID, players)
	for i := range ids {
		ids[i] = netcode.PeerID(fmt.Sprintf("p%d", i))
	}
	base := broadcast.Config{Roots: ids, Clock: clock, Players: players}
	type player struct {
		s   *rollback.Session
		src *broadcast.Source
	}
	ps := make([]player, players)
	for i, id := range ids {
		pl := make([]rollback.Player, players)
		for h := range pl {
			if h != i {
				pl[h].Peer = ids[h]
			}
		}
		gt, bt := broadcast.Split(net.transport(id))
		s, err := rollback.New(gt, newSpectGame(players), rollback.Config{Players: pl, Clock: clock})
		if err != nil {
			return 0, 0, 0, err
		}
		c := base
		c.Self = id
		src, err := broadcast.NewSource(bt, s, c)
		if err != nil {
			return 0, 0, 0, err
		}
		ps[i] = player{s, src}
	}
	specs := make([]*broadcast.Spectator, 0, n)
	dead := make([]bool, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	// addSpectator starts spectator i, told of one earlier spectator (as a
	// lobby would name one); they arrive one every other tick.
	addSpectator := func(i int) error {
		id := netcode.PeerID(fmt.Sprintf("s%03d", i))
		c := base
		c.Self = id
		if i > 0 {
			c.Entry = []netcode.PeerID{netcode.PeerID(fmt.Sprintf("s%03d", rng.IntN(i)))}
		}
		sp, err := broadcast.NewSpectator(net.transport(id), newSpectGame(players), c)
		if err != nil {
			return err
		}
		specs = append(specs, sp)
		return nil
	}
	step := func() {
		now = now.Add(tick)
		for h, p := range ps {
			_ = p.s.AddLocalInput(h, []byte{byte(rng.Uint32())})
			if err := p.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				panic(err)
			}
			_ = p.src.Tick()
			drain(p.s.Events())
			drainB(p.src.Events())
		}
		for i, sp := range specs {
			if dead[i] {
				continue
			}
			_ = sp.Tick()
			for {
				select {
				case ev := <-sp.Events():
					if a, ok := ev.(broadcast.EventAttached); ok && a.Gap > reattach {
						reattach = a.Gap
					}
					continue
				default:
				}
				break
			}
		}
	}
	attached := func() bool {
		for i, sp := range specs {
			if _, ok := sp.Parent(); !ok && !dead[i] {
				return false
			}
		}
		return true
	}
	for i := range n {
		if err := addSpectator(i); err != nil {
			return 0, 0, 0, err
		}
		step()
		step()
	}
	for t := 0; !attached(); t++ {
		if t > 60*60 {
			return 0, 0, 0, errors.New("spectators not attached after a minute of match time")
		}
		step()
	}
	// Let the delayed stream reach everyone, then measure.
	for range 4 * 60 {
		step()
	}
	before := net.usage(ids)
	for range seconds * 60 {
		step()
	}
	after := net.usage(ids)
	bps = float64(after-before) / float64(players) / float64(seconds)
	if kill {
		// After the measurement: kill a twentieth of the audience among
		// the relays, and time the orphans' re-attach (match time).
		k := 0
		for i, sp := range specs {
			if len(sp.Children()) > 0 && k < max(1, n/20) {
				dead[i] = true
				net.kill(netcode.PeerID(fmt.Sprintf("s%03d", i)))
				k++
			}
		}
		for range 3 * 60 {
			step()
		}
	}
	for i, sp := range specs {
		if !dead[i] {
			depth = max(depth, len(sp.Path()))
		}
	}
	return bps, depth, reattach, nil
}

func drain(ch <-chan rollback.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

func drainB(ch <-chan broadcast.Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// spectGame is a small deterministic game state.
type spectGame struct {
	frame uint32
	hash  uint64
	n     int
}

func newSpectGame(players int) *spectGame { return &spectGame{n: players} }

func (g *spectGame) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, g.frame)
	return binary.LittleEndian.AppendUint64(dst, g.hash)
}

func (g *spectGame) LoadState(b []byte) error {
	if len(b) != 12 {
		return errors.New("bench game: bad state")
	}
	g.frame, g.hash = binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint64(b[4:])
	return nil
}

func (g *spectGame) AdvanceFrame(in *rollback.Inputs) {
	for h := range in.Players() {
		for _, c := range in.Input(h) {
			g.hash = (g.hash ^ uint64(c)) * 1099511628211
		}
	}
	g.frame++
}

// spectNet delivers messages at the next Poll and counts what each peer
// sends as bytes on the wire (payload plus wireOverhead). Only broadcast
// messages are counted.
type spectNet struct {
	mu    sync.Mutex
	boxes map[netcode.PeerID][]spectMsg
	dead  map[netcode.PeerID]bool
	sent  map[netcode.PeerID]uint64
}

type spectMsg struct {
	from netcode.PeerID
	ch   netcode.Channel
	data []byte
}

type spectTransport struct {
	n  *spectNet
	id netcode.PeerID
}

func (n *spectNet) transport(id netcode.PeerID) netcode.Transport {
	return &spectTransport{n: n, id: id}
}

func (n *spectNet) kill(id netcode.PeerID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dead[id] = true
	delete(n.boxes, id)
}

func (n *spectNet) usage(ids []netcode.PeerID) (total uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		total += n.sent[id]
	}
	return total
}

func (t *spectTransport) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	t.n.mu.Lock()
	defer t.n.mu.Unlock()
	if t.n.dead[t.id] {
		return nil
	}
	if len(data) > 0 && data[0] == broadcast.Magic {
		t.n.sent[t.id] += uint64(len(data) + wireOverhead)
	}
	if t.n.dead[to] {
		return nil
	}
	t.n.boxes[to] = append(t.n.boxes[to], spectMsg{t.id, ch, append([]byte(nil), data...)})
	return nil
}

func (t *spectTransport) Poll(fn func(netcode.PeerID, netcode.Channel, []byte)) {
	t.n.mu.Lock()
	box := t.n.boxes[t.id]
	delete(t.n.boxes, t.id)
	t.n.mu.Unlock()
	for _, m := range box {
		fn(m.from, m.ch, m.data)
	}
}

func printSpectatorTable(w io.Writer, r spectatorBenchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "spectators\tone player's broadcast upload (B/s)\tratio to 10\t\n")
	for _, n := range []int{1, 10, 30, 100} {
		v, ok := r.PlayersUploadBps[fmt.Sprint(n)]
		if !ok {
			continue
		}
		ratio := 0.0
		if r.Upload10 > 0 {
			ratio = v / r.Upload10
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.2f\t\n", n, v, ratio)
	}
	tw.Flush()
	fmt.Fprintf(w, "100 spectators fed by the players directly: %.0f B/s each; tree depth at 100: %d; longest re-attach after killing relays: %.0f ms\n",
		r.DirectUpload100, r.MaxDepth, r.ReattachMaxMs)
	fmt.Fprintf(w, "ratio 100/10: %.3f (target ≤ %.1f), 100/1: %.3f; targets met: %v; %d players, %d s; transport: %s; load average: %s\n",
		r.Ratio10to100, r.Target, r.Ratio1to100, r.TargetsMet, r.Players, r.Seconds, r.Transport, r.LoadAvg)
}
