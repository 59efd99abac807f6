package mesh

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/transport/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/internal/piggyback"
	"github.com/rallypoint/rallypoint/netcode"
)

// Config configures a Mesh. The zero value is a valid configuration: no
// ICE servers (host candidates only, the LAN fast path), the timeouts the
// fields below name, and a 4 MiB cap on reliable messages.
type Config struct {
	// ICEServers are the STUN and TURN servers, each with its own
	// credentials (typically the list the signaling server sent). Nil means
	// none: only host candidates are gathered, so a LAN connects without
	// waiting for STUN.
	ICEServers []netcode.ICEServer
	// RelayOnly connects every pair through a TURN relay only, from the
	// first attempt (IP privacy, as streamers ask for): this side gathers
	// and signals relay candidates only, so no other player learns its
	// addresses, and Stats show relay pairs only. It needs a TURN server
	// in ICEServers; without one no pair connects (ReasonICEFailed,
	// ErrNoCandidatePair).
	RelayOnly bool
	// TURNDialTimeout bounds a TCP or TLS connection to a TURN server
	// (turn:...?transport=tcp, turns:); pion's own dial has no timeout.
	// Zero means 3 s.
	TURNDialTimeout time.Duration
	// HostOnly ignores STUN servers for the direct attempt (the LAN fast
	// path even when ICEServers lists STUN). TURN servers are still used for
	// the fallback.
	HostOnly bool
	// TURNFallbackAfter is how long a pair tries to connect directly before
	// its offering side starts a second attempt that also gathers TURN relay
	// candidates. A direct attempt whose ICE has selected a candidate pair
	// by then, and whose peer's DTLS handshake has begun, keeps running
	// while the handshake does, for up to 5 s from the selection (see ICE
	// policy in the package documentation). It applies per pair: other
	// pairs stay direct. Zero means 1.5 s; a negative value offers TURN
	// servers from the first attempt. Without a TURN server in ICEServers
	// there is no fallback.
	TURNFallbackAfter time.Duration
	// ConnectTimeout bounds the time from learning of a peer to its
	// channels being open; after it the peer is disconnected with
	// ReasonICEFailed. Zero means 10 s.
	ConnectTimeout time.Duration
	// InterruptAfter is how long a connected peer may send nothing before
	// an EventInterrupted. Zero means netcode.DefaultInterruptAfter
	// (500 ms). After twice as long the offering side restarts ICE.
	InterruptAfter time.Duration
	// DisconnectAfter is how long a connected peer may send nothing before
	// it is disconnected with ReasonTimedOut. Zero means
	// netcode.DefaultDisconnectAfter (2.5 s). A rollback session on the
	// mesh drops a silent player after netcode.DefaultDropAfter (2 s) by
	// default; keep this longer than that so that the remaining peers agree
	// on the drop while the connection still stands.
	DisconnectAfter time.Duration
	// PingInterval is the period of the keep-alive pings on the control
	// channel that measure RTT, jitter and loss. Zero means 100 ms.
	PingInterval time.Duration
	// BusyPingInterval is the ping period while this side sends the peer
	// messages of its own at least every PingInterval: those already show
	// the peer that this side is alive, so pings then only refresh RTT,
	// jitter and loss, at this pace. Zero means 2 s; a value at or below
	// PingInterval pings every PingInterval regardless of traffic.
	BusyPingInterval time.Duration
	// DatagramRetransmits is how many times SCTP may send a lost
	// Unreliable or Sequenced message again before it gives up on it.
	// Zero means 1; negative means never. A message that is never
	// retransmitted is given up as soon as it is sent, and pion then
	// answers every acknowledgement that arrives while such a message is
	// in flight (every one, once the round trip exceeds the send interval)
	// with a FORWARD-TSN, which the receiver acknowledges at once: at 60
	// messages a second and a 40 ms round trip that loop multiplied the
	// packets on the wire by four (see "Bytes on the wire" in the package
	// documentation). A browser's SCTP retransmits once more than this.
	DatagramRetransmits int
	// AckHold is how long the mesh may hold one of SCTP's acknowledgement
	// packets to send it in the same UDP datagram as the next packet to
	// the same peer (see "Bytes on the wire" in the package
	// documentation). Zero means 20 ms; negative turns bundling off.
	// Native builds only: a browser's own stack sends its packets.
	AckHold time.Duration
	// Net is the network pion's sockets use: nil is the host's, tests pass
	// pion's virtual network (vnet). Set it here rather than with SetNet in
	// Tune, which would replace the mesh's network and so turn AckHold off.
	// Native builds only.
	Net transport.Net
	// DTLSCipherSuites are the DTLS cipher suites offered, in order of
	// preference. Nil means DefaultDTLSCipherSuites: ChaCha20-Poly1305
	// first, whose records carry no explicit nonce (8 bytes less a packet
	// than AES-GCM, with the same 16-byte tag). Native builds only.
	DTLSCipherSuites []dtls.CipherSuiteID
	// MaxMessageSize caps a reliable message, sent or received (larger
	// ones are chunked on the wire). Zero means 4 MiB.
	MaxMessageSize int
	// SendQueueLimit caps the bytes queued for one peer and not yet sent;
	// a reliable Send beyond it returns ErrQueueFull and an unreliable one
	// is refused the same way. Zero means 8 MiB.
	SendQueueLimit int
	// InboxLimit caps the messages received and not yet handed to Poll.
	// When it is reached unreliable and sequenced messages are dropped and
	// counted (Mesh.DroppedMessages), and reliable ones wait in the
	// transport, which pushes back on the sender. Zero means 4096.
	InboxLimit int
	// EventBuffer is the capacity of the Events channel. When it is full
	// the oldest event is discarded and counted (Mesh.DroppedEvents).
	// Zero means 256.
	EventBuffer int
	// ReconnectAfter is the pause before the offering side tries again to
	// connect to a peer that timed out or could not be reached while it is
	// still in the room. Zero means 1 s.
	ReconnectAfter time.Duration
	// NoReconnect turns those new attempts off: a peer that timed out stays
	// disconnected until it leaves and joins again.
	NoReconnect bool
	// OnDemand connects only to the peers this mesh names with Dial and to
	// those that dial it, instead of every member of the room: a
	// spectator tree (netcode/broadcast) joins one room with many
	// spectators but connects each only to its parent and children. A
	// peer that timed out is tried again only if this side dialed it.
	// False: every member of the room.
	OnDemand bool
	// SCTPRTOMax caps SCTP's retransmission timeout, which bounds the
	// latency of the reliable channel under loss. Zero means 200 ms.
	SCTPRTOMax time.Duration
	// DTLSRetransmitInterval is how long the DTLS handshake waits for the
	// peer's next flight before it sends its own again; each repeat
	// doubles the wait until a new flight arrives. Zero means 100 ms
	// (pion's default, 1 s, left a handshake that lost a flight waiting
	// 1, 3 then 7 s, longer than the mesh's timers; see the package
	// documentation). A path whose round trip exceeds it only repeats a
	// flight early.
	DTLSRetransmitInterval time.Duration
	// Loopback gathers loopback candidates (peers on one host: tests,
	// benchmarks). They are gathered anyway when lo is the only interface.
	Loopback bool
	// OnMessage, when set, receives every message on the goroutine that
	// read it, instead of the message waiting for Poll: for programs that
	// are not driven by a frame loop (relays, echo servers, benchmarks).
	// data is valid only during the call. It must return quickly: a
	// channel's next message waits for it. Nil means messages go to Poll.
	OnMessage func(from netcode.PeerID, ch netcode.Channel, data []byte)
	// Tune, when set, is called for every connection attempt to adjust
	// pion's setting engine after the mesh's defaults (for example SetNet
	// for a virtual network, or candidate filters). relay reports a TURN
	// fallback attempt.
	Tune func(peer netcode.PeerID, relay bool, s *webrtc.SettingEngine)

	// bundler is the mesh's acknowledgement bundler (nil: AckHold is
	// negative, or a browser build).
	bundler *piggyback.Net

	// dropCandidate, set by tests, drops remote candidates before they
	// reach ICE.
	dropCandidate func(from netcode.PeerID, candidate string) bool
}

