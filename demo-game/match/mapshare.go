package match

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// ErrMapMissing is returned by Lobby.Play when the lobby offers a map this
// player does not have (whole and readable) yet.
var ErrMapMissing = errors.New("match: this player does not have the lobby's map")

// Where a player's copy of the lobby's map came from (MapStatus.Source).
const (
	MapSourceOffered = "offered" // this player offered it (its -map file)
	MapSourceCache   = "cache"   // the map cache on disk had it
	MapSourceFetched = "fetched" // fetched from the other members
)

// MapContentRoom is the prefix of the signaling room in which a lobby's
// members share its map: the room is MapContentRoom + the lobby id, on
// the lobby's server (or LAN host).
const MapContentRoom = "content:"

// mapPieceSize is the piece size of a map: the smallest the content swarm
// has, so that a map (at most arena.MaxMapFile) is one piece.
const mapPieceSize = content.MinPieceSize

// reportEvery is the shortest pause between two progress reports in the
// lobby (each is a lobby request every member receives); the report of a
// whole map goes at once.
const reportEvery = 250 * time.Millisecond

// MapStatus is where this player stands with the lobby's map.
type MapStatus struct {
	// Offered is set once the lobby offers a map (the lobby's metadata
	// carries its content reference).
	Offered bool
	ID      content.ID
	// Name is the map's name, once this player has the map.
	Name         string
	Have, Pieces int   // verified pieces of all
	Bytes, Size  int64 // verified bytes of all
	// Complete is set when this player has the map whole, verified
	// against its id and readable (arena.ParseMap).
	Complete bool
	// Source says where the map came from: MapSourceOffered,
	// MapSourceCache or MapSourceFetched.
	Source string
	// CacheFile is the map's file in the cache (LobbyConfig.MapCache),
	// when it was loaded from there or stored there.
	CacheFile string
	// Fetch is how long the fetch took, from the offer seen to the map
	// whole (MapSourceFetched only).
	Fetch time.Duration
	// Avoided counts the members the swarm stopped asking because they
	// sent corrupt pieces.
	Avoided int
	// Err is the last error: the content mesh could not start, the map
	// does not read, the cache could not be written.
	Err error
	// Missing, on the host, is who lacked the map at the last start
	// attempt (nil: nobody).
	Missing *content.MissingError
}

// Fraction is the part of the map this player has, 0 to 1.
func (s MapStatus) Fraction() float64 {
	switch {
	case s.Complete:
		return 1
	case s.Size <= 0:
		return 0
	}
	return float64(s.Bytes) / float64(s.Size)
}

