package broadcast

import (
	"fmt"
	"slices"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Defaults of Config.
const (
	DefaultFanout           = 4
	DefaultRootFanout       = 2
	DefaultDelay            = 180 // frames: 3 s at 60 frames a second
	DefaultSnapshotInterval = 60
	DefaultBufferFrames     = 1024
	DefaultParentTimeout    = 300 * time.Millisecond
	DefaultHoldTimeout      = 3 * time.Second
	DefaultJoinTimeout      = 250 * time.Millisecond
	DefaultFlushInterval    = 50 * time.Millisecond
	DefaultMaxDepth         = 16
)

// Config configures a Source (a player) or a Spectator. Every field
// documents its zero value; Self and Roots are required, and a Spectator
// needs Players.
type Config struct {
	// Self is this peer's id (mesh.Mesh.LocalID).
	Self netcode.PeerID
	// Roots are the match's players, the roots of the tree: every one runs
	// a Source and feeds up to RootFanout spectators. A spectator that has
	// nowhere else to go asks them.
	Roots []netcode.PeerID
	// Entry lists peers a spectator asks first when it joins (any node of
	// the tree, say one a lobby named); they redirect it to a node with a
	// free slot. Nil: the roots, starting from one picked by Self's hash.
	Entry []netcode.PeerID
	// Fanout is how many children a spectator relays the stream to. Zero
	// means DefaultFanout (4); negative makes it a leaf (no upload).
	Fanout int
	// RootFanout is how many spectators (relays) a Source feeds: the
	// player's upload for the broadcast is this many streams, however many
	// watch. Zero means DefaultRootFanout (2).
	RootFanout int
	// Delay is how many ticks a Source holds a confirmed frame back
	// before it enters the tree, so that spectators run behind the match
	// and a stream does not help a cheating player. Zero means
	// DefaultDelay (180: 3 s at 60 ticks a second); negative: none.
	Delay int
	// SnapshotInterval is how many frames apart a Source keeps confirmed
	// states, for spectators that join after the buffer no longer reaches
	// frame 0. Zero means DefaultSnapshotInterval (60).
	SnapshotInterval int
	// BufferFrames is how many frames a node keeps to resend to a child
	// that re-attaches from an older frame. Zero means DefaultBufferFrames
	// (1024, 17 s at 60 frames a second).
	BufferFrames int
	// ParentTimeout is how long a spectator's parent may go without
	// relaying a newer beat before the spectator looks for another
	// parent. Zero means DefaultParentTimeout (300 ms), which with the
	// joins that follow keeps a re-attach under a second.
	ParentTimeout time.Duration
	// HoldTimeout is how long a spectator keeps a parent that says it is
	// re-attaching itself. Zero means DefaultHoldTimeout (3 s).
	HoldTimeout time.Duration
	// JoinTimeout is how long a join waits for an answer before the
	// spectator asks its next candidate. Zero means DefaultJoinTimeout
	// (250 ms).
	JoinTimeout time.Duration
	// FlushInterval is how often a node sends its children the frames it
	// gained (and a heartbeat when it has none); a child acknowledges as
	// often. Zero means DefaultFlushInterval (50 ms).
	FlushInterval time.Duration
	// MaxDepth bounds the tree's depth (roots at depth 0). Zero means
	// DefaultMaxDepth (16); at most 31.
	MaxDepth int
	// Dial, when set, is called before a message goes to a peer this node
	// may not be connected to (mesh.Mesh.Dial with mesh.Config.OnDemand,
	// so that a spectator connects only to its parent and children). Nil:
	// the transport reaches every peer already.
	Dial func(peer netcode.PeerID)
	// Hangup, when set, is called when this node no longer needs its
	// connection to a peer (a node that only redirected it, a parent it
	// left, a child that left): mesh.Mesh.Hangup, so that the connections
	// a node keeps are its parent's and its children's. Nil: none.
	Hangup func(peer netcode.PeerID)
	// Players and InputSize describe the match's inputs (a Spectator needs
	// them; a Source takes them from its session). InputSize zero means 1.
	Players   int
	InputSize int
	// CatchUpSpeed is how many frames a Spectator simulates per Tick while
	// more than CatchUpThreshold frames behind what it holds. Zero means 4
	// and 6.
	CatchUpSpeed     int
	CatchUpThreshold int
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// EventBuffer is the capacity of the event channel. Zero means 64.
	EventBuffer int
}

func (c Config) withDefaults(root bool) (Config, error) {
	if c.Self == "" || len(c.Roots) == 0 {
		return c, fmt.Errorf("%w: Self and Roots are required", ErrConfig)
	}
	if slices.Contains(c.Roots, c.Self) != root {
		return c, fmt.Errorf("%w: a Source must be one of Roots and a Spectator must not", ErrConfig)
	}
	if len(c.Roots) > maxCandidates*4 {
		return c, fmt.Errorf("%w: %d roots", ErrConfig, len(c.Roots))
	}
	for _, r := range append(slices.Clone(c.Roots), c.Entry...) {
		if r == "" || len(r) > maxIDLen {
			return c, fmt.Errorf("%w: peer id %q", ErrConfig, r)
		}
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Fanout, DefaultFanout)
	if c.Fanout < 0 {
		c.Fanout = 0
	}
	def(&c.RootFanout, DefaultRootFanout)
	def(&c.Delay, DefaultDelay)
	if c.Delay < 0 {
		c.Delay = 0
	}
	def(&c.SnapshotInterval, DefaultSnapshotInterval)
	def(&c.BufferFrames, DefaultBufferFrames)
	def(&c.MaxDepth, DefaultMaxDepth)
	def(&c.InputSize, 1)
	def(&c.CatchUpSpeed, 4)
	def(&c.CatchUpThreshold, 6)
	defd(&c.ParentTimeout, DefaultParentTimeout)
	defd(&c.HoldTimeout, DefaultHoldTimeout)
	defd(&c.JoinTimeout, DefaultJoinTimeout)
	defd(&c.FlushInterval, DefaultFlushInterval)
	if c.Fanout > 64 || c.RootFanout < 0 || c.RootFanout > 64 || c.SnapshotInterval < 0 ||
		c.BufferFrames < 2*maxBatch || c.BufferFrames > 1<<16 || c.MaxDepth < 1 || c.MaxDepth >= maxPath ||
		c.InputSize < 1 || c.InputSize > 1024 || c.CatchUpSpeed < 1 {
		return c, fmt.Errorf("%w: a value out of range", ErrConfig)
	}
	if !root && (c.Players < 1 || c.Players > 32 || c.Players*c.InputSize > maxRecord-8) {
		return c, fmt.Errorf("%w: %d players of %d bytes", ErrConfig, c.Players, c.InputSize)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	return c, nil
}
