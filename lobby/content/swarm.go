package content

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// Sender is what a swarm needs to reach its peers: netcode.Transport's
// Send, which a mesh.Mesh (and netcode/netsim) implements. Send must not
// block and must not call back into the swarm; the swarm sends only on
// netcode.Reliable. A Sender that also has a LocalID() netcode.PeerID
// method (mesh.Mesh does) lets fetching peers share out the pieces they
// ask of a source (see the package documentation).
type Sender interface {
	Send(to netcode.PeerID, ch netcode.Channel, data []byte) error
}

// Config configures a Swarm. The zero value is a valid configuration; each
// field says what zero means.
type Config struct {
	// PieceSize is the piece size Seed cuts new content into: a power of
	// two from MinPieceSize to MaxPieceSize. Zero means DefaultPieceSize
	// (64 KiB). Fetch takes the piece size from the reference.
	PieceSize int
	// MaxContentSize caps one content, seeded or fetched. Zero (or more
	// than MaxSize) means MaxSize, 64 MiB.
	MaxContentSize int64
	// MaxStoredBytes caps the bytes of all content the swarm holds in
	// memory, complete or being fetched. Zero means 256 MiB.
	MaxStoredBytes int64
	// MaxContents caps how many contents the swarm tracks. Zero means 16.
	MaxContents int
	// MaxRequestsPerPeer caps the piece requests outstanding to one peer,
	// over all contents. It also bounds how much content waits ahead of
	// other messages on that peer's reliable channel. Zero means 4.
	MaxRequestsPerPeer int
	// MaxBufferedBytes caps the bytes of all pieces requested and not yet
	// received. Zero means 4 MiB.
	MaxBufferedBytes int
	// RequestTimeout is how long a request (of a piece or of the
	// piece-hash list) may stay unanswered before the swarm asks again;
	// the peer that did not answer is then not asked for as long. Zero
	// means 10 s.
	RequestTimeout time.Duration
	// BusyBackoff is how long a peer that answered "busy" is not asked
	// again. Zero means 250 ms.
	BusyBackoff time.Duration
	// TickInterval is the period at which Run calls Tick. Zero means
	// 100 ms.
	TickInterval time.Duration
	// EventBuffer is the capacity of the Events channel; when it is full
	// the oldest event is discarded and counted. Zero means 256.
	EventBuffer int
	// Now is the clock (tests inject one). Nil means time.Now.
	Now func() time.Time
	// Seed seeds the random choice among equally rare pieces and among
	// peers. Zero means a seed derived from the clock.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.PieceSize == 0 {
		c.PieceSize = DefaultPieceSize
	}
	if c.MaxContentSize <= 0 || c.MaxContentSize > MaxSize {
		c.MaxContentSize = MaxSize
	}
	if c.MaxStoredBytes <= 0 {
		c.MaxStoredBytes = 256 << 20
	}
	if c.MaxContents <= 0 {
		c.MaxContents = 16
	}
	if c.MaxRequestsPerPeer <= 0 {
		c.MaxRequestsPerPeer = 4
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 4 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.BusyBackoff <= 0 {
		c.BusyBackoff = 250 * time.Millisecond
	}
	if c.TickInterval <= 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c
}

// Stats are a swarm's counters since New.
type Stats struct {
	Uploaded      int64  // piece bytes sent to peers
	Downloaded    int64  // piece bytes received and verified
	BadPieces     uint64 // pieces or lists that failed verification
	BadMessages   uint64 // content messages that could not be decoded
	Unsolicited   uint64 // pieces received that were not asked of their sender
	Timeouts      uint64 // requests that went unanswered for RequestTimeout
	DroppedEvents uint64 // events discarded because the channel was full
}

// Progress is how much of one content the swarm has.
type Progress struct {
	Ref      Ref
	Have     int   // verified pieces
	Bytes    int64 // verified bytes
	Complete bool  // whole and verified against the id
}

