package mmclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// Config configures a Client. The zero value is valid.
type Config struct {
	// EventBuffer is the capacity of the Events channel. When it is full
	// the oldest event is dropped and counted (DroppedEvents); WaitMatched
	// does not depend on the channel. Zero means 64.
	EventBuffer int
	// PushQueue bounds the pushed mm.* messages waiting for the client's
	// goroutine (the queue of its signaling subscription). Past it they
	// are dropped; the client then reports Overflowed and checks its
	// ticket with mm.status. Zero means 256.
	PushQueue int
	// Signaling configures the connection Dial opens. Nil means its zero
	// value. New ignores it.
	Signaling *signaling.ClientConfig
}

// Ticket is what a player (or a party leader) asks the matchmaker for.
type Ticket struct {
	// Queue names the queue, such as "1v1".
	Queue string
	// Party lists the peer ids of the other members of the client's party;
	// each must have agreed first with JoinParty naming this client. Nil
	// means the client queues alone.
	Party []string
	// Strings, Numbers and Tags are attributes the queue's rules read.
	Strings map[string]string
	Numbers map[string]float64
	Tags    []string
	// Latencies maps a region name to the client's latency to it in
	// milliseconds, for queues with a latency rule.
	Latencies map[string]float64
}

// Queued describes a waiting ticket.
type Queued struct {
	// ID names the ticket.
	ID string
	// Queue is the queue it waits in.
	Queue string
	// Rating is the skill the ticket carries (the client's stored rating).
	Rating Rating
	// Party lists the ticket's players for a party ticket (the leader
	// first), nil otherwise.
	Party []string
}

// Status is the client's waiting ticket as the matchmaker sees it.
type Status struct {
	Ticket, Queue string
	// Waited is how long the ticket has waited.
	Waited time.Duration
	// Ahead counts the tickets of the queue that waited longer.
	Ahead int
}

// Stats are a queue's figures: what waits now, wait times of the waiting
// tickets and of matched ones (percentiles), and counts since the server
// started.
type Stats struct {
	Queue                               string
	Tickets, Players                    int
	WaitP50, WaitP95, WaitP99           time.Duration
	MatchedWaitP50, MatchedWaitP95      time.Duration
	Matches, Matched, Expired, Canceled uint64
}

// Reported answers Report: whether the report was accepted, whether it
// completed the majority that applied the result (a Rated event follows),
// and how many reports the session has of how many it needs.
type Reported struct {
	Accepted, Applied bool
	Reports, Needed   int
}

// Backfill answers RequestBackfill: the request's id and the seats it
// opened.
type Backfill struct {
	ID        string
	OpenSlots []int
}

// Client is a player's typed connection to the matchmaker served over
// signaling (rallypoint serve): calls for each request, and the pushed
// mm.* messages as events. All methods are safe for concurrent use.
type Client struct {
	sc      *signaling.Client
	own     bool // Dial opened sc: Close closes it
	sub     *signaling.Subscription
	events  chan Event
	dropped atomic.Uint64
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once

	mu       sync.Mutex
	ticket   *Queued       // the waiting ticket
	waiting  bool          // a ticket waits or an Enqueue is on its way
	outcome  *outcome      // how the latest ticket ended
	changed  chan struct{} // closed and replaced when the above change
	gen      uint64        // Enqueue calls begun
	inflight int           // Enqueue calls waiting for their reply
	early    map[string]*outcome
}

// outcome is how a ticket ended: matched, or err.
type outcome struct {
	m      Matched
	err    error
	ticket string // the ticket that expired or was cancelled, if known
	gen    uint64 // the Enqueue generation it arrived in
}

// Dial connects to a signaling server that serves the matchmaker
// (rallypoint serve) at url, such as "ws://10.0.0.5:7000/ws", and returns a
// Client that owns the connection: Close closes it too. cfg may be nil.
func Dial(ctx context.Context, url string, cfg *Config) (*Client, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	sc, err := signaling.Dial(ctx, url, cfg.Signaling)
	if err != nil {
		return nil, err
	}
	c := New(sc, cfg)
	c.own = true
	return c, nil
}