// maxRetransmits is the data channel parameter for DatagramRetransmits:
// pion gives a message up once it has been sent maxRetransmits times, the
// first send included, so n retransmissions take n+1; 0 and 1 both mean
// none.
func (c *Config) maxRetransmits() uint16 {
	switch {
	case c.DatagramRetransmits < 0:
		return 0
	case c.DatagramRetransmits == 0:
		return 2
	default:
		return uint16(min(c.DatagramRetransmits, 1000) + 1)
	}
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.TURNFallbackAfter, 1500*time.Millisecond)
	def(&c.ConnectTimeout, 10*time.Second)
	def(&c.InterruptAfter, netcode.DefaultInterruptAfter)
	def(&c.DisconnectAfter, netcode.DefaultDisconnectAfter)
	def(&c.PingInterval, 100*time.Millisecond)
	def(&c.BusyPingInterval, 2*time.Second)
	def(&c.AckHold, 20*time.Millisecond)
	def(&c.SCTPRTOMax, 200*time.Millisecond)
	def(&c.DTLSRetransmitInterval, 100*time.Millisecond)
	def(&c.ReconnectAfter, time.Second)
	def(&c.TURNDialTimeout, 3*time.Second)
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = 4 << 20
	}
	if c.SendQueueLimit <= 0 {
		c.SendQueueLimit = 8 << 20
	}
	if c.InboxLimit <= 0 {
		c.InboxLimit = 4096
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	return c
}

