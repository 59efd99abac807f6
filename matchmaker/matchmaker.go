package matchmaker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Config configures a Matchmaker. The zero value is valid.
type Config struct {
	// Now returns the current time. Zero means time.Now. Tests inject a
	// fake clock here and call Process to step the matchmaker; it must not
	// go back.
	Now func() time.Time
	// NewID returns a fresh id for tickets, matches and backfill requests
	// that were given none. Zero means 96 random bits in hex.
	NewID func() string
	// Rating parameterises the quality prediction of matches. The zero
	// value is openskill's default Plackett-Luce model.
	Rating RatingConfig
}

// Matchmaker holds queues of waiting tickets and turns them into matches
// when Process is called. It is pure logic: no goroutines, no sockets, no
// timers. It is safe for concurrent use; Process holds the Matchmaker's lock
// for the duration of a pass.
type Matchmaker struct {
	mu        sync.Mutex
	now       func() time.Time
	newID     func() string
	rater     *Rater
	queues    map[string]*queue
	names     []string // queue names, sorted
	tickets   index    // by ticket id
	players   index    // by player id
	backfills map[string]*backfill
	seq       uint64

	// What the waiting pool could take from the slab and the matches'
	// room (reserveResults).
	poolPlayers, poolTickets, poolTeams, poolMatches int
	// matchRoom is zero Matches kept for the next pass's Result (len 0):
	// the part of an array that no Result has been handed.
	matchRoom []Match

	// scratch reused across passes
	removed []examined
	widths  []float64 // the distinct skill windows of a pass's seeds
	ends    []int     // scratch of the windows' sweep: two ends per width
	keys    []uint32
	sortBuf []sortKey
	assign  []int
	counts  []int
	slab    slab
	naive   bool // tests: find candidates by scanning every ticket
	grp     group
	inPass  bool // Process runs: drop defers the indexes' deletions to the end of the pass
	bal     balancer
	ratings [][]Rating
}

