package match

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
)

// RunConfig says how long Run plays. The zero value plays until the match
// is over, in real time.
type RunConfig struct {
	// Frames stops after this many frames. Zero means no frame limit.
	Frames int
	// Duration stops after this much game time (Duration × TickRate
	// frames, whatever the pace). Zero means no time limit.
	Duration time.Duration
	// Fast runs frames as fast as possible instead of at
	// arena.TickRate per second; with remote peers, as fast as they keep
	// up (the prediction window holds this peer back).
	Fast bool
	// Input gives the local player's input for a frame. Nil means the
	// local player is a bot (arena.BotInput).
	Input func(s *arena.State, player int) arena.Input
	// OnStart, if set, is called once when a networked match starts (every
	// peer reaches every other), with the time since Run began.
	OnStart func(after time.Duration)
	// OnReconnect, if set, is called for each reconnect of a networked
	// session's signaling client to a server during the match (its node
	// died or was drained: with several servers it resumes on another),
	// on Run's goroutine, within a frame of the reconnect.
	OnReconnect func(SignalingReconnect)
	// OnInSync, if set, is called once when a networked session that
	// rejoined a match in progress is back in sync (rollback.EventInSync),
	// with the frame that showed it and the time since Run began.
	OnInSync func(frame int, after time.Duration)
}

// Result is the outcome of Run, printed by the headless mode as one JSON
// line.
type Result struct {
	Frames   uint32 `json:"frames"`
	Checksum uint64 `json:"-"`
	// ChecksumHex is Checksum as 16 hex digits (JSON numbers lose
	// precision above 2^53).
	ChecksumHex string      `json:"checksum"`
	Players     int         `json:"players"`
	Phase       string      `json:"phase"`
	Round       int         `json:"round"`
	Winner      int         `json:"winner"` // -1 until the match is over
	Wins        []int       `json:"wins"`
	Kills       []int       `json:"kills"`
	Elapsed     JSONSeconds `json:"elapsed_s"`
	// Start is, for a networked session, when the match started after Run
	// began (the start barrier: every peer reaches every other).
	Start *JSONSeconds `json:"start_s,omitempty"`
	// Connect is, for a session with peers in other processes, how long
	// this peer took to connect to every other (mesh.Connect, from the
	// match's roster), before Run.
	Connect *JSONSeconds `json:"connect_s,omitempty"`
	// Confirmed is set for a networked session: the last frame every peer
	// confirmed, its checksum, and whether every peer agrees on it.
	Confirmed *ConfirmedResult `json:"confirmed,omitempty"`
	// Reconnects lists, for a session with peers in other processes, the
	// reconnects of its signaling client during the match (at most 32).
	Reconnects []SignalingReconnect `json:"reconnects,omitempty"`
	// Map is, for a lobby's match on a map the lobby offered, that map
	// and where this player got it.
	Map *MapResult `json:"map,omitempty"`
	// Broadcast is, for a lobby's match, this player's share of the
	// broadcast to its spectators.
	Broadcast *BroadcastResult `json:"broadcast,omitempty"`
}

// RejoinResult is a player back in the match after a restart: its new
// peer id, its seats and the frame from which it plays again.
type RejoinResult struct {
	Peer  string `json:"peer,omitempty"`
	Seats []int  `json:"seats"`
	Frame int    `json:"frame"`
	Self  bool   `json:"self,omitempty"`
	// SyncFrame is, for this player's own rejoin, the confirmed frame
	// whose checksums showed it back in sync (rollback.EventInSync); 0
	// when that did not happen before the end.
	SyncFrame int `json:"sync_frame,omitempty"`
}

// ConfirmedResult is the state of the last frame every peer confirmed and,
// for a match with peers in other processes, the agreed outcome
// (rollback.Outcome): PeersAgree holds only when every peer reported the
// same final checksum for the same frame with the full roster.
type ConfirmedResult struct {
	Frame      int    `json:"frame"`
	Checksum   string `json:"checksum"`
	PeersAgree bool   `json:"peers_agree"`
	// RosterFull is false when a player was dropped (or this peer was).
	RosterFull bool `json:"roster_full"`
	// Remaining lists the seats still in the match at the end.
	Remaining []int `json:"remaining,omitempty"`
	// Dropped lists the players dropped by agreement.
	Dropped []DroppedResult `json:"dropped,omitempty"`
	// Rejoins lists the players that rejoined the match after a restart
	// (this one included, with Self set).
	Rejoins []RejoinResult `json:"rejoins,omitempty"`
	// Reports counts the final reports this peer received from the others.
	Reports int `json:"reports"`
	// Reason says why PeersAgree is false.
	Reason string `json:"reason,omitempty"`
}

