package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// RollbackBenchConfig configures RunRollbackBench. The zero value is the
// standard run: 4 players, 1-byte inputs, an 8-frame rollback every frame,
// 20,000 frames.
type RollbackBenchConfig struct {
	// Players is the number of players, one local. Zero means 4.
	Players int
	// Rollback is how many frames every tick rolls back. Zero means 8 (the
	// default prediction window).
	Rollback int
	// Frames is the number of measured frames. Zero means 20,000.
	Frames int
}

// RollbackBenchResult holds the figures of RunRollbackBench.
type RollbackBenchResult struct {
	Players  int
	Rollback int
	Frames   int
	// SessionNsPerFrame is the wall time of one AdvanceFrame, the game's
	// work included (1 load, Rollback+1 saves and advances).
	SessionNsPerFrame float64
	// GameNsPerFrame is the baseline measured in the same run: the same
	// game calls without the session.
	GameNsPerFrame float64
	// FrameOverheadNs is the session's own work per frame:
	// SessionNsPerFrame − GameNsPerFrame.
	FrameOverheadNs float64
	// NoRollbackNsPerFrame is a second baseline: the same session when
	// every remote input arrives before its frame (no prediction, no
	// rollback), the game's one save and advance included.
	NoRollbackNsPerFrame float64
	// AllocsPerFrame counts heap allocations per AdvanceFrame in steady
	// state.
	AllocsPerFrame float64
	// ResimulatedPerFrame is the frames resimulated per AdvanceFrame.
	ResimulatedPerFrame float64
	// PayloadBytesPerTick is the mean input datagram payload of a 2-player
	// session with 1-byte inputs and 3 frames in flight (one tick each
	// way), checksum reports included.
	PayloadBytesPerTick float64
	// MaxPayloadBytes is the largest such datagram.
	MaxPayloadBytes int
}

// RunRollbackBench measures the session (netcode/rollback)'s per-frame cost with an 8-frame
// rollback on every frame, against the game's own cost in the same run, and
// the wire budget of a 2-player session. rallypoint bench rollback and the
// package's benchmarks use it.
func RunRollbackBench(cfg RollbackBenchConfig) (RollbackBenchResult, error) {
	if cfg.Players == 0 {
		cfg.Players = 4
	}
	if cfg.Rollback == 0 {
		cfg.Rollback = 8 // rollback.Config.MaxPrediction's default
	}
	if cfg.Frames == 0 {
		cfg.Frames = 20000
	}
	res := RollbackBenchResult{Players: cfg.Players, Rollback: cfg.Rollback, Frames: cfg.Frames}
	const warm, chunks = 500, 10
	rig, err := newRollbackRig(cfg.Players, cfg.Rollback, warm+cfg.Frames)
	if err != nil {
		return res, err
	}
	flat, err := newRollbackRig(cfg.Players, 0, warm+cfg.Frames)
	if err != nil {
		return res, err
	}
	for k := 0; k < warm; k++ {
		if err := rig.step(k); err != nil {
			return res, err
		}
		if err := flat.step(k); err != nil {
			return res, err
		}
	}
	// The game alone, making the same calls per frame as the session does.
	base := newBenchBaseline(cfg.Players, cfg.Rollback)

	// The three measurements alternate in chunks, so that a change in the
	// machine's load hits them alike.
	rb0 := rig.s.Stats().RolledBack
	// Per-frame times of each chunk; the report takes their medians, so a
	// burst of load on the machine during one chunk does not move it.
	var sessionNs, flatNs, gameNs []float64
	var mallocs uint64
	var m0, m1 runtime.MemStats
	per := cfg.Frames / chunks
	for c := 0; c < chunks; c++ {
		lo, hi := warm+c*per, warm+(c+1)*per
		if c == chunks-1 {
			hi = warm + cfg.Frames
		}
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		for k := lo; k < hi; k++ {
			if err := rig.step(k); err != nil {
				return res, err
			}
		}
		took := time.Since(t0)
		runtime.ReadMemStats(&m1) // before the append below, which allocates
		mallocs += m1.Mallocs - m0.Mallocs
		frames := float64(hi - lo)
		sessionNs = append(sessionNs, float64(took.Nanoseconds())/frames)
		t0 = time.Now()
		for k := lo; k < hi; k++ {
			if err := flat.step(k); err != nil {
				return res, err
			}
		}
		flatNs = append(flatNs, float64(time.Since(t0).Nanoseconds())/frames)
		t0 = time.Now()
		for k := lo; k < hi; k++ {
			base.frame(k)
		}
		gameNs = append(gameNs, float64(time.Since(t0).Nanoseconds())/frames)
	}
	if flat.s.Stats().Rollbacks != 0 {
		return res, fmt.Errorf("bench: the no-rollback baseline rolled back %d times", flat.s.Stats().Rollbacks)
	}
	n := float64(cfg.Frames)
	res.SessionNsPerFrame = median(sessionNs)
	res.NoRollbackNsPerFrame = median(flatNs)
	res.GameNsPerFrame = median(gameNs)
	res.FrameOverheadNs = res.SessionNsPerFrame - res.GameNsPerFrame
	res.AllocsPerFrame = float64(mallocs) / n
	res.ResimulatedPerFrame = float64(rig.s.Stats().RolledBack-rb0) / n

	payload, maxPayload, err := measurePayload(3000)
	if err != nil {
		return res, err
	}
	res.PayloadBytesPerTick = payload
	res.MaxPayloadBytes = maxPayload
	return res, nil
}

