package matchmaker

import (
	"fmt"
	"time"
)

// Player is one player in a ticket.
type Player struct {
	// ID names the player; it is unique among all waiting tickets.
	ID string `json:"id"`
	// Rating is the player's skill. The zero Rating means a new player
	// (DefaultMu, DefaultSigma).
	Rating Rating `json:"rating"`
}

// Ticket is a request to be matched: one player, or a party that must play
// on the same team.
type Ticket struct {
	// ID names the ticket. Empty means Enqueue assigns one.
	ID string `json:"id,omitempty"`
	// Queue names the queue to wait in.
	Queue string `json:"queue"`
	// Players are the ticket's players; more than one is a party.
	Players []Player `json:"players"`
	// Strings, Numbers and Tags are attributes that rules read.
	Strings map[string]string  `json:"strings,omitempty"`
	Numbers map[string]float64 `json:"numbers,omitempty"`
	Tags    []string           `json:"tags,omitempty"`
	// Latencies maps a region name to this ticket's latency to it in
	// milliseconds (RuleLatency).
	Latencies map[string]float64 `json:"latencies,omitempty"`
}

// Skill returns the ticket's skill as rules and balancing see it: the mean
// Mu of its players.
func (t *Ticket) Skill() float64 {
	if len(t.Players) == 0 {
		return 0
	}
	var s float64
	for _, p := range t.Players {
		s += p.Rating.Mu
	}
	return s / float64(len(t.Players))
}

func (t *Ticket) validate(q *QueueConfig) error {
	bad := func(format string, args ...any) error {
		return &TicketError{Ticket: t.ID, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidTicket}
	}
	if len(t.ID) > MaxStringLen {
		return bad("id longer than %d bytes", MaxStringLen)
	}
	if len(t.Players) == 0 {
		return bad("no players")
	}
	if len(t.Players) > q.Shape.TeamSize {
		return bad("party of %d does not fit a team of %d", len(t.Players), q.Shape.TeamSize)
	}
	for i, p := range t.Players {
		if p.ID == "" || len(p.ID) > MaxStringLen {
			return bad("player %d: id must have 1 to %d bytes", i, MaxStringLen)
		}
		for j := 0; j < i; j++ {
			if t.Players[j].ID == p.ID {
				return bad("player %q twice", p.ID)
			}
		}
		if p.Rating != (Rating{}) && !p.Rating.valid() {
			return bad("player %q: rating not finite or sigma not positive", p.ID)
		}
	}
	if len(t.Strings) > MaxAttributes || len(t.Numbers) > MaxAttributes || len(t.Tags) > MaxAttributes || len(t.Latencies) > MaxAttributes {
		return bad("more than %d attributes of one kind", MaxAttributes)
	}
	for k, v := range t.Strings {
		if len(k) > MaxStringLen || len(v) > MaxStringLen {
			return bad("string attribute longer than %d bytes", MaxStringLen)
		}
	}
	for k, v := range t.Numbers {
		if len(k) > MaxStringLen || !finite(v) {
			return bad("number attribute %q not finite", k)
		}
	}
	for _, tag := range t.Tags {
		if len(tag) > MaxStringLen {
			return bad("tag longer than %d bytes", MaxStringLen)
		}
	}
	for k, v := range t.Latencies {
		if len(k) > MaxStringLen || !finite(v) || v < 0 {
			return bad("latency for %q not a finite non-negative number", k)
		}
	}
	return nil
}

func (t *Ticket) clone() Ticket { return t.cloneInto(nil) }

// cloneInto is clone with the players appended to players[:0], which
// keeps them in players' array when they fit.
func (t *Ticket) cloneInto(players []Player) Ticket {
	c := *t
	c.Players = append(players[:0], t.Players...)
	for i := range c.Players {
		if c.Players[i].Rating == (Rating{}) {
			c.Players[i].Rating = Rating{Mu: DefaultMu, Sigma: DefaultSigma}
		}
	}
	if t.Strings != nil {
		c.Strings = make(map[string]string, len(t.Strings))
		for k, v := range t.Strings {
			c.Strings[k] = v
		}
	}
	if t.Numbers != nil {
		c.Numbers = make(map[string]float64, len(t.Numbers))
		for k, v := range t.Numbers {
			c.Numbers[k] = v
		}
	}
	c.Tags = append([]string(nil), t.Tags...)
	if t.Latencies != nil {
		c.Latencies = make(map[string]float64, len(t.Latencies))
		for k, v := range t.Latencies {
			c.Latencies[k] = v
		}
	}
	return c
}