// DroppedResult is a player dropped during the match.
type DroppedResult struct {
	Peer  string `json:"peer"`
	Seats []int  `json:"seats"`
	Frame int    `json:"frame"`
	// Until, when not 0, is the frame from which the seats played again
	// after their player rejoined.
	Until int `json:"until,omitempty"`
}

// outcomer is a networked session that reports the agreed outcome.
type outcomer interface {
	confirmedResult() *ConfirmedResult
	startedAfter(start time.Time) (time.Duration, bool)
	inSyncAfter(start time.Time) (int, time.Duration, bool)
	connectTime() time.Duration
	signalingReconnects(from int) []SignalingReconnect
}

// confirmer is a session that can report its last confirmed frame.
var _ confirmer = (*Simulated)(nil)

type confirmer interface {
	Confirmed() (frame int, sum uint64, agree bool)
	// RosterFull reports whether every player is still in the match, as
	// the sessions know it.
	RosterFull() bool
}

// JSONSeconds is a duration that marshals as seconds.
type JSONSeconds time.Duration

// MarshalJSON writes the duration in seconds with millisecond precision.
func (d JSONSeconds) MarshalJSON() ([]byte, error) {
	return []byte(fmt.Sprintf("%.3f", time.Duration(d).Seconds())), nil
}

// maxJSONSeconds bounds what UnmarshalJSON takes (about 285 years), so
// that the duration cannot overflow.
const maxJSONSeconds = 9e9

// UnmarshalJSON reads a number of seconds, as MarshalJSON writes it,
// rounded to the millisecond. Anything else, or more than 9e9 seconds
// either way, is an error wrapping ErrBadResult.
func (d *JSONSeconds) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: seconds: %v", ErrBadResult, err)
	}
	if s > maxJSONSeconds || s < -maxJSONSeconds {
		return fmt.Errorf("%w: %g seconds out of range", ErrBadResult, s)
	}
	*d = JSONSeconds(time.Duration(math.Round(s*1e3)) * time.Millisecond)
	return nil
}

// String formats the duration as time.Duration does.
func (d JSONSeconds) String() string { return time.Duration(d).String() }

// JSON returns r as one line of JSON.
func (r Result) JSON() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a Result always marshals
	}
	return string(b)
}

// ResultOf summarises a state.
func ResultOf(s *arena.State) Result {
	n := int(s.NumPlayers)
	r := Result{
		Frames:   s.Frame,
		Checksum: s.Checksum(),
		Players:  n,
		Phase:    s.Phase.String(),
		Round:    int(s.Round),
		Winner:   int(s.MatchWinner),
		Wins:     make([]int, n),
		Kills:    make([]int, n),
	}
	r.ChecksumHex = fmt.Sprintf("%016x", r.Checksum)
	for i := 0; i < n; i++ {
		r.Wins[i] = int(s.Players[i].Wins)
		r.Kills[i] = int(s.Players[i].Kills)
	}
	return r
}

// settler is a networked session whose peers must end on the same frame:
// finish tells it the end frame before play; settle then waits until every
// peer reported the final state of frame end.
type settler interface {
	finish(end int) error
	settle(ctx context.Context, linger time.Duration) (*arena.State, error)
}