// benchBaseline makes, without a session, the game calls a session makes
// in one tick that rolls back a given number of frames.
type benchBaseline struct {
	g        *benchGame
	in       []byte // one input byte a player
	slots    [][]byte
	rollback int
}

func newBenchBaseline(players, rollback int) *benchBaseline {
	b := &benchBaseline{g: newBenchGame(players), rollback: rollback,
		in:    make([]byte, players),
		slots: make([][]byte, rollback+2)}
	for i := range b.slots {
		b.slots[i] = b.g.SaveState(nil)
	}
	return b
}

// frame is one tick: load the state rollback frames back, advance over it
// without saving (the loaded state is the saved one), save and advance the
// other rolled-back frames, then save and advance the new frame.
func (b *benchBaseline) frame(k int) {
	g := b.g
	if b.rollback > 0 {
		_ = g.LoadState(b.slots[k%len(b.slots)])
	}
	for f := 0; f <= b.rollback; f++ {
		if f > 0 || b.rollback == 0 {
			sl := &b.slots[(k+f)%len(b.slots)]
			*sl = g.SaveState((*sl)[:0])
		}
		for h := range b.in {
			b.in[h] = byte(k + f + h)
		}
		g.advance(b.in)
	}
}

// benchGame is a small deterministic game: 8 bytes of position per player.
// It counts its calls, so that the baseline can be checked against the
// session.
type benchGame struct {
	frame int32
	pos   []int32
	vel   []int32
	in    []byte // the inputs of the frame being advanced

	saves, loads, advances int
}

func newBenchGame(players int) *benchGame {
	return &benchGame{pos: make([]int32, players), vel: make([]int32, players), in: make([]byte, players)}
}

func (g *benchGame) SaveState(dst []byte) []byte {
	g.saves++
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.frame))
	for i := range g.pos {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(g.pos[i]))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(g.vel[i]))
	}
	return dst
}

func (g *benchGame) LoadState(b []byte) error {
	if len(b) != 4+8*len(g.pos) {
		return fmt.Errorf("bench game: state of %d bytes", len(b))
	}
	g.loads++
	g.frame = int32(binary.LittleEndian.Uint32(b))
	for i := range g.pos {
		g.pos[i] = int32(binary.LittleEndian.Uint32(b[4+8*i:]))
		g.vel[i] = int32(binary.LittleEndian.Uint32(b[8+8*i:]))
	}
	return nil
}

