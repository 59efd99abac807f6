package lobby

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// Event is something that happened in the client's lobby or to its
// connection, delivered on Client.Events. The set is closed: StateChanged,
// ChatReceived, Kicked, Closed, Started, Resynced, Disconnected and
// Reconnected. Use a type switch.
type Event interface{ isEvent() }

// StateChanged carries the lobby's state after a change (a pushed
// lobby.state with a higher version than the client held).
type StateChanged struct{ State State }

// ChatReceived carries a chat message of the lobby (the sender's own
// included).
type ChatReceived struct{ Message ChatMessage }

// Kicked reports that the client was removed from its lobby by its host
// (Banned set when it may not come back). A lobby that ends is reported
// as Closed instead.
type Kicked struct{ KickedData }

// Closed reports that the client's lobby ended under it; State no longer
// shows it. Err matches ErrLobbyClosed when the lobby's host closed it: a
// LAN Host that closed, or a host that left with host migration off (a
// lobby.kicked with closed set). On a LAN lobby (ClientConfig.LAN) Err
// matches ErrHostGone when the connection to the host dropped and was not
// resumed within ClientConfig.HostGrace: the hosting process died or left
// the network.
type Closed struct {
	Lobby string
	By    string // the host that closed it; empty when it is gone
	Err   error
}

// Started carries the session descriptor: the client's signaling
// connection is now in the session's room (Session.ID), ready for the
// mesh (pass Client.Signaling() as its netcode.Signaler). Roster is the
// match as the mesh and the rollback session take it: Session.Roster with
// the client's id and the signaling server's ICE servers.
type Started struct {
	Session Session
	Roster  netcode.Roster
}

// Resynced reports the state fetched after a reconnect, or after pushed
// changes were lost (a gap in versions, or the client's subscription
// overflowed); Err is set when the session could not be resumed and the
// client is in no lobby any more. A start the client missed meanwhile is
// reported as Started right after.
type Resynced struct {
	State State
	Err   error
}

// Disconnected reports that the signaling connection dropped (Err says
// why). The signaling client reconnects unless its reconnection is
// disabled: Reconnected follows, then Resynced. Calls made meanwhile wait
// for the connection (or fail, without reconnection). On a LAN lobby,
// Closed follows when the host is not back within ClientConfig.HostGrace.
type Disconnected struct{ Err error }

// Reconnected reports that the signaling connection is back; Resumed
// tells whether the session (peer id, lobby seat) was taken back.
type Reconnected struct{ Resumed bool }

func (StateChanged) isEvent() {}
func (ChatReceived) isEvent() {}
func (Kicked) isEvent()       {}
func (Closed) isEvent()       {}
func (Started) isEvent()      {}
func (Resynced) isEvent()     {}
func (Disconnected) isEvent() {}
func (Reconnected) isEvent()  {}

// ClientConfig configures a Client. The zero value is valid.
type ClientConfig struct {
	// Signaling configures the signaling connection Dial opens. Nil means
	// its zero value.
	Signaling *signaling.ClientConfig
	// EventBuffer is the capacity of the Events channel. When it is full
	// the oldest event is dropped and counted (DroppedEvents); State
	// always holds the newest state. Zero means 256.
	EventBuffer int
	// PushQueue bounds the pushed lobby messages waiting for the client's
	// goroutine (the queue of its signaling subscription). Past it they
	// are dropped and the client resyncs with lobby.sync, reporting
	// Resynced. Zero means 256.
	PushQueue int
	// LAN says that the server is the lobby's hosting process (a LAN
	// Host), not a rendezvous that outlives its lobbies: when the
	// connection drops and is not resumed within HostGrace, the lobby is
	// over and the client reports Closed with ErrHostGone; from then on
	// its calls fail with ErrHostGone instead of waiting for a reconnect
	// that cannot come. DialLAN sets it.
	LAN bool
	// HostGrace is how long a LAN client waits for its connection to the
	// host to be resumed, after the connection was closed under it (not
	// silent: see HostSilence), before it reports the lobby Closed. Zero
	// means DefaultHostGrace (1.5 s): a host process that is alive is
	// back within a few reconnect attempts on a LAN, one that died (its
	// kernel closed the connection) refuses them. It bounds how long
	// members take to see a crashed host.
	HostGrace time.Duration
	// HostSilence replaces HostGrace when the connection dropped because
	// the host went silent (the signaling client's idle timeout: no
	// frame, not even a ping, for its IdleTimeout): a host switched off
	// or stopped, or a live one behind a lossy link, where TCP's
	// retransmissions hold the pings back for seconds and the reconnect's
	// own handshake loses its packets too (at 25% loss, over a second in
	// about half the tries, several seconds now and then). Zero means
	// DefaultHostSilence (15 s).
	HostSilence time.Duration
}

