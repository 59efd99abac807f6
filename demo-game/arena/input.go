package arena

// Input is one player's controls for one frame: a set of bit flags, one byte
// per player per frame, which is what the rollback session sends to peers.
type Input byte

// The input bits. Their values are part of the wire contract between peers:
// only append.
const (
	InputUp    Input = 1 << iota // thrust forward
	InputDown                    // thrust backward (half power)
	InputLeft                    // turn counter-clockwise
	InputRight                   // turn clockwise
	InputFire                    // shoot (held: fire whenever the gun is ready)
	InputDash                    // a burst of speed forward, on a cooldown

	inputMask = InputUp | InputDown | InputLeft | InputRight | InputFire | InputDash
)

// Has reports whether every bit of b is set in in.
func (in Input) Has(b Input) bool { return in&b == b }

// String returns the pressed controls, for logs and tests: "U.L.F." style,
// one letter per bit in the order Up, Down, Left, Right, Fire, Dash.
func (in Input) String() string {
	const letters = "UDLRFX"
	var b [6]byte
	for i := range b {
		if in&(1<<i) != 0 {
			b[i] = letters[i]
		} else {
			b[i] = '.'
		}
	}
	return string(b[:])
}