// New returns a Matchmaker with no queues.
func New(cfg Config) *Matchmaker {
	m := &Matchmaker{
		now:       cfg.Now,
		newID:     cfg.NewID,
		rater:     NewRater(cfg.Rating),
		queues:    map[string]*queue{},
		tickets:   newIndex(),
		players:   newIndex(),
		backfills: map[string]*backfill{},
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.newID == nil {
		m.newID = (&randomIDs{}).next
	}
	return m
}

// randomIDs makes ids of 96 random bits in hex, drawing the bits from the
// system 64 ids at a time (a pass that makes 50,000 matches would
// otherwise make 50,000 system calls) and handing out the ids as parts of
// one string per 64 (one allocation instead of 64; an id kept keeps its 1.5
// KiB batch). Its user holds the Matchmaker's lock.
type randomIDs struct {
	batch string
	off   int
}

const idsPerBatch = 64

func (r *randomIDs) next() string {
	if r.off == len(r.batch) {
		var raw [idsPerBatch * 12]byte
		_, _ = rand.Read(raw[:])
		r.batch = hex.EncodeToString(raw[:])
		r.off = 0
	}
	id := r.batch[r.off : r.off+24]
	r.off += 24
	return id
}

type queue struct {
	cfg       QueueConfig
	entries   []*entry // enqueue order; dead entries until compaction
	live      int
	dead      int
	players   int
	hardEqual []int // indices of RuleEqual rules without steps: partition keys
	// minPlayers is the fewest players of a match (MinTeams at its most
	// relaxed, times TeamSize).
	minPlayers int
	numbers    bool // a RuleDifference or RuleRange reads entries' num
	hasTags    bool // a RuleTags reads entries' tagMask
	// skillAfters are the waits at which a skill rule's window changes,
	// sorted: a seed's window is the same between two of them.
	skillAfters []time.Duration
	tags        map[string]uint8
	regions     []string
	regionIdx   map[string]int
	backfills   []*backfill
	buckets     map[string]*bucket

	ring    [1024]time.Duration
	ringN   int
	matches uint64
	matched uint64
	expired uint64
	cancels uint64
}

type entry struct {
	// What a pass reads of every ticket comes first, in one cache line
	// (entries are 320 bytes, a size class whose objects start on a line),
	// so that its sweeps over the pool read one line of each entry; then
	// what it reads of the tickets it matches, within the first four
	// lines, which a pass prefetches.
	rank uint32 // enqueue order within its bucket, the bucket's tree key
	// handle is the entry's slot in the Matchmaker's ticket index and
	// phandles[j] its player j's slot in the player index (psolo[0] for a
	// one-player ticket), so leaving the pool costs no lookup.
	handle int32
	psolo  [1]int32
	size   uint16 // players; at most MaxPartySize
	dead   bool
	skill  float64
	at     time.Time
	bucket *bucket
	seq    uint64

	t Ticket
	// solo holds the player of a one-player ticket (t.Players points
	// into it), so a pass reads the ticket's player from the entry's own
	// memory rather than from an allocation of its own.
	solo     [1]Player
	phandles []int32
	tagMask  uint64

	num  []float64 // per rule index (RuleDifference, RuleRange)
	str  []string  // per rule index (RuleEqual)
	lat  []float64 // per region index; nil: any region
	part string    // partition key (hard RuleEqual values)
}

// examined is a candidate a seed took out of its bucket's tree: its
// position in skill order and its rank.
type examined struct{ pos, rank uint32 }

// span is the positions [l, r) of a bucket's skill order whose skills lie
// in an entry's skill window as a seed at the start of the pass.
type span struct{ l, r int32 }

// A bucket is the tickets of a queue's partition (the values of its
// RuleEqual rules without steps). A ticket joins its bucket at Enqueue; a
// pass builds the arrays below, in the room Enqueue reserved.
type bucket struct {
	live int       // waiting tickets
	room int       // tickets the arrays below have room for
	keys []sortKey // scratch of a pass: sort keys in rank order
	// ents is in rank (enqueue) order: the tree gives a candidate's rank
	// with its position, and the candidate's entry is then read from an
	// array the pass walks in the same order as its seeds, which is mostly
	// in cache, instead of from an array in skill order read at random.
	ents   []*entry
	skills []uint64 // sorted: skillKey of the entries' skills, so window searches read one array
	coarse []uint64 // every skillBlock-th of skills, for firstFrom
	mid    []uint64 // every skillLine-th of skills, for firstFrom
	posOf  []int32  // by rank: the entry's position in skill order
	win    []span   // by rank: the entry's first window as a seed
	gone   []uint64 // by rank: bit set once the pass matched the entry
	tree   segtree
}

type backfill struct {
	req  BackfillRequest
	seed entry
	caps []int
	dead bool
}

// AddQueue adds a queue. It fails with ErrQueueExists for a second queue of
// one name and with ErrInvalidQueue for an inconsistent configuration.
func (m *Matchmaker) AddQueue(cfg QueueConfig) error {
	cfg, err := cfg.validate()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.queues[cfg.Name]; ok {
		return &QueueError{Queue: cfg.Name, Reason: "added twice", Err: ErrQueueExists}
	}
	q := &queue{cfg: cfg, tags: map[string]uint8{}, regionIdx: map[string]int{}, buckets: map[string]*bucket{}}
	q.minPlayers = cfg.Shape.MinTeams
	for _, st := range cfg.Shape.MinTeamsSteps {
		q.minPlayers = min(q.minPlayers, int(st.Value))
	}
	q.minPlayers *= cfg.Shape.TeamSize
	for i, r := range cfg.Rules {
		if r.Kind == RuleEqual && len(r.Steps) == 0 {
			q.hardEqual = append(q.hardEqual, i)
		}
		if r.Kind == RuleDifference || r.Kind == RuleRange {
			q.numbers = true
		}
		if r.Kind == RuleTags {
			q.hasTags = true
		}
		if r.Kind == RuleSkill {
			for _, st := range r.Steps {
				q.skillAfters = append(q.skillAfters, st.After)
			}
		}
	}
	slices.Sort(q.skillAfters)
	m.queues[cfg.Name] = q
	m.names = append(m.names, cfg.Name)
	sort.Strings(m.names)
	return nil
}

// Queues returns the configurations of the queues, by name.
func (m *Matchmaker) Queues() []QueueConfig {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]QueueConfig, 0, len(m.names))
	for _, n := range m.names {
		out = append(out, m.queues[n].cfg)
	}
	return out
}

// Enqueue adds a ticket to its queue and returns its id. The Matchmaker
// keeps its own copy of t. A zero player rating is replaced by a new
// player's rating.
func (m *Matchmaker) Enqueue(t Ticket) (string, error) {
	return m.enqueue(t, time.Time{})
}

// EnqueueSince is Enqueue for a ticket that has waited since since
// elsewhere (a cluster's new leader putting back the tickets of the old
// one): its wait, and with it the widening of its queue's rules and its
// place among the longest-waiting, go on from there. Tickets wait in
// enqueue order: the ticket is put at its place in it, after the tickets
// enqueued at or before since (this moves the entries after it, cheap
// for a ticket that waited a short time; restore many tickets oldest
// first, so each lands at the end). A since in the future is moved down
// to now; a zero since means now.
func (m *Matchmaker) EnqueueSince(t Ticket, since time.Time) (string, error) {
	return m.enqueue(t, since)
}

// EnqueuedAt returns when a waiting ticket was enqueued (on the
// Matchmaker's clock, Config.Now), or false when it is not waiting.
func (m *Matchmaker) EnqueuedAt(id string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tickets.get(id)
	if e == nil {
		return time.Time{}, false
	}
	return e.at, true
}