var _ netcode.Transport = (*Mesh)(nil)

// Mesh connects this peer to every other member of its room over WebRTC
// data channels and implements Transport. See the package documentation for
// the protocol, the channels and the lifecycle.
type Mesh struct {
	cfg     Config
	sig     netcode.Signaler
	localID netcode.PeerID
	epoch   time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	unsub   func()
	events  chan Event

	droppedEvents atomic.Uint64
	badSignals    atomic.Uint64
	// rejectedAt rate-limits EventSignalRejected per peer (loop-owned).
	rejectedAt map[netcode.PeerID]time.Time

	// changed is closed and replaced whenever a peer changes state or the
	// mesh closes: WaitConnected waits on it.
	changeMu sync.Mutex
	changed  chan struct{}

	mu          sync.Mutex
	peers       map[netcode.PeerID]*peer
	blocked     map[netcode.PeerID]DisconnectReason
	members     map[netcode.PeerID]bool      // in the room, per the signaler
	wanted      map[netcode.PeerID]bool      // dialed (Config.OnDemand)
	lastGen     map[netcode.PeerID]uint32    // last attempt number per peer
	reconnectAt map[netcode.PeerID]time.Time // pending reconnections
	closed      bool

	// The loop goroutine owns every peer's connection state; others post
	// work to it.
	taskMu   sync.Mutex
	tasks    []func()
	taskWake chan struct{}
	stopped  bool
	loopDone chan struct{}

	// readers counts the channel readers, the signal sender and a
	// credential refresh in progress.
	readers sync.WaitGroup
	// closers counts the goroutines that close connections (closeConn).
	closers   sync.WaitGroup
	closeOnce sync.Once

	// Outgoing signals, in order, for the sender goroutine.
	outMu   sync.Mutex
	outQ    []outSignal
	outSeq  uint64 // numbers outQ's entries; under outMu
	outWake chan struct{}
	// candFlush lists attempts with candidates to signal; loop-owned.
	candFlush []candFlush

	// The ICE servers in use and their refresh; loop-owned (see
	// iceReady).
	ice           []netcode.ICEServer
	iceAt         time.Time // when ice was obtained
	refresher     netcode.ICERefresher
	refreshing    bool
	refreshedAt   time.Time // when the last refresh ended
	refreshFailed bool
	afterRefresh  []func()
	refreshes     atomic.Uint64

	in inbox
}

