package matchmaker

import "slices"

// A pass over a large pool needs memory in proportion to the pool: the
// scratch of its search (sort keys, positions, the skill tree) and the
// slices of the matches it returns. The Matchmaker keeps that memory ready
// as tickets arrive, the way a slice grows with appends (Enqueue reserves,
// a pass takes), so a pass allocates little besides its Result's Matches
// array: it holds the lock for less time and gives the collector little to
// do while it runs.

// slab hands out the slices of the matches a pass makes (teams, players,
// matched tickets, win probabilities) from chunks of chunkLen values
// instead of small allocations per match. It only moves forward: a part
// handed out is never handed out again (the Result owns it). Each slice has
// its capacity cut at its length, so a caller that appends to one copies it
// rather than writing into a neighbour. reserve keeps enough chunks ready
// for what the waiting pool could take.
type slab struct {
	p chunks[Player]
	t chunks[MatchedTicket]
	h chunks[[]Player]
	f chunks[float64]
}

// chunkLen is the length of a slab chunk: a match kept after the others
// are dropped keeps at most a chunk of each kind alive (123 KiB of matched
// tickets).
const chunkLen = 1024

// chunks is one kind of a slab: the chunk being cut and whole chunks kept
// ready; room counts the values of both.
type chunks[T any] struct {
	cur   []T
	spare [][]T
	room  int
}

// reserve makes room for at least n values.
func (c *chunks[T]) reserve(n int) {
	for c.room < n {
		c.spare = append(c.spare, make([]T, chunkLen))
		c.room += chunkLen
	}
}

// take returns n values, with capacity n.
func (c *chunks[T]) take(n int) []T {
	if len(c.cur) < n {
		c.room -= len(c.cur) // the rest of the chunk goes unused
		c.cur = nil
		if k := len(c.spare); k > 0 && n <= chunkLen {
			c.cur = c.spare[k-1]
			c.spare[k-1] = nil
			c.spare = c.spare[:k-1]
		} else {
			c.cur = make([]T, max(n, chunkLen))
			c.room += len(c.cur)
		}
	}
	out := c.cur[:n:n]
	c.cur = c.cur[n:]
	c.room -= n
	return out
}

func (s *slab) players(n int) []Player { return s.p.take(n) }

// tickets returns an empty slice with room for n.
func (s *slab) tickets(n int) []MatchedTicket { return s.t.take(n)[:0] }

func (s *slab) teams(n int) [][]Player { return s.h.take(n) }

func (s *slab) floats(n int) []float64 { return s.f.take(n) }

// reserveResults keeps the slab ready for the matches the waiting pool
// could make: a slot per waiting player and ticket, and per team of the
// most matches each queue's players could fill. Enqueue calls it.
func (m *Matchmaker) reserveResults() {
	m.slab.p.reserve(m.poolPlayers)
	m.slab.t.reserve(m.poolTickets)
	m.slab.h.reserve(m.poolTeams)
	m.slab.f.reserve(m.poolTeams)
	if cap(m.matchRoom) < m.poolMatches {
		// Half as much again, so that tickets arriving one by one do not
		// make a new array each; the old one was never handed out.
		m.matchRoom = make([]Match, 0, m.poolMatches+m.poolMatches/2)
	}
}

// matchSlots is the number of matches the queue's waiting players could
// make at most.
func (q *queue) matchSlots() int { return q.players / q.minPlayers }

// teamSlots is the number of teams the queue's waiting players could fill
// at most (in matches of the fewest players the queue allows).
func (q *queue) teamSlots() int {
	return q.players / q.minPlayers * q.cfg.Shape.Teams
}

// reserveBucket gives a bucket, and the Matchmaker's scratch that a pass
// uses for one bucket at a time, room for twice the bucket's waiting
// tickets; Enqueue calls it when the bucket outgrows its room.
func (m *Matchmaker) reserveBucket(b *bucket) {
	n := max(2*b.live, 64)
	b.room = n
	b.ents = slices.Grow(b.ents[:0], n)
	b.keys = slices.Grow(b.keys[:0], n)
	b.skills = slices.Grow(b.skills[:0], n)
	b.posOf = slices.Grow(b.posOf[:0], n)
	b.win = slices.Grow(b.win[:0], n)
	b.gone = slices.Grow(b.gone[:0], n/64+1)
	b.coarse = slices.Grow(b.coarse[:0], n/skillBlock+1)
	b.mid = slices.Grow(b.mid[:0], n/skillLine+1)
	b.tree.reserve(n)
	m.sortBuf = slices.Grow(m.sortBuf[:0], n)
	m.keys = slices.Grow(m.keys[:0], n)
}