// Swarm shares content with the peers of a mesh. See the package
// documentation.
type Swarm struct {
	cfg  Config
	t    Sender
	self netcode.PeerID // the Sender's LocalID, when it has one

	mu       sync.Mutex
	closed   bool
	done     chan struct{}
	rng      *rand.Rand
	peers    map[netcode.PeerID]*peer
	avoided  map[netcode.PeerID]error
	items    map[ID]*item
	buffered int   // bytes of outstanding piece requests
	stored   int64 // bytes of content held
	stats    Stats
	events   chan Event
	buf      []byte
}

type peer struct {
	id       netcode.PeerID
	has      map[ID]bitset // pieces the peer announced, per content
	hasList  map[ID]bool   // the peer can serve the piece-hash list
	source   map[ID]bool   // the peer seeded the content
	inflight int           // our requests outstanding to it
	busy     time.Time     // not asked again before this
}

type item struct {
	ref     Ref
	list    [][sha256.Size]byte // nil until received and verified
	data    []byte
	have    bitset
	nHave   int
	bytes   int64
	done    bool
	reqs    map[int][]*request // outstanding requests per piece: one, or two in the endgame
	listReq *request
	order   []int32 // this swarm's own random order of the pieces
	source  bool    // this swarm seeded the content
}

type request struct {
	peer     netcode.PeerID
	deadline time.Time
	n        int
}

// New returns a swarm that reaches its peers through t. It starts no
// goroutine: call Tick periodically, or Run.
func New(t Sender, cfg Config) *Swarm {
	cfg = cfg.withDefaults()
	var self netcode.PeerID
	if l, ok := t.(interface{ LocalID() netcode.PeerID }); ok {
		self = l.LocalID()
	}
	return &Swarm{
		self:    self,
		cfg:     cfg,
		t:       t,
		done:    make(chan struct{}),
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		peers:   make(map[netcode.PeerID]*peer),
		avoided: make(map[netcode.PeerID]error),
		items:   make(map[ID]*item),
		events:  make(chan Event, cfg.EventBuffer),
	}
}

// Events returns the channel of swarm events (see Event).
func (s *Swarm) Events() <-chan Event { return s.events }

// Stats returns the swarm's counters.
func (s *Swarm) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Seed offers data, which this peer has whole, to the swarm and returns its
// reference (pieces of Config.PieceSize). The swarm keeps data and serves
// it: the caller must not modify it. Seeding content the swarm is fetching
// completes the fetch.
func (s *Swarm) Seed(data []byte) (Ref, error) {
	if int64(len(data)) > s.cfg.MaxContentSize {
		return Ref{}, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(data), s.cfg.MaxContentSize)
	}
	ref, list, err := MakeRef(data, s.cfg.PieceSize)
	if err != nil {
		return Ref{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Ref{}, ErrClosed
	}
	it := s.items[ref.ID]
	if it != nil {
		if it.ref != ref {
			return Ref{}, fmt.Errorf("%w: %s", ErrConflict, ref.ID.Short())
		}
		if it.done {
			return ref, nil
		}
		s.cancelAll(it)
		s.stored -= int64(len(it.data))
	} else if err := s.admit(ref.Size); err != nil {
		return Ref{}, err
	}
	it = &item{ref: ref, list: list, data: data, have: newBitset(ref.Pieces()), nHave: ref.Pieces(), bytes: ref.Size, done: true, source: true}
	it.have.fill()
	it.have.trim(ref.Pieces())
	s.items[ref.ID] = it
	s.stored += ref.Size
	s.announce(it, true)
	return ref, nil
}

// admit checks that one more content of size fits the caps.
func (s *Swarm) admit(size int64) error {
	if size > s.cfg.MaxContentSize {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, size, s.cfg.MaxContentSize)
	}
	if len(s.items) >= s.cfg.MaxContents {
		return fmt.Errorf("%w: already %d contents", ErrTooLarge, len(s.items))
	}
	if s.stored+size > s.cfg.MaxStoredBytes {
		return fmt.Errorf("%w: %d bytes held, %d more would pass %d", ErrTooLarge, s.stored, size, s.cfg.MaxStoredBytes)
	}
	return nil
}