// DefaultHostGrace is ClientConfig.HostGrace's zero value.
const DefaultHostGrace = 1500 * time.Millisecond

// DefaultHostSilence is ClientConfig.HostSilence's zero value.
const DefaultHostSilence = 15 * time.Second

// Client is a lobby member's connection: typed calls over a
// signaling.Client and the lobby's pushed changes as events. All methods
// are safe for concurrent use.
type Client struct {
	sc      *signaling.Client
	sub     *signaling.Subscription
	own     bool
	events  chan Event
	dropped atomic.Uint64
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once

	mu      sync.Mutex
	state   *State
	pending []Delta // deltas that arrived before a join or create reply
	resync  chan struct{}
	started string // the session id last reported as Started

	lan        bool
	graceFor   time.Duration
	silenceFor time.Duration
	grace      *time.Timer // runs while a LAN client waits for its host; owned by run
	// graceTook is the wait grace runs for: graceFor, or silenceFor
	// after a silent host. Owned by run.
	graceTook time.Duration
	// lost is canceled, with ErrHostGone as its cause, once a LAN
	// client's host is gone for good: calls fail instead of waiting for
	// a reconnect that cannot come.
	lost     context.Context
	loseHost context.CancelCauseFunc
	// hold, for tests, stops the event goroutine until the channel it
	// carries is closed.
	hold chan chan struct{}
	// syncHook, set by tests, sees each lobby.sync reply before it is
	// stored.
	syncHook func(State)
}

// Dial connects to a signaling server that serves lobbies (rallypoint
// serve, or a LAN Host) at url, such as "ws://10.0.0.5:7777/ws".
func Dial(ctx context.Context, url string, cfg *ClientConfig) (*Client, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	sc, err := signaling.Dial(ctx, url, cfg.Signaling)
	if err != nil {
		return nil, err
	}
	c := NewClient(sc, cfg)
	c.own = true
	return c, nil
}

// NewClient wraps a connected signaling client. The lobby Client
// subscribes to the pushed lobby.* messages of sc (sc.Subscribe), so they
// no longer reach sc.Events, which stays the application's; the mesh's
// SubscribeSignals and other protocols' subscriptions (a matchmaker
// client) share the connection. Close does not close sc.
func NewClient(sc *signaling.Client, cfg *ClientConfig) *Client {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	n := cfg.EventBuffer
	if n <= 0 {
		n = 256
	}
	ctx, cancel := context.WithCancel(context.Background())
	sub := sc.SubscribeWith(signaling.SubscriptionConfig{Types: []string{"lobby.*"}, Queue: cfg.PushQueue})
	c := &Client{sc: sc, sub: sub, events: make(chan Event, n), ctx: ctx, cancel: cancel, done: make(chan struct{}),
		resync: make(chan struct{}, 1), hold: make(chan chan struct{}), lan: cfg.LAN, graceFor: cfg.HostGrace}
	if c.graceFor <= 0 {
		c.graceFor = DefaultHostGrace
	}
	if c.silenceFor = cfg.HostSilence; c.silenceFor <= 0 {
		c.silenceFor = DefaultHostSilence
	}
	c.lost, c.loseHost = context.WithCancelCause(context.Background())
	go c.run()
	return c
}

// Signaling returns the underlying signaling client, which satisfies
// netcode.Signaler.
func (c *Client) Signaling() *signaling.Client { return c.sc }

// ID returns the client's peer id.
func (c *Client) ID() string { return c.sc.ID() }

// Events returns the channel of lobby events. It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events }

// DroppedEvents counts events dropped because Events was full.
func (c *Client) DroppedEvents() uint64 { return c.dropped.Load() }

// State returns the newest lobby state the client holds, and false when
// it is in no lobby.
func (c *Client) State() (State, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		return State{}, false
	}
	return *c.state, true
}

// Close stops the event goroutine and waits for it, and closes the
// signaling client if Dial opened it. Close is idempotent.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		c.sub.Close()
		if c.own {
			_ = c.sc.Close()
		}
	})
	<-c.done
	return nil
}

func (c *Client) run() {
	defer close(c.done)
	defer close(c.events)
	defer c.stopGrace()
	evs := c.sub.Events()
	for {
		var graceC <-chan time.Time
		if c.grace != nil {
			graceC = c.grace.C
		}
		select {
		case <-c.ctx.Done():
			return
		case ev, ok := <-evs:
			if !ok {
				return
			}
			c.handle(ev)
		case <-graceC:
			c.grace = nil
			c.hostGone()
		case <-c.resync:
			c.doResync()
		case h := <-c.hold:
			select {
			case <-h:
			case <-c.ctx.Done():
				return
			}
		}
	}
}