// mapShare shares a lobby's map among its members: the host seeds it and
// offers it in the lobby's metadata (content.Offer); a member that sees
// an offer loads the map from its cache or fetches it from the others
// through a content swarm over a mesh of its own (the lobby's content
// room), stores it in its cache, and reports its progress in its member
// metadata (content.ReportProgress), from which the host learns who still
// lacks it (content.Missing).
//
// One goroutine (run) owns the mesh, the swarm and the reports; status,
// data and the map are guarded by mu. stop ends run and waits for it.
type mapShare struct {
	client *lobby.Client
	seeded bool // this player offers the map
	url    string
	loop   bool
	cache  string // the cache directory; "" keeps nothing
	onMap  func(MapStatus)

	mu     sync.Mutex
	status MapStatus
	m      *arena.Map // the map whole, parsed

	// Owned by run.
	sig        *signaling.Client
	mesh       *mesh.Mesh
	swarm      *content.Swarm
	sw         atomic.Pointer[content.Swarm]
	ref        content.Ref
	reported   string
	lastReport time.Time
	fetchStart time.Time
	wg         sync.WaitGroup // the swarm's Run and the mesh's event reader

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startMapShare starts sharing the lobby's map; seed, when not nil, is the
// map file this player (the host) offers.
func startMapShare(c *lobby.Client, url string, loop bool, cfg LobbyConfig, seed []byte) *mapShare {
	ctx, cancel := context.WithCancel(context.Background())
	s := &mapShare{client: c, seeded: seed != nil, url: url, loop: loop, cache: cfg.MapCache, onMap: cfg.OnMap, cancel: cancel, done: make(chan struct{})}
	go s.run(ctx, seed)
	return s
}

// offering reports whether this player offers the map.
func (s *mapShare) offering() bool { return s.seeded }

// Status returns the map's status now.
func (s *mapShare) Status() MapStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// update changes the status under the lock and tells OnMap.
func (s *mapShare) update(fn func(*MapStatus)) {
	s.mu.Lock()
	fn(&s.status)
	st := s.status
	s.mu.Unlock()
	if s.onMap != nil {
		s.onMap(st)
	}
}

// setMissing records who lacks the map (the host's start check) and tells
// OnMap when that changed.
func (s *mapShare) setMissing(me *content.MissingError) {
	s.mu.Lock()
	same := missingText(s.status.Missing) == missingText(me)
	s.mu.Unlock()
	if !same {
		s.update(func(st *MapStatus) { st.Missing = me })
	}
}

func missingText(me *content.MissingError) string {
	if me == nil {
		return ""
	}
	return me.Error()
}

// layoutFor returns the arena of the map the lobby state st offers: nil
// (the default arena) when it offers none, ErrMapMissing when this player
// does not have it.
func (s *mapShare) layoutFor(st lobby.State) (*arena.Layout, error) {
	refs, err := content.Offered(st)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMapMissing, err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	if s == nil {
		return nil, ErrMapMissing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || !s.status.Complete || s.status.ID != refs[0].ID {
		return nil, fmt.Errorf("%w (%d of %d bytes)", ErrMapMissing, s.status.Bytes, refs[0].Size)
	}
	l := s.m.Layout
	return &l, nil
}

// stop ends the sharing (the content mesh closes) and waits for it.
// Idempotent.
func (s *mapShare) stop() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		s.cancel()
		<-s.done
	})
}

func (s *mapShare) run(ctx context.Context, seed []byte) {
	defer close(s.done)
	defer s.teardown()
	if seed != nil {
		s.offer(ctx, seed)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var events <-chan content.Event
		if s.swarm != nil {
			events = s.swarm.Events()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.step(ctx)
		case ev := <-events:
			s.onEvent(ctx, ev)
		}
	}
}

