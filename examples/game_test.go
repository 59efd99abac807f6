package examples_test

import (
	"encoding/binary"
	"errors"

	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// counter is the game of the examples: each player's score grows by its
// input every frame. It is deterministic, so every peer that plays the same
// inputs holds the same state.
type counter struct {
	score [2]uint32
	// confirmed is the score after the frame confirmedAt, as last
	// simulated: a rollback that corrects a prediction simulates the frame
	// again. Once the session has run more than its prediction window (8
	// frames) past confirmedAt, that frame's inputs are all confirmed and
	// this is final.
	confirmed [2]uint32
}

// confirmedAt is the frame whose confirmed score the examples print.
const confirmedAt = 299

func (g *counter) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, g.score[0])
	return binary.LittleEndian.AppendUint32(dst, g.score[1])
}

func (g *counter) LoadState(b []byte) error {
	if len(b) != 8 {
		return errors.New("counter: bad state")
	}
	g.score[0], g.score[1] = binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])
	return nil
}

func (g *counter) AdvanceFrame(in *rollback.Inputs) {
	for h := range g.score {
		g.score[h] += uint32(in.Input(h)[0])
	}
	if in.Frame == confirmedAt {
		g.confirmed = g.score
	}
}

// pad reads the local input: seat 0 presses 1 every frame, seat 1 presses 2.
func pad(seat int) []byte { return []byte{byte(seat + 1)} }
