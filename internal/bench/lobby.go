package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// lobbyBenchResult is the JSON object printed by -json. Times are in
// milliseconds.
type lobbyBenchResult struct {
	Lobbies            int     `json:"lobbies"`
	ListMatches        int     `json:"list_matches"`
	List10kP50Ms       float64 `json:"list_10k_p50_ms"`
	List10kP99Ms       float64 `json:"list_10k_p99_ms"`
	ListScanP50Ms      float64 `json:"list_baseline_scan_p50_ms"`
	ListScanP99Ms      float64 `json:"list_baseline_scan_p99_ms"`
	ListRatioP99       float64 `json:"list_over_scan_p99"`
	ListGameScanP50Ms  float64 `json:"list_baseline_game_scan_p50_ms"`
	ListGameScanP99Ms  float64 `json:"list_baseline_game_scan_p99_ms"`
	ListGameRatioP99   float64 `json:"list_over_game_scan_p99"`
	ListWireP50Ms      float64 `json:"list_10k_wire_p50_ms"`
	ListWireP99Ms      float64 `json:"list_10k_wire_p99_ms"`
	PingP50Ms          float64 `json:"ping_baseline_p50_ms"`
	PingP99Ms          float64 `json:"ping_baseline_p99_ms"`
	Members            int     `json:"members"`
	StateBytes         int     `json:"state_bytes"`
	Fanout100P50Ms     float64 `json:"fanout_100_p50_ms"`
	Fanout100P99Ms     float64 `json:"fanout_100_p99_ms"`
	FanoutBaseP50Ms    float64 `json:"fanout_baseline_send_p50_ms"`
	FanoutBaseP99Ms    float64 `json:"fanout_baseline_send_p99_ms"`
	FanoutRatioP99     float64 `json:"fanout_over_baseline_p99"`
	FanoutFullP50Ms    float64 `json:"fanout_full_state_p50_ms"`
	FanoutFullP99Ms    float64 `json:"fanout_full_state_p99_ms"`
	DeltaBytes         int     `json:"delta_bytes"`
	TargetList10kP99   float64 `json:"target_list_10k_p99_ms"`
	TargetFanout100P99 float64 `json:"target_fanout_100_p99_ms"`
	TargetsMet         bool    `json:"targets_met"`
	LoadAvg            string  `json:"loadavg"`
}