func (m *Matchmaker) enqueue(t Ticket, since time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[t.Queue]
	if !ok {
		return "", &TicketError{Ticket: t.ID, Reason: fmt.Sprintf("queue %q", t.Queue), Err: ErrUnknownQueue}
	}
	if err := t.validate(&q.cfg); err != nil {
		return "", err
	}
	if q.live >= q.cfg.MaxTickets {
		return "", &TicketError{Ticket: t.ID, Reason: fmt.Sprintf("%d tickets waiting", q.live), Err: ErrPoolFull}
	}
	if t.ID != "" {
		if m.tickets.get(t.ID) != nil {
			return "", &TicketError{Ticket: t.ID, Reason: "already waiting", Err: ErrDuplicateTicket}
		}
	}
	for _, p := range t.Players {
		if m.players.get(p.ID) != nil {
			return "", &TicketError{Ticket: t.ID, Reason: fmt.Sprintf("player %q", p.ID), Err: ErrAlreadyQueued}
		}
	}
	at := m.now()
	pos := len(q.entries)
	if !since.IsZero() && since.Before(at) {
		at = since
		// Its place in enqueue order: after the entries enqueued at or
		// before since. A ticket put back lands among recent ones, so the
		// walk and the move of the entries after it are short.
		for pos > 0 && q.entries[pos-1].at.After(at) {
			pos--
		}
	}
	e := &entry{at: at, size: uint16(len(t.Players))}
	e.t = t.cloneInto(e.solo[:0])
	if err := q.describe(e, &e.t); err != nil {
		return "", err
	}
	if e.t.ID == "" {
		e.t.ID = m.newID()
		for m.tickets.get(e.t.ID) != nil {
			e.t.ID = m.newID()
		}
	}
	e.skill = e.t.Skill()
	m.tickets.put(e.t.ID, e, -1)
	e.phandles = e.psolo[:0]
	if len(e.t.Players) > 1 {
		e.phandles = make([]int32, 0, len(e.t.Players))
	}
	e.phandles = e.phandles[:len(e.t.Players)]
	for j, p := range e.t.Players {
		m.players.put(p.ID, e, j)
	}
	m.place(q, e, pos)
	b := q.buckets[e.part]
	if b == nil {
		b = &bucket{}
		q.buckets[e.part] = b
	}
	e.bucket = b
	b.live++
	if b.live > b.room {
		m.reserveBucket(b)
	}
	m.poolTeams -= q.teamSlots()
	m.poolMatches -= q.matchSlots()
	q.live++
	q.players += int(e.size)
	m.poolTeams += q.teamSlots()
	m.poolMatches += q.matchSlots()
	m.poolTickets++
	m.poolPlayers += int(e.size)
	m.reserveResults()
	return e.t.ID, nil
}

// seqStep spaces the seq of tickets enqueued in turn, so that a ticket
// put back with an older enqueue time gets a seq between its neighbours'.
const seqStep = 1 << 16

// place puts e at index pos of q.entries (len(q.entries) for a new
// ticket) and gives it a seq that keeps the entries' seqs increasing: the
// queue's order is enqueue order, and Status and the pass's
// longest-waiting order read it from seq.
func (m *Matchmaker) place(q *queue, e *entry, pos int) {
	if pos == len(q.entries) {
		m.seq += seqStep
		e.seq = m.seq
		q.entries = append(q.entries, e)
		return
	}
	var prev uint64
	if pos > 0 {
		prev = q.entries[pos-1].seq
	}
	next := q.entries[pos].seq
	q.entries = slices.Insert(q.entries, pos, e)
	if next-prev >= 2 {
		e.seq = prev + (next-prev)/2
		return
	}
	// No room left between them (many tickets put back at one place):
	// number the queue's entries again, above every seq given so far.
	for _, o := range q.entries {
		m.seq += seqStep
		o.seq = m.seq
	}
}