func (g *benchGame) AdvanceFrame(in *rollback.Inputs) {
	for h := range g.in {
		g.in[h] = in.Input(h)[0]
	}
	g.advance(g.in)
}

// advance simulates one frame with one input byte a player.
func (g *benchGame) advance(in []byte) {
	g.advances++
	for i := range g.pos {
		c := in[i]
		g.vel[i] = g.vel[i]*3/4 + int32(c&7) - 3
		g.pos[i] += g.vel[i]
	}
	g.frame++
}

// rollbackRig drives one session whose remote peers' inputs arrive exactly
// at the end of the prediction window and always contradict the
// prediction, so every tick rolls back the whole window.
type rollbackRig struct {
	s     *rollback.Session
	game  *benchGame
	tr    *benchTransport
	delay int
}

type benchTransport struct {
	arena []byte // every scripted datagram, back to back (no pointers for the GC to scan)
	ends  []int  // end offset of datagram i (tick*per + peer)
	peers []netcode.PeerID
	tick  int
	per   int
	sent  int
}

func (t *benchTransport) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	t.sent += len(data)
	return nil
}

func (t *benchTransport) Poll(fn func(netcode.PeerID, netcode.Channel, []byte)) {
	if t.tick >= len(t.ends)/t.per {
		return
	}
	for i, p := range t.peers {
		j := t.tick*t.per + i
		start := 0
		if j > 0 {
			start = t.ends[j-1]
		}
		fn(p, netcode.Unreliable, t.arena[start:t.ends[j]])
	}
}

func newRollbackRig(players, window, ticks int) (*rollbackRig, error) {
	cfg := rollback.Config{Players: make([]rollback.Player, players), MaxPrediction: max(window, 1), ChecksumInterval: -1}
	tr := &benchTransport{per: players - 1}
	for h := 1; h < players; h++ {
		id := netcode.PeerID(fmt.Sprintf("r%d", h))
		cfg.Players[h].Peer = id
		tr.peers = append(tr.peers, id)
	}
	// Remote peer h's input for frame f: changes every frame, so the
	// prediction (its previous input) is always wrong.
	input := func(h, f int) byte { return byte(f*7 + h*13 + 1) }
	for k := 0; k < ticks; k++ {
		f := k - window // the frame that arrives at tick k
		for h := 1; h < players; h++ {
			start := max(0, f-2)
			var in []byte
			for x := start; x <= f; x++ {
				in = append(in, input(h, x))
			}
			if f >= 0 {
				tr.arena = appendInputDatagram(tr.arena, k, k-1, start, in)
			} else {
				tr.arena = appendInputDatagram(tr.arena, k, k-1, 0, nil)
			}
			tr.ends = append(tr.ends, len(tr.arena))
		}
	}
	g := newBenchGame(players)
	s, err := rollback.New(tr, g, cfg)
	if err != nil {
		return nil, err
	}
	return &rollbackRig{s: s, game: g, tr: tr}, nil
}

var benchInput [1]byte

func (r *rollbackRig) step(k int) error {
	r.tr.tick = k
	benchInput[0] = byte(k)
	if err := r.s.AddLocalInput(0, benchInput[:]); err != nil {
		return err
	}
	if err := r.s.AdvanceFrame(); err != nil {
		return fmt.Errorf("bench tick %d: %w", k, err)
	}
	return nil
}

// pairLink is a 2-peer transport pair delivering every message one tick
// later, for the payload measurement.
type pairLink struct {
	self, other netcode.PeerID
	inbox       *[][]byte
	outbox      *[][]byte
	next        [][]byte
	sizes       []int
}

func (p *pairLink) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	*p.outbox = append(*p.outbox, append([]byte(nil), data...))
	p.sizes = append(p.sizes, len(data))
	return nil
}

