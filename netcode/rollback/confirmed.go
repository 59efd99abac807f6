package rollback

import "fmt"

// ConfirmedInputs appends the inputs of every player for frame f, in handle
// order (InputSize bytes each), to dst, and returns them with a mask of the
// players whose input there is the drop stand-in (bit h: InputDisconnected).
// ok is false when f is not confirmed yet or no longer held (a session
// keeps the inputs of the last 128 frames it simulated). A relay of the
// match (netcode/broadcast) reads the confirmed stream with it; call it
// between AdvanceFrame calls, on the game loop's goroutine.
func (s *Session) ConfirmedInputs(f int, dst []byte) (out []byte, disconnected uint32, ok bool) {
	if f < 0 || f > s.confirmed || !s.feedable(f) {
		return dst, 0, false
	}
	for h, r := range s.players {
		v, st := r.input(f)
		dst = append(dst, v...)
		if st == InputDisconnected {
			disconnected |= 1 << h
		}
	}
	return dst, disconnected, true
}

// ConfirmedState appends to dst the newest saved state whose frames are all
// confirmed and returns it with its frame: the state before frame is
// simulated (after frames 0 to frame−1). ok is false before the first
// frame is simulated. The bytes are what Game.SaveState produced.
func (s *Session) ConfirmedState(dst []byte) (frame int, state []byte, ok bool) {
	f := s.stateFrame()
	sl := s.slot(f)
	if s.frame == 0 || sl.frame != f {
		return 0, dst, false
	}
	return f, append(dst, sl.buf...), true
}

// Players returns the number of players of the match.
func (s *Session) Players() int { return len(s.players) }

// InputSize returns the size in bytes of one player's input.
func (s *Session) InputSize() int { return s.size }

// NewInputs returns an Inputs for players players of size bytes each, all
// zero and confirmed, for code that replays a match outside a Session
// (a spectator fed by netcode/broadcast).
func NewInputs(players, size int) (*Inputs, error) {
	if players < 1 || players > maxWirePlayers || size < 1 || size > 1024 {
		return nil, fmt.Errorf("%w: %d players of %d bytes", ErrConfig, players, size)
	}
	return &Inputs{size: size, data: make([]byte, players*size), status: make([]InputStatus, players)}, nil
}

// Set sets player handle's input (len(input) must be the input size; a
// shorter one is zero-padded) and status.
func (in *Inputs) Set(handle int, input []byte, st InputStatus) {
	d := in.data[handle*in.size : (handle+1)*in.size]
	n := copy(d, input)
	clear(d[n:])
	in.status[handle] = st
}