// describe resolves the rule inputs of a ticket (or a backfill seed).
func (q *queue) describe(e *entry, t *Ticket) error {
	n := len(q.cfg.Rules)
	var parts []string
	for i, r := range q.cfg.Rules {
		switch r.Kind {
		case RuleDifference, RuleRange:
			if e.num == nil {
				e.num = make([]float64, n)
			}
			e.num[i] = t.Numbers[r.Key]
		case RuleEqual:
			if e.str == nil {
				e.str = make([]string, n)
			}
			e.str[i] = t.Strings[r.Key]
		case RuleTags:
			var mask uint64
			for _, tag := range t.Tags {
				bit, ok := q.tags[tag]
				if !ok {
					if len(q.tags) >= 64 {
						return &TicketError{Ticket: t.ID, Reason: "queue already knows 64 distinct tags", Err: ErrInvalidTicket}
					}
					bit = uint8(len(q.tags))
					q.tags[tag] = bit
				}
				mask |= 1 << bit
			}
			if len(t.Tags) == 0 {
				mask = ^uint64(0) // no tags: accepts any
			}
			e.tagMask = mask
		case RuleLatency:
			if len(t.Latencies) == 0 {
				continue
			}
			for region := range t.Latencies {
				if _, ok := q.regionIdx[region]; !ok {
					if len(q.regions) >= 64 {
						return &TicketError{Ticket: t.ID, Reason: "queue already knows 64 regions", Err: ErrInvalidTicket}
					}
					q.regionIdx[region] = len(q.regions)
					q.regions = append(q.regions, region)
				}
			}
			e.lat = make([]float64, len(q.regions))
			for j := range e.lat {
				e.lat[j] = math.Inf(1)
			}
			for region, v := range t.Latencies {
				e.lat[q.regionIdx[region]] = v
			}
		}
	}
	for _, i := range q.hardEqual {
		parts = append(parts, e.str[i])
	}
	if len(parts) > 0 {
		e.part = strings.Join(parts, "\x00")
	}
	return nil
}

func (e *entry) latency(r int) float64 {
	if e.lat == nil {
		return 0
	}
	if r < len(e.lat) {
		return e.lat[r]
	}
	return math.Inf(1)
}

// Cancel removes a waiting ticket. It fails with ErrNotFound if the ticket
// is not waiting (already matched, cancelled or expired).
func (m *Matchmaker) Cancel(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tickets.get(id)
	if e == nil {
		return &TicketError{Ticket: id, Reason: "not waiting", Err: ErrNotFound}
	}
	q := m.queues[e.t.Queue]
	m.drop(q, e)
	q.cancels++
	if q.dead > 1024 && q.dead > q.live {
		q.compact()
	}
	return nil
}

func (m *Matchmaker) drop(q *queue, e *entry) {
	e.dead = true
	if m.inPass {
		m.tickets.delLater(e.handle)
		if int(e.size) == 1 {
			m.players.delLater(e.psolo[0]) // without reading phandles' line
		} else {
			for _, h := range e.phandles {
				m.players.delLater(h)
			}
		}
	} else {
		m.tickets.del(e.handle)
		for _, h := range e.phandles {
			m.players.del(h)
		}
	}
	e.bucket.live--
	m.poolTeams -= q.teamSlots()
	m.poolMatches -= q.matchSlots()
	q.live--
	q.dead++
	q.players -= int(e.size)
	m.poolTeams += q.teamSlots()
	m.poolMatches += q.matchSlots()
	m.poolTickets--
	m.poolPlayers -= int(e.size)
}

func (q *queue) compact() {
	out := q.entries[:0]
	for _, e := range q.entries {
		if !e.dead {
			out = append(out, e)
		}
	}
	for i := len(out); i < len(q.entries); i++ {
		q.entries[i] = nil
	}
	q.entries = out
	q.dead = 0
}

// Status reports a waiting ticket, or ErrNotFound.
func (m *Matchmaker) Status(id string) (TicketStatus, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tickets.get(id)
	if e == nil {
		return TicketStatus{}, &TicketError{Ticket: id, Reason: "not waiting", Err: ErrNotFound}
	}
	q := m.queues[e.t.Queue]
	// Entries are in enqueue (seq) order: e's index, less the dead
	// entries before it (none after a pass).
	ahead := sort.Search(len(q.entries), func(i int) bool { return q.entries[i].seq >= e.seq })
	if q.dead > 0 {
		for _, o := range q.entries[:ahead] {
			if o.dead {
				ahead--
			}
		}
	}
	return TicketStatus{ID: id, Queue: e.t.Queue, Waited: m.now().Sub(e.at), Ahead: ahead}, nil
}

// Ticket returns a copy of a waiting ticket, or ErrNotFound.
func (m *Matchmaker) Ticket(id string) (Ticket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.tickets.get(id)
	if e == nil {
		return Ticket{}, &TicketError{Ticket: id, Reason: "not waiting", Err: ErrNotFound}
	}
	return e.t.clone(), nil
}

// TicketOf returns the id of the ticket a player waits in, or "".
func (m *Matchmaker) TicketOf(player string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.players.get(player); e != nil {
		return e.t.ID
	}
	return ""
}

// RequestBackfill asks for players to fill the open slots of a running
// session. It returns the request's id. The request waits, like a ticket,
// until a pass fills it (the Match has Backfill set) or it is cancelled; it
// does not expire.
func (m *Matchmaker) RequestBackfill(req BackfillRequest) (string, error) {
	return m.requestBackfill(req, time.Time{})
}

// RequestBackfillSince is RequestBackfill for a request made at since
// elsewhere (a cluster's new leader putting back the requests of the old
// one, under their ids): its wait, and with it the widening of its
// queue's rules and its place among the oldest requests, goes on from
// there. A since in the future is moved down to now; a zero since means
// now.
func (m *Matchmaker) RequestBackfillSince(req BackfillRequest, since time.Time) (string, error) {
	return m.requestBackfill(req, since)
}

