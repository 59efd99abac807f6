// Command treepeer runs players or spectators of a broadcast tree over the
// WebRTC mesh, in a process of their own, for the multi-process tests of
// package broadcast (TestBroadcastOverPionProcesses, on loopback, and
// TestBroadcastLAN, in network namespaces). It reads commands on stdin
// and writes one JSON object a line on stdout.
//
// -role players starts -players players (a toy game under rollback, a
// Source each), connects them, prints {"ev":"players","ids":[...]} and
// plays at -hz ticks a second. With -serve ADDR it first serves a
// signaling server on ADDR, as a LAN host does, prints
// {"ev":"serving","url":URL} and joins that. The command "finish" ends
// the match 30 frames later; once the players agree on the final checksum
// it prints {"ev":"final","frame":F,"sum":"hex"}.
//
// -role spectators (with -roots, the players' ids) starts no spectator
// until told: "add ENTRY" (ENTRY a spectator's id, or "-" to ask the
// players) joins a spectator, prints {"ev":"joined","id":ID} and then its
// events: attached (parent, depth, frame, gap_ms: the stream's pause,
// ms_since_lost: time since the node learned its parent was lost),
// detached (parent, reason), connected (parent: a peer it dialed, gap_ms:
// how long the new connection took), ended (frame, sum, match), rejected
// (err). "leave ID" makes that spectator say goodbye and leave the room
// ({"ev":"left","id":ID}).
//
// A spectator passes the peers the signaling server reports interrupted
// to Spectator.PeerSuspect (unless -no-suspect). -loopback=false leaves
// out loopback candidates (peers on separate hosts or namespaces). Both
// roles exit when stdin closes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/netcode/broadcast/internal/toygame"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/netcode/rollback"
	"github.com/rallypoint/rallypoint/signaling"
)

var (
	url           = flag.String("url", "", "signaling server (ws://...)")
	role          = flag.String("role", "", "players or spectators")
	nplayers      = flag.Int("players", 2, "players in the match")
	hz            = flag.Int("hz", 30, "ticks a second")
	fanout        = flag.Int("fanout", broadcast.DefaultFanout, "Config.Fanout")
	rootFanout    = flag.Int("rootfanout", broadcast.DefaultRootFanout, "Config.RootFanout")
	delay         = flag.Int("delay", 15, "Config.Delay")
	parentTimeout = flag.Duration("parent-timeout", broadcast.DefaultParentTimeout, "Config.ParentTimeout")
	rootsFlag     = flag.String("roots", "", "the players' ids, comma-separated (spectators)")
	noSuspect     = flag.Bool("no-suspect", false, "do not pass the signaling server's interrupted peers to Spectator.PeerSuspect")
	flush         = flag.Duration("flush", broadcast.DefaultFlushInterval, "Config.FlushInterval")
	serve         = flag.String("serve", "", "players: serve a signaling server on this address (host:port) and use it")
	loopback      = flag.Bool("loopback", true, "gather loopback candidates (mesh.Config.Loopback): all peers on one host")
)

var outMu sync.Mutex

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

func main() {
	flag.Parse()
	log.SetFlags(log.Lmicroseconds)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- strings.TrimSpace(sc.Text())
		}
		close(lines)
	}()
	var err error
	switch *role {
	case "players":
		err = runPlayers(lines)
	case "spectators":
		err = runSpectators(lines)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func baseConfig() broadcast.Config {
	return broadcast.Config{Delay: *delay, FlushInterval: *flush, ParentTimeout: *parentTimeout,
		Fanout: *fanout, RootFanout: *rootFanout}
}

// join connects one peer to the room on an on-demand mesh.
func join(ctx context.Context) (*signaling.Client, *mesh.Mesh, error) {
	c, err := signaling.Dial(ctx, *url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Join(ctx, "broadcast"); err != nil {
		c.Close()
		return nil, nil, err
	}
	m, err := mesh.New(c, mesh.Config{Loopback: *loopback, OnDemand: true, ConnectTimeout: 30 * time.Second,
		// The players' liveness is not under test; the tree's own
		// silence detection is.
		InterruptAfter: 3 * time.Second, DisconnectAfter: 20 * time.Second})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, m, nil
}

// goneFrom reports the peers whose connection the mesh reports ended.
func goneFrom(m *mesh.Mesh, fn func(netcode.PeerID)) {
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return
			}
			if d, ok := ev.(mesh.EventDisconnected); ok {
				fn(d.Peer)
			}
		default:
			return
		}
	}
}