func (p *pairLink) Poll(fn func(netcode.PeerID, netcode.Channel, []byte)) {
	for _, m := range p.next {
		fn(p.other, netcode.Unreliable, m)
	}
	p.next = p.next[:0]
}

func (p *pairLink) deliver() {
	p.next = append(p.next, (*p.inbox)...)
	*p.inbox = (*p.inbox)[:0]
}

// measurePayload runs two sessions (1-byte inputs that change every 8
// frames) over a link with one tick of latency each way, and returns the
// mean and largest input datagram.
func measurePayload(ticks int) (float64, int, error) {
	var ab, ba [][]byte
	a := &pairLink{self: "a", other: "b", outbox: &ab, inbox: &ba}
	b := &pairLink{self: "b", other: "a", outbox: &ba, inbox: &ab}
	sa, err := rollback.New(a, newBenchGame(2), rollback.Config{Players: []rollback.Player{{}, {Peer: "b"}}})
	if err != nil {
		return 0, 0, err
	}
	sb, err := rollback.New(b, newBenchGame(2), rollback.Config{Players: []rollback.Player{{Peer: "a"}, {}}})
	if err != nil {
		return 0, 0, err
	}
	for k := 0; k < ticks; k++ {
		_ = sa.AddLocalInput(0, []byte{byte(k / 8 * 5)})
		_ = sb.AddLocalInput(1, []byte{byte(k / 8 * 3)})
		if err := sa.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
			return 0, 0, err
		}
		if err := sb.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
			return 0, 0, err
		}
		a.deliver()
		b.deliver()
	}
	total, largest := 0, 0
	for _, n := range append(a.sizes, b.sizes...) {
		total += n
		largest = max(largest, n)
	}
	return float64(total) / float64(len(a.sizes)+len(b.sizes)), largest, nil
}

// appendInputDatagram encodes the input message of a peer with one 1-byte
// player, as docs/netcode-wire.md lays it out (rollback's own encoder is
// not exported): at frame, acknowledging ack, carrying the inputs of the
// frames from start on; no frame advantage, checksum or epoch. The
// session's decoder checks it: a wrong byte is a rejected message and no
// rollback, which RunRollbackBench's resimulation count catches.
func appendInputDatagram(b []byte, frame, ack, start int, inputs []byte) []byte {
	const (
		wireInput  = 1
		countShift = 5
		flagPacked = 0x80
	)
	kind := byte(wireInput)
	count := len(inputs)
	if count >= 1 && count <= 3 {
		kind |= byte(count) << countShift
	}
	da, ds := ack-frame, start-frame
	packed := da >= -8 && da <= 7 && ds >= -8 && ds <= 7
	if packed {
		kind |= flagPacked
	}
	b = append(b, rollback.WireVersion, kind, byte(frame), byte(frame>>8))
	if packed {
		b = append(b, byte(da+8)<<4|byte(ds+8))
	} else {
		b = binary.AppendVarint(b, int64(da))
		b = binary.AppendVarint(b, int64(ds))
	}
	if count < 1 || count > 3 {
		b = binary.AppendUvarint(b, uint64(count))
	}
	// Frames XOR the previous one; then runs: a byte under 0x80 is n+1
	// zeros, 0x80|(n-1)<<4|z is n literal bytes followed by z zeros.
	for i := 0; i < count; {
		d := func(i int) byte {
			if i == 0 {
				return inputs[0]
			}
			return inputs[i] ^ inputs[i-1]
		}
		j := i
		if d(i) == 0 {
			for j < count && d(j) == 0 && j-i < 128 {
				j++
			}
			b = append(b, byte(j-i-1))
		} else {
			for j < count && d(j) != 0 && j-i < 8 {
				j++
			}
			b = append(b, 0x80|byte(j-i-1)<<4)
			for x := i; x < j; x++ {
				b = append(b, d(x))
			}
		}
		i = j
	}
	return b
}