// BackfillRequestedAt returns when a pending backfill request was made
// (on the Matchmaker's clock), or false when it is not pending.
func (m *Matchmaker) BackfillRequestedAt(id string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.backfills[id]
	if !ok {
		return time.Time{}, false
	}
	return b.seed.at, true
}

func (m *Matchmaker) requestBackfill(req BackfillRequest, since time.Time) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[req.Queue]
	if !ok {
		return "", &TicketError{Ticket: req.ID, Reason: fmt.Sprintf("queue %q", req.Queue), Err: ErrUnknownQueue}
	}
	bad := func(reason string) error {
		return &TicketError{Ticket: req.ID, Reason: reason, Err: ErrInvalidBackfill}
	}
	s := q.cfg.Shape
	if len(req.OpenSlots) == 0 || len(req.OpenSlots) > s.Teams || len(req.Teams) > s.Teams {
		return "", bad("open slots must list 1 to Teams teams")
	}
	if req.Session == "" || len(req.Session) > MaxStringLen || len(req.ID) > MaxStringLen || len(req.Host) > MaxStringLen {
		return "", bad("session must have 1 to MaxStringLen bytes")
	}
	total := 0
	for i, n := range req.OpenSlots {
		have := 0
		if i < len(req.Teams) {
			have = len(req.Teams[i])
		}
		if n < 0 || n+have > s.TeamSize {
			return "", bad(fmt.Sprintf("team %d: %d open slots and %d players exceed team size %d", i, n, have, s.TeamSize))
		}
		total += n
	}
	if total == 0 {
		return "", bad("no open slot")
	}
	if req.ID != "" {
		if _, dup := m.backfills[req.ID]; dup {
			return "", &TicketError{Ticket: req.ID, Reason: "already waiting", Err: ErrDuplicateTicket}
		}
	} else {
		req.ID = m.newID()
	}
	var players []Player
	for _, t := range req.Teams {
		players = append(players, t...)
	}
	pseudo := Ticket{ID: req.ID, Queue: req.Queue, Players: players, Strings: req.Strings, Numbers: req.Numbers, Tags: req.Tags, Latencies: req.Latencies}
	if len(players) > MaxPlayersPerGame {
		return "", bad("too many players")
	}
	// Validate attributes as for a ticket, without the party-size check.
	check := pseudo
	check.Players = []Player{{ID: "backfill"}}
	if err := check.validate(&q.cfg); err != nil {
		return "", err
	}
	for _, p := range players {
		if p.Rating != (Rating{}) && !p.Rating.valid() {
			return "", bad("player rating not finite")
		}
	}
	b := &backfill{caps: append([]int(nil), req.OpenSlots...)}
	b.req = req
	b.req.Teams = make([][]Player, s.Teams)
	for i := range req.Teams {
		b.req.Teams[i] = append([]Player(nil), req.Teams[i]...)
		for j := range b.req.Teams[i] {
			if b.req.Teams[i][j].Rating == (Rating{}) {
				b.req.Teams[i][j].Rating = Rating{Mu: DefaultMu, Sigma: DefaultSigma}
			}
		}
	}
	for len(b.caps) < s.Teams {
		b.caps = append(b.caps, 0)
	}
	at := m.now()
	if !since.IsZero() && since.Before(at) {
		at = since
	}
	b.seed = entry{t: pseudo.clone(), at: at}
	if err := q.describe(&b.seed, &b.seed.t); err != nil {
		return "", err
	}
	if len(players) > 0 {
		b.seed.skill = b.seed.t.Skill()
	} else {
		b.seed.skill = m.rater.cfg.Mu
	}
	m.seq += seqStep
	b.seed.seq = m.seq
	m.backfills[req.ID] = b
	// Oldest request first: one made since an earlier time goes before
	// the younger ones.
	pos := len(q.backfills)
	for pos > 0 && q.backfills[pos-1].seed.at.After(at) {
		pos--
	}
	q.backfills = slices.Insert(q.backfills, pos, b)
	return req.ID, nil
}

// CancelBackfill withdraws a backfill request, or fails with ErrNotFound.
func (m *Matchmaker) CancelBackfill(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.backfills[id]
	if !ok {
		return &TicketError{Ticket: id, Reason: "no such backfill request", Err: ErrNotFound}
	}
	b.dead = true
	delete(m.backfills, id)
	return nil
}

