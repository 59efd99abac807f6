package matchmaker

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// group is a match under construction around a seed.
type group struct {
	q       *queue
	seed    *entry
	bf      *backfill
	members []*entry
	sizes   []int
	players int
	target  int
	caps    []int
	lo, hi  float64
	val     []float64 // rule tolerances at the seed's wait
	on      []bool
	dmin    []float64
	dmax    []float64
	mask    uint64
	lat     []float64 // worst latency per region so far
	parties bool      // a member or candidate larger than one player
	pk      packer
}

func (g *group) init(q *queue, seed *entry, bf *backfill, w time.Duration) {
	n := len(q.cfg.Rules)
	g.q, g.seed, g.bf = q, seed, bf
	g.members = g.members[:0]
	g.sizes = g.sizes[:0]
	g.players = 0
	g.parties = false
	g.lo, g.hi = seed.skill, seed.skill
	g.val = resize(g.val, n)
	g.dmin = resize(g.dmin, n)
	g.dmax = resize(g.dmax, n)
	if cap(g.on) < n {
		g.on = make([]bool, n)
	}
	g.on = g.on[:n]
	for i := range q.cfg.Rules {
		g.val[i], g.on[i] = q.cfg.Rules[i].at(w)
		if q.numbers && seed.num != nil {
			g.dmin[i], g.dmax[i] = seed.num[i], seed.num[i]
		}
	}
	if q.hasTags { // the line of the entry that holds it is read only then
		g.mask = seed.tagMask
	}
	g.lat = resize(g.lat, len(q.regions))
	for r := range g.lat {
		g.lat[r] = seed.latency(r)
	}
	s := q.cfg.Shape
	if bf != nil {
		g.caps = append(g.caps[:0], bf.caps...)
		g.target = 0
		for _, c := range bf.caps {
			g.target += c
		}
	} else {
		g.caps = g.caps[:0]
		for i := 0; i < s.Teams; i++ {
			g.caps = append(g.caps, s.TeamSize)
		}
		g.target = s.Teams * s.TeamSize
		g.add(seed)
	}
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

func (g *group) add(c *entry) {
	g.members = append(g.members, c)
	g.sizes = append(g.sizes, int(c.size))
	g.players += int(c.size)
	if int(c.size) > 1 {
		g.parties = true
	}
	g.lo = math.Min(g.lo, c.skill)
	g.hi = math.Max(g.hi, c.skill)
	if g.q.numbers && c.num != nil {
		for i := range g.dmin {
			g.dmin[i] = math.Min(g.dmin[i], c.num[i])
			g.dmax[i] = math.Max(g.dmax[i], c.num[i])
		}
	}
	if g.q.hasTags {
		g.mask &= c.tagMask
	}
	for r := range g.lat {
		g.lat[r] = math.Max(g.lat[r], c.latency(r))
	}
}

// eligible reports whether a ticket passes its own RuleRange rules.
func eligible(q *queue, e *entry, now time.Time) bool {
	for i := range q.cfg.Rules {
		r := &q.cfg.Rules[i]
		if r.Kind != RuleRange {
			continue
		}
		v, on := r.at(now.Sub(e.at))
		if on && (e.num[i] < r.Min-v || e.num[i] > r.Max+v) {
			return false
		}
	}
	return true
}

func (g *group) accepts(c *entry, now time.Time) bool {
	if g.players+int(c.size) > g.target {
		return false
	}
	rules := g.q.cfg.Rules
	for i := range rules {
		r := &rules[i]
		if r.Kind == RuleRange {
			continue
		}
		if !g.on[i] {
			continue
		}
		switch r.Kind {
		case RuleSkill:
			if math.Max(g.hi, c.skill)-math.Min(g.lo, c.skill) > g.val[i] {
				return false
			}
		case RuleDifference:
			if math.Max(g.dmax[i], c.num[i])-math.Min(g.dmin[i], c.num[i]) > g.val[i] {
				return false
			}
		case RuleEqual:
			if c.str[i] != g.seed.str[i] {
				return false
			}
		case RuleTags:
			if g.mask&c.tagMask == 0 {
				return false
			}
		case RuleLatency:
			if len(g.lat) == 0 {
				continue
			}
			ok := false
			for reg := range g.lat {
				if math.Max(g.lat[reg], c.latency(reg)) <= g.val[i] {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
	}
	if !eligible(g.q, c, now) {
		return false
	}
	if (g.parties || int(c.size) > 1) && (g.bf != nil || g.q.cfg.Shape.TeamSize > 1) {
		sizes := append(g.sizes, int(c.size))
		ok := g.pk.pack(sizes, g.caps, nil)
		g.sizes = sizes[:len(sizes)-1]
		if !ok {
			return false
		}
	}
	return true
}

// assemble tries to build a match around seed (or to serve backfill bf,
// whose synthetic seed is seed). On success it writes the match to out and
// returns true; on failure out and the pool are as they were.
func (m *Matchmaker) assemble(q *queue, bk *bucket, seed *entry, bf *backfill, now time.Time, out *Match) bool {
	w := now.Sub(seed.at)
	if bf == nil && !eligible(q, seed, now) {
		return false
	}
	skillV, skillOn := q.skillWindow(w)
	// The window's ends move only when a member widens the group's skills.
	l, r := 0, len(bk.skills)
	winLo, winHi := math.NaN(), math.NaN()
	if bf == nil && skillOn && !m.naive {
		// The seed's first window was found for the whole pool at the start
		// of the pass (the pass only takes tickets away). A seed alone in
		// it has no candidate, and a seed alone makes no match: it is done
		// without touching the bucket's other arrays.
		win := bk.win[seed.rank]
		if win.r-win.l == 1 {
			return false
		}
		l, r = int(win.l), int(win.r)
		winLo, winHi = seed.skill, seed.skill
	}
	g := &m.grp
	g.init(q, seed, bf, w)
	m.removed = m.removed[:0]
	// The seed leaves the tree while it searches (it would leave it anyway
	// on success) so that searches need not step around it.
	self := -1
	if bf == nil {
		self = int(bk.posOf[seed.rank])
		bk.tree.remove(self)
	}
	ents, skills := bk.ents, bk.skills
	scans := 0
	for g.players < g.target && scans < q.cfg.MaxScan {
		var p int
		var rank uint32
		if m.naive {
			// The reference the indexes must agree with (tests only).
			p, rank = naiveNext(bk, g, self, skillOn, skillV)
		} else {
			if skillOn && (g.lo != winLo || g.hi != winHi) {
				winLo, winHi = g.lo, g.hi
				l = firstFrom(skills, bk.mid, bk.coarse, skillKey(g.hi-skillV), true)
				r = firstFrom(skills, bk.mid, bk.coarse, skillKey(g.lo+skillV), false)
			}
			p, rank = bk.tree.minAt(l, r)
		}
		if p < 0 {
			break
		}
		c := ents[rank]
		bk.tree.remove(p)
		m.removed = append(m.removed, examined{uint32(p), rank})
		if g.accepts(c, now) {
			g.add(c)
		} else {
			scans++
		}
	}
	teams := 0
	if g.players == g.target {
		teams = len(g.caps)
	} else if bf == nil {
		teams = g.relax(w)
	}
	if teams == 0 {
		for _, x := range m.removed {
			bk.tree.restore(int(x.pos), x.rank)
		}
		if self >= 0 {
			bk.tree.restore(self, seed.rank)
		}
		return false
	}
	m.finish(q, g, teams, now, out)
	// Members (now dropped) stay out of the tree; everything else examined
	// goes back.
	for _, x := range m.removed {
		if !ents[x.rank].dead {
			bk.tree.restore(int(x.pos), x.rank)
		}
	}
	return true
}

// naiveNext is the scan the indexes replace: it looks at every ticket of
// the bucket for the longest-waiting one not yet examined whose skill
// keeps the group's spread within skillV, and returns its position in
// skill order and its rank, or -1. Tests run passes both ways on random
// pools and compare the matches.
func naiveNext(bk *bucket, g *group, self int, skillOn bool, skillV float64) (int, uint32) {
	// Ranks are in enqueue order: the first ticket that qualifies has
	// waited longest.
	for rank, e := range bk.ents {
		i := int(bk.posOf[rank])
		if i == self || bk.tree.removed(i) {
			continue
		}
		if skillOn && (e.skill < g.hi-skillV || e.skill > g.lo+skillV) {
			continue
		}
		return i, uint32(rank)
	}
	return -1, 0
}

// relax returns the number of teams of a smaller match the group can form
// under the queue's relaxed player count, trimming the youngest members, or
// 0 if none.
func (g *group) relax(w time.Duration) int {
	s := &g.q.cfg.Shape
	minT := s.minTeams(w)
	if minT >= s.Teams {
		return 0
	}
	if s.TeamSize == 1 {
		k := g.players / s.TeamsMultiple * s.TeamsMultiple
		if k < minT {
			return 0
		}
		// Keep the k longest-waiting members.
		slices.SortStableFunc(g.members, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
		g.members = g.members[:k]
		g.players = k
		g.caps = g.caps[:k]
		return k
	}
	if g.players%s.TeamSize != 0 {
		return 0
	}
	k := g.players / s.TeamSize
	if k < minT || k%s.TeamsMultiple != 0 {
		return 0
	}
	g.caps = g.caps[:k]
	sizes := g.sizes[:0]
	for _, e := range g.members {
		sizes = append(sizes, int(e.size))
	}
	if !g.pk.pack(sizes, g.caps, nil) {
		return 0
	}
	return k
}

// pack reports whether parties of the given sizes fit bins of the given
// capacities, each party whole in one bin. If assign is not nil it receives
// the bin of each party. Backtracking over parties, largest first; bins
// with equal remaining room are tried once.
func pack(sizes, caps []int, assign []int) bool {
	var p packer
	return p.pack(sizes, caps, assign)
}

// packer is pack with its scratch kept between calls: a pass asks it about
// every candidate of a match with parties.
type packer struct {
	order, free, bins, sizes []int
}

func (p *packer) pack(sizes, caps []int, assign []int) bool {
	total, room := 0, 0
	for _, s := range sizes {
		total += s
	}
	for _, c := range caps {
		room += c
	}
	if total > room {
		return false
	}
	p.order = p.order[:0]
	for i := range sizes {
		p.order = append(p.order, i)
	}
	slices.SortStableFunc(p.order, func(a, b int) int { return cmp.Compare(sizes[b], sizes[a]) })
	p.free = append(p.free[:0], caps...)
	p.bins = append(p.bins[:0], sizes...) // overwritten: one int per party
	p.sizes = sizes
	if !p.place(0) {
		return false
	}
	if assign != nil {
		copy(assign, p.bins)
	}
	return true
}

func (p *packer) place(k int) bool {
	if k == len(p.order) {
		return true
	}
	free := p.free
	s := p.sizes[p.order[k]]
	for b := range free {
		if free[b] < s {
			continue
		}
		dup := false
		for b2 := 0; b2 < b; b2++ {
			if free[b2] == free[b] {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		free[b] -= s
		p.bins[p.order[k]] = b
		if p.place(k + 1) {
			return true
		}
		free[b] += s
	}
	return false
}

func muSum(e *entry) float64 {
	var s float64
	for _, p := range e.t.Players {
		s += p.Rating.Mu
	}
	return s
}

// balance assigns members to k teams of size each, keeping parties whole
// and team rating sums close. Two teams of up to 16 tickets are solved
// exactly; otherwise greedily (the weakest team with room takes the next
// strongest party), falling back to any exact packing. The result is in
// b's scratch, valid until the next call.
func (b *balancer) balance(members []*entry, k, size int) []int {
	n := len(members)
	b.assign = resizeInts(b.assign, n)
	assign := b.assign
	clear(assign)
	b.mus = resize(b.mus, n)
	mus := b.mus
	for i, e := range members {
		mus[i] = muSum(e)
	}
	if k == 2 && n <= 16 {
		best, bestDiff := -1, math.Inf(1)
		var total float64
		for i := range members {
			total += mus[i]
		}
		for mask := 1; mask < 1<<n; mask += 2 { // member 0 always in team 0
			players := 0
			var sum float64
			for i := 0; i < n; i++ {
				if mask&(1<<i) != 0 {
					players += int(members[i].size)
					sum += mus[i]
				}
			}
			if players != size {
				continue
			}
			if d := math.Abs(2*sum - total); d < bestDiff {
				best, bestDiff = mask, d
			}
		}
		if best >= 0 {
			for i := range members {
				if best&(1<<i) == 0 {
					assign[i] = 1
				}
			}
			return assign
		}
	}
	b.order = b.order[:0]
	for i := range members {
		b.order = append(b.order, i)
	}
	slices.SortStableFunc(b.order, func(x, y int) int {
		ex, ey := members[x], members[y]
		if int(ex.size) != int(ey.size) {
			return cmp.Compare(int(ey.size), int(ex.size))
		}
		return cmp.Compare(mus[y], mus[x])
	})
	b.free = resizeInts(b.free, k)
	b.sums = resize(b.sums, k)
	free, sums := b.free, b.sums
	for i := range free {
		free[i] = size
		sums[i] = 0
	}
	ok := true
	for _, i := range b.order {
		e := members[i]
		t := -1
		for j := 0; j < k; j++ {
			if free[j] >= int(e.size) && (t < 0 || sums[j] < sums[t]) {
				t = j
			}
		}
		if t < 0 {
			ok = false
			break
		}
		assign[i] = t
		free[t] -= int(e.size)
		sums[t] += mus[i]
	}
	if !ok {
		b.sizes = b.sizes[:0]
		for _, e := range members {
			b.sizes = append(b.sizes, int(e.size))
		}
		b.caps = b.caps[:0]
		for j := 0; j < k; j++ {
			b.caps = append(b.caps, size)
		}
		b.pk.pack(b.sizes, b.caps, assign)
	}
	return assign
}

// balancer holds balance's scratch.
type balancer struct {
	assign, order, free, sizes, caps []int
	mus, sums                        []float64
	pk                               packer
}

func resizeInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// finish turns the group into a match in *match (a zero Match) and drops
// its members from the pool.
func (m *Matchmaker) finish(q *queue, g *group, k int, now time.Time, match *Match) {
	s := q.cfg.Shape
	*match = Match{ID: m.newID(), Queue: q.cfg.Name, At: now, Teams: m.slab.teams(k)}
	var assign []int
	switch {
	case g.bf != nil:
		assign = resizeInts(m.assign, len(g.members))
		m.assign = assign
		sizes := g.sizes[:0]
		for _, e := range g.members {
			sizes = append(sizes, int(e.size))
		}
		g.sizes = sizes
		g.pk.pack(sizes, g.caps, assign)
		match.Backfill = g.bf.req.ID
		match.Session = g.bf.req.Session
		match.Host = g.bf.req.Host
	case s.TeamSize == 1:
		assign = m.assign[:0]
		for i := range g.members {
			assign = append(assign, i)
		}
		m.assign = assign
	default:
		assign = m.bal.balance(g.members, k, s.TeamSize)
	}
	if match.Session == "" {
		match.Session = match.ID
	}
	// Every team's players in one allocation (shared with other matches of
	// the pass; each team's capacity ends at its length, so appending to it
	// copies).
	counts := m.counts[:0]
	for t := 0; t < k; t++ {
		n := 0
		if g.bf != nil {
			n = len(g.bf.req.Teams[t])
		}
		counts = append(counts, n)
	}
	for i, e := range g.members {
		counts[assign[i]] += int(e.size)
	}
	m.counts = counts
	total := 0
	for _, n := range counts {
		total += n
	}
	players := m.slab.players(total)
	for t, n := range counts {
		match.Teams[t] = players[:0:n]
		players = players[n:]
		if g.bf != nil {
			match.Teams[t] = append(match.Teams[t], g.bf.req.Teams[t]...)
		}
	}
	match.Tickets = m.slab.tickets(len(g.members))
	for i, e := range g.members {
		t := assign[i]
		match.Teams[t] = append(match.Teams[t], e.t.Players...)
		waited := now.Sub(e.at)
		match.Tickets = append(match.Tickets, MatchedTicket{Ticket: e.t, Team: t, Waited: waited})
		q.ring[q.ringN%len(q.ring)] = waited
		q.ringN++
		m.drop(q, e)
		e.bucket.gone[e.rank/64] |= 1 << (e.rank % 64)
	}
	if match.Host == "" && len(g.members) > 0 {
		match.Host = g.members[0].t.Players[0].ID
	}
	// Region: the one with the lowest worst latency, if latencies are known.
	for i := range q.cfg.Rules {
		if q.cfg.Rules[i].Kind != RuleLatency {
			continue
		}
		best, bestLat := -1, math.Inf(1)
		for r, l := range g.lat {
			if l < bestLat {
				best, bestLat = r, l
			}
		}
		if best >= 0 {
			match.Region = q.regions[best]
		}
		break
	}
	if cap(m.ratings) < k {
		m.ratings = make([][]Rating, k)
	}
	ratings := m.ratings[:k]
	full := true
	for t, players := range match.Teams {
		if len(players) == 0 {
			full = false
		}
		ratings[t] = ratings[t][:0]
		for _, p := range players {
			ratings[t] = append(ratings[t], p.Rating)
		}
	}
	if full && k >= 2 {
		match.Quality = m.rater.predictDraw(ratings)
		match.WinProbability = m.rater.predictWin(ratings, m.slab.floats(k))
	}
	q.matches++
	q.matched += uint64(len(g.members))
}