func lobbyPct(d []float64, p float64) float64 {
	s := append([]float64(nil), d...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// LobbyConfig holds the flags of rallypoint bench lobby.
type LobbyConfig struct {
	JSON    bool // -json: print one JSON object instead of a table
	Lists   int  // -lists: list calls measured
	Rounds  int  // -rounds: state changes fanned out
	Members int  // -members: members receiving each change
}

// Lobby runs rallypoint bench lobby and prints its report on stdout (one
// JSON object with JSON set, else a table).
func Lobby(cfg LobbyConfig) error {
	r := lobbyBenchResult{Lobbies: 10_000, Members: cfg.Members, TargetList10kP99: 5, TargetFanout100P99: 20}
	if err := benchLobbyList(&r, cfg.Lists); err != nil {
		return err
	}
	if err := benchLobbyFanout(&r, cfg.Rounds); err != nil {
		return err
	}
	r.TargetsMet = r.List10kP99Ms <= r.TargetList10kP99 && r.Fanout100P99Ms <= r.TargetFanout100P99
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && len(b) > 0 {
		r.LoadAvg = string(b[:len(b)-1])
	}
	if cfg.JSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printLobbyTable(os.Stdout, r)
	return nil
}

func printLobbyTable(w io.Writer, r lobbyBenchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measure\tp50 ms\tp99 ms\tbaseline\tp50 ms\tp99 ms\tratio p99\ttarget p99\t\n")
	fmt.Fprintf(tw, "list %d lobbies, 2 filters (service)\t%.3f\t%.3f\tplain scan\t%.3f\t%.3f\t%.1fx\t≤ %.0f ms\t\n",
		r.Lobbies, r.List10kP50Ms, r.List10kP99Ms, r.ListScanP50Ms, r.ListScanP99Ms, r.ListRatioP99, r.TargetList10kP99)
	fmt.Fprintf(tw, "\t\t\tscan of the game's rows\t%.3f\t%.3f\t%.1fx\t\t\n",
		r.ListGameScanP50Ms, r.ListGameScanP99Ms, r.ListGameRatioP99)
	fmt.Fprintf(tw, "list over WebSocket\t%.3f\t%.3f\tping\t%.3f\t%.3f\t%.1fx\t\t\n",
		r.ListWireP50Ms, r.ListWireP99Ms, r.PingP50Ms, r.PingP99Ms, r.ListWireP99Ms/r.PingP99Ms)
	fmt.Fprintf(tw, "state change to %d members\t%.3f\t%.3f\tserver Send\t%.3f\t%.3f\t%.1fx\t≤ %.0f ms\t\n",
		r.Members, r.Fanout100P50Ms, r.Fanout100P99Ms, r.FanoutBaseP50Ms, r.FanoutBaseP99Ms, r.FanoutRatioP99, r.TargetFanout100P99)
	fmt.Fprintf(tw, "(full state instead of a delta)\t\t\tserver Send\t%.3f\t%.3f\t%.1fx\t\t\n",
		r.FanoutFullP50Ms, r.FanoutFullP99Ms, r.FanoutFullP99Ms/r.Fanout100P99Ms)
	tw.Flush()
	fmt.Fprintf(w, "list: %d matches of %d lobbies in a page of %d; delta %d bytes, full state %d bytes; targets met: %v; load average: %s\n",
		r.ListMatches, r.Lobbies, lobby.MaxPageSize, r.DeltaBytes, r.StateBytes, r.TargetsMet, r.LoadAvg)
}

var benchGames = []string{"arena", "kart", "chess", "golf"}

// benchLobbyList fills a service with 10,000 lobbies and measures a list
// with two filters that match about one lobby in 200, so each call scans
// nearly every lobby of the game; the baselines are plain loops applying
// the same two conditions to the same values in a slice of structs: over
// all 10,000 rows, and over the rows of the filtered game only (the work
// the service's game index leaves, so the fair one to compare with).
func benchLobbyList(r *lobbyBenchResult, n int) error {
	srv := signaling.NewServer(signaling.Config{RatePerSec: 1e6, RateBurst: 1e6})
	defer srv.Close()
	svc, err := lobby.New(srv, lobby.Config{})
	if err != nil {
		return err
	}
	type row struct {
		game       string
		rank       float64
		members    int
		maxMembers int
	}
	rows := make([]row, r.Lobbies)
	for i := range rows {
		rows[i] = row{game: benchGames[i%4], rank: float64(i % 50), members: 1, maxMembers: []int{2, 4, 8, 16}[i/4%4]}
		_, err := svc.Create(fmt.Sprintf("owner%d", i), lobby.CreateData{Name: fmt.Sprintf("lobby %d", i), Game: rows[i].game,
			MaxMembers: rows[i].maxMembers, Meta: map[string]string{"mode": "ctf", "region": "eu"},
			Numbers: map[string]float64{"rank": rows[i].rank}})
		if err != nil {
			return err
		}
	}
	game, rank := "golf", 49.0
	var gameRows []row
	for _, rw := range rows {
		if rw.game == game {
			gameRows = append(gameRows, rw)
		}
	}
	q := lobby.ListData{Limit: lobby.MaxPageSize, Filters: []lobby.Filter{{Key: "game", Eq: &game}, {Key: "rank", Min: &rank}}}
	var ts, base, gameBase []float64
	for i := 0; i < n; i++ {
		start := time.Now()
		res, err := svc.List(q)
		ts = append(ts, msSince(start))
		if err != nil {
			return err
		}
		r.ListMatches = len(res.Lobbies)
		start = time.Now()
		var hits int
		for j := range rows {
			if rows[j].game == game && rows[j].rank >= rank {
				hits++
			}
		}
		base = append(base, msSince(start))
		if hits != r.ListMatches {
			return fmt.Errorf("list found %d lobbies, the scan %d", r.ListMatches, hits)
		}
		start = time.Now()
		hits = 0
		for j := range gameRows {
			if gameRows[j].game == game && gameRows[j].rank >= rank {
				hits++
			}
		}
		gameBase = append(gameBase, msSince(start))
		if hits != r.ListMatches {
			return fmt.Errorf("list found %d lobbies, the game's scan %d", r.ListMatches, hits)
		}
	}
	r.List10kP50Ms, r.List10kP99Ms = lobbyPct(ts, .5), lobbyPct(ts, .99)
	r.ListScanP50Ms, r.ListScanP99Ms = lobbyPct(base, .5), lobbyPct(base, .99)
	r.ListRatioP99 = r.List10kP99Ms / r.ListScanP99Ms
	r.ListGameScanP50Ms, r.ListGameScanP99Ms = lobbyPct(gameBase, .5), lobbyPct(gameBase, .99)
	r.ListGameRatioP99 = r.List10kP99Ms / r.ListGameScanP99Ms

	// The same over a real WebSocket, against a ping's round trip.
	url, stop, err := benchLobbyServe(srv)
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	c, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	var wire, ping []float64
	for i := 0; i < n/4; i++ {
		start := time.Now()
		if _, err := c.List(ctx, q); err != nil {
			return err
		}
		wire = append(wire, msSince(start))
		d, err := c.Signaling().Ping(ctx)
		if err != nil {
			return err
		}
		ping = append(ping, float64(d.Nanoseconds())/1e6)
	}
	r.ListWireP50Ms, r.ListWireP99Ms = lobbyPct(wire, .5), lobbyPct(wire, .99)
	r.PingP50Ms, r.PingP99Ms = lobbyPct(ping, .5), lobbyPct(ping, .99)
	return nil
}

func benchLobbyServe(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() { _ = hs.Serve(ln); close(done) }()
	return "ws://" + ln.Addr().String(), func() { hs.Close(); <-done }, nil
}

// benchLobbyFanout measures a host's settings change until the last of the
// members holds the new state, over real WebSocket connections; the
// baseline pushes the same bytes to the same members with Server.Send.
func benchLobbyFanout(r *lobbyBenchResult, rounds int) error {
	srv := signaling.NewServer(signaling.Config{MaxConnsPerIP: -1, RatePerSec: 1e6, RateBurst: 1e6, SendQueueLen: 4096})
	defer srv.Close()
	svc, err := lobby.New(srv, lobby.Config{MaxMembers: r.Members + 1, UpdateRate: 1e6, UpdateBurst: 1 << 20})
	if err != nil {
		return err
	}
	url, stop, err := benchLobbyServe(srv)
	if err != nil {
		return err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	host, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer host.Close()
	st, err := host.Create(ctx, lobby.CreateData{Name: "fanout", MaxMembers: r.Members + 1})
	if err != nil {
		return err
	}
	var (
		target  atomic.Uint64 // the version (or baseline sequence) of the round
		arrived atomic.Int64
		last    atomic.Int64 // unix nanoseconds of the latest arrival in the round
		all     = make(chan struct{}, 1)
		wg      sync.WaitGroup
	)
	n := int64(r.Members)
	got := func(v uint64) {
		if v != target.Load() {
			return
		}
		now := time.Now().UnixNano()
		for {
			l := last.Load()
			if now <= l || last.CompareAndSwap(l, now) {
				break
			}
		}
		if arrived.Add(1) == n {
			all <- struct{}{}
		}
	}
	var clients []*signaling.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
		wg.Wait()
	}()
	for i := 0; i < r.Members; i++ {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true, EventBuffer: 1024})
		if err != nil {
			return err
		}
		clients = append(clients, c)
		if _, err := c.Request(ctx, lobby.TypeJoin, lobby.JoinData{ID: st.ID}); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range c.Events() {
				m, ok := ev.(signaling.Message)
				switch {
				case ok && m.Type == lobby.TypeDelta: // what a lobby.Client decodes
					var d lobby.Delta
					if json.Unmarshal(m.Data, &d) == nil {
						got(d.Version)
					}
				case ok && m.Type == "bench.delta":
					var d lobby.Delta
					if json.Unmarshal(m.Data, &d) == nil {
						got(d.Version)
					}
				case ok && m.Type == "bench.state":
					var s lobby.State
					if json.Unmarshal(m.Data, &s) == nil {
						got(s.Version)
					}
				}
			}
		}()
	}
	// Let the joins' pushes drain.
	time.Sleep(200 * time.Millisecond)
	cur, _ := svc.State(st.ID)
	raw, _ := json.Marshal(cur)
	r.StateBytes = len(raw)
	round := func(run func(v uint64) error, v uint64) (float64, error) {
		arrived.Store(0)
		last.Store(0)
		target.Store(v)
		start := time.Now()
		if err := run(v); err != nil {
			return 0, err
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			return 0, fmt.Errorf("round %d: %d of %d members got it", v, arrived.Load(), n)
		}
		return float64(last.Load()-start.UnixNano()) / 1e6, nil
	}
	var ts, base, fulls []float64
	v := cur.Version
	peers := make([]string, 0, len(clients))
	for _, c := range clients {
		peers = append(peers, c.ID())
	}
	const warmup = 20 // not measured: the first rounds start goroutines and grow buffers
	runtime.GC()      // the list phase's garbage is not this phase's cost
	for i := -warmup; i < rounds; i++ {
		v++
		d, err := round(func(uint64) error {
			return host.SetSettings(ctx, lobby.SettingsData{Meta: map[string]string{"round": fmt.Sprint(i)}})
		}, v)
		if err != nil {
			return err
		}
		if i >= 0 {
			ts = append(ts, d)
		}
		// Baselines with versions no lobby has, pushed to the same members
		// by the server directly: the delta's bytes (the floor), and the
		// whole state (what pushing full states would cost).
		settings := lobby.Settings{Name: cur.Name, MaxMembers: cur.MaxMembers, AutoHost: cur.AutoHost,
			Meta: map[string]string{"round": fmt.Sprint(i)}}
		seq := uint64(i + warmup)
		delta, _ := json.Marshal(lobby.Delta{ID: st.ID, Version: 1<<40 + seq, Settings: &settings})
		r.DeltaBytes = len(delta)
		push := func(typ string, b []byte) func(uint64) error {
			return func(uint64) error {
				for _, p := range peers {
					if err := srv.Send(p, typ, json.RawMessage(b)); err != nil {
						return err
					}
				}
				return nil
			}
		}
		d, err = round(push("bench.delta", delta), 1<<40+seq)
		if err != nil {
			return err
		}
		if i >= 0 {
			base = append(base, d)
		}
		cur.Version = 1<<41 + seq
		full, _ := json.Marshal(cur)
		d, err = round(push("bench.state", full), cur.Version)
		if err != nil {
			return err
		}
		if i >= 0 {
			fulls = append(fulls, d)
		}
	}
	r.Fanout100P50Ms, r.Fanout100P99Ms = lobbyPct(ts, .5), lobbyPct(ts, .99)
	r.FanoutBaseP50Ms, r.FanoutBaseP99Ms = lobbyPct(base, .5), lobbyPct(base, .99)
	r.FanoutRatioP99 = r.Fanout100P99Ms / r.FanoutBaseP99Ms
	r.FanoutFullP50Ms, r.FanoutFullP99Ms = lobbyPct(fulls, .5), lobbyPct(fulls, .99)
	return nil
}