// Fetch starts fetching the content ref names from every peer that has
// pieces of it. Progress and completion are reported as events. Fetching
// content the swarm already tracks under the same reference does nothing.
func (s *Swarm) Fetch(ref Ref) error {
	if err := ref.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if it := s.items[ref.ID]; it != nil {
		if it.ref != ref {
			return fmt.Errorf("%w: %s", ErrConflict, ref.ID.Short())
		}
		return nil
	}
	if err := s.admit(ref.Size); err != nil {
		return err
	}
	it := &item{ref: ref, data: make([]byte, ref.Size), have: newBitset(ref.Pieces()), reqs: make(map[int][]*request)}
	it.order = make([]int32, ref.Pieces())
	for i := range it.order {
		it.order[i] = int32(i)
	}
	s.rng.Shuffle(len(it.order), func(a, b int) { it.order[a], it.order[b] = it.order[b], it.order[a] })
	s.items[ref.ID] = it
	s.stored += ref.Size
	if ref.Pieces() == 0 {
		s.verifyWhole(it)
		return nil
	}
	s.announce(it, true)
	s.schedule(it)
	return nil
}

// Drop forgets content: it is no longer fetched nor served.
func (s *Swarm) Drop(id ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := s.items[id]; it != nil {
		s.forget(it)
		s.scheduleAll()
	}
}

func (s *Swarm) forget(it *item) {
	s.cancelAll(it)
	s.stored -= int64(len(it.data))
	delete(s.items, it.ref.ID)
	for _, p := range s.peers {
		delete(p.has, it.ref.ID)
		delete(p.hasList, it.ref.ID)
		delete(p.source, it.ref.ID)
	}
}

// Content returns the content with the given id if the swarm has it
// whole and verified. The slice is shared: do not modify it.
func (s *Swarm) Content(id ID) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil || !it.done {
		return nil, false
	}
	return it.data, true
}

// Progress returns how much of the content the swarm has.
func (s *Swarm) Progress(id ID) (Progress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return Progress{}, ErrUnknown
	}
	return Progress{Ref: it.ref, Have: it.nHave, Bytes: it.bytes, Complete: it.done}, nil
}

// debug describes the swarm's view of id, for test failures.
func (s *Swarm) debug(id ID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[id]
	if it == nil {
		return "unknown"
	}
	out := fmt.Sprintf("have %d/%d list %v reqs %d buffered %d listReq %v;", it.nHave, it.ref.Pieces(), it.list != nil, len(it.reqs), s.buffered, it.listReq != nil)
	now := s.cfg.Now()
	for pid, p := range s.peers {
		b, ok := p.has[id]
		n := -1
		if ok {
			n = b.count()
		}
		_, bad := s.avoided[pid]
		out += fmt.Sprintf(" %s: has %d inflight %d busy %v avoided %v;", pid, n, p.inflight, p.busy.After(now), bad)
	}
	return out
}

// PeerPieces returns, for every connected peer that told this swarm about
// the content, how many pieces it has (Ref.Pieces() when whole). A lobby
// uses it to say who is still missing content.
func (s *Swarm) PeerPieces(id ID) map[netcode.PeerID]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[netcode.PeerID]int)
	for pid, p := range s.peers {
		if b, ok := p.has[id]; ok {
			out[pid] = b.count()
		}
	}
	return out
}

// Avoided returns the peers the swarm no longer asks for anything, and why.
func (s *Swarm) Avoided() map[netcode.PeerID]error {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[netcode.PeerID]error, len(s.avoided))
	for k, v := range s.avoided {
		out[k] = v
	}
	return out
}

// PeerUp tells the swarm that a peer is connected (mesh.EventConnected,
// or a reconnection): the swarm tells it what it has and wants, and
// resumes fetching from it. A message from an unknown peer adds it too,
// without that exchange.
func (s *Swarm) PeerUp(id netcode.PeerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if _, ok := s.peers[id]; !ok {
		s.addPeer(id)
	}
	for _, it := range s.items {
		s.sendBitfield(id, it, true)
	}
}