// MatchedTicket is a ticket placed in a match.
type MatchedTicket struct {
	Ticket Ticket `json:"ticket"`
	// Team is the index of the team the ticket's players play on.
	Team int `json:"team"`
	// Waited is how long the ticket waited.
	Waited time.Duration `json:"waited"`
}

// Match is a group of tickets the matchmaker put together.
type Match struct {
	// ID names the match; the service uses it as the session id.
	ID string `json:"id"`
	// Queue is the queue the tickets waited in.
	Queue string `json:"queue"`
	// Teams lists the players of each team.
	Teams [][]Player `json:"teams"`
	// Tickets are the matched tickets, the seed (longest waiting) first.
	Tickets []MatchedTicket `json:"tickets"`
	// Host is the designated host: the first player of the seed ticket, or
	// for a backfill the request's host.
	Host string `json:"host"`
	// Region is the region chosen by a RuleLatency, if any.
	Region string `json:"region,omitempty"`
	// Quality is the predicted probability of a draw (openskill's
	// predict_draw): near its maximum when the teams are evenly matched.
	Quality float64 `json:"quality"`
	// WinProbability is each team's predicted chance to win.
	WinProbability []float64 `json:"win_probability"`
	// Backfill is the id of the backfill request this match answers; empty
	// for a new match.
	Backfill string `json:"backfill,omitempty"`
	// Session is, for a backfill, the running session the players join.
	Session string `json:"session,omitempty"`
	// At is when the match was made.
	At time.Time `json:"at"`
}

// BackfillRequest asks for players to replace those a running session lost.
// Backfill requests are served before new matches in every pass.
type BackfillRequest struct {
	// ID names the request. Empty means RequestBackfill assigns one.
	ID string `json:"id,omitempty"`
	// Queue is the queue to draw tickets from.
	Queue string `json:"queue"`
	// Session names the running session.
	Session string `json:"session"`
	// Host is the session's host, reported in the Match.
	Host string `json:"host,omitempty"`
	// Teams holds the players still in the session, per team; it has the
	// queue's number of teams (or fewer: missing teams are empty).
	Teams [][]Player `json:"teams"`
	// OpenSlots[i] is the number of players team i lacks. Every open slot
	// must be filled for the request to be served.
	OpenSlots []int `json:"open_slots"`
	// Strings, Numbers, Tags and Latencies describe the session for the
	// rules, as a ticket's would.
	Strings   map[string]string  `json:"strings,omitempty"`
	Numbers   map[string]float64 `json:"numbers,omitempty"`
	Tags      []string           `json:"tags,omitempty"`
	Latencies map[string]float64 `json:"latencies,omitempty"`
}

// TicketStatus reports a waiting ticket.
type TicketStatus struct {
	ID     string        `json:"id"`
	Queue  string        `json:"queue"`
	Waited time.Duration `json:"waited"`
	// Ahead is the number of tickets of the same queue that have waited
	// longer.
	Ahead int `json:"ahead"`
}

// QueueStats summarises a queue.
type QueueStats struct {
	Queue string `json:"queue"`
	// Tickets and Players waiting now.
	Tickets int `json:"tickets"`
	Players int `json:"players"`
	// Wait percentiles of the tickets waiting now.
	WaitP50 time.Duration `json:"wait_p50"`
	WaitP95 time.Duration `json:"wait_p95"`
	WaitP99 time.Duration `json:"wait_p99"`
	// Time-to-match percentiles over the last 1024 matched tickets.
	MatchedP50 time.Duration `json:"matched_p50"`
	MatchedP95 time.Duration `json:"matched_p95"`
	// Totals since the queue was added.
	Matches  uint64 `json:"matches"`
	Matched  uint64 `json:"matched"`
	Expired  uint64 `json:"expired"`
	Canceled uint64 `json:"canceled"`
}

// Result is what one pass produced. It belongs to the caller: later
// passes never write to it. Matches has no capacity past its length (an
// append copies it).
type Result struct {
	Matches []Match
	// Expired are the tickets whose TTL ran out in this pass.
	Expired []Ticket
}