// New subscribes to sig and starts connecting to the members of its
// room; it returns at once. sig must already be in a room (LocalID not
// empty). The Mesh owns the subscription, not sig: Close cancels the
// subscription and leaves sig open.
func New(sig netcode.Signaler, cfg Config) (*Mesh, error) {
	id := sig.LocalID()
	if id == "" {
		return nil, ErrNoLocalID
	}
	cfg = cfg.withDefaults()
	if cfg.AckHold > 0 {
		cfg.bundler = piggyback.New(nil, piggyback.Config{Hold: cfg.AckHold})
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mesh{
		cfg:         cfg,
		sig:         sig,
		localID:     netcode.PeerID(id),
		epoch:       time.Now(),
		ctx:         ctx,
		cancel:      cancel,
		events:      make(chan Event, cfg.EventBuffer),
		peers:       make(map[netcode.PeerID]*peer),
		blocked:     make(map[netcode.PeerID]DisconnectReason),
		members:     make(map[netcode.PeerID]bool),
		wanted:      make(map[netcode.PeerID]bool),
		lastGen:     make(map[netcode.PeerID]uint32),
		reconnectAt: make(map[netcode.PeerID]time.Time),
		taskWake:    make(chan struct{}, 1),
		loopDone:    make(chan struct{}),
		outWake:     make(chan struct{}, 1),
		changed:     make(chan struct{}),
		ice:         append([]netcode.ICEServer(nil), cfg.ICEServers...),
		iceAt:       time.Now(),
	}
	m.refresher, _ = sig.(netcode.ICERefresher)
	m.in.init(cfg.InboxLimit)
	m.readers.Add(1)
	go m.sender()
	go m.loop()
	m.unsub = sig.SubscribeSignals(
		func(from string, payload []byte) {
			p := append([]byte(nil), payload...)
			m.post(func() { m.handleSignal(netcode.PeerID(from), p) })
		},
		func(peer string, joined bool) {
			m.post(func() { m.handlePeer(netcode.PeerID(peer), joined) })
		},
	)
	return m, nil
}

// LocalID returns this peer's id.
func (m *Mesh) LocalID() netcode.PeerID { return m.localID }

// Events returns the channel of peer lifecycle events. It is buffered
// (Config.EventBuffer); when the reader falls behind, the oldest event
// is discarded and counted by DroppedEvents, so a game loop can drain it
// with a non-blocking select once per frame. It is closed by Close.
func (m *Mesh) Events() <-chan Event { return m.events }

// DroppedEvents returns how many events were discarded because the Events
// channel was full.
func (m *Mesh) DroppedEvents() uint64 { return m.droppedEvents.Load() }

// DroppedMessages returns how many received unreliable or sequenced
// messages were discarded because the inbox was full.
func (m *Mesh) DroppedMessages() uint64 { return m.in.dropped.Load() }

// BadSignals returns how many malformed or unexpected signals were ignored
// (see EventSignalRejected).
func (m *Mesh) BadSignals() uint64 { return m.badSignals.Load() }

// Peers returns the peers the mesh currently knows, in no order, with
// their state.
func (m *Mesh) Peers() map[netcode.PeerID]PeerState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[netcode.PeerID]PeerState, len(m.peers))
	for id, p := range m.peers {
		out[id] = p.loadState()
	}
	return out
}

// Connected returns the ids of the peers whose channels are open
// (connected or interrupted).
func (m *Mesh) Connected() []netcode.PeerID {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netcode.PeerID
	for id, p := range m.peers {
		if s := p.loadState(); s == PeerStateConnected || s == PeerStateInterrupted {
			out = append(out, id)
		}
	}
	return out
}

