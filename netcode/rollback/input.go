package rollback

// InputStatus says where a player's input for a frame came from.
type InputStatus uint8

// Input statuses.
const (
	// InputConfirmed is the player's real input.
	InputConfirmed InputStatus = iota
	// InputPredicted is a guess (the player's last confirmed input); the
	// session rolls back if the real one differs.
	InputPredicted
	// InputDisconnected marks a player that was dropped: the input is the
	// policy's stand-in (zero bytes for DropPlayer, the last input for
	// PredictPlayer), the same on every peer.
	InputDisconnected
)

// String returns the status name.
func (s InputStatus) String() string {
	switch s {
	case InputConfirmed:
		return "confirmed"
	case InputPredicted:
		return "predicted"
	case InputDisconnected:
		return "disconnected"
	}
	return "unknown"
}

// Inputs are the inputs of every player for one frame, handed to
// Game.AdvanceFrame. The session reuses it: it is only valid during
// the call.
type Inputs struct {
	// Frame is the frame being simulated.
	Frame int
	// Resimulating is true while the session replays frames after a
	// rollback (a game may skip sounds and effects then).
	Resimulating bool
	size         int
	data         []byte
	status       []InputStatus
}

// Players returns the number of players.
func (in *Inputs) Players() int { return len(in.status) }

// Input returns the input bytes of player handle. The slice aliases the
// session's buffer.
func (in *Inputs) Input(handle int) []byte {
	return in.data[handle*in.size : (handle+1)*in.size : (handle+1)*in.size]
}

// Status returns where player handle's input came from.
func (in *Inputs) Status(handle int) InputStatus { return in.status[handle] }

// InputCodec converts a game's input type to the session's fixed-size bytes
// and back. Append must append exactly the session's InputSize bytes.
type InputCodec[T any] interface {
	AppendInput(dst []byte, v T) []byte
	DecodeInput(src []byte) T
}

// AddLocalInputOf encodes v with c and adds it as the input of local player
// handle.
func AddLocalInputOf[T any](s *Session, c InputCodec[T], handle int, v T) error {
	var buf [64]byte
	return s.AddLocalInput(handle, c.AppendInput(buf[:0], v))
}

// InputOf decodes player handle's input with c.
func InputOf[T any](in *Inputs, c InputCodec[T], handle int) T {
	return c.DecodeInput(in.Input(handle))
}

// inputRing holds one player's inputs by frame: confirmed ones, and the
// ones the session last used for frames it simulated (to detect a wrong
// prediction when the confirmed input arrives).
type inputRing struct {
	size int
	buf  []byte // confirmed inputs
	used []byte // inputs used in the latest simulation of each frame
	last int    // last frame confirmed; frames ≤ last are all present
	// dropFrom is the frame from which the player is dropped, or noDrop.
	dropFrom int
	// rejoinAt is the frame from which a dropped player plays again, or
	// noDrop.
	rejoinAt int
	// hold, while a rejoin is being agreed, is the first frame whose input
	// is not known for good (noDrop otherwise).
	hold int
	// dropInput is the stand-in input of a dropped player.
	dropInput []byte
	zero      []byte
}

const (
	ringFrames = 256 // power of two
	ringMask   = ringFrames - 1
	noDrop     = 1 << 62
)

func newInputRing(size int) *inputRing {
	return &inputRing{
		size:      size,
		buf:       make([]byte, ringFrames*size),
		used:      make([]byte, ringFrames*size),
		last:      -1,
		dropFrom:  noDrop,
		rejoinAt:  noDrop,
		hold:      noDrop,
		dropInput: make([]byte, size),
		zero:      make([]byte, size),
	}
}

func (r *inputRing) at(f int) []byte {
	o := (f & ringMask) * r.size
	return r.buf[o : o+r.size : o+r.size]
}

func (r *inputRing) usedAt(f int) []byte {
	o := (f & ringMask) * r.size
	return r.used[o : o+r.size : o+r.size]
}

// dropped reports whether frame f falls in the player's dropped range.
func (r *inputRing) dropped(f int) bool { return f >= r.dropFrom && f < r.rejoinAt }

// confirmedUpTo returns the last frame whose input is known for good, or
// noDrop for a dropped player that has not rejoined.
func (r *inputRing) confirmedUpTo() int {
	if r.hold != noDrop {
		return r.hold - 1
	}
	if r.dropFrom != noDrop && r.rejoinAt == noDrop && r.last >= r.dropFrom-1 {
		return noDrop
	}
	return r.last
}

// input returns the input for frame f and its status: confirmed, the
// drop stand-in, or a prediction (the last confirmed input, zero before the
// first).
func (r *inputRing) input(f int) ([]byte, InputStatus) {
	if f >= r.hold {
		return r.dropInput, InputPredicted
	}
	if r.dropped(f) {
		return r.dropInput, InputDisconnected
	}
	if f <= r.last {
		return r.at(f), InputConfirmed
	}
	if r.last < 0 {
		return r.zero, InputPredicted
	}
	return r.at(r.last), InputPredicted
}