func (c *Client) handle(ev signaling.Event) {
	switch ev := ev.(type) {
	case signaling.Message:
		switch ev.Type {
		case TypeDelta:
			var d Delta
			if json.Unmarshal(ev.Data, &d) != nil {
				return
			}
			st, ok, gap := c.apply(d)
			if ok {
				c.emit(StateChanged{State: st})
			} else if gap {
				c.doResync()
			}
		case TypeChat:
			var m ChatMessage
			if json.Unmarshal(ev.Data, &m) == nil {
				c.emit(ChatReceived{Message: m})
			}
		case TypeKicked:
			var k KickedData
			if json.Unmarshal(ev.Data, &k) == nil {
				c.mu.Lock()
				mine := c.state != nil && c.state.ID == k.Lobby
				if mine {
					c.state = nil
				}
				c.mu.Unlock()
				switch {
				case k.Closed && mine:
					c.stopGrace()
					c.emit(Closed{Lobby: k.Lobby, By: k.By, Err: ErrLobbyClosed})
				case !k.Closed:
					c.emit(Kicked{k})
				}
			}
		case TypeStarted:
			var s Session
			if json.Unmarshal(ev.Data, &s) == nil {
				c.announce(s)
			}
		}
	case signaling.Overflow:
		// Pushes were lost: the full state tells what they said.
		c.mu.Lock()
		in := c.state != nil
		c.mu.Unlock()
		if in {
			c.doResync()
		}
	case signaling.Disconnected:
		c.emit(Disconnected{Err: ev.Err})
		if c.lan && c.grace == nil && c.lost.Err() == nil {
			c.graceTook = c.graceFor
			if silent(ev.Err) {
				c.graceTook = c.silenceFor
			}
			c.grace = time.NewTimer(c.graceTook)
		}
	case signaling.Reconnected:
		c.stopGrace()
		c.emit(Reconnected{Resumed: ev.Resumed})
		c.mu.Lock()
		had := c.state != nil
		c.mu.Unlock()
		if !had {
			return
		}
		if !ev.Resumed {
			c.mu.Lock()
			c.state = nil
			c.mu.Unlock()
			c.emit(Resynced{Err: fmt.Errorf("%w: the session was not resumed", ErrNotInLobby)})
			return
		}
		c.doResync()
	}
}

// silent reports whether a signaling drop's error is a read timeout: the
// server sent nothing for the client's idle timeout, rather than closing
// the connection.
func silent(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stopGrace stops the wait for a LAN host. Only run calls it.
func (c *Client) stopGrace() {
	if c.grace != nil {
		c.grace.Stop()
		c.grace = nil
	}
}

// hostGone ends the lobby of a LAN client whose host did not come back,
// and fails its calls from then on.
func (c *Client) hostGone() {
	c.loseHost(fmt.Errorf("%w: no connection to the host for %v", ErrHostGone, c.graceTook))
	c.mu.Lock()
	st := c.state
	c.state, c.pending = nil, nil
	c.mu.Unlock()
	if st == nil {
		return
	}
	c.emit(Closed{Lobby: st.ID, Err: context.Cause(c.lost)})
}

// doResync fetches the full state after a drop or a missed change.
func (c *Client) doResync() {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	st, err := c.Sync(ctx)
	cancel()
	if err == nil {
		st.Chat = nil
	}
	c.emit(Resynced{State: st, Err: err})
	if err == nil && st.Session != nil {
		c.mu.Lock()
		missed := c.started != st.Session.ID
		c.mu.Unlock()
		if missed {
			c.announce(*st.Session)
		}
	}
}

// announce reports a start once per session.
func (c *Client) announce(s Session) {
	c.mu.Lock()
	again := c.started == s.ID
	c.started = s.ID
	c.mu.Unlock()
	if again {
		return
	}
	c.emit(Started{Session: s, Roster: c.Roster(s)})
}

// Roster returns s as the match's roster from this client's side: Self is
// the client's peer id and the ICE servers are those the signaling server
// handed out in its last welcome.
func (c *Client) Roster(s Session) netcode.Roster {
	return s.Roster(c.sc.ID(), c.sc.ICEServers())
}

// apply applies a pushed change. It reports whether the state changed,
// and whether a change was missed (a resync is due).
func (c *Client) apply(d Delta) (State, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		// Not in a lobby: left, or the join reply is still on its way.
		// Keep the change for enter.
		if len(c.pending) < 256 {
			c.pending = append(c.pending, d)
		}
		return State{}, false, false
	}
	if d.ID != c.state.ID || d.Version <= c.state.Version {
		return State{}, false, false // another lobby's late push, or old news
	}
	st, ok := c.state.Apply(d)
	if !ok {
		return State{}, false, true
	}
	c.state = &st
	return st, true, false
}

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

