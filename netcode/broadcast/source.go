package broadcast

import (
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// Source is a player's end of the broadcast: it reads the confirmed
// frames of the player's rollback.Session, holds each back for
// Config.Delay ticks and feeds them to at most Config.RootFanout
// spectators, which relay them on. Every player of the match runs one; all
// of them publish the same frames, so a spectator may attach under any.
//
// Call Tick once per game tick, after Session.AdvanceFrame, on the game
// loop's goroutine, and keep calling it after the match ended until the
// delayed end has gone out (Done). It is not safe for concurrent use.
type Source struct {
	n      *node
	s      *rollback.Session
	next   int // next confirmed frame to read
	ticks  int
	pend   []pendFrame
	head   int
	snaps  []pendSnap
	snap   pendSnap // the newest released snapshot
	hasSn  bool
	lastSn int
	end    *pendEnd
	closed bool
	buf    []byte
}

type pendFrame struct {
	at  int // tick at which it may go out
	rec []byte
}

type pendSnap struct {
	at, frame int
	state     []byte
}

type pendEnd struct {
	at, frame int
	sum       uint64
}

// NewSource starts a player's source over t (a transport that carries
// only this package's messages: see Split) for session s.
func NewSource(t netcode.Transport, s *rollback.Session, cfg Config) (*Source, error) {
	cfg, err := cfg.withDefaults(true)
	if err != nil {
		return nil, err
	}
	if t == nil || s == nil {
		return nil, fmt.Errorf("%w: nil transport or session", ErrConfig)
	}
	src := &Source{n: newNode(t, cfg, true), s: s, lastSn: -1 << 30}
	src.n.stateFn = src.stateFor
	return src, nil
}

// stateFor gives a relay that joins late the newest released snapshot.
func (src *Source) stateFor(dst []byte) (int, []byte, bool) {
	if !src.hasSn {
		return 0, dst, false
	}
	return src.snap.frame, append(dst, src.snap.state...), true
}

// Events returns the source's event channel (EventChildJoined,
// EventChildLeft, EventRejected).
func (src *Source) Events() <-chan Event { return src.n.events.ch }

// Stats returns the source's counters: BytesSent is the player's upload
// for the broadcast.
func (src *Source) Stats() Stats { return src.n.stats }

// Released returns the next frame not yet released to the tree.
func (src *Source) Released() int { return src.n.hi }

// Children returns the relays this player feeds.
func (src *Source) Children() []netcode.PeerID { return src.n.children() }

// Done reports whether the match's end and every frame before it were
// released and sent to every child.
func (src *Source) Done() bool {
	if !src.n.end.ok {
		return false
	}
	for _, k := range src.n.kids {
		if !k.endSent {
			return false
		}
	}
	return true
}

// PeerGone tells the source that peer's connection ended: a child is
// forgotten at once.
func (src *Source) PeerGone(peer netcode.PeerID) { src.n.peerGone(peer) }

// Tick reads newly confirmed frames from the session, releases those
// held for Delay ticks, and feeds the children.
func (src *Source) Tick() error {
	if src.closed {
		return ErrClosed
	}
	src.ticks++
	cfg := &src.n.cfg
	var err error
	o := src.s.Outcome()
	last := src.s.ConfirmedFrame()
	if o.End > 0 {
		last = min(last, o.End-1) // frames from the end on are not part of the match
	}
	for f := src.next; f <= last; f++ {
		src.buf = src.buf[:0]
		in, mask, ok := src.s.ConfirmedInputs(f, src.buf)
		if !ok {
			err = fmt.Errorf("%w: frame %d", ErrBehind, f)
			src.n.events.emit(EventRejected{Err: err})
			break
		}
		src.buf = in
		if len(src.pend)-src.head >= 1<<16 {
			err = fmt.Errorf("%w: %d frames held", ErrBehind, len(src.pend)-src.head)
			break
		}
		src.pend = append(src.pend, pendFrame{at: src.ticks + cfg.Delay, rec: appendRecord(nil, mask, in)})
		src.next = f + 1
	}
	if f, st, ok := src.s.ConfirmedState(nil); ok && f >= src.lastSn+cfg.SnapshotInterval && len(src.snaps) < 64 {
		src.lastSn = f
		src.snaps = append(src.snaps, pendSnap{at: src.ticks + cfg.Delay, frame: f, state: st})
	}
	if o.Final && src.end == nil {
		src.end = &pendEnd{at: src.ticks + cfg.Delay, frame: o.End, sum: o.Checksum}
	}
	for src.head < len(src.pend) && src.pend[src.head].at <= src.ticks {
		src.n.store(src.n.hi, src.pend[src.head].rec)
		src.pend[src.head] = pendFrame{}
		src.head++
	}
	if src.head > 1024 && src.head*2 > len(src.pend) {
		src.pend = append(src.pend[:0], src.pend[src.head:]...)
		src.head = 0
	}
	for len(src.snaps) > 0 && src.snaps[0].at <= src.ticks && src.snaps[0].frame <= src.n.hi {
		src.snap, src.hasSn = src.snaps[0], true
		src.snaps = src.snaps[1:]
	}
	if e := src.end; e != nil && !src.n.end.ok && e.at <= src.ticks && src.n.hi >= e.frame {
		src.n.end.frame, src.n.end.sum, src.n.end.ok = e.frame, e.sum, true
	}
	src.n.tick()
	return err
}

// Close says goodbye to the children (they re-attach elsewhere at once)
// and stops the source. It does not close the transport.
func (src *Source) Close() error {
	if !src.closed {
		src.closed = true
		src.n.leave()
	}
	return nil
}
