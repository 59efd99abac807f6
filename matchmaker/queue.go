package matchmaker

import (
	"fmt"
	"math"
	"time"
)

// RuleKind says what a Rule compares.
type RuleKind uint8

// The rule kinds. The values are stable: only append.
const (
	// RuleSkill keeps the spread of ticket skills (a ticket's skill is the
	// mean Mu of its players) within Value: max - min <= Value over the
	// whole match.
	RuleSkill RuleKind = iota + 1
	// RuleDifference keeps the spread of the number attribute Key within
	// Value over the whole match. A ticket without the attribute counts as 0.
	RuleDifference
	// RuleEqual requires every ticket of a match to carry the same string
	// attribute Key (a missing attribute is the empty string). A RuleEqual
	// without steps partitions the pool: tickets with different values are
	// never even compared.
	RuleEqual
	// RuleRange admits a ticket only while its number attribute Key lies in
	// [Min-Value, Max+Value]: steps widen the range with the ticket's own
	// wait. A ticket without the attribute counts as 0.
	RuleRange
	// RuleLatency requires a region in which every ticket of the match has a
	// latency of at most Value milliseconds; the match is placed in the one
	// with the lowest worst latency. A ticket without latencies accepts any
	// region.
	RuleLatency
	// RuleTags requires the tickets of a match to share at least one tag
	// (for example the game modes each player accepts).
	RuleTags
)

// String returns the kind's name.
func (k RuleKind) String() string {
	switch k {
	case RuleSkill:
		return "skill"
	case RuleDifference:
		return "difference"
	case RuleEqual:
		return "equal"
	case RuleRange:
		return "range"
	case RuleLatency:
		return "latency"
	case RuleTags:
		return "tags"
	default:
		return fmt.Sprintf("rule(%d)", uint8(k))
	}
}

// Step changes a rule once a ticket has waited After: from then on the rule
// uses Value, or is switched off if Off is set. Steps are listed in
// increasing After; a step takes effect at exactly After (wait >= After).
type Step struct {
	After time.Duration `json:"after"`
	Value float64       `json:"value,omitempty"`
	Off   bool          `json:"off,omitempty"`
}

// Rule is one matching condition with optional expansion over wait time.
//
// Rules that compare tickets with each other (all kinds but RuleRange) use
// the wait of the match's seed: the longest-waiting ticket, around which
// the match is built. A long wait thus widens the seed's tolerance, and the
// newcomers it accepts were within that widened tolerance.
type Rule struct {
	Kind RuleKind `json:"kind"`
	// Key names the ticket attribute the rule reads (unused by RuleSkill,
	// RuleLatency and RuleTags).
	Key string `json:"key,omitempty"`
	// Value is the rule's initial tolerance: the maximum spread
	// (RuleSkill, RuleDifference), the widening of [Min, Max] (RuleRange),
	// the maximum latency in milliseconds (RuleLatency). Unused by RuleEqual
	// and RuleTags.
	Value float64 `json:"value,omitempty"`
	// Min and Max bound RuleRange.
	Min float64 `json:"min,omitempty"`
	Max float64 `json:"max,omitempty"`
	// Steps expand the rule over wait time.
	Steps []Step `json:"steps,omitempty"`
}

// at returns the rule's tolerance after waiting w, and whether it is on.
func (r *Rule) at(w time.Duration) (value float64, on bool) {
	value, on = r.Value, true
	for _, s := range r.Steps {
		if w < s.After {
			break
		}
		if s.Off {
			return value, false
		}
		value = s.Value
	}
	return value, on
}

// Shape is the form of a match: Teams teams of TeamSize players. A
// free-for-all is TeamSize 1 with Teams the most players, MinTeams the
// fewest, and TeamsMultiple a required multiple of the team count.
//
// Parties are kept together on one team, so a party may not be larger than
// TeamSize.
type Shape struct {
	// TeamSize is the number of players on each team. Zero means 1.
	TeamSize int `json:"team_size,omitempty"`
	// Teams is the number of teams of a full match. Zero means 2.
	Teams int `json:"teams,omitempty"`
	// MinTeams is the fewest teams a match may start with when no full
	// match can be made. Zero means Teams: only full matches.
	MinTeams int `json:"min_teams,omitempty"`
	// TeamsMultiple: the number of teams in a match is a multiple of it.
	// Zero means 1.
	TeamsMultiple int `json:"teams_multiple,omitempty"`
	// MinTeamsSteps relax MinTeams with the seed's wait: each step's Value
	// is the new MinTeams (for example 8 players, then 6 after 20 s, then 4
	// after 40 s). Off is ignored.
	MinTeamsSteps []Step `json:"min_teams_steps,omitempty"`
}

func (s Shape) withDefaults() Shape {
	if s.TeamSize == 0 {
		s.TeamSize = 1
	}
	if s.Teams == 0 {
		s.Teams = 2
	}
	if s.MinTeams == 0 {
		s.MinTeams = s.Teams
	}
	if s.TeamsMultiple == 0 {
		s.TeamsMultiple = 1
	}
	return s
}