// Stats returns the statistics of a queue, or ErrUnknownQueue.
func (m *Matchmaker) Stats(queueName string) (QueueStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	q, ok := m.queues[queueName]
	if !ok {
		return QueueStats{}, &TicketError{Reason: fmt.Sprintf("queue %q", queueName), Err: ErrUnknownQueue}
	}
	st := QueueStats{Queue: queueName, Tickets: q.live, Players: q.players,
		Matches: q.matches, Matched: q.matched, Expired: q.expired, Canceled: q.cancels}
	st.WaitP50, st.WaitP95, st.WaitP99 = q.waitPercentiles(m.now())
	n := q.ringN
	if n > len(q.ring) {
		n = len(q.ring)
	}
	var buf [len(q.ring)]time.Duration
	recent := buf[:n]
	copy(recent, q.ring[:n])
	slices.Sort(recent)
	st.MatchedP50, st.MatchedP95 = pct(recent, 50), pct(recent, 95)
	return st, nil
}

// waitPercentiles returns the nearest-rank 50th, 95th and 99th percentiles
// of the waits of the queue's live tickets without sorting or allocating
// (Stats runs under the Matchmaker's lock on every request). Entries are in
// enqueue order, so the r-th shortest wait is the r-th live entry from the
// end: an index when no entry is dead (after every pass), else one scan.
// This assumes a clock that does not go back (Config.Now).
func (q *queue) waitPercentiles(now time.Time) (p50, p95, p99 time.Duration) {
	n := q.live
	if n == 0 {
		return 0, 0, 0
	}
	r50, r95, r99 := rank(n, 50), rank(n, 95), rank(n, 99)
	if q.dead == 0 {
		w := func(r int) time.Duration { return now.Sub(q.entries[len(q.entries)-r].at) }
		return w(r50), w(r95), w(r99)
	}
	k := 0
	for i := len(q.entries) - 1; i >= 0 && k < r99; i-- {
		e := q.entries[i]
		if e.dead {
			continue
		}
		k++
		if k == r50 {
			p50 = now.Sub(e.at)
		}
		if k == r95 {
			p95 = now.Sub(e.at)
		}
		if k == r99 {
			p99 = now.Sub(e.at)
		}
	}
	return p50, p95, p99
}

// rank is the 1-based nearest rank of the p-th percentile of n values.
func rank(n, p int) int { return max(1, (n*p+99)/100) }

// pct returns the p-th percentile (nearest rank) of the sorted d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[rank(len(d), p)-1]
}

// Process runs one matching pass over every queue: it expires tickets whose
// TTL ran out, serves backfill requests (oldest first), then builds new
// matches seeded by the longest-waiting tickets. Matched and expired tickets
// leave the pool.
func (m *Matchmaker) Process() Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	// Matches are built in the room Enqueue reserved; the Result takes the
	// part the pass filled, with its capacity cut at its length, and the
	// rest stays for the next pass. No part is handed out twice.
	res := Result{Matches: m.matchRoom[:0]}
	m.inPass = true
	for _, name := range m.names {
		m.processQueue(m.queues[name], now, &res)
	}
	m.inPass = false
	m.tickets.flush()
	m.players.flush()
	n := len(res.Matches)
	m.matchRoom = res.Matches[n:n]
	res.Matches = res.Matches[:n:n]
	if n == 0 {
		res.Matches = nil
	}
	return res
}