// Run plays sess without a window until cfg's limits or the end of the
// match, and returns the final Result. It does not close sess. On
// cancellation it returns the result so far and an error satisfying
// errors.Is(err, context.Canceled).
//
// A session with peers in other processes (Online) plays exactly the frame
// limit, which it needs, and does not stop early at the end of the match:
// its session ends at the limit (rollback.Session.Finish), and Run waits
// until every peer reported its final state and reports that frame and the
// agreed outcome, so that every peer prints the same result.
func Run(ctx context.Context, sess Session, cfg RunConfig) (Result, error) {
	start := time.Now()
	limit := cfg.Frames
	if cfg.Duration > 0 {
		if f := int(cfg.Duration * arena.TickRate / time.Second); limit == 0 || f < limit {
			limit = max(f, 1)
		}
	}
	st, networked := sess.(settler)
	if networked && limit == 0 {
		return Result{}, fmt.Errorf("%w: a match with remote peers needs a frame limit", ErrBadConfig)
	}
	if networked {
		if err := st.finish(limit); err != nil {
			return Result{}, err
		}
	}
	input := cfg.Input
	if input == nil {
		input = arena.BotInput
	}
	const tick = time.Second / arena.TickRate
	var timer *time.Timer
	if !cfg.Fast {
		timer = time.NewTimer(tick)
		defer timer.Stop()
	}
	result := func(s *arena.State) Result {
		r := ResultOf(s)
		r.Elapsed = JSONSeconds(time.Since(start))
		if o, ok := sess.(outcomer); ok {
			r.Confirmed = o.confirmedResult()
			if d, ok := o.startedAfter(start); ok {
				s := JSONSeconds(d)
				r.Start = &s
			}
			if d := o.connectTime(); d > 0 {
				c := JSONSeconds(d)
				r.Connect = &c
			}
			r.Reconnects = o.signalingReconnects(0)
			if on, ok := sess.(*Online); ok {
				r.Map = on.mapInfo
				r.Broadcast = on.broadcastResult()
			}
		} else if c, ok := sess.(confirmer); ok {
			f, sum, agree := c.Confirmed()
			r.Confirmed = &ConfirmedResult{Frame: f, Checksum: fmt.Sprintf("%016x", sum), PeersAgree: agree, RosterFull: c.RosterFull()}
		}
		return r
	}
	reconnects := 0 // reported to cfg.OnReconnect
	for ticks := 0; ; ticks++ {
		s := sess.State()
		if (limit > 0 && int(s.Frame) >= limit) || (!networked && s.Phase == arena.PhaseMatchOver) {
			break
		}
		if cfg.Fast {
			if err := ctx.Err(); err != nil {
				return result(s), fmt.Errorf("match: headless run stopped: %w", err)
			}
		} else {
			// Pace ticks on absolute deadlines so that a slow tick is
			// caught up rather than pushing every later one back.
			next := start.Add(time.Duration(ticks+1) * tick)
			timer.Reset(time.Until(next))
			select {
			case <-ctx.Done():
				return result(s), fmt.Errorf("match: headless run stopped: %w", ctx.Err())
			case <-timer.C:
			}
		}
		var in arena.Input
		if p := sess.LocalPlayer(); p >= 0 {
			in = input(s, p)
		}
		before := s.Frame
		if err := sess.Tick(in); err != nil {
			return result(s), err
		}
		if o, ok := sess.(outcomer); ok && cfg.OnStart != nil {
			if d, ok := o.startedAfter(start); ok {
				cfg.OnStart(d)
				cfg.OnStart = nil
			}
		}
		if o, ok := sess.(outcomer); ok && cfg.OnReconnect != nil {
			for _, rc := range o.signalingReconnects(reconnects) {
				cfg.OnReconnect(rc)
				reconnects++
			}
		}
		if o, ok := sess.(outcomer); ok && cfg.OnInSync != nil {
			if f, d, ok := o.inSyncAfter(start); ok {
				cfg.OnInSync(f, d)
				cfg.OnInSync = nil
			}
		}
		if cfg.Fast && networked && sess.State().Frame == before {
			// Waiting for the peers' inputs (the prediction window is
			// full): yield instead of spinning.
			time.Sleep(100 * time.Microsecond)
		}
	}
	if networked {
		final, err := st.settle(ctx, time.Second)
		if err != nil {
			return result(sess.State()), err
		}
		// Report the final frame itself as the confirmed one, so that
		// every peer prints the same line.
		r := result(final)
		if r.Confirmed != nil {
			r.Confirmed.Frame, r.Confirmed.Checksum = limit-1, r.ChecksumHex
		}
		return r, nil
	}
	return result(sess.State()), nil
}