// meshEvents passes the mesh's pending events to fn.
func meshEvents(m *mesh.Mesh, fn func(mesh.Event)) {
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return
			}
			fn(ev)
		default:
			return
		}
	}
}

// dialLog remembers when a spectator dialed each peer, so that the time
// a new connection took can be reported ({"ev":"connected"}).
type dialLog struct {
	mu sync.Mutex
	at map[netcode.PeerID]time.Time
}

func (d *dialLog) dialed(p netcode.PeerID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if at, ok := d.at[p]; ok && time.Since(at) < 3*time.Second || !ok && len(d.at) >= 256 {
		return // a connection under way (Dial is repeated), or too many
	}
	{
		d.at[p] = time.Now()
	}
}

func (d *dialLog) connected(p netcode.PeerID) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	at, ok := d.at[p]
	delete(d.at, p)
	return at, ok
}

// suspects reports the peers whose signaling connection dropped (a
// process that dies drops it at once).
func suspects(c *signaling.Client, fn func(netcode.PeerID)) {
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				return
			}
			if pi, ok := ev.(signaling.PeerInterrupted); ok {
				fn(netcode.PeerID(pi.Peer))
			}
		default:
			return
		}
	}
}

type player struct {
	id  netcode.PeerID
	m   *mesh.Mesh
	s   *rollback.Session
	src *broadcast.Source
	rng *rand.Rand
}

func runPlayers(lines <-chan string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if *serve != "" {
		// A signaling server of our own, as a LAN host serves one.
		ln, err := net.Listen("tcp", *serve)
		if err != nil {
			return err
		}
		srv := signaling.NewServer(signaling.Config{MaxRoomSize: 64, RatePerSec: 1000, RateBurst: 2000})
		hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer func() { hs.Close(); srv.Close() }()
		*url = "ws://" + ln.Addr().String()
		emit(map[string]any{"ev": "serving", "url": *url})
	}
	var ids []netcode.PeerID
	meshes := map[netcode.PeerID]*mesh.Mesh{}
	for range *nplayers {
		c, m, err := join(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		defer m.Close()
		ids = append(ids, m.LocalID())
		meshes[m.LocalID()] = m
	}
	for _, a := range ids {
		for _, b := range ids {
			if a < b {
				_ = meshes[a].Dial(b)
			}
		}
	}
	for _, id := range ids {
		if err := meshes[id].WaitConnected(ctx, len(ids)-1); err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
	}
	base := baseConfig()
	base.Roots = ids
	var ps []*player
	for i, id := range ids {
		seats := make([]rollback.Player, len(ids))
		for h := range seats {
			if h != i {
				seats[h].Peer = ids[h]
			}
		}
		gt, bt := broadcast.Split(meshes[id])
		s, err := rollback.New(gt, toygame.New(len(ids)), rollback.Config{Players: seats, ChecksumInterval: 30,
			DisconnectTimeout: 15 * time.Second})
		if err != nil {
			return err
		}
		cfg := base
		cfg.Self = id
		m := meshes[id]
		cfg.Hangup = func(to netcode.PeerID) { _ = m.Hangup(to) }
		src, err := broadcast.NewSource(bt, s, cfg)
		if err != nil {
			return err
		}
		ps = append(ps, &player{id: id, m: m, s: s, src: src, rng: rand.New(rand.NewSource(int64(i)))})
	}
	emit(map[string]any{"ev": "players", "ids": ids})
	tk := time.NewTicker(time.Second / time.Duration(*hz))
	defer tk.Stop()
	end, reported := 0, false
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil
			}
			if l == "finish" && end == 0 {
				end = ps[0].s.Frame() + 30
				for _, p := range ps {
					if err := p.s.Finish(end); err != nil {
						return err
					}
				}
			}
		case <-tk.C:
		}
		for i, p := range ps {
			if end == 0 || p.s.Frame() < end {
				_ = p.s.AddLocalInput(i, []byte{byte(p.rng.Intn(256))})
			}
			if err := p.s.AdvanceFrame(); err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				return fmt.Errorf("%s: %w", p.id, err)
			}
			goneFrom(p.m, p.src.PeerGone)
			if err := p.src.Tick(); err != nil {
				return fmt.Errorf("%s source: %w", p.id, err)
			}
			for drained := false; !drained; {
				select {
				case <-p.s.Events():
				case <-p.src.Events():
				default:
					drained = true
				}
			}
		}
		if end != 0 && !reported {
			var sum uint64
			final := true
			for _, p := range ps {
				o := p.s.Outcome()
				final = final && o.Final
				if final && sum != 0 && o.Checksum != sum {
					return fmt.Errorf("players disagree: %x and %x", sum, o.Checksum)
				}
				sum = o.Checksum
			}
			if final {
				reported = true
				emit(map[string]any{"ev": "final", "frame": end, "sum": fmt.Sprintf("%x", sum)})
			}
		}
	}
}