func (s *Swarm) addPeer(id netcode.PeerID) *peer {
	p := &peer{id: id, has: make(map[ID]bitset), hasList: make(map[ID]bool), source: make(map[ID]bool)}
	s.peers[id] = p
	return p
}

// PeerDown tells the swarm that a peer is gone (mesh.EventDisconnected):
// its outstanding requests go to other peers. Pieces already verified are
// kept, so a fetch resumes where it stopped when the peer (or another)
// comes back.
func (s *Swarm) PeerDown(id netcode.PeerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers[id] == nil {
		return
	}
	s.cancelPeer(id)
	delete(s.peers, id)
	s.scheduleAll()
}

// Handle takes one message the transport received. It reports whether the
// message was the swarm's (a Reliable message that starts with Magic);
// the caller passes any other message on to the game. It is meant for
// mesh.Config.OnMessage or a Poll callback:
//
//	m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
//		if sw.Handle(from, ch, data) {
//			return
//		}
//		... // the game's own messages
//	})
func (s *Swarm) Handle(from netcode.PeerID, ch netcode.Channel, data []byte) bool {
	if ch != netcode.Reliable || !IsMessage(data) {
		return false
	}
	var m message
	err := parseMessage(data, &m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true
	}
	if err != nil {
		s.stats.BadMessages++
		return true
	}
	p := s.peers[from]
	if p == nil {
		p = s.addPeer(from)
	}
	it := s.items[m.ID]
	if it == nil {
		return true // content this swarm does not track
	}
	switch m.Type {
	case msgBitfield:
		s.onBitfield(p, it, &m)
	case msgHave:
		if m.Index < it.ref.Pieces() {
			b := p.has[it.ref.ID]
			if b == nil {
				b = newBitset(it.ref.Pieces())
				p.has[it.ref.ID] = b
			}
			b.set(m.Index)
			s.schedule(it)
		}
	case msgWantList:
		if it.list != nil {
			s.send(from, &message{Type: msgList, ID: it.ref.ID, List: it.list})
		}
	case msgList:
		s.onList(p, it, &m)
	case msgRequest:
		s.onRequest(p, it, &m)
	case msgPiece:
		s.onPiece(p, it, &m)
	case msgReject:
		if reqFrom(it, m.Index, from) != nil {
			s.dropReq(it, m.Index, from)
			if m.Code == rejectMissing {
				if b := p.has[it.ref.ID]; b != nil {
					b.clear(m.Index)
				}
			} else {
				p.busy = s.cfg.Now().Add(s.cfg.BusyBackoff)
			}
			s.schedule(it)
		}
	}
	return true
}

func (s *Swarm) onBitfield(p *peer, it *item, m *message) {
	if m.Count != it.ref.Pieces() {
		s.stats.BadMessages++
		return
	}
	b := newBitset(m.Count)
	copy(b, m.Bits)
	b.trim(m.Count)
	p.has[it.ref.ID] = b
	p.hasList[it.ref.ID] = m.Flags&flagHasList != 0
	p.source[it.ref.ID] = m.Flags&flagSource != 0
	if m.Flags&flagReply != 0 {
		s.sendBitfield(p.id, it, false)
	}
	s.schedule(it)
}

func (s *Swarm) onList(p *peer, it *item, m *message) {
	if it.list != nil || it.listReq == nil || it.listReq.peer != p.id {
		s.stats.Unsolicited++
		return
	}
	it.listReq = nil
	if m.Count != it.ref.Pieces() || hashList(m.List) != it.ref.ListHash {
		s.avoid(p.id, it, fmt.Errorf("%w: piece-hash list", ErrCorruptPiece))
		s.schedule(it)
		return
	}
	it.list = m.List
	// Others may now fetch the list from this peer too.
	for id := range s.peers {
		if _, told := s.peers[id].has[it.ref.ID]; told {
			s.sendBitfield(id, it, false)
		}
	}
	s.schedule(it)
}

