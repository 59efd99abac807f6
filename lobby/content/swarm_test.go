package content

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

// fakeNet connects swarms in one process. Sends are queued and delivered by
// pump, in order, so a test decides when messages move; the clock is
// injected.
type fakeNet struct {
	mu      sync.Mutex
	now     time.Time
	queue   []fakeMsg
	swarms  map[netcode.PeerID]*Swarm
	down    map[[2]netcode.PeerID]bool // links that drop everything
	deaf    map[netcode.PeerID]bool    // peers that never answer requests
	corrupt map[netcode.PeerID]bool    // peers whose pieces are altered
	badList map[netcode.PeerID]bool    // peers whose piece-hash lists are altered
	// the most requests a swarm had outstanding to one peer
	maxReqs int
	spy     func(from, to netcode.PeerID, b []byte)
}

type fakeMsg struct {
	from, to netcode.PeerID
	data     []byte
}

func newFakeNet() *fakeNet {
	return &fakeNet{
		now:     time.Unix(1000, 0),
		swarms:  map[netcode.PeerID]*Swarm{},
		down:    map[[2]netcode.PeerID]bool{},
		deaf:    map[netcode.PeerID]bool{},
		corrupt: map[netcode.PeerID]bool{},
		badList: map[netcode.PeerID]bool{},
	}
}

func (n *fakeNet) clock() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.now
}

func (n *fakeNet) advance(d time.Duration) {
	n.mu.Lock()
	n.now = n.now.Add(d)
	n.mu.Unlock()
}

type fakeLink struct {
	n    *fakeNet
	self netcode.PeerID
}

func (l fakeLink) LocalID() netcode.PeerID { return l.self }

func (l fakeLink) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if ch != netcode.Reliable {
		return errors.New("fake: not reliable")
	}
	b := bytes.Clone(data)
	n := l.n
	n.mu.Lock()
	defer n.mu.Unlock()
	switch b[2] {
	case msgPiece:
		if n.corrupt[l.self] {
			b[len(b)-1] ^= 0x55
		}
	case msgList:
		if n.badList[l.self] {
			b[len(b)-1] ^= 0x55
		}
	}
	if n.spy != nil {
		n.spy(l.self, to, b)
	}
	n.queue = append(n.queue, fakeMsg{l.self, to, b})
	return nil
}

// add starts a swarm for id and tells it and the others about each other.
func (n *fakeNet) add(t *testing.T, id netcode.PeerID, cfg Config) *Swarm {
	t.Helper()
	cfg.Now = n.clock
	if cfg.Seed == 0 {
		cfg.Seed = uint64(len(n.swarms) + 1)
	}
	s := New(fakeLink{n, id}, cfg)
	t.Cleanup(func() { s.Close() })
	for other, o := range n.swarms {
		o.PeerUp(id)
		s.PeerUp(other)
	}
	n.swarms[id] = s
	return s
}

// pump delivers queued messages until none is left or limit messages were
// delivered (limit <= 0: no limit). It returns the number delivered.
func (n *fakeNet) pump(limit int) int {
	done := 0
	for limit <= 0 || done < limit {
		n.mu.Lock()
		if len(n.queue) == 0 {
			n.mu.Unlock()
			return done
		}
		m := n.queue[0]
		n.queue = n.queue[1:]
		drop := n.down[[2]netcode.PeerID{m.from, m.to}] || (n.deaf[m.to] && m.data[2] == msgRequest)
		s := n.swarms[m.to]
		n.mu.Unlock()
		done++
		if drop || s == nil {
			continue
		}
		if !s.Handle(m.from, netcode.Reliable, m.data) {
			panic("content message not handled")
		}
		s.mu.Lock()
		for _, p := range s.peers {
			n.maxReqs = max(n.maxReqs, p.inflight)
		}
		s.mu.Unlock()
	}
	return done
}