func (m *Matchmaker) processQueue(q *queue, now time.Time, res *Result) {
	// One sweep over the pool, in enqueue order: expire, compact, and
	// gather each bucket's tickets and sort keys in rank order, so each
	// entry is read once here.
	for _, b := range q.buckets {
		b.ents = b.ents[:0]
		b.keys = b.keys[:0]
	}
	ttl := q.cfg.TTL
	m.widths = m.widths[:0]
	// The window width of the seeds waiting in [wFrom, wTo).
	var width uint32
	wFrom, wTo := time.Duration(1), time.Duration(0)
	kept := q.entries[:0]
	for i, e := range q.entries {
		if j := i + seedsAhead; j < len(q.entries) {
			prefetch2(unsafe.Pointer(q.entries[j]))
		}
		if e.dead {
			continue
		}
		if ttl > 0 && now.Sub(e.at) >= ttl {
			m.drop(q, e)
			q.expired++
			res.Expired = append(res.Expired, e.t)
			continue
		}
		b := e.bucket
		e.rank = uint32(len(b.ents)) // entries are in enqueue order
		b.ents = append(b.ents, e)
		if w := now.Sub(e.at); w < wFrom || w >= wTo {
			width = m.widthOf(q, w)
			wFrom, wTo = q.skillSteps(w)
		}
		b.keys = append(b.keys, sortKey{skillKey(e.skill), e.rank, width})
		kept = append(kept, e)
	}
	clear(q.entries[len(kept):])
	q.entries = kept
	q.dead = 0
	if q.live == 0 {
		q.backfills = liveBackfills(q.backfills)
		return
	}
	// Sort each bucket by skill, and count the seeds that could make a
	// match: those whose first skill window holds another ticket.
	seeds := 0
	for k, b := range q.buckets {
		if len(b.ents) == 0 {
			delete(q.buckets, k)
			continue
		}
		n := len(b.ents)
		m.sortBuf = slices.Grow(m.sortBuf[:0], n)[:n]
		m.keys = slices.Grow(m.keys[:0], n)
		b.skills = slices.Grow(b.skills[:0], n)
		if cap(b.posOf) < n {
			b.posOf = make([]int32, n)
		}
		b.posOf = b.posOf[:n]
		// Positions go to an array by rank rather than into the entries,
		// so this loop writes to small arrays, not to 100,000 scattered
		// entries.
		sorted := sortKeys(b.keys, m.sortBuf)
		for i, k := range sorted {
			b.posOf[k.rank] = int32(i)
			b.skills = append(b.skills, k.key)
			m.keys = append(m.keys, k.rank)
		}
		seeds += b.windows(sorted, m.widths, &m.ends)
		b.gone = slices.Grow(b.gone[:0], (n+63)/64)[:(n+63)/64]
		clear(b.gone)
		b.coarse = b.coarse[:0]
		for i := 0; i < n; i += skillBlock {
			b.coarse = append(b.coarse, b.skills[i])
		}
		b.mid = b.mid[:0]
		for i := 0; i < n; i += skillLine {
			b.mid = append(b.mid, b.skills[i])
		}
		b.tree.reset(m.keys)
	}
	// Backfill first, oldest request first.
	q.backfills = liveBackfills(q.backfills)
	for _, bf := range q.backfills {
		bk := q.buckets[bf.seed.part]
		if bk == nil {
			continue
		}
		var match Match
		if m.assemble(q, bk, &bf.seed, bf, now, &match) {
			bf.dead = true
			delete(m.backfills, bf.req.ID)
			res.Matches = append(res.Matches, match)
		}
	}
	q.backfills = liveBackfills(q.backfills)
	// New matches, seeded by the longest-waiting tickets, built in place in
	// the result: Enqueue reserved room for as many matches as the pool's
	// players could make (it grows here only if passes ran with no Enqueue
	// in between and used it up), so no match is copied as the slice grows.
	res.Matches = slices.Grow(res.Matches, min(seeds, q.players/q.minPlayers))
	ents := q.entries
	for i, e := range ents {
		// A large pool does not fit the caches: ask for what the seeds a
		// few places on will read (the entry up to its player handles;
		// then a party's players and handles, the tree leaf the seed
		// leaves and the tree's nodes at the ends of its first window), so
		// those loads overlap with this seed's work.
		if j := i + seedsAhead; j < len(ents) {
			prefetch4(unsafe.Pointer(ents[j])) // up to its player handles
		}
		// The candidates a seed takes in a dense pool are mostly tickets
		// enqueued shortly after it: about three in four within 16
		// places, nearly all within 64. Asking for the entries 64 places
		// on warms those the prefetch of seeds has not reached.
		if j := i + candidatesAhead; j < len(ents) {
			prefetch4(unsafe.Pointer(ents[j]))
		}
		if j := i + seedsAhead/2; j < len(ents) {
			if f := ents[j]; !f.dead {
				if int(f.size) > 1 {
					// A party's players and their handles live apart.
					prefetch2(unsafe.Pointer(unsafe.SliceData(f.t.Players)))
					prefetch(unsafe.Pointer(unsafe.SliceData(f.phandles)))
				}
				b := f.bucket
				t := &b.tree
				prefetch(unsafe.Pointer(&t.leaf[b.posOf[f.rank]]))
				// The ends of its first window, where the tree's search
				// reads partial nodes.
				if w := b.win[f.rank]; w.r-w.l > 1 {
					prefetch(unsafe.Pointer(&t.leaf[w.l]))
					prefetch(unsafe.Pointer(&t.leaf[w.r-1]))
					if len(t.level) > 2 {
						lv := t.level[1]
						prefetch(unsafe.Pointer(&lv[w.l/segWidth]))
						prefetch(unsafe.Pointer(&lv[(w.r-1)/segWidth]))
					}
				}
			}
		}
		// A seed with few tickets in its window (a sparse pool) takes
		// candidates enqueued at any time: their entries, named by the tree
		// leaves prefetched above, are asked for two steps later.
		if j := i + seedsAhead/4; j < len(ents) {
			m.prefetchWindow(ents[j], false)
		}
		if j := i + seedsAhead/8; j < len(ents) {
			m.prefetchWindow(ents[j], true)
		}
		if e.dead {
			continue
		}
		// The room past the length is zero and assemble writes a whole
		// match or nothing.
		k := len(res.Matches)
		if k == cap(res.Matches) {
			res.Matches = slices.Grow(res.Matches, 1)
		}
		if m.assemble(q, e.bucket, e, nil, now, &res.Matches[:k+1][k]) {
			res.Matches = res.Matches[:k+1]
		}
	}
	if len(q.buckets) == 1 {
		// The bucket's entries are the queue's in the same order, and the
		// pass marked those it matched: keep the others without reading
		// every entry again.
		for _, b := range q.buckets {
			q.compactFrom(b)
		}
	} else {
		q.compact()
	}
}