func runSpectators(lines <-chan string) error {
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	leave := map[netcode.PeerID]chan struct{}{}
	for l := range lines {
		if id, ok := strings.CutPrefix(l, "leave "); ok {
			if ch := leave[netcode.PeerID(id)]; ch != nil {
				close(ch)
				delete(leave, netcode.PeerID(id))
			}
			continue
		}
		entry, ok := strings.CutPrefix(l, "add ")
		if !ok {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, m, err := join(ctx)
		cancel()
		if err != nil {
			return err
		}
		cfg := baseConfig()
		cfg.Players = *nplayers
		cfg.Self = m.LocalID()
		dials := &dialLog{at: map[netcode.PeerID]time.Time{}}
		cfg.Dial = func(to netcode.PeerID) {
			dials.dialed(to)
			_ = m.Dial(to)
		}
		cfg.Hangup = func(to netcode.PeerID) { _ = m.Hangup(to) }
		if entry != "-" {
			cfg.Entry = []netcode.PeerID{netcode.PeerID(entry)}
		}
		cfg.Roots = roots()
		sp, err := broadcast.NewSpectator(m, toygame.New(*nplayers), cfg)
		if err != nil {
			return err
		}
		emit(map[string]any{"ev": "joined", "id": cfg.Self})
		bye := make(chan struct{})
		leave[cfg.Self] = bye
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			defer m.Close()
			watch(sp, c, m, dials, cfg.Self, stop, bye)
		}()
	}
	return nil
}

// roots returns the players' ids given by -roots.
func roots() []netcode.PeerID {
	var out []netcode.PeerID
	for _, s := range strings.Split(*rootsFlag, ",") {
		if s != "" {
			out = append(out, netcode.PeerID(s))
		}
	}
	return out
}

// watch ticks one spectator until stop closes.
// On bye it says goodbye (Close) and returns, leaving the room.
func watch(sp *broadcast.Spectator, c *signaling.Client, m *mesh.Mesh, dials *dialLog, id netcode.PeerID, stop, bye <-chan struct{}) {
	tk := time.NewTicker(time.Second / time.Duration(*hz))
	defer tk.Stop()
	var lost time.Time
	for {
		select {
		case <-stop:
			return
		case <-bye:
			_ = sp.Close()
			emit(map[string]any{"ev": "left", "id": id})
			return
		case <-tk.C:
		}
		meshEvents(m, func(ev mesh.Event) {
			switch e := ev.(type) {
			case mesh.EventDisconnected:
				sp.PeerGone(e.Peer)
			case mesh.EventConnected:
				if at, ok := dials.connected(e.Peer); ok {
					emit(map[string]any{"ev": "connected", "id": id, "parent": e.Peer, "gap_ms": time.Since(at).Milliseconds()})
				}
			}
		})
		if !*noSuspect {
			suspects(c, sp.PeerSuspect)
		}
		if err := sp.Tick(); err != nil && !errors.Is(err, broadcast.ErrWaiting) {
			emit(map[string]any{"ev": "error", "id": id, "err": err.Error()})
		}
		for drained := false; !drained; {
			select {
			case ev := <-sp.Events():
				switch e := ev.(type) {
				case broadcast.EventAttached:
					var since int64
					if !lost.IsZero() {
						since = time.Since(lost).Milliseconds()
					}
					emit(map[string]any{"ev": "attached", "id": id, "parent": e.Parent, "depth": e.Depth,
						"frame": e.Frame, "gap_ms": e.Gap.Milliseconds(), "ms_since_lost": since})
				case broadcast.EventDetached:
					lost = time.Now()
					emit(map[string]any{"ev": "detached", "id": id, "parent": e.Parent, "reason": e.Reason.String()})
				case broadcast.EventEnded:
					emit(map[string]any{"ev": "ended", "id": id, "frame": e.Frame,
						"sum": fmt.Sprintf("%x", e.Checksum), "match": e.Match})
				case broadcast.EventRejected:
					emit(map[string]any{"ev": "rejected", "id": id, "err": e.Err.Error()})
				}
			default:
				drained = true
			}
		}
	}
}
