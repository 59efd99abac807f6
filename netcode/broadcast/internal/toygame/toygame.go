package toygame

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// Game is deterministic: players move by their inputs and a hash folds
// in every input and status.
type Game struct {
	frame int32
	hash  uint64
	pos   []int32
}

// New returns a game of players at frame 0.
func New(players int) *Game { return &Game{pos: make([]int32, players)} }

// SaveState appends the state to dst (rollback.Game).
func (g *Game) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.frame))
	dst = binary.LittleEndian.AppendUint64(dst, g.hash)
	for _, p := range g.pos {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(p))
	}
	return dst
}

// LoadState restores a state SaveState made (rollback.Game).
func (g *Game) LoadState(b []byte) error {
	if len(b) != 12+4*len(g.pos) {
		return errors.New("toy: bad state size")
	}
	g.frame = int32(binary.LittleEndian.Uint32(b))
	g.hash = binary.LittleEndian.Uint64(b[4:])
	for i := range g.pos {
		g.pos[i] = int32(binary.LittleEndian.Uint32(b[12+4*i:]))
	}
	return nil
}

// AdvanceFrame applies one frame's inputs (rollback.Game).
func (g *Game) AdvanceFrame(in *rollback.Inputs) {
	if int(g.frame) != in.Frame {
		panic(fmt.Sprintf("toy: frame %d in state of frame %d", in.Frame, g.frame))
	}
	for h := range g.pos {
		for _, c := range in.Input(h) {
			g.pos[h] += int32(c&7) - 3
			g.hash = (g.hash ^ uint64(c)) * 1099511628211
		}
		if in.Status(h) == rollback.InputDisconnected { // predicted and confirmed must not differ
			g.hash = (g.hash ^ 0xd15c) * 1099511628211
		}
	}
	g.frame++
}