func (c *Client) request(ctx context.Context, typ string, data, reply any) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	if c.lan {
		if c.lost.Err() != nil {
			return context.Cause(c.lost)
		}
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		stop := context.AfterFunc(c.lost, func() { cancel(context.Cause(c.lost)) })
		defer stop()
	}
	raw, err := c.sc.Request(ctx, typ, data)
	if err != nil {
		if c.lan && c.lost.Err() != nil && errors.Is(context.Cause(ctx), ErrHostGone) {
			return context.Cause(c.lost)
		}
		if errors.Is(err, signaling.ErrClosed) {
			return fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return wrapErr(err)
	}
	if reply == nil {
		return nil
	}
	if err := json.Unmarshal(raw, reply); err != nil {
		return fmt.Errorf("lobby: %s reply: %w", typ, err)
	}
	return nil
}

func (c *Client) enter(st State) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := st
	cp.Chat = nil
	gap := false
	for _, d := range c.pending { // changes that overtook the reply
		if d.ID != cp.ID || d.Version <= cp.Version {
			continue
		}
		next, ok := cp.Apply(d)
		if !ok {
			gap = true
			break
		}
		cp = next
	}
	c.pending = nil
	c.state = &cp
	if gap {
		select {
		case c.resync <- struct{}{}:
		default:
		}
	}
	return st
}

// Create makes a lobby with the client as host and first member.
func (c *Client) Create(ctx context.Context, d CreateData) (State, error) {
	var st State
	if err := c.request(ctx, TypeCreate, d, &st); err != nil {
		return st, err
	}
	return c.enter(st), nil
}

// List returns a page of public lobbies that match every filter.
func (c *Client) List(ctx context.Context, d ListData) (ListReply, error) {
	var r ListReply
	err := c.request(ctx, TypeList, d, &r)
	return r, err
}

// JoinOptions are what a joiner may add to its request.
type JoinOptions struct {
	Password string
	Member   map[string]string
}

// Join enters the public lobby id. The returned state includes the recent
// chat (State.Chat).
func (c *Client) Join(ctx context.Context, id string, o JoinOptions) (State, error) {
	return c.join(ctx, JoinData{ID: id, Password: o.Password, Member: o.Member})
}

// JoinByCode enters the lobby whose join code is code (public or private).
func (c *Client) JoinByCode(ctx context.Context, code string, o JoinOptions) (State, error) {
	return c.join(ctx, JoinData{Code: code, Password: o.Password, Member: o.Member})
}

func (c *Client) join(ctx context.Context, d JoinData) (State, error) {
	var st State
	if err := c.request(ctx, TypeJoin, d, &st); err != nil {
		return st, err
	}
	return c.enter(st), nil
}

// Spectate watches the running match of the lobby id (or, with a code, of
// the lobby with that join code; o.Password as for Join). The service moves
// the client's connection into the session's room and adds it to
// Session.Spectators; the members' games see it in a Delta.Session change.
// The client does not become a member. The returned roster names the
// spectator (Self is in Spectators): a mesh over Signaling() connects it to
// the players, and a rollback.Spectator with the roster's players as
// Feeders watches the match. The players' sessions must accept it
// (rollback.Config.AcceptSpectators). A lobby that has not started fails
// with ErrNotStarted.
func (c *Client) Spectate(ctx context.Context, id, code string, o JoinOptions) (Session, netcode.Roster, error) {
	st, r, err := c.SpectateState(ctx, id, code, o)
	if err != nil {
		return Session{}, netcode.Roster{}, err
	}
	return *st.Session, r, nil
}

// SpectateState is Spectate returning the lobby's whole State as the
// service answered it (its settings and metadata, such as a game's match
// seed, which a spectator that watches from the first frame needs; its
// Session names the spectator). The client does not hold it: State and
// the lobby's changes are for members.
func (c *Client) SpectateState(ctx context.Context, id, code string, o JoinOptions) (State, netcode.Roster, error) {
	var st State
	d := JoinData{ID: id, Code: code, Password: o.Password, Member: o.Member, Spectate: true}
	if err := c.request(ctx, TypeJoin, d, &st); err != nil {
		return State{}, netcode.Roster{}, err
	}
	if st.Session == nil || !slices.Contains(st.Session.Spectators, c.ID()) {
		return State{}, netcode.Roster{}, errors.New("lobby: the service's reply names no spectator seat")
	}
	return st, c.Roster(*st.Session), nil
}

