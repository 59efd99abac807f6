package broadcast

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// ErrWaiting is returned by Spectator.Tick when the next frame has not
// arrived (the spectator is detached, or the stream is behind).
var ErrWaiting = errors.New("broadcast: waiting for the stream")

// appendRecord encodes one frame: a uvarint mask of the players whose
// input is the drop stand-in (InputDisconnected), then every player's
// input in handle order.
func appendRecord(dst []byte, disconnected uint32, inputs []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(disconnected))
	return append(dst, inputs...)
}

// parseRecord decodes a record of width bytes of inputs.
func parseRecord(rec []byte, width int) (disconnected uint32, inputs []byte, err error) {
	v, n := binary.Uvarint(rec)
	if n <= 0 || v > 1<<32-1 || len(rec)-n != width {
		return 0, nil, ErrBadRecord
	}
	return uint32(v), rec[n:], nil
}

// Spectator watches a match through the tree: it attaches to a parent
// (a player or another spectator), simulates the confirmed frames it
// receives with the game and relays them to up to Config.Fanout children
// of its own. It never predicts or rolls back.
//
// Like rollback.Session it is not safe for concurrent use: call Tick from
// the game loop's goroutine (Events may be read anywhere).
type Spectator struct {
	n      *node
	game   rollback.Game
	in     *rollback.Inputs
	frame  int
	width  int
	ended  bool
	closed bool
	sum    uint64
	buf    []byte
}

// NewSpectator starts a spectator on t; it asks Config.Entry (or the
// roots) for a parent on its first Tick. t carries only this package's
// messages (Split shares one with other protocols).
func NewSpectator(t netcode.Transport, game rollback.Game, cfg Config) (*Spectator, error) {
	cfg, err := cfg.withDefaults(false)
	if err != nil {
		return nil, err
	}
	if t == nil || game == nil {
		return nil, fmt.Errorf("%w: nil transport or game", ErrConfig)
	}
	in, err := rollback.NewInputs(cfg.Players, cfg.InputSize)
	if err != nil {
		return nil, err
	}
	sp := &Spectator{n: newNode(t, cfg, false), game: game, in: in, width: cfg.Players * cfg.InputSize}
	sp.n.stateFn = sp.saveState
	return sp, nil
}

// saveState gives a child that needs a state this spectator's own: the
// state before its next frame, whose frames it still holds.
func (sp *Spectator) saveState(dst []byte) (int, []byte, bool) {
	if sp.n.hasState || sp.frame < sp.n.lo {
		return 0, dst, false
	}
	return sp.frame, sp.game.SaveState(dst), true
}

// Events returns the spectator's event channel (Config.EventBuffer slots;
// when full, events are dropped and counted in Stats.EventsDropped).
func (sp *Spectator) Events() <-chan Event { return sp.n.events.ch }

// Frame returns the next frame the spectator will simulate.
func (sp *Spectator) Frame() int { return sp.frame }

// Behind returns how many received frames wait to be simulated.
func (sp *Spectator) Behind() int { return sp.n.hi - sp.frame }

// Parent returns the current parent, and whether the spectator is
// attached.
func (sp *Spectator) Parent() (netcode.PeerID, bool) { return sp.n.parent, sp.n.attached }

// Path returns the spectator's ancestors, root first, ending with its
// parent.
func (sp *Spectator) Path() []netcode.PeerID { return append([]netcode.PeerID(nil), sp.n.path...) }

// Children returns the spectators this one relays to.
func (sp *Spectator) Children() []netcode.PeerID { return sp.n.children() }

// Stats returns the spectator's counters.
func (sp *Spectator) Stats() Stats { s := sp.n.stats; s.Children = len(sp.n.kids); return s }

// Ended reports the end frame and the final checksum once the spectator
// simulated the whole match.
func (sp *Spectator) Ended() (frame int, checksum uint64, ok bool) {
	return sp.n.end.frame, sp.sum, sp.ended
}

// PeerGone tells the spectator that peer's connection ended (the mesh's
// EventDisconnected): if it is the parent, the spectator looks for
// another at once instead of after ParentTimeout.
func (sp *Spectator) PeerGone(peer netcode.PeerID) { sp.n.peerGone(peer) }

// PeerSuspect tells the spectator that peer may be gone without a word:
// the signaling server reports its connection dropped
// (signaling.PeerInterrupted), as it does at once when a process dies.
// For HoldTimeout from then, a parent that is peer is replaced once it
// has been silent for two FlushIntervals (instead of ParentTimeout), and
// a search for a parent does not ask peer. A peer that still speaks keeps
// its children.
func (sp *Spectator) PeerSuspect(peer netcode.PeerID) { sp.n.peerSuspect(peer) }

// Tick handles what arrived, keeps the tree (parent, children) and
// simulates the next frame, or up to CatchUpSpeed frames when more than
// CatchUpThreshold behind. It returns ErrWaiting when no frame was
// simulated because the next one has not arrived.
func (sp *Spectator) Tick() error {
	if sp.closed {
		return ErrClosed
	}
	n := sp.n
	n.tick()
	if n.hasState {
		if err := sp.game.LoadState(n.state); err != nil {
			n.hasState = false
			n.lo, n.hi, n.floor = sp.frame, sp.frame, sp.frame
			return &rollback.GameError{Frame: n.stateFrame, Err: err}
		}
		sp.frame = n.stateFrame
		n.hasState = false
	}
	steps := 1
	if sp.Behind() > n.cfg.CatchUpThreshold {
		steps = n.cfg.CatchUpSpeed
	}
	done := 0
	for ; done < steps && sp.frame < n.hi && (!n.end.ok || sp.frame < n.end.frame); done++ {
		mask, inputs, err := parseRecord(n.record(sp.frame), sp.width)
		if err != nil {
			n.reject(n.parent, fmt.Errorf("frame %d: %w", sp.frame, err))
			n.lo, n.hi = sp.frame, sp.frame // drop the bad stream; the parent resends on a gap
			break
		}
		sp.in.Frame = sp.frame
		size := n.cfg.InputSize
		for h := range n.cfg.Players {
			st := rollback.InputConfirmed
			if mask&(1<<h) != 0 {
				st = rollback.InputDisconnected
			}
			sp.in.Set(h, inputs[h*size:(h+1)*size], st)
		}
		sp.game.AdvanceFrame(sp.in)
		sp.frame++
		n.floor = sp.frame
	}
	if n.end.ok && !sp.ended && sp.frame == n.end.frame {
		sp.buf = sp.game.SaveState(sp.buf[:0])
		sp.sum = rollback.Checksum(sp.buf)
		sp.ended = true
		n.events.emit(EventEnded{Frame: sp.frame, Checksum: sp.sum, Match: sp.sum == n.end.sum})
	}
	if done == 0 && !sp.ended {
		return ErrWaiting
	}
	return nil
}

// Close says goodbye to the parent and the children (they re-attach at
// once) and stops the spectator. It does not close the transport.
func (sp *Spectator) Close() error {
	if sp.closed {
		return nil
	}
	sp.closed = true
	sp.n.leave()
	return nil
}