func (s *Swarm) onRequest(p *peer, it *item, m *message) {
	if m.Index >= it.ref.Pieces() || !it.have.get(m.Index) {
		s.send(p.id, &message{Type: msgReject, ID: it.ref.ID, Index: m.Index, Code: rejectMissing})
		return
	}
	off := int64(m.Index) * int64(it.ref.PieceSize)
	data := it.data[off : off+int64(it.ref.pieceLen(m.Index))]
	if err := s.send(p.id, &message{Type: msgPiece, ID: it.ref.ID, Index: m.Index, Data: data}); err != nil {
		s.send(p.id, &message{Type: msgReject, ID: it.ref.ID, Index: m.Index, Code: rejectBusy})
		return
	}
	s.stats.Uploaded += int64(len(data))
}

func (s *Swarm) onPiece(p *peer, it *item, m *message) {
	if reqFrom(it, m.Index, p.id) == nil {
		s.stats.Unsolicited++
		return
	}
	s.dropReq(it, m.Index, p.id)
	if len(m.Data) != it.ref.pieceLen(m.Index) || sha256.Sum256(m.Data) != it.list[m.Index] {
		s.avoid(p.id, it, fmt.Errorf("%w: piece %d", ErrCorruptPiece, m.Index))
		s.schedule(it)
		return
	}
	s.dropAll(it, m.Index) // an endgame duplicate's answer will be unsolicited
	off := m.Index * it.ref.PieceSize
	copy(it.data[off:], m.Data)
	it.have.set(m.Index)
	it.nHave++
	it.bytes += int64(len(m.Data))
	s.stats.Downloaded += int64(len(m.Data))
	for id := range s.peers {
		s.send(id, &message{Type: msgHave, ID: it.ref.ID, Index: m.Index})
	}
	s.emit(EventProgress{ID: it.ref.ID, Have: it.nHave, Pieces: it.ref.Pieces(), Bytes: it.bytes, Size: it.ref.Size})
	if it.nHave == it.ref.Pieces() {
		s.verifyWhole(it)
	}
	s.scheduleAll()
}

// verifyWhole checks complete content against its id.
func (s *Swarm) verifyWhole(it *item) {
	if sha256.Sum256(it.data) != it.ref.ID {
		s.emit(EventFailed{ID: it.ref.ID, Err: ErrMismatch})
		s.forget(it)
		return
	}
	it.done = true
	s.emit(EventComplete{ID: it.ref.ID, Size: it.ref.Size})
}

// avoid stops asking peer for anything and hands its requests to others.
func (s *Swarm) avoid(id netcode.PeerID, it *item, err error) {
	s.stats.BadPieces++
	if _, ok := s.avoided[id]; ok {
		return
	}
	err = &PeerError{Peer: id, Err: err}
	s.avoided[id] = err
	s.cancelPeer(id)
	s.emit(EventPeerAvoided{ID: it.ref.ID, Peer: id, Err: err})
}

// Tick gives up on requests unanswered for Config.RequestTimeout and asks
// for more pieces where peers have room. Run calls it periodically.
func (s *Swarm) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := s.cfg.Now()
	for _, it := range s.items {
		for i, rs := range it.reqs {
			for _, r := range slices.Clone(rs) {
				if now.After(r.deadline) {
					s.stats.Timeouts++
					s.dropReq(it, i, r.peer)
					if p := s.peers[r.peer]; p != nil {
						p.busy = now.Add(s.cfg.RequestTimeout)
					}
				}
			}
		}
		if r := it.listReq; r != nil && now.After(r.deadline) {
			s.stats.Timeouts++
			it.listReq = nil
			if p := s.peers[r.peer]; p != nil {
				p.busy = now.Add(s.cfg.RequestTimeout)
			}
		}
		s.scheduleIdle(it, true)
	}
}

// Run calls Tick every Config.TickInterval until ctx ends or the swarm is
// closed.
func (s *Swarm) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
			s.Tick()
		}
	}
}

// Close stops the swarm: it forgets its content, ends Run and closes the
// Events channel. It is idempotent.
func (s *Swarm) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	close(s.events)
	s.items = nil
	s.peers = nil
	return nil
}

func (s *Swarm) emit(ev Event) {
	for {
		select {
		case s.events <- ev:
			return
		default:
		}
		select {
		case <-s.events:
			s.stats.DroppedEvents++
		default:
		}
	}
}