// WaitConnected blocks until at least n peers are connected, ctx ends or
// the mesh is closed.
func (m *Mesh) WaitConnected(ctx context.Context, n int) error {
	for {
		changed := m.changes()
		if m.isClosed() {
			return ErrClosed
		}
		if len(m.Connected()) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// changes returns a channel that is closed at the next change of a peer's
// state or at Close.
func (m *Mesh) changes() <-chan struct{} {
	m.changeMu.Lock()
	defer m.changeMu.Unlock()
	return m.changed
}

// stateChanged wakes the waiters of changes.
func (m *Mesh) stateChanged() {
	m.changeMu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.changeMu.Unlock()
}

// Send queues data for peer to on channel ch and returns at once; data may
// be reused as soon as it returns. It fails with ErrPeerNotConnected while
// the peer's channels are not open, a *MessageSizeError for a message over
// the channel's limit, and ErrQueueFull when the peer's send queue is over
// Config.SendQueueLimit. It is safe for concurrent use.
func (m *Mesh) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	m.mu.Lock()
	p := m.peers[to]
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if p == nil {
		return &PeerError{Peer: to, Op: "send", Err: ErrUnknownPeer}
	}
	return p.send(ch, data)
}

// Poll calls fn for every message received since the previous call, in
// arrival order, and returns. data is valid only during fn: the mesh reuses
// its buffer. Poll must not be called concurrently with itself.
func (m *Mesh) Poll(fn func(from netcode.PeerID, ch netcode.Channel, data []byte)) {
	m.in.poll(fn)
}

// Ready returns a channel that receives a value when messages have arrived
// since it last did. A program that is not driven by a frame loop (a
// server, a benchmark) can wait on it and then call Poll; a game loop can
// ignore it. It is never closed: select on Events or a context too.
func (m *Mesh) Ready() <-chan struct{} { return m.in.ready }

// Kick disconnects peer and refuses its signals until it leaves the room:
// the peer is told over its reliable channel and through the signaler, and
// the local Events report ReasonKicked. Nothing more from the peer is
// delivered; its connection closes once the goodbye is acknowledged (at
// most 500 ms later), so the peer learns that it was kicked.
func (m *Mesh) Kick(peer netcode.PeerID) error {
	if m.isClosed() {
		return ErrClosed
	}
	done := make(chan error, 1)
	if !m.post(func() { done <- m.kick(peer) }) {
		return ErrClosed
	}
	select {
	case err := <-done:
		return err
	case <-m.loopDone:
		return ErrClosed
	}
}

// Dial asks the mesh to connect to peer, a member of its room (now or
// later), when Config.OnDemand is set; without it the mesh connects to
// every member anyway and Dial only marks the peer as wanted. It returns at
// once: EventConnected reports the connection, and Send fails with
// ErrPeerNotConnected until then. Dialing a connected peer does nothing.
func (m *Mesh) Dial(peer netcode.PeerID) error {
	if m.isClosed() {
		return ErrClosed
	}
	if peer == m.localID || peer == "" {
		return &PeerError{Peer: peer, Op: "dial", Err: ErrUnknownPeer}
	}
	if !m.post(func() {
		m.mu.Lock()
		m.wanted[peer] = true
		member := m.members[peer]
		m.mu.Unlock()
		if member {
			m.ensurePeer(peer)
		}
	}) {
		return ErrClosed
	}
	return nil
}

// Hangup ends the connection to peer, saying goodbye over its reliable
// channel (the peer reports ReasonLeft and does not reconnect), and
// forgets a Dial of it; unlike Kick it accepts the peer's signals again,
// so either side may connect anew later. It returns at once. A mesh with
// Config.OnDemand uses it to drop connections it no longer needs (a
// spectator tree drops a node that only redirected it).
func (m *Mesh) Hangup(peer netcode.PeerID) error {
	if m.isClosed() {
		return ErrClosed
	}
	if !m.post(func() { m.hangup(peer) }) {
		return ErrClosed
	}
	return nil
}

// hangup runs on the loop: like kick, the connection closes once the
// goodbye is acknowledged (at most byeLinger later), so that the peer
// learns of it at once instead of after its disconnect timeout.
func (m *Mesh) hangup(id netcode.PeerID) {
	m.mu.Lock()
	delete(m.wanted, id)
	p := m.peers[id]
	m.mu.Unlock()
	if p == nil {
		return
	}
	m.sayBye(p, byeCodeLeft)
	m.sendSignal(id, &signal{T: sigBye}) // ends an attempt still connecting too
	m.disconnect(p, ReasonLeft, nil)
}

// Stats returns the statistics of a peer. They are filled within one ping
// round trip of connecting (Config.PingInterval is the upper bound for
// the first sample).
func (m *Mesh) Stats(peer netcode.PeerID) (PeerStats, error) {
	m.mu.Lock()
	p := m.peers[peer]
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return PeerStats{}, ErrClosed
	}
	if p == nil {
		return PeerStats{}, &PeerError{Peer: peer, Op: "stats", Err: ErrUnknownPeer}
	}
	return p.stats(), nil
}