// QuickMatch dials the server at url (Dial), enqueues t and waits for its
// match (Match): the whole of a quick match in one call. The returned Client
// owns the connection, which is in the match's room (Client.Signaling, for
// the mesh); the caller closes it. On error nothing is left open, and when
// ctx ends the error satisfies errors.Is(err, ctx.Err()).
func QuickMatch(ctx context.Context, url string, t Ticket, cfg *Config) (*Client, Matched, error) {
	c, err := Dial(ctx, url, cfg)
	if err != nil {
		return nil, Matched{}, err
	}
	m, err := c.Match(ctx, t)
	if err != nil {
		c.Close()
		return nil, Matched{}, err
	}
	return c, m, nil
}

// New wraps a connected signaling client. The Client subscribes to the
// pushed mm.* messages of sc (sc.Subscribe), so they no longer reach
// sc.Events; a lobby Client and the mesh may share sc. Close does not
// close sc. cfg may be nil.
func New(sc *signaling.Client, cfg *Config) *Client {
	if cfg == nil {
		cfg = &Config{}
	}
	n := cfg.EventBuffer
	if n <= 0 {
		n = 64
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		sc:      sc,
		sub:     sc.SubscribeWith(signaling.SubscriptionConfig{Types: []string{"mm.*"}, Queue: cfg.PushQueue}),
		events:  make(chan Event, n),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	go c.run()
	return c
}

// Signaling returns the underlying signaling client, which satisfies
// netcode.Signaler: after Matched it is in the match's room.
func (c *Client) Signaling() *signaling.Client { return c.sc }

// Events returns the channel of matchmaker events. It is closed by Close
// and when the signaling client closes.
func (c *Client) Events() <-chan Event { return c.events }

// DroppedEvents counts events dropped because Events was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// Close stops the event goroutine and waits for it; WaitMatched calls
// return ErrClosed. It closes the signaling client only when Dial opened
// it. Close is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.sub.Close()
	})
	<-c.done
	if c.own {
		return c.sc.Close()
	}
	return nil
}

// Enqueue puts the client (with its party, if t.Party is set) in a queue.
// The outcome arrives as an event (Matched, Expired, Canceled) and through
// WaitMatched. A client has at most one waiting ticket.
func (c *Client) Enqueue(ctx context.Context, t Ticket) (Queued, error) {
	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.inflight++
	c.waiting, c.outcome = true, nil
	c.notifyLocked()
	c.mu.Unlock()
	var td service.TicketData
	err := c.request(ctx, service.TypeEnqueue, service.EnqueueData{
		Queue: t.Queue, Party: t.Party, Strings: t.Strings, Numbers: t.Numbers, Tags: t.Tags, Latencies: t.Latencies,
	}, &td)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	// The ticket's end may have overtaken the reply (the reply goes to
	// this goroutine, the pushes that follow it to the event goroutine).
	early := c.early
	if c.inflight == 0 {
		c.early = nil
	}
	if err != nil {
		switch {
		case c.ticket != nil && early[c.ticket.ID] != nil:
			c.end(early[c.ticket.ID]) // an older ticket ended meanwhile
		case c.ticket == nil && c.outcome == nil:
			c.waiting = false
			c.notifyLocked()
		}
		return Queued{}, err
	}
	q := queued(td)
	switch {
	case early[q.ID] != nil:
		c.end(early[q.ID])
	case c.outcome != nil && c.outcome.err == nil && c.outcome.gen == gen:
		// Matched already.
	default:
		c.wait(q)
	}
	return q, nil
}