// compactFrom keeps the entries of b the pass did not match, as the
// queue's entries; b holds all of the queue's waiting entries.
func (q *queue) compactFrom(b *bucket) {
	out := q.entries[:0]
	for w, bits := range b.gone {
		base := w * 64
		ents := b.ents[base:min(base+64, len(b.ents))]
		if bits == 0 {
			out = append(out, ents...)
			continue
		}
		for i, e := range ents {
			if bits&(1<<i) == 0 {
				out = append(out, e)
			}
		}
	}
	clear(q.entries[len(out):])
	q.entries = out
	q.dead = 0
}

// widthOf returns the index in m.widths of the skill window of a seed that
// waited w, adding it if new, or noWindow if no skill rule is on.
func (m *Matchmaker) widthOf(q *queue, w time.Duration) uint32 {
	v, on := q.skillWindow(w)
	if !on {
		return noWindow
	}
	for i, x := range m.widths {
		if x == v {
			return uint32(i)
		}
	}
	m.widths = append(m.widths, v)
	return uint32(len(m.widths) - 1)
}

// skillSteps returns the waits [from, to) around w over which a seed's
// skill window stays the same.
func (q *queue) skillSteps(w time.Duration) (from, to time.Duration) {
	from, to = math.MinInt64, math.MaxInt64
	for _, a := range q.skillAfters {
		if a <= w {
			from = a
		} else {
			to = a
			break
		}
	}
	return from, to
}

// skillWindow returns the narrowest skill window of the queue's rules for
// a seed that waited w, and whether any skill rule is on.
func (q *queue) skillWindow(w time.Duration) (float64, bool) {
	v, on := math.Inf(1), false
	for i := range q.cfg.Rules {
		if r := &q.cfg.Rules[i]; r.Kind == RuleSkill {
			if x, ok := r.at(w); ok {
				on = true
				v = math.Min(v, x)
			}
		}
	}
	return v, on
}

// windows finds each entry's first window as a seed (what firstFrom would
// find for its skill and width) in one sweep over the bucket's sorted keys:
// for a given width both ends only move up as the skill grows, so each
// width's ends walk the skills once. The windows are then read in the
// seeds' order, not searched for at random places of the skills.
//
// It returns the number of entries that could seed a match: those with no
// skill window or another ticket in theirs.
func (b *bucket) windows(sorted []sortKey, widths []float64, ends *[]int) int {
	n := len(b.skills)
	if cap(b.win) < n {
		b.win = make([]span, n)
	}
	b.win = b.win[:n]
	e := (*ends)[:0]
	for range widths {
		e = append(e, 0, 0)
	}
	*ends = e
	skills := b.skills
	seeds := 0
	for _, k := range sorted {
		if k.win == noWindow {
			b.win[k.rank] = span{0, int32(n)}
			seeds++
			continue
		}
		s, v := keySkill(k.key), widths[k.win]
		lo, hi := skillKey(s-v), skillKey(s+v)
		l, r := e[2*k.win], e[2*k.win+1]
		for l < n && skills[l] < lo {
			l++
		}
		for r < n && skills[r] <= hi {
			r++
		}
		e[2*k.win], e[2*k.win+1] = l, r
		b.win[k.rank] = span{int32(l), int32(r)}
		seeds += b2i(r-l > 1)
	}
	return seeds
}

// smallWindow is the most tickets in a seed's first window whose entries
// a pass prefetches.
const smallWindow = 4

// prefetchWindow asks for the entries in f's first window if it holds few
// (entries), or else for their places in the bucket's entries.
func (m *Matchmaker) prefetchWindow(f *entry, entries bool) {
	if f.dead {
		return
	}
	b := f.bucket
	w := b.win[f.rank]
	if w.r-w.l > smallWindow || w.r-w.l < 2 {
		return
	}
	for _, rank := range b.tree.leaf[w.l:w.r] {
		if rank == emptyLeaf || rank == f.rank {
			continue
		}
		if entries {
			prefetch4(unsafe.Pointer(b.ents[rank]))
		} else {
			prefetch(unsafe.Pointer(&b.ents[rank]))
		}
	}
}

// seedsAhead is how many seeds ahead a pass prefetches an entry.
const seedsAhead = 16

// candidatesAhead is how many places ahead a pass prefetches the entries
// of its seeds' candidates.
const candidatesAhead = 64

func liveBackfills(bs []*backfill) []*backfill {
	out := bs[:0]
	for _, b := range bs {
		if !b.dead {
			out = append(out, b)
		}
	}
	for i := len(out); i < len(bs); i++ {
		bs[i] = nil
	}
	return out
}