// minTeams returns the fewest teams allowed after the seed waited w.
func (s *Shape) minTeams(w time.Duration) int {
	m := s.MinTeams
	for _, st := range s.MinTeamsSteps {
		if w < st.After {
			break
		}
		m = int(st.Value)
	}
	return m
}

// Default limits of a queue.
const (
	DefaultTTL        = 5 * time.Minute
	DefaultMaxTickets = 100_000
)

// QueueConfig describes one queue. Only Name is required.
type QueueConfig struct {
	// Name identifies the queue in tickets.
	Name string `json:"name"`
	// Shape is the form of the matches. The zero Shape is 1v1.
	Shape Shape `json:"shape"`
	// Rules every match must satisfy. None means any tickets match.
	Rules []Rule `json:"rules,omitempty"`
	// TTL is how long a ticket waits before it expires. Zero means
	// DefaultTTL; a negative value means tickets never expire.
	TTL time.Duration `json:"ttl,omitempty"`
	// MaxTickets bounds the waiting tickets of the queue; Enqueue beyond it
	// fails with ErrPoolFull. Zero means DefaultMaxTickets.
	MaxTickets int `json:"max_tickets,omitempty"`
	// MaxScan bounds how many incompatible candidates one seed may examine
	// in a pass before the matchmaker gives up on it until the next pass.
	// Zero means 256.
	MaxScan int `json:"max_scan,omitempty"`
}

func (q QueueConfig) validate() (QueueConfig, error) {
	bad := func(format string, args ...any) (QueueConfig, error) {
		return q, &QueueError{Queue: q.Name, Reason: fmt.Sprintf(format, args...), Err: ErrInvalidQueue}
	}
	if q.Name == "" || len(q.Name) > MaxStringLen {
		return bad("name must have 1 to %d bytes", MaxStringLen)
	}
	q.Shape = q.Shape.withDefaults()
	s := q.Shape
	if s.TeamSize < 1 || s.TeamSize > MaxTeamSize {
		return bad("team size %d out of [1, %d]", s.TeamSize, MaxTeamSize)
	}
	if s.Teams < 2 || s.Teams > MaxTeams {
		return bad("teams %d out of [2, %d]", s.Teams, MaxTeams)
	}
	if s.MinTeams < 2 || s.MinTeams > s.Teams {
		return bad("min teams %d out of [2, %d]", s.MinTeams, s.Teams)
	}
	if s.TeamsMultiple < 1 || s.TeamsMultiple > s.Teams || s.Teams%s.TeamsMultiple != 0 {
		return bad("teams multiple %d out of [1, %d]", s.TeamsMultiple, s.Teams)
	}
	if len(s.MinTeamsSteps) > MaxSteps {
		return bad("more than %d min-teams steps", MaxSteps)
	}
	for i, st := range s.MinTeamsSteps {
		if st.Value < 2 || st.Value > float64(s.Teams) || st.Value != math.Trunc(st.Value) {
			return bad("min-teams step %d: value %v out of [2, %d]", i, st.Value, s.Teams)
		}
		if i > 0 && st.After < s.MinTeamsSteps[i-1].After {
			return bad("min-teams steps not in increasing order")
		}
	}
	if len(q.Rules) > MaxRules {
		return bad("more than %d rules", MaxRules)
	}
	q.Rules = append([]Rule(nil), q.Rules...)
	for i := range q.Rules {
		r := &q.Rules[i]
		if r.Kind < RuleSkill || r.Kind > RuleTags {
			return bad("rule %d: unknown kind %d", i, r.Kind)
		}
		if len(r.Key) > MaxStringLen {
			return bad("rule %d: key too long", i)
		}
		if (r.Kind == RuleDifference || r.Kind == RuleEqual || r.Kind == RuleRange) && r.Key == "" {
			return bad("rule %d (%v): needs a key", i, r.Kind)
		}
		if !finite(r.Value) || r.Value < 0 || !finite(r.Min) || !finite(r.Max) || r.Min > r.Max {
			return bad("rule %d (%v): bad value or range", i, r.Kind)
		}
		if len(r.Steps) > MaxSteps {
			return bad("rule %d: more than %d steps", i, MaxSteps)
		}
		r.Steps = append([]Step(nil), r.Steps...)
		for j, st := range r.Steps {
			if !finite(st.Value) || st.Value < 0 || st.After < 0 {
				return bad("rule %d step %d: bad value", i, j)
			}
			if j > 0 && st.After < r.Steps[j-1].After {
				return bad("rule %d: steps not in increasing order", i)
			}
		}
	}
	if q.TTL == 0 {
		q.TTL = DefaultTTL
	}
	if q.MaxTickets <= 0 {
		q.MaxTickets = DefaultMaxTickets
	}
	if q.MaxScan <= 0 {
		q.MaxScan = 256
	}
	return q, nil
}