// Match enqueues t and waits for its match: Enqueue then WaitMatched. When
// ctx ends first, it cancels the ticket (best effort) and returns an error
// satisfying errors.Is(err, ctx.Err()).
func (c *Client) Match(ctx context.Context, t Ticket) (Matched, error) {
	if _, err := c.Enqueue(ctx, t); err != nil {
		return Matched{}, err
	}
	m, err := c.WaitMatched(ctx)
	if err != nil && ctx.Err() != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = c.Cancel(cctx)
		cancel()
	}
	return m, err
}

// WaitMatched blocks until the client's latest ticket ends and returns its
// match, at once if that happened already. A ticket that ends otherwise
// gives ErrExpired, ErrCanceled or ErrLost; a requeued ticket is waited
// for under its new id. Without a ticket it returns ErrNotQueued; when ctx
// ends, an error satisfying errors.Is(err, ctx.Err()); after Close,
// ErrClosed. A party member's ticket counts once the leader enqueued it
// (event Enqueued).
func (c *Client) WaitMatched(ctx context.Context) (Matched, error) {
	for {
		if c.ctx.Err() != nil {
			return Matched{}, ErrClosed
		}
		c.mu.Lock()
		o, waiting, ch := c.outcome, c.waiting, c.changed
		c.mu.Unlock()
		switch {
		case o != nil:
			return o.m, o.err
		case !waiting:
			return Matched{}, ErrNotQueued
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Matched{}, fmt.Errorf("mmclient: waiting for a match: %w", ctx.Err())
		case <-c.done:
			return Matched{}, ErrClosed
		}
	}
}

// Ticket returns the client's waiting ticket, and false when it has none.
func (c *Client) Ticket() (Queued, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ticket == nil {
		return Queued{}, false
	}
	return *c.ticket, true
}

// Cancel withdraws the client's waiting ticket (a party's whole ticket;
// the other members get Canceled). Without one it returns an error
// matching ErrNotQueued.
func (c *Client) Cancel(ctx context.Context) (Queued, error) {
	var td service.TicketData
	if err := c.request(ctx, service.TypeCancel, nil, &td); err != nil {
		return Queued{}, err
	}
	c.mu.Lock()
	if c.outcome == nil && (c.ticket == nil || c.ticket.ID == td.Ticket) {
		c.end(&outcome{err: ErrCanceled, ticket: td.Ticket, gen: c.gen})
	}
	c.mu.Unlock()
	return queued(td), nil
}

// Status returns the client's waiting ticket as the matchmaker sees it,
// or an error matching ErrNotQueued.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var sd service.StatusData
	if err := c.request(ctx, service.TypeStatus, nil, &sd); err != nil {
		return Status{}, err
	}
	return Status{Ticket: sd.Ticket, Queue: sd.Queue, Waited: time.Duration(sd.WaitedMs) * time.Millisecond, Ahead: sd.Ahead}, nil
}

