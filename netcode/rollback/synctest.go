package rollback

import "fmt"

// SyncTestConfig configures a SyncTest.
type SyncTestConfig struct {
	// Players is the number of players, all local. Zero means 1.
	Players int
	// InputSize is the size of one player's input. Zero means 1.
	InputSize int
	// CheckDistance is how many frames every AdvanceFrame rolls back and
	// resimulates. Zero means 2; at most 64.
	CheckDistance int
	// EventBuffer is the capacity of the event channel. Zero means 64.
	EventBuffer int
}

// SyncTest checks a game for determinism without a network: every
// AdvanceFrame simulates the next frame, then loads the state CheckDistance
// frames back and resimulates to the present with the same inputs, comparing
// the checksum of every state on the way with the first run's. Each mismatch
// is reported as an EventDesync (Peer empty, Local the first run's checksum,
// Remote the resimulation's) and in the SyncTestError AdvanceFrame returns.
// It is not safe for concurrent use.
type SyncTest struct {
	game     Game
	size     int
	n        int
	dist     int
	frame    int
	states   []stateSlot
	sums     []uint64
	inbuf    []byte // ring of inputs, (dist+2) frames
	pending  []byte
	inputs   Inputs
	tmp      []byte
	events   eventQueue
	checked  uint64
	mismatch []int
	closed   bool
}

// NewSyncTest returns a sync test at frame 0.
func NewSyncTest(game Game, cfg SyncTestConfig) (*SyncTest, error) {
	if game == nil {
		return nil, fmt.Errorf("%w: nil game", ErrConfig)
	}
	if cfg.Players == 0 {
		cfg.Players = 1
	}
	if cfg.InputSize == 0 {
		cfg.InputSize = 1
	}
	if cfg.CheckDistance == 0 {
		cfg.CheckDistance = 2
	}
	if cfg.Players < 0 || cfg.Players > maxWirePlayers || cfg.InputSize < 0 || cfg.InputSize > 1024 || cfg.CheckDistance < 0 || cfg.CheckDistance > 64 {
		return nil, fmt.Errorf("%w: sync test %+v", ErrConfig, cfg)
	}
	ring := cfg.CheckDistance + 2
	st := &SyncTest{game: game, size: cfg.InputSize, n: cfg.Players, dist: cfg.CheckDistance,
		states: make([]stateSlot, ring), sums: make([]uint64, ring), inbuf: make([]byte, ring*cfg.Players*cfg.InputSize),
		pending: make([]byte, cfg.Players*cfg.InputSize), events: newEventQueue(cfg.EventBuffer)}
	st.inputs = Inputs{size: cfg.InputSize, status: make([]InputStatus, cfg.Players)}
	for i := range st.states {
		st.states[i].frame = -1
	}
	return st, nil
}

// Events returns the channel of EventDesync reports.
func (st *SyncTest) Events() <-chan Event { return st.events.ch }

// Frame returns the next frame to simulate.
func (st *SyncTest) Frame() int { return st.frame }

// Checked returns how many resimulated states were compared.
func (st *SyncTest) Checked() uint64 { return st.checked }

// AddLocalInput sets player handle's input for the next frame.
func (st *SyncTest) AddLocalInput(handle int, input []byte) error {
	if st.closed {
		return ErrClosed
	}
	if handle < 0 || handle >= st.n {
		return fmt.Errorf("%w: handle %d", ErrNotLocalPlayer, handle)
	}
	if len(input) != st.size {
		return fmt.Errorf("%w: %d bytes, want %d", ErrInputSize, len(input), st.size)
	}
	copy(st.pending[handle*st.size:], input)
	return nil
}

func (st *SyncTest) frameInputs(f int) []byte {
	w := st.n * st.size
	o := (f % len(st.states)) * w
	return st.inbuf[o : o+w]
}

func (st *SyncTest) step(f int, resim bool) {
	st.inputs.Frame = f
	st.inputs.Resimulating = resim
	st.inputs.data = st.frameInputs(f)
	st.game.AdvanceFrame(&st.inputs)
}

// AdvanceFrame simulates one frame, then rolls back CheckDistance frames and
// checks the resimulation. It returns a *SyncTestError listing the frames
// that differed, or a *GameError if LoadState failed.
func (st *SyncTest) AdvanceFrame() error {
	if st.closed {
		return ErrClosed
	}
	f := st.frame
	copy(st.frameInputs(f), st.pending)
	sl := &st.states[f%len(st.states)]
	sl.buf = st.game.SaveState(sl.buf[:0])
	sl.frame = f
	st.sums[f%len(st.sums)] = Checksum(sl.buf)
	st.step(f, false)
	st.frame++
	g := st.frame - st.dist
	if g < 0 || st.dist == 0 {
		return nil
	}
	st.tmp = st.game.SaveState(st.tmp[:0])
	want := Checksum(st.tmp)
	gs := &st.states[g%len(st.states)]
	if err := st.game.LoadState(gs.buf); err != nil {
		return &GameError{Frame: g, Err: err}
	}
	st.mismatch = st.mismatch[:0]
	for r := g; r < st.frame; r++ {
		if r > g {
			st.tmp = st.game.SaveState(st.tmp[:0])
			st.check(r, st.sums[r%len(st.sums)], Checksum(st.tmp))
		}
		st.step(r, true)
	}
	st.tmp = st.game.SaveState(st.tmp[:0])
	st.check(st.frame, want, Checksum(st.tmp))
	if len(st.mismatch) > 0 {
		return &SyncTestError{Frames: append([]int(nil), st.mismatch...)}
	}
	return nil
}

func (st *SyncTest) check(f int, first, again uint64) {
	st.checked++
	if first != again {
		st.mismatch = append(st.mismatch, f)
		st.events.emit(EventDesync{Frame: f, Local: first, Remote: again})
	}
}

// Close stops the sync test.
func (st *SyncTest) Close() error {
	st.closed = true
	return nil
}