// Close disconnects every peer (they see the connection end and report
// ReasonLeft), cancels the signaler subscription, waits for the goroutines
// the mesh started and closes the Events channel; it reports no
// Disconnected events of its own. It returns within a second: the
// connections are closed on goroutines of their own, and one that pion
// holds longer (a TURN Allocate to a server that does not answer retries
// for about 8 s) finishes on its own after Close returned. It is
// idempotent. It must not be called from inside a Poll or OnMessage
// callback.
func (m *Mesh) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.stateChanged()
		if m.unsub != nil {
			m.unsub()
		}
		m.post(func() { m.closeAll() })
		m.taskMu.Lock()
		m.stopped = true
		m.taskMu.Unlock()
		m.wake()
		<-m.loopDone
		m.cancel()
		m.in.close()
		done := make(chan struct{})
		go func() {
			m.readers.Wait()
			m.closers.Wait()
			close(done)
		}()
		t := time.NewTimer(closeWait)
		select {
		case <-done:
		case <-t.C:
		}
		t.Stop()
		close(m.events)
	})
	return nil
}

// closeWait bounds Close's wait for the connections to close.
const closeWait = 500 * time.Millisecond

// ICERefreshes returns how many times the mesh asked its signaler for
// fresh ICE servers (netcode.ICERefresher).
func (m *Mesh) ICERefreshes() uint64 { return m.refreshes.Load() }

// iceReady runs on the loop before an attempt that uses TURN. It reports
// whether the TURN credentials may be used now; when they are within a
// margin of their expiry (a fifth of their lifetime, at least a minute)
// and the signaler can refresh them, it starts a refresh and reports
// false: the attempt waits for it (at most refreshTimeout). Between
// refreshes (see refreshPause) the attempt goes on with what it has.
func (m *Mesh) iceReady(relay bool) bool {
	if !relay || m.refresher == nil || !hasRelay(m.ice) {
		return true
	}
	if m.refreshing {
		return false
	}
	now := time.Now()
	stale, expired := credsStale(m.ice, m.iceAt, now)
	if !stale {
		return true
	}
	if since := now.Sub(m.refreshedAt); !m.refreshedAt.IsZero() &&
		(since < minRefreshGap || since < refreshPause && (m.refreshFailed || !expired)) {
		return true
	}
	m.refreshing = true
	m.refreshes.Add(1)
	m.readers.Add(1)
	go func() {
		defer m.readers.Done()
		ctx, cancel := context.WithTimeout(m.ctx, refreshTimeout)
		servers, err := m.refresher.RefreshICEServers(ctx)
		cancel()
		m.post(func() { m.refreshed(servers, err) })
	}()
	return false
}

// A refresh waits for at most refreshTimeout. After a failed one, or
// while the credentials are near their expiry but valid, the next waits
// refreshPause; credentials that have expired are refreshed again after
// minRefreshGap (a server may hand out short-lived ones).
const (
	refreshTimeout = 5 * time.Second
	refreshPause   = 5 * time.Second
	minRefreshGap  = 500 * time.Millisecond
)