// Stats returns queue's figures: tickets waiting, wait times, matches made.
func (c *Client) Stats(ctx context.Context, queue string) (Stats, error) {
	var sd service.StatsData
	if err := c.request(ctx, service.TypeStats, service.StatsRequest{Queue: queue}, &sd); err != nil {
		return Stats{}, err
	}
	ms := func(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
	return Stats{Queue: sd.Queue, Tickets: sd.Tickets, Players: sd.Players,
		WaitP50: ms(sd.WaitP50Ms), WaitP95: ms(sd.WaitP95Ms), WaitP99: ms(sd.WaitP99Ms),
		MatchedWaitP50: ms(sd.MatchedP50Ms), MatchedWaitP95: ms(sd.MatchedP95Ms),
		Matches: sd.Matches, Matched: sd.Matched, Expired: sd.Expired, Canceled: sd.Canceled}, nil
}

// JoinParty agrees that leader may enqueue this client in its party (the
// leader lists the client in Ticket.Party). The agreement is used up by
// that enqueue; the client learns of it with an Enqueued event.
func (c *Client) JoinParty(ctx context.Context, leader string) error {
	if leader == "" {
		return fmt.Errorf("%w: empty leader", ErrBadRequest)
	}
	return c.request(ctx, service.TypeParty, service.PartyData{Leader: leader}, nil)
}

// LeaveParty withdraws the client's agreement to be enqueued by a leader.
func (c *Client) LeaveParty(ctx context.Context) error {
	return c.request(ctx, service.TypeParty, service.PartyData{}, nil)
}

// Report sends the outcome of session as this client saw it: ranks[i] is
// team i's place (Matched.Teams order), lower is better, equal is a tie.
// Once a strict majority of the session's players reported the same
// ranks, the ratings are updated and every player gets Rated.
func (c *Client) Report(ctx context.Context, session string, ranks []float64) (Reported, error) {
	var rr service.ResultReply
	if err := c.request(ctx, service.TypeResult, service.ResultData{Session: session, Ranks: ranks}, &rr); err != nil {
		return Reported{}, err
	}
	return Reported{Accepted: rr.Accepted, Applied: rr.Applied, Reports: rr.Reports, Needed: rr.Needed}, nil
}

// RequestBackfill asks the matchmaker to replace the players of session
// listed in missing, who left. Newcomers join the session's room and the
// players get Backfilled, naming the request (Backfill.ID). A new request
// replaces a pending one; the request is withdrawn if the client leaves
// for good, and on a cluster it stays pending when the matchmaker's
// leader changes.
func (c *Client) RequestBackfill(ctx context.Context, session string, missing []string) (Backfill, error) {
	var br service.BackfillReply
	if err := c.request(ctx, service.TypeBackfill, service.BackfillData{Session: session, Missing: missing}, &br); err != nil {
		return Backfill{}, err
	}
	return Backfill{ID: br.Backfill, OpenSlots: br.OpenSlots}, nil
}

func (c *Client) request(ctx context.Context, typ string, data, reply any) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	raw, err := c.sc.Request(ctx, typ, data)
	if err != nil {
		return wrapErr(err)
	}
	if reply == nil {
		return nil
	}
	if err := json.Unmarshal(raw, reply); err != nil {
		return fmt.Errorf("mmclient: %s reply: %w", typ, err)
	}
	return nil
}

func queued(td service.TicketData) Queued {
	q := Queued{ID: td.Ticket, Queue: td.Queue, Party: td.Party}
	if td.Rating != nil {
		q.Rating = *td.Rating
	}
	return q
}

// notifyLocked wakes WaitMatched calls. c.mu is held.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// end records how the latest ticket ended. c.mu is held.
func (c *Client) end(o *outcome) {
	c.ticket, c.waiting, c.outcome = nil, false, o
	c.notifyLocked()
}

// wait records q as the waiting ticket. c.mu is held.
func (c *Client) wait(q Queued) {
	c.ticket, c.waiting, c.outcome = &q, true, nil
	c.notifyLocked()
}

func (c *Client) run() {
	defer close(c.done)
	defer close(c.events)
	evs := c.sub.Events()
	for {
		select {
		case <-c.ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			c.handle(ev)
		}
	}
}

func (c *Client) handle(ev signaling.Event) {
	switch ev := ev.(type) {
	case signaling.Message:
		c.handleMessage(ev)
	case signaling.Overflow:
		c.recover()
	case signaling.Reconnected:
		if ev.Resumed {
			return
		}
		// A new session: the server cancelled the old one's ticket.
		c.mu.Lock()
		t, waiting := c.ticket, c.waiting
		if waiting && c.outcome == nil {
			c.end(&outcome{err: fmt.Errorf("%w: the signaling session was not resumed", ErrCanceled), gen: c.gen})
		}
		c.mu.Unlock()
		if waiting && t != nil {
			c.emit(Canceled{Ticket: t.ID, Queue: t.Queue})
		}
	}
}