func randomContent(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// drain returns the events queued on s.
func drain(s *Swarm) []Event {
	var out []Event
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func checkComplete(t *testing.T, s *Swarm, id netcode.PeerID, ref Ref, want []byte) {
	t.Helper()
	got, ok := s.Content(ref.ID)
	if !ok {
		p, _ := s.Progress(ref.ID)
		t.Fatalf("%s: not complete: %d/%d pieces", id, p.Have, ref.Pieces())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: content differs", id)
	}
}

// TestSwarmDeliversToEveryMember: a host seeds 1 MiB plus a bit; seven
// members fetch it while a second holder sends corrupt pieces. Every
// member ends with the exact content, the corrupt peer is avoided by those
// it served, no member stores a corrupt piece, and the host uploads less
// than two copies because members pass pieces on.
func TestSwarmDeliversToEveryMember(t *testing.T) {
	n := newFakeNet()
	data := randomContent(1, 1<<20+12345)
	host := n.add(t, "host", Config{PieceSize: MinPieceSize})
	ref, err := host.Seed(data)
	if err != nil {
		t.Fatal(err)
	}
	evil := n.add(t, "evil", Config{PieceSize: MinPieceSize})
	if _, err := evil.Seed(data); err != nil {
		t.Fatal(err)
	}
	n.corrupt["evil"] = true
	var members []*Swarm
	var ids []netcode.PeerID
	for i := range 7 {
		id := netcode.PeerID(fmt.Sprintf("m%d", i))
		s := n.add(t, id, Config{})
		if err := s.Fetch(ref); err != nil {
			t.Fatal(err)
		}
		members = append(members, s)
		ids = append(ids, id)
	}
	for range 100 {
		if n.pump(0) == 0 {
			break
		}
		n.advance(100 * time.Millisecond)
		for _, s := range n.swarms {
			s.Tick()
		}
	}
	avoided := 0
	for i, s := range members {
		checkComplete(t, s, ids[i], ref, data)
		evs := drain(s)
		last, ok := evs[len(evs)-1].(EventComplete)
		if !ok || last.ID != ref.ID || last.Size != ref.Size {
			t.Fatalf("%s: last event %v", ids[i], evs[len(evs)-1])
		}
		if err := s.Avoided()["evil"]; err != nil {
			avoided++
			if !errors.Is(err, ErrCorruptPiece) {
				t.Fatalf("%s: avoided evil for %v", ids[i], err)
			}
		}
		st := s.Stats()
		if st.Downloaded != ref.Size {
			t.Fatalf("%s: downloaded %d verified bytes, want %d", ids[i], st.Downloaded, ref.Size)
		}
		if st.BadPieces > 1 {
			t.Fatalf("%s: %d bad pieces from one corrupt peer", ids[i], st.BadPieces)
		}
	}
	if avoided == 0 {
		t.Fatal("no member noticed the corrupt peer")
	}
	up := host.Stats().Uploaded
	t.Logf("host uploaded %.2f copies; %d members avoided the corrupt peer", float64(up)/float64(ref.Size), avoided)
	if up > 2*ref.Size {
		t.Fatalf("host uploaded %d bytes for %d of content", up, ref.Size)
	}
	if n.maxReqs > 4 {
		t.Fatalf("%d requests outstanding to one peer; cap 4", n.maxReqs)
	}
}

// TestSwarmResumesAfterDisconnect: a member loses its only source halfway,
// keeps its verified pieces, and finishes from the source when it comes
// back without fetching any piece twice.
func TestSwarmResumesAfterDisconnect(t *testing.T) {
	n := newFakeNet()
	data := randomContent(2, 40*MinPieceSize)
	host := n.add(t, "host", Config{PieceSize: MinPieceSize})
	ref, _ := host.Seed(data)
	m := n.add(t, "m", Config{MaxRequestsPerPeer: 2})
	if err := m.Fetch(ref); err != nil {
		t.Fatal(err)
	}
	for {
		n.pump(1)
		if p, _ := m.Progress(ref.ID); p.Have >= 15 {
			break
		}
	}
	m.PeerDown("host")
	host.PeerDown("m")
	n.mu.Lock()
	n.queue = nil // lost with the connection
	n.mu.Unlock()
	half, _ := m.Progress(ref.ID)
	if half.Complete || half.Have == 0 {
		t.Fatalf("progress %+v", half)
	}
	n.advance(time.Second)
	m.Tick()
	if n.pump(0) != 0 {
		t.Fatal("the member asked a peer that is gone")
	}
	m.PeerUp("host")
	host.PeerUp("m")
	n.pump(0)
	checkComplete(t, m, "m", ref, data)
	if got := m.Stats().Downloaded; got != ref.Size {
		t.Fatalf("downloaded %d, want %d: pieces fetched twice", got, ref.Size)
	}
}

// TestSwarmEndgame: requests stuck at a peer that never answers are asked
// again of another peer once nothing else is left to ask for (of a source
// at the next Tick), so the fetch completes without waiting for the
// timeout.
func TestSwarmEndgame(t *testing.T) {
	n := newFakeNet()
	data := randomContent(3, 10*MinPieceSize)
	b := n.add(t, "b", Config{PieceSize: MinPieceSize})
	ref, _ := b.Seed(data)
	n.deaf["b"] = true
	m := n.add(t, "m", Config{RequestTimeout: 3 * time.Second})
	m.Fetch(ref)
	n.pump(0) // m asks b for pieces, which never come
	if p, _ := m.Progress(ref.ID); p.Have != 0 {
		t.Fatalf("%+v", p)
	}
	a := n.add(t, "a", Config{PieceSize: MinPieceSize})
	a.Seed(data)
	n.pump(0)
	// a is a source too: it is asked for the duplicates at the next Tick.
	n.advance(100 * time.Millisecond)
	m.Tick()
	n.pump(0)
	checkComplete(t, m, "m", ref, data)
	if st := m.Stats(); st.Timeouts != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestSwarmRequestTimeout: a request unanswered for RequestTimeout is
// given up and its peer is not asked again for as long; then it is.
func TestSwarmRequestTimeout(t *testing.T) {
	n := newFakeNet()
	data := randomContent(3, 10*MinPieceSize)
	b := n.add(t, "b", Config{PieceSize: MinPieceSize})
	ref, _ := b.Seed(data)
	n.deaf["b"] = true
	m := n.add(t, "m", Config{RequestTimeout: 3 * time.Second})
	m.Fetch(ref)
	n.pump(0)
	n.advance(2 * time.Second)
	m.Tick()
	if st := m.Stats(); st.Timeouts != 0 || n.pump(0) != 0 {
		t.Fatalf("timed out early: %+v", st)
	}
	n.advance(2 * time.Second)
	m.Tick()
	if st := m.Stats(); st.Timeouts != 4 || n.pump(0) != 0 {
		t.Fatalf("after the timeout: %+v", st)
	}
	n.advance(2 * time.Second)
	m.Tick()
	if n.pump(0) != 0 {
		t.Fatal("the silent peer was asked again during its backoff")
	}
	n.deaf["b"] = false
	n.advance(2 * time.Second)
	m.Tick()
	n.pump(0)
	checkComplete(t, m, "m", ref, data)
}

// TestSwarmCorruptList: a peer that serves a piece-hash list that does not
// hash to the reference is avoided and the list is fetched elsewhere.
func TestSwarmCorruptList(t *testing.T) {
	n := newFakeNet()
	data := randomContent(4, 5*MinPieceSize)
	ref, _, _ := MakeRef(data, MinPieceSize)
	b := n.add(t, "b", Config{PieceSize: MinPieceSize})
	b.Seed(data)
	n.badList["b"] = true
	a := n.add(t, "a", Config{PieceSize: MinPieceSize})
	a.Seed(data)
	m := n.add(t, "m", Config{})
	// a is cut off at first, so the list is asked of b.
	n.down[[2]netcode.PeerID{"a", "m"}] = true
	m.Fetch(ref)
	n.pump(0)
	if p, _ := m.Progress(ref.ID); p.Have != 0 {
		t.Fatalf("%+v", p)
	}
	n.down[[2]netcode.PeerID{"a", "m"}] = false
	m.PeerUp("a") // a reconnects
	n.pump(0)
	checkComplete(t, m, "m", ref, data)
	if err := m.Avoided()["b"]; !errors.Is(err, ErrCorruptPiece) {
		t.Fatalf("b avoided for %v", err)
	}
	evs := drain(m)
	if ev, ok := evs[0].(EventPeerAvoided); !ok || ev.Peer != "b" || ev.ID != ref.ID {
		t.Fatalf("first event %v", evs[0])
	}
}

// TestSwarmLimits: sizes, the number of contents and the bytes held are
// capped, and a conflicting reference is refused.
func TestSwarmLimits(t *testing.T) {
	n := newFakeNet()
	s := n.add(t, "a", Config{MaxContentSize: 100 << 10, MaxContents: 2, MaxStoredBytes: 150 << 10, PieceSize: MinPieceSize})
	if _, err := s.Seed(make([]byte, 100<<10+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized seed: %v", err)
	}
	ref1, err := s.Seed(randomContent(5, 100<<10))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Seed(randomContent(6, 60<<10))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("seed past MaxStoredBytes: %v", err)
	}
	if _, err := s.Seed(randomContent(6, 40<<10)); err != nil {
		t.Fatal(err)
	}
	ref3, _, _ := MakeRef(randomContent(7, 1<<10), 0)
	if err := s.Fetch(ref3); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("fetch past MaxContents: %v", err)
	}
	other := ref1
	other.PieceSize *= 2
	if err := s.Fetch(other); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflicting ref: %v", err)
	}
	if err := s.Fetch(Ref{Size: MaxSize + 1, PieceSize: MinPieceSize}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("fetch of 64 MiB + 1: %v", err)
	}
	s.Drop(ref1.ID)
	if err := s.Fetch(ref3); err != nil {
		t.Fatalf("fetch after drop: %v", err)
	}
	s.Close()
	if err := s.Fetch(ref1); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestSwarmBufferedBytesCap: requests outstanding over all peers never
// ask for more than MaxBufferedBytes.
func TestSwarmBufferedBytesCap(t *testing.T) {
	n := newFakeNet()
	data := randomContent(8, 64*MinPieceSize)
	for _, id := range []netcode.PeerID{"a", "b", "c"} {
		s := n.add(t, id, Config{PieceSize: MinPieceSize})
		s.Seed(data)
	}
	ref, _, _ := MakeRef(data, MinPieceSize)
	m := n.add(t, "m", Config{MaxBufferedBytes: 5 * MinPieceSize, MaxRequestsPerPeer: 4})
	m.Fetch(ref)
	for n.pump(1) > 0 {
		m.mu.Lock()
		buf := m.buffered
		m.mu.Unlock()
		if buf > 5*MinPieceSize {
			t.Fatalf("%d bytes requested at once", buf)
		}
	}
	checkComplete(t, m, "m", ref, data)
}

// TestSwarmEventsDropOldest: a full event channel loses its oldest events,
// counted, and keeps the newest (the completion).
func TestSwarmEventsDropOldest(t *testing.T) {
	n := newFakeNet()
	data := randomContent(9, 20*MinPieceSize)
	a := n.add(t, "a", Config{PieceSize: MinPieceSize})
	ref, _ := a.Seed(data)
	m := n.add(t, "m", Config{EventBuffer: 4})
	m.Fetch(ref)
	n.pump(0)
	evs := drain(m)
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	if _, ok := evs[3].(EventComplete); !ok {
		t.Fatalf("last event %v", evs[3])
	}
	if d := m.Stats().DroppedEvents; d != 17 {
		t.Fatalf("dropped %d events, want 17", d)
	}
}

// TestSwarmIgnoresOthersMessages: messages that are not the swarm's pass
// through; malformed ones are counted, unsolicited pieces are not stored.
func TestSwarmIgnoresOthersMessages(t *testing.T) {
	n := newFakeNet()
	data := randomContent(10, MinPieceSize)
	a := n.add(t, "a", Config{PieceSize: MinPieceSize})
	ref, list, _ := MakeRef(data, MinPieceSize)
	_ = list
	if a.Handle("x", netcode.Reliable, []byte{3, 1, 2}) || a.Handle("x", netcode.Unreliable, []byte{Magic, 1}) {
		t.Fatal("a game message was taken")
	}
	if !a.Handle("x", netcode.Reliable, []byte{Magic, 1, 2}) || a.Stats().BadMessages != 1 {
		t.Fatal("a malformed message was not counted")
	}
	a.Fetch(ref)
	piece := appendMessage(nil, &message{Type: msgPiece, ID: ref.ID, Index: 0, Data: data})
	a.Handle("x", netcode.Reliable, piece)
	if p, _ := a.Progress(ref.ID); p.Have != 0 || a.Stats().Unsolicited != 1 {
		t.Fatalf("unsolicited piece: %+v %+v", p, a.Stats())
	}
}