// Rejoin brings a restarted player back into its lobby's running match
// with the rejoin ticket its previous process's connection held
// (Signaling().RejoinTicket() of a member after the start). It takes the
// seat back in the session's signaling room (signaling.Client.Rejoin),
// then asks the service to put this client in the old peer's place in
// Session.Peers and among the members (lobby.rejoin; o.Member is the
// metadata when the old member is gone). The returned roster names this
// client in the old seat: a mesh over Signaling() and a rollback session
// with Config.Rejoin take the match back.
//
// A ticket of a room that no lobby plays (a server's grouping of next
// arrivals) fails with ErrNotFound once the seat is taken back; the
// signaling client then holds the room and its Seats.
func (c *Client) Rejoin(ctx context.Context, ticket string, o JoinOptions) (State, netcode.Roster, error) {
	if _, err := c.sc.Rejoin(ctx, ticket); err != nil {
		return State{}, netcode.Roster{}, fmt.Errorf("lobby: taking the seat back: %w", err)
	}
	var st State
	if err := c.request(ctx, TypeRejoin, RejoinData{Ticket: ticket, Member: o.Member}, &st); err != nil {
		return State{}, netcode.Roster{}, err
	}
	if st.Session == nil || !slices.Contains(st.Session.Peers, c.ID()) {
		return State{}, netcode.Roster{}, errors.New("lobby: the service's reply names no seat for this client")
	}
	st = c.enter(st)
	return st, c.Roster(*st.Session), nil
}

// Leave leaves the client's lobby.
func (c *Client) Leave(ctx context.Context) error {
	err := c.request(ctx, TypeLeave, nil, nil)
	if err == nil {
		c.mu.Lock()
		c.state, c.pending = nil, nil
		c.mu.Unlock()
	}
	return err
}

// Kick removes peer from the lobby (host only).
func (c *Client) Kick(ctx context.Context, peer string) error {
	return c.request(ctx, TypeKick, KickData{Peer: peer}, nil)
}

// Ban removes peer from the lobby and keeps it out (host only).
func (c *Client) Ban(ctx context.Context, peer string) error {
	return c.request(ctx, TypeKick, KickData{Peer: peer, Ban: true}, nil)
}

// SetMemberMeta replaces the client's own member metadata.
func (c *Client) SetMemberMeta(ctx context.Context, meta map[string]string) error {
	return c.request(ctx, TypeMeta, MetaData{Member: meta}, nil)
}

// SetReady sets the client's ready flag.
func (c *Client) SetReady(ctx context.Context, ready bool) error {
	return c.request(ctx, TypeReady, ReadyData{Ready: ready}, nil)
}

// Chat sends a chat message to the lobby and returns it as stored.
func (c *Client) Chat(ctx context.Context, text string) (ChatMessage, error) {
	var m ChatMessage
	err := c.request(ctx, TypeChat, ChatData{Text: text}, &m)
	return m, err
}

// SetSettings changes the lobby's settings (host only).
func (c *Client) SetSettings(ctx context.Context, d SettingsData) error {
	return c.request(ctx, TypeSettings, d, nil)
}

// Start starts the match (host only). Every member, the host included,
// also receives the descriptor as a Started event.
func (c *Client) Start(ctx context.Context) (Session, error) {
	var s Session
	err := c.request(ctx, TypeStart, nil, &s)
	return s, err
}

// Sync fetches the lobby's full state (with recent chat) and stores it:
// what a member that was away does to catch up. A change pushed while the
// reply was on its way is kept: Sync returns the newer of the reply and
// the state the client holds, with the reply's chat.
func (c *Client) Sync(ctx context.Context) (State, error) {
	c.mu.Lock()
	var v uint64
	if c.state != nil {
		v = c.state.Version
	}
	c.mu.Unlock()
	var st State
	if err := c.request(ctx, TypeSync, SyncData{Version: v}, &st); err != nil {
		return st, err
	}
	c.mu.Lock()
	hook := c.syncHook
	c.mu.Unlock()
	if hook != nil {
		hook(st)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.state; cur != nil && cur.ID == st.ID && cur.Version > st.Version {
		chat := st.Chat
		st = *cur
		st.Chat = chat
		return st, nil
	}
	cp := st
	cp.Chat = nil
	c.state = &cp
	return st, nil
}