func (c *Client) handleMessage(m signaling.Message) {
	switch m.Type {
	case service.TypeMatched:
		var d service.MatchedData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		mt := c.matched(d)
		c.mu.Lock()
		c.end(&outcome{m: mt, gen: c.gen})
		c.mu.Unlock()
		c.emit(mt)
	case service.TypeEnqueued, service.TypeRequeued:
		var d service.TicketData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		q := queued(d)
		c.mu.Lock()
		c.wait(q)
		c.mu.Unlock()
		if m.Type == service.TypeEnqueued {
			c.emit(Enqueued{Ticket: q})
		} else {
			c.emit(Requeued{Ticket: q})
		}
	case service.TypeExpired:
		var d service.TicketData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		c.ended(d.Ticket, ErrExpired)
		c.emit(Expired{Ticket: d.Ticket, Queue: d.Queue})
	case service.TypeCanceled:
		var d service.CanceledData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		c.ended(d.Ticket, fmt.Errorf("%w by %s", ErrCanceled, d.By))
		c.emit(Canceled{Ticket: d.Ticket, Queue: d.Queue, By: d.By})
	case service.TypeRated:
		var d service.RatedData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		c.emit(Rated{Session: d.Session, Ratings: d.Ratings, Rating: d.Ratings[c.sc.ID()]})
	case service.TypeBackfilled:
		var d service.BackfilledData
		if json.Unmarshal(m.Data, &d) != nil {
			return
		}
		c.emit(Backfilled{Session: d.Session, Backfill: d.Backfill, Added: d.Added, Teams: d.Teams})
	}
}

// ended records that ticket id ended with err: the waiting ticket ends; while
// an Enqueue waits for its reply the end is kept for it (it may be the new
// ticket's, or the one it replaces); an older ticket's end changes nothing.
func (c *Client) ended(id string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := &outcome{err: err, ticket: id, gen: c.gen}
	switch {
	case c.inflight > 0:
		if c.early == nil {
			c.early = make(map[string]*outcome)
		}
		c.early[id] = o
	case c.ticket != nil && c.ticket.ID == id:
		c.end(o)
	}
}

// recover checks the ticket after pushes were dropped.
func (c *Client) recover() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	st, err := c.Status(ctx)
	cancel()
	c.mu.Lock()
	switch {
	case err == nil:
		q := Queued{ID: st.Ticket, Queue: st.Queue}
		if c.ticket != nil && c.ticket.ID == st.Ticket {
			q = *c.ticket
		}
		c.wait(q)
	case errors.Is(err, ErrNotQueued) && c.waiting && c.outcome == nil && c.inflight == 0:
		c.end(&outcome{err: ErrLost, gen: c.gen})
	}
	c.mu.Unlock()
	c.emit(Overflowed{Dropped: c.sub.Dropped()})
}

// matched turns the wire's match into the event, with the roster from this
// client's side.
func (c *Client) matched(d service.MatchedData) Matched {
	team := make(map[string]int, len(d.Peers))
	for i, t := range d.Teams {
		for _, p := range t {
			team[p] = i
		}
	}
	r := netcode.Roster{Session: d.Session, Self: netcode.PeerID(c.sc.ID()), ICEServers: c.sc.ICEServers()}
	r.Players = make([]netcode.Seat, len(d.Peers))
	for i, p := range d.Peers {
		r.Players[i] = netcode.Seat{Peer: netcode.PeerID(p), Team: team[p]}
	}
	return Matched{Roster: r, Session: d.Session, Room: d.Room, Queue: d.Queue, Host: d.Host,
		Team: d.Team, Teams: d.Teams, Region: d.Region, Quality: d.Quality}
}

// emit delivers ev, dropping the oldest waiting event when Events is full.
func (c *Client) emit(ev Event) {
	for {
		select {
		case c.events <- ev:
			return
		default:
		}
		select {
		case <-c.events:
			c.dropped.Add(1)
		default:
		}
	}
}