func (s *Swarm) send(to netcode.PeerID, m *message) error {
	s.buf = appendMessage(s.buf[:0], m)
	return s.t.Send(to, netcode.Reliable, s.buf)
}

// announce sends this swarm's bitfield of it to every peer.
func (s *Swarm) announce(it *item, reply bool) {
	for id := range s.peers {
		s.sendBitfield(id, it, reply)
	}
}

func (s *Swarm) sendBitfield(to netcode.PeerID, it *item, reply bool) {
	var flags byte
	if reply {
		flags |= flagReply
	}
	if it.list != nil {
		flags |= flagHasList
	}
	if it.source {
		flags |= flagSource
	}
	s.send(to, &message{Type: msgBitfield, ID: it.ref.ID, Flags: flags, Count: it.ref.Pieces(), Bits: it.have})
}

// reqFrom returns the outstanding request of piece i to peer, or nil.
func reqFrom(it *item, i int, peer netcode.PeerID) *request {
	for _, r := range it.reqs[i] {
		if r.peer == peer {
			return r
		}
	}
	return nil
}

// dropReq ends the request of piece i to peer.
func (s *Swarm) dropReq(it *item, i int, peer netcode.PeerID) {
	rs := it.reqs[i]
	for k, r := range rs {
		if r.peer != peer {
			continue
		}
		s.buffered -= r.n
		if p := s.peers[r.peer]; p != nil {
			p.inflight--
		}
		rs = slices.Delete(rs, k, k+1)
		break
	}
	if len(rs) == 0 {
		delete(it.reqs, i)
	} else {
		it.reqs[i] = rs
	}
}

// dropAll ends every request of piece i.
func (s *Swarm) dropAll(it *item, i int) {
	for len(it.reqs[i]) > 0 {
		s.dropReq(it, i, it.reqs[i][0].peer)
	}
}

func (s *Swarm) cancelAll(it *item) {
	for i := range it.reqs {
		s.dropAll(it, i)
	}
	it.listReq = nil
}

func (s *Swarm) cancelPeer(id netcode.PeerID) {
	for _, it := range s.items {
		for i := range it.reqs {
			if reqFrom(it, i, id) != nil {
				s.dropReq(it, i, id)
			}
		}
		if it.listReq != nil && it.listReq.peer == id {
			it.listReq = nil
		}
	}
}

func (s *Swarm) scheduleAll() {
	for _, it := range s.items {
		s.schedule(it)
	}
}

// schedule asks peers with room for pieces of it: first the piece-hash
// list, then pieces, rarest first (fewest holders among the peers the
// swarm may ask). Peers that did not seed the content are asked first,
// and a source (a peer that seeded it) only for pieces no other peer
// holds and that fall to this peer's share among the fetching peers
// (unless, at a Tick, nothing else is outstanding), so a source uploads
// about one copy while the others pass pieces on. Among equally rare pieces the
// first in this swarm's own random order of the pieces wins, so members
// that start together ask a source for different pieces.
func (s *Swarm) schedule(it *item) { s.scheduleIdle(it, false) }