// refreshed runs on the loop when a refresh ends; the attempts that
// waited for it go on.
func (m *Mesh) refreshed(servers []netcode.ICEServer, err error) {
	m.refreshing = false
	m.refreshedAt = time.Now()
	m.refreshFailed = err != nil || len(servers) == 0
	if !m.refreshFailed {
		m.ice = mergeICEServers(m.ice, servers)
		m.iceAt = m.refreshedAt
	}
	fns := m.afterRefresh
	m.afterRefresh = nil
	for _, fn := range fns {
		fn()
	}
}

// credsStale reports whether a TURN server of list has TURN REST
// credentials (netcode.TURNExpiry) within a margin of their expiry (a
// fifth of their lifetime since got, and at least a minute), and whether
// some have expired.
func credsStale(list []netcode.ICEServer, got, now time.Time) (stale, expired bool) {
	for _, s := range list {
		if !s.IsRelay() {
			continue
		}
		exp, ok := netcode.TURNExpiry(s.Username)
		if !ok {
			continue
		}
		margin := max(exp.Sub(got)/5, time.Minute)
		if !now.Before(exp.Add(-margin)) {
			stale = true
		}
		if !now.Before(exp) {
			expired = true
		}
	}
	return stale, expired
}

// mergeICEServers returns old with the servers of fresh in place of those
// sharing a URL with them, and the other servers of fresh added: a mesh
// may hold servers of its own besides the signaler's.
func mergeICEServers(old, fresh []netcode.ICEServer) []netcode.ICEServer {
	out := make([]netcode.ICEServer, 0, len(old)+len(fresh))
	used := make([]bool, len(fresh))
	for _, o := range old {
		replaced := false
		for i, f := range fresh {
			if sharesURL(o, f) {
				if !used[i] {
					out = append(out, f)
					used[i] = true
				}
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	for i, f := range fresh {
		if !used[i] {
			out = append(out, f)
		}
	}
	return out
}

func sharesURL(a, b netcode.ICEServer) bool {
	for _, u := range a.URLs {
		for _, v := range b.URLs {
			if u == v {
				return true
			}
		}
	}
	return false
}

func (m *Mesh) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// post queues fn for the loop goroutine. It never blocks and reports
// false once the loop has stopped.
func (m *Mesh) post(fn func()) bool {
	m.taskMu.Lock()
	if m.stopped {
		m.taskMu.Unlock()
		return false
	}
	m.tasks = append(m.tasks, fn)
	m.taskMu.Unlock()
	m.wake()
	return true
}

func (m *Mesh) wake() {
	select {
	case m.taskWake <- struct{}{}:
	default:
	}
}

// loop is the goroutine that owns the peers' connection state: signals,
// pion callbacks, timers and kicks all run here, one at a time.
func (m *Mesh) loop() {
	defer close(m.loopDone)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var batch []func()
	for {
		select {
		case <-m.taskWake:
		case <-tick.C:
			m.tick(time.Now())
		}
		m.taskMu.Lock()
		batch, m.tasks = m.tasks, batch[:0]
		stop := m.stopped
		m.taskMu.Unlock()
		for i, fn := range batch {
			fn()
			batch[i] = nil
		}
		m.flushCandidateSignals()
		if stop {
			// Run what was queued before the stop, then leave.
			m.taskMu.Lock()
			rest := m.tasks
			m.tasks = nil
			m.taskMu.Unlock()
			for _, fn := range rest {
				fn()
			}
			m.closeAll()
			return
		}
	}
}

// emit delivers an event, discarding the oldest one when the channel is
// full. Only the loop goroutine sends, so this cannot block.
func (m *Mesh) emit(ev Event) {
	ev = stamp(ev, time.Now())
	for {
		select {
		case m.events <- ev:
			return
		default:
		}
		select {
		case <-m.events:
			m.droppedEvents.Add(1)
		default:
		}
	}
}

func (m *Mesh) now() int64 { return int64(time.Since(m.epoch)) }