// offer seeds the host's map and offers it in the lobby, trying again
// every second while the lobby refuses.
func (s *mapShare) offer(ctx context.Context, data []byte) {
	m, err := arena.ParseMap(data)
	if err != nil {
		s.update(func(st *MapStatus) { st.Err = err })
		return
	}
	for s.swarm == nil {
		st, _ := s.client.State()
		if err := s.startMesh(ctx, st.ID); err != nil {
			s.update(func(st *MapStatus) { st.Err = err })
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
	ref, err := s.swarm.Seed(data)
	if err != nil {
		s.update(func(st *MapStatus) { st.Err = err })
		return
	}
	s.ref = ref
	s.mu.Lock()
	s.m = &m
	s.mu.Unlock()
	s.update(func(st *MapStatus) {
		*st = MapStatus{Offered: true, ID: ref.ID, Name: m.Name, Have: ref.Pieces(), Pieces: ref.Pieces(),
			Bytes: ref.Size, Size: ref.Size, Complete: true, Source: MapSourceOffered}
	})
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := content.Offer(rctx, s.client, ref)
		cancel()
		if err == nil || ctx.Err() != nil {
			return
		}
		s.update(func(st *MapStatus) { st.Err = fmt.Errorf("match: offering the map: %w", err) })
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// step follows the lobby's offer and reports progress.
func (s *mapShare) step(ctx context.Context) {
	st, ok := s.client.State()
	if !ok {
		return
	}
	refs, err := content.Offered(st)
	if err != nil || len(refs) == 0 {
		return
	}
	if refs[0] != s.ref {
		s.track(ctx, st, refs[0])
	}
	s.report(ctx)
}

// track starts on an offered map: from the cache, or fetched.
func (s *mapShare) track(ctx context.Context, st lobby.State, ref content.Ref) {
	if ref.Size > arena.MaxMapFile {
		s.update(func(m *MapStatus) {
			m.Err = fmt.Errorf("%w: the lobby offers %d bytes (max %d)", arena.ErrMapTooLarge, ref.Size, arena.MaxMapFile)
		})
		return
	}
	if s.swarm == nil {
		if err := s.startMesh(ctx, st.ID); err != nil {
			s.update(func(m *MapStatus) { m.Err = err }) // the next step tries again
			return
		}
	}
	if s.ref != (content.Ref{}) {
		s.swarm.Drop(s.ref.ID)
	}
	s.ref = ref
	s.reported = ""
	s.mu.Lock()
	s.m = nil
	s.mu.Unlock()
	s.update(func(m *MapStatus) {
		*m = MapStatus{Offered: true, ID: ref.ID, Pieces: ref.Pieces(), Size: ref.Size}
	})
	if s.cache != "" {
		c := content.Cache{Dir: s.cache}
		if data, err := c.Load(ref); err == nil {
			if r, err := s.swarm.Seed(data); err == nil && r == ref {
				s.complete(data, MapSourceCache)
				return
			}
			s.swarm.Drop(ref.ID)
		}
	}
	s.fetchStart = time.Now()
	if err := s.swarm.Fetch(ref); err != nil {
		s.update(func(m *MapStatus) { m.Err = err })
	}
}

// complete takes the map whole: parsed, kept in the cache when fetched.
func (s *mapShare) complete(data []byte, source string) {
	m, err := arena.ParseMap(data)
	if err != nil {
		s.update(func(st *MapStatus) { st.Err = fmt.Errorf("match: the lobby's map: %w", err) })
		return
	}
	var cacheFile string
	var cerr error
	if s.cache != "" {
		cacheFile = filepath.Join(s.cache, s.ref.ID.String())
		if source == MapSourceFetched {
			if cerr = (content.Cache{Dir: s.cache}).Store(s.ref.ID, data); cerr != nil {
				cacheFile = ""
			}
		}
	}
	var took time.Duration
	if source == MapSourceFetched {
		took = time.Since(s.fetchStart)
	}
	s.mu.Lock()
	s.m = &m
	s.mu.Unlock()
	s.update(func(st *MapStatus) {
		st.Name, st.Complete, st.Source, st.CacheFile, st.Fetch = m.Name, true, source, cacheFile, took
		st.Have, st.Bytes = st.Pieces, st.Size
		if cerr != nil {
			st.Err = fmt.Errorf("match: caching the map: %w", cerr)
		}
	})
}

func (s *mapShare) onEvent(ctx context.Context, ev content.Event) {
	switch ev := ev.(type) {
	case content.EventProgress:
		if ev.ID != s.ref.ID {
			return
		}
		s.update(func(st *MapStatus) { st.Have, st.Bytes = ev.Have, ev.Bytes })
		s.report(ctx)
	case content.EventComplete:
		if ev.ID != s.ref.ID {
			return
		}
		if data, ok := s.swarm.Content(ev.ID); ok {
			s.complete(data, MapSourceFetched)
		}
		s.report(ctx)
	case content.EventPeerAvoided:
		s.update(func(st *MapStatus) { st.Avoided++ })
	case content.EventFailed:
		s.update(func(st *MapStatus) { st.Err = ev.Err })
	}
}

// report puts this player's progress in its member metadata when it
// changed, at most every reportEvery (a whole map at once). A map that
// does not read is not reported whole, so the host waits.
func (s *mapShare) report(ctx context.Context) {
	if s.swarm == nil || s.ref == (content.Ref{}) {
		return
	}
	p, err := s.swarm.Progress(s.ref.ID)
	if err != nil {
		return
	}
	s.mu.Lock()
	readable := s.m != nil
	s.mu.Unlock()
	if p.Complete && !readable {
		return
	}
	key := fmt.Sprint(s.ref.ID.Short(), p.Have, p.Complete)
	if key == s.reported || (!p.Complete && time.Since(s.lastReport) < reportEvery) {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := content.ReportProgress(rctx, s.client, s.swarm); err == nil {
		s.reported, s.lastReport = key, time.Now()
	}
}

// startMesh joins the lobby's content room on its own signaling
// connection and starts the swarm over a mesh among the members there.
func (s *mapShare) startMesh(ctx context.Context, lobbyID string) error {
	if lobbyID == "" {
		return errors.New("match: not in a lobby")
	}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	sig, err := signaling.Dial(dctx, s.url, nil)
	if err != nil {
		return fmt.Errorf("match: the map's room: %w", err)
	}
	if _, err := sig.Join(dctx, MapContentRoom+lobbyID); err != nil {
		sig.Close()
		return fmt.Errorf("match: the map's room: %w", err)
	}
	m, err := mesh.New(sig, mesh.Config{
		Loopback: s.loop,
		// The map's mesh carries little, once: a loaded machine's
		// pauses should not cut it.
		InterruptAfter: 2 * time.Second, DisconnectAfter: 15 * time.Second,
		OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			if sw := s.sw.Load(); sw != nil {
				sw.Handle(from, ch, data)
			}
		},
	})
	if err != nil {
		sig.Close()
		return fmt.Errorf("match: the map's mesh: %w", err)
	}
	sw := content.New(m, content.Config{PieceSize: mapPieceSize, MaxContentSize: arena.MaxMapFile, MaxContents: 2})
	s.sig, s.mesh, s.swarm = sig, m, sw
	s.sw.Store(sw)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		sw.Run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		for ev := range m.Events() {
			switch ev := ev.(type) {
			case mesh.EventConnected:
				sw.PeerUp(ev.Peer)
			case mesh.EventDisconnected:
				sw.PeerDown(ev.Peer)
			}
		}
	}()
	for _, p := range m.Connected() {
		sw.PeerUp(p)
	}
	return nil
}

// teardown closes the content mesh, the swarm and the room's connection.
func (s *mapShare) teardown() {
	if s.mesh == nil {
		return
	}
	s.mesh.Close() // ends the event reader
	s.wg.Wait()    // Run ended with run's context
	s.swarm.Close()
	s.sig.Close()
}

// MapResult is the lobby's map in a headless match's Result.
type MapResult struct {
	ID        string       `json:"id"` // the SHA-256 of the map file, hex
	Name      string       `json:"name,omitempty"`
	Source    string       `json:"source"` // MapSourceOffered, MapSourceCache or MapSourceFetched
	CacheFile string       `json:"cache_file,omitempty"`
	Fetch     *JSONSeconds `json:"fetch_s,omitempty"`
}

// spectatorMap returns the arena of the map the lobby state st offers, for
// a spectator, who is no member and fetches nothing: the map file given
// (LobbyConfig.Map) when it is that content, else the copy in the cache
// (LobbyConfig.MapCache). Nil is the default arena (no map offered);
// ErrMapMissing says the spectator has no copy, rather than letting it
// simulate another arena.
func spectatorMap(st lobby.State, cfg LobbyConfig) (*arena.Layout, error) {
	refs, err := content.Offered(st)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMapMissing, err)
	}
	if len(refs) == 0 {
		return nil, nil
	}
	ref := refs[0]
	var data []byte
	if r, _, err := content.MakeRef(cfg.Map, mapPieceSize); cfg.Map != nil && err == nil && r == ref {
		data = cfg.Map
	} else if cfg.MapCache != "" {
		data, _ = content.Cache{Dir: cfg.MapCache}.Load(ref)
	}
	if data == nil {
		return nil, fmt.Errorf("%w: the match plays map %s, which is neither the -map file nor in the cache", ErrMapMissing, ref.ID.Short())
	}
	m, err := arena.ParseMap(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMapMissing, err)
	}
	return &m.Layout, nil
}