// scheduleIdle is schedule; idle (from Tick) lets a swarm with nothing
// outstanding ask a source for any piece.
func (s *Swarm) scheduleIdle(it *item, idle bool) {
	if it.done || s.closed {
		return
	}
	now := s.cfg.Now()
	var cands []*peer
	for _, p := range s.peers {
		if _, bad := s.avoided[p.id]; bad || p.busy.After(now) {
			continue
		}
		if _, ok := p.has[it.ref.ID]; ok {
			cands = append(cands, p)
		}
	}
	if it.list == nil {
		if it.listReq != nil {
			return
		}
		var withList []*peer
		for _, p := range cands {
			if p.hasList[it.ref.ID] {
				withList = append(withList, p)
			}
		}
		if len(withList) == 0 {
			return
		}
		p := withList[s.rng.IntN(len(withList))]
		if s.send(p.id, &message{Type: msgWantList, ID: it.ref.ID}) == nil {
			it.listReq = &request{peer: p.id, deadline: now.Add(s.cfg.RequestTimeout)}
		}
		return
	}
	n := it.ref.Pieces()
	avail := make([]int, n)
	relayed := make([]bool, n) // held by a peer that is not a source
	source := make([]bool, len(cands))
	for k, p := range cands {
		b := p.has[it.ref.ID]
		source[k] = p.source[it.ref.ID]
		for i := range n {
			if b.get(i) {
				avail[i]++
				if !source[k] {
					relayed[i] = true
				}
			}
		}
	}
	// Among the fetching peers (not sources, not whole), each asks a
	// source only for its share of the pieces: piece i belongs to the
	// fetcher of rank i mod len(fetchers) in id order.
	fetchers := []netcode.PeerID{s.self}
	for k, p := range cands {
		if !source[k] && p.has[it.ref.ID].count() < n {
			fetchers = append(fetchers, p.id)
		}
	}
	slices.Sort(fetchers)
	rank := slices.Index(fetchers, s.self)
	// Peers that are not sources first, in random order.
	s.rng.Shuffle(len(cands), func(a, b int) {
		cands[a], cands[b] = cands[b], cands[a]
		source[a], source[b] = source[b], source[a]
	})
	order := make([]int, 0, len(cands))
	for k := range cands {
		if !source[k] {
			order = append(order, k)
		}
	}
	for k := range cands {
		if source[k] {
			order = append(order, k)
		}
	}
	for progress := true; progress; {
		progress = false
		for _, k := range order {
			p := cands[k]
			if p.inflight >= s.cfg.MaxRequestsPerPeer || s.buffered+it.ref.PieceSize > s.cfg.MaxBufferedBytes {
				continue
			}
			b := p.has[it.ref.ID]
			best := -1
			for _, i32 := range it.order {
				i := int(i32)
				if it.have.get(i) || !b.get(i) || len(it.reqs[i]) > 0 {
					continue
				}
				if source[k] && !(idle && len(it.reqs) == 0) && (relayed[i] || (s.self != "" && i%len(fetchers) != rank)) {
					continue
				}
				if best < 0 || avail[i] < avail[best] {
					best = i
				}
			}
			if best < 0 {
				continue
			}
			if s.send(p.id, &message{Type: msgRequest, ID: it.ref.ID, Index: best}) != nil {
				p.busy = now.Add(s.cfg.BusyBackoff)
				continue
			}
			r := &request{peer: p.id, deadline: now.Add(s.cfg.RequestTimeout), n: it.ref.pieceLen(best)}
			it.reqs[best] = append(it.reqs[best], r)
			p.inflight++
			s.buffered += r.n
			progress = true
		}
	}
	// The endgame: when every piece some peer has is asked for, peers with
	// room are asked for pieces outstanding elsewhere, one duplicate per
	// piece, so that one slow peer does not hold up the end. Sources are
	// spared this unless the swarm is idle at a Tick.
	for i := range n {
		if !it.have.get(i) && avail[i] > 0 && len(it.reqs[i]) == 0 {
			return
		}
	}
	for _, k := range order {
		p := cands[k]
		if p.inflight >= s.cfg.MaxRequestsPerPeer || s.buffered+it.ref.PieceSize > s.cfg.MaxBufferedBytes || (source[k] && !idle) {
			continue
		}
		b := p.has[it.ref.ID]
		for _, i32 := range it.order {
			i := int(i32)
			if p.inflight >= s.cfg.MaxRequestsPerPeer || s.buffered+it.ref.PieceSize > s.cfg.MaxBufferedBytes {
				break
			}
			if rs := it.reqs[i]; len(rs) != 1 || rs[0].peer == p.id || !b.get(i) {
				continue
			}
			if s.send(p.id, &message{Type: msgRequest, ID: it.ref.ID, Index: i}) != nil {
				break
			}
			r := &request{peer: p.id, deadline: now.Add(s.cfg.RequestTimeout), n: it.ref.pieceLen(i)}
			it.reqs[i] = append(it.reqs[i], r)
			p.inflight++
			s.buffered += r.n
		}
	}
}
