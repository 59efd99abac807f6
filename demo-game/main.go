// Command demo-game is Rallypoint's demo: a tank arena for 2 to 4 players.
//
//	go run ./demo-game                        the menu; Enter plays against a bot
//	go run ./demo-game -bot                   watch bots play (attract mode)
//	go run ./demo-game -headless -bot         a match without a window; prints one JSON line
//	go run ./demo-game -server ws://HOST/ws   enables Quick match online, online lobbies, Join by code; Nearby players lists the server's
//	go run ./demo-game -headless -bot -server ws://HOST/ws -quick -frames 600   a 1v1 through the matchmaker
//	go run ./demo-game -headless -bot -server ws://A/ws,ws://B/ws -players 3 -frames 600   several nodes of a cluster: fails over
//	go run ./demo-game -headless -bot -server ws://HOST/ws -lobby -players 3 -frames 600   (and -code CODE elsewhere)
//	go run ./demo-game -headless -bot -lan host -frames 600   (and -lan join elsewhere)
//	go run ./demo-game -headless -bot -lan join -spectate -frames 600   watch a running LAN match (online: -server URL -code CODE -spectate)
//	go run ./demo-game -headless -bot -lan join -rejoin TICKET -frames 600   a killed player takes its seat back
//
// The rules live in demo-game/arena, the match plumbing in demo-game/match and
// the screens in demo-game/ui; this file is flags and wiring only.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
	"github.com/rallypoint/rallypoint/demo-game/ui"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/netcode/broadcast"
	"github.com/rallypoint/rallypoint/signaling"
)

// spectateDelay is the -spectate-delay of the lobbies this process
// creates, as match.LobbyConfig.SpectateDelay takes it.
var spectateDelay time.Duration

// quickQueue is the matchmaker queue of quick matches, one of the queues
// rallypoint serve has by default.
const quickQueue = "1v1"

func main() {
	var (
		server     = flag.String("server", "", "rallypoint signaling `URL` (ws://HOST:PORT/ws) for online play; several nodes of one cluster separated by commas (ws://a:7000/ws,ws://b:7000/ws): when the node dies or is drained the client resumes on another")
		relayOnly  = flag.Bool("relay-only", false, "online play: reach every peer through the server's TURN relay only, so no player learns your IP address")
		room       = flag.String("room", "arena", "online headless without -quick: the queue name; the server groups the next -players arrivals")
		quick      = flag.Bool("quick", false, "online headless: queue on the server's matchmaker (its 1v1 queue) instead of -room")
		code       = flag.String("code", "", "online headless: join the lobby with this join `CODE`, get ready and play when its host starts")
		hostLobby  = flag.Bool("lobby", false, "online headless: create a lobby of -players, print its join code and start once the others are ready")
		name       = flag.String("name", "", "your name in lobbies (empty: $USER)")
		rejoin     = flag.String("rejoin", "", "headless (-server, or -lan join): take back a seat in a match in progress with the rejoin `TICKET` a player printed (\"demo-game: rejoin ticket ...\") before it was killed")
		spectate   = flag.Bool("spectate", false, "headless: watch a running match as a spectator (with -lan join, or -server and -code) through the players' broadcast tree, relaying it to other spectators, until its end (-frames), and print what it saw as one JSON line")
		specDelay  = flag.Duration("spectate-delay", time.Duration(broadcast.DefaultDelay)*time.Second/arena.TickRate, "a lobby you create (-lobby, -lan host, the lobby screens): how far behind the match its spectators watch it; every player holds the broadcast back that long, so a stream does not help a cheater (0: no delay, at most 1m)")
		lan        = flag.String("lan", "", "headless LAN play with no server: host (serve and advertise the match) or join (find one)")
		wait       = flag.Duration("wait", 2*time.Minute, "online headless: how long to wait for the other players")
		headless   = flag.Bool("headless", false, "run without a window (needs -bot) and print the result as one JSON line")
		bot        = flag.Bool("bot", false, "let the bot play the local seat (with a window: watch bots play)")
		players    = flag.Int("players", 2, fmt.Sprintf("players in the match, %d to %d", arena.MinPlayers, arena.MaxPlayers))
		frames     = flag.Int("frames", 0, "stop after `N` frames (0: no limit)")
		inMatch    = flag.Bool("frames-in-match", false, "with a window: count -frames and -duration only while a match is on screen")
		traceFile  = flag.String("trace", "", "with a window: append the screens shown and the menu items selected to `FILE`, a line each (for scripts that drive the window); headless with -lan: append debug logs of the lobby's connection (drops, reconnects, the lobby's events; a host's server sessions)")
		duration   = flag.Duration("duration", 0, "stop after this much game time (0: no limit)")
		fast       = flag.Bool("fast", false, "headless: run frames as fast as possible instead of 60 per second (online: as fast as the peers keep up)")
		screenshot = flag.String("screenshot", "", "write a PNG of the screen to `FILE` when exiting after -frames or -duration")
		seed       = flag.Uint64("seed", 1, "match seed")
		overlay    = flag.Bool("overlay", false, "show the network overlay from the start (F3 toggles it)")
		start      = flag.String("start", "menu", "the screen to open on: menu, lobby (against bots), lan (lobbies on the LAN), nearby (players on the LAN; makes you visible), online (create a lobby on -server) or results (of a bot match)")
		network    = flag.String("net", "sim", "what carries a local match: sim (rollback sessions over the network simulator) or none")
		lag        = flag.Duration("lag", 0, "sim: one-way lag between peers")
		loss       = flag.Float64("loss", 0, "sim: loss ratio between peers, 0 to 1")
		mapFile    = flag.String("map", "", "play the arena of the map `FILE` (JSON, see the README); a lobby's host offers it to the members, who fetch it from each other")
		mapCache   = flag.String("map-cache", defaultMapCache(), "the `DIR` where maps received in lobbies are kept by content id (empty: keep none)")
	)
	flag.Parse()
	loadMapFlag(*mapFile, *mapCache)
	if *specDelay < 0 || *specDelay > time.Minute {
		fail(2, "-spectate-delay %v: want 0 to 1m", *specDelay)
	}
	if spectateDelay = *specDelay; spectateDelay == 0 {
		spectateDelay = -1 // none (match.LobbyConfig: zero is the default)
	}
	if *name == "" {
		*name = os.Getenv("USER")
	}
	if flag.NArg() > 0 {
		fail(2, "unexpected arguments: %v", flag.Args())
	}
	if !arena.ValidPlayers(*players) {
		fail(2, "-players %d: want %d to %d", *players, arena.MinPlayers, arena.MaxPlayers)
	}
	switch *start {
	case "menu", "lobby", "lan", "nearby", "results":
	case "online":
		if *server == "" {
			fail(2, "-start online needs -server")
		}
	default:
		fail(2, "-start %q: want menu, lobby, lan, nearby, online or results", *start)
	}
	if *network != "sim" && *network != "none" {
		fail(2, "-net %q: want sim or none", *network)
	}
	if *lag < 0 || *loss < 0 || *loss > 1 {
		fail(2, "-lag %v -loss %v: want lag >= 0 and loss from 0 to 1", *lag, *loss)
	}
	newSession := func(players int, seed uint64, allBots bool) (match.Session, error) {
		if *network == "none" {
			return match.NewLocal(match.LocalConfig{Players: players, Seed: seed, AllBots: allBots, Map: mapLayout})
		}
		return match.NewSimulated(match.SimConfig{Players: players, Seed: seed, AllBots: allBots, Lag: *lag, Loss: *loss, Map: mapLayout})
	}
	if *duration > 0 {
		f := int(*duration * arena.TickRate / time.Second)
		if *frames == 0 || f < *frames {
			*frames = max(f, 1)
		}
	}

	if *headless {
		if !*bot {
			fail(2, "-headless needs -bot: there is no keyboard without a window")
		}
		if *screenshot != "" {
			fail(2, "-screenshot needs a window")
		}
		if *lan != "" {
			if *frames == 0 {
				fail(2, "-lan with -headless needs -frames or -duration: every peer stops at the same frame")
			}
			if *spectate || *rejoin != "" {
				if *lan != "join" {
					fail(2, "-spectate and -rejoin go with -lan join")
				}
				if *spectate {
					runWatch(func(ctx context.Context) (*match.Watch, error) {
						return match.SpectateLAN(ctx, withMap(match.LobbyConfig{Player: *name}, true, false))
					}, *wait, *frames)
				} else {
					runRejoinLAN(*rejoin, *wait, *frames, *fast)
				}
				return
			}
			runLAN(*lan, *players, *seed, *wait, *frames, *fast, traceLogger(*traceFile))
			return
		}
		if *server != "" {
			if *frames == 0 {
				fail(2, "-server with -headless needs -frames or -duration: every peer stops at the same frame")
			}
			if *spectate && *code == "" {
				fail(2, "-spectate with -server needs -code: the lobby whose match to watch")
			}
			if *rejoin != "" && (*code != "" || *hostLobby || *quick) {
				fail(2, "-rejoin takes the seat back by itself: drop -code, -lobby and -quick")
			}
			if *code != "" && *spectate {
				runWatch(func(ctx context.Context) (*match.Watch, error) {
					return match.SpectateCode(ctx, *server, *code, withMap(match.LobbyConfig{Player: *name}, true, false))
				}, *wait, *frames)
				return
			}
			if *code != "" {
				runCode(*server, *code, *name, *wait, *frames, *fast)
				return
			}
			if *hostLobby {
				runLobbyHost(*server, *players, *seed, *name, *wait, *frames, *fast)
				return
			}
			cfg := match.OnlineConfig{ServerURL: *server, Queue: *room, Players: *players, Seed: *seed, AllBots: true, RelayOnly: *relayOnly, Rejoin: *rejoin, Map: mapLayout}
			if *quick {
				if *players != 2 {
					fail(2, "-quick queues for a 1v1 match: -players must be 2")
				}
				cfg.Matchmaker = quickQueue
			}
			runOnline(cfg, *wait, *frames, *fast)
			return
		}
		if *quick || *code != "" || *hostLobby || *spectate || *rejoin != "" {
			fail(2, "-quick, -code, -lobby, -spectate and -rejoin need -server (-spectate and -rejoin: or -lan join)")
		}
		runHeadless(newSession, *players, *seed, *frames, *fast)
		return
	}

	if *screenshot != "" && *frames == 0 {
		fail(2, "-screenshot needs -frames or -duration")
	}
	var trace func(string)
	if *traceFile != "" {
		f, err := os.OpenFile(*traceFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fail(2, "-trace: %v", err)
		}
		defer f.Close()
		trace = func(event string) { fmt.Fprintln(f, event) }
	}
	startNearby, closeNearby := nearbyOnline(*server)
	err := ui.Run(ui.Config{
		Nearby:        startNearby,
		ServerURL:     *server,
		Players:       *players,
		Seed:          *seed,
		Bot:           *bot,
		Overlay:       *overlay,
		Start:         *start,
		Frames:        *frames,
		FramesInMatch: *inMatch,
		Screenshot:    *screenshot,
		Trace:         trace,
		Lag:           *lag,
		Loss:          *loss,
		NewSession:    newSession,
		Name:          *name,
		Map:           mapData,
		MapCache:      mapCacheDir,
		SpectateDelay: spectateDelay,
		LobbyCode: func(code string) {
			fmt.Fprintf(os.Stderr, "demo-game: lobby code %s\n", code)
		},
		Online: func(ctx context.Context, players int, seed uint64, allBots bool) (match.Session, error) {
			return match.DialOnline(ctx, match.OnlineConfig{ServerURL: *server, Matchmaker: quickQueue, Seed: seed, AllBots: allBots, RelayOnly: *relayOnly})
		},
	})
	closeNearby()
	if err != nil {
		if runtime.GOOS == "linux" && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			fail(1, "%v\nno display: run it on a desktop, under xvfb-run -a (scripts/setup.sh installs xvfb), or without a window with -headless -bot", err)
		}
		fail(1, "%v", err)
	}
}

// nearbyOnline returns how the Nearby screen starts with a server: the
// players visible on it, over a signaling connection of its own, and the
// function that closes that connection. Without a server it returns nil
// (the screen uses the LAN).
func nearbyOnline(server string) (func(context.Context, nearby.Config) (*nearby.Nearby, error), func()) {
	if server == "" {
		return nil, func() {}
	}
	var mu sync.Mutex
	var conns []*signaling.Client
	start := func(ctx context.Context, cfg nearby.Config) (*nearby.Nearby, error) {
		first, more := match.SplitServers(server)
		c, err := signaling.Dial(ctx, first, &signaling.ClientConfig{URLs: more})
		if err != nil {
			return nil, err
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return nearby.StartOnline(ctx, c, cfg)
	}
	return start, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
}

func runHeadless(newSession func(int, uint64, bool) (match.Session, error), players int, seed uint64, frames int, fast bool) {
	sess, err := newSession(players, seed, true)
	if err != nil {
		fail(2, "%v", err)
	}
	defer sess.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := match.Run(ctx, sess, match.RunConfig{Frames: frames, Fast: fast})
	fmt.Println(r.JSON())
	if err != nil {
		fail(1, "%v", err)
	}
}

// runLAN hosts or joins a headless bot match on the LAN, through a lobby:
// the host advertises it and starts once players members are ready; the
// others find it, join and get ready; everyone plays on the start.
func runLAN(mode string, players int, seed uint64, wait time.Duration, frames int, fast bool, log *slog.Logger) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var (
		l   *match.Lobby
		err error
	)
	switch mode {
	case "host":
		l, err = match.HostLAN(wctx, withMap(match.LobbyConfig{Players: players, Seed: seed, Player: "host", SpectateDelay: spectateDelay, Logger: log}, true, true))
		if err == nil {
			fmt.Fprintf(os.Stderr, "demo-game: hosting %q (lobby %s) for %d players on port %d\n", l.Host().Instance(), l.Host().LobbyID(), players, netPort(l.Host().Addr()))
		}
	case "join":
		var found lobby.LANLobby
		found, err = match.FindLAN(wctx, match.LobbyConfig{})
		if err != nil {
			fail(1, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "demo-game: joining %q at %s (%d of %d players)\n", found.Name, found.URL, found.Players, found.Max)
		l, err = match.JoinLAN(wctx, found, withMap(match.LobbyConfig{Player: "bot", Logger: log}, false, true))
		if err == nil {
			fmt.Fprintf(os.Stderr, "demo-game: in lobby %s\n", found.ID)
		}
	default:
		fail(2, "-lan %q: want host or join", mode)
	}
	if err != nil {
		fail(1, "%v", err)
	}
	playLobby(ctx, wctx, l, players, frames, fast)
}

// traceLogger returns a debug logger appending to the -trace file of the
// headless mode, or nil without one.
func traceLogger(file string) *slog.Logger {
	if file == "" {
		return nil
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fail(2, "-trace: %v", err)
	}
	// Left open until the process exits: every line is written at once.
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runLobbyHost creates an online lobby as a bot, prints its join code, and
// starts the match once players members are in and ready.
func runLobbyHost(server string, players int, seed uint64, name string, wait time.Duration, frames int, fast bool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l, err := match.CreateLobby(wctx, server, withMap(match.LobbyConfig{Players: players, Seed: seed, Player: name, SpectateDelay: spectateDelay}, true, true))
	if err != nil {
		fail(1, "%v", err)
	}
	st, _ := l.Client().State()
	fmt.Fprintf(os.Stderr, "demo-game: lobby code %s\n", st.Code)
	playLobby(ctx, wctx, l, players, frames, fast)
}

// runCode joins an online lobby by its code as a bot: it gets ready and
// plays when the host starts.
func runCode(server, code, name string, wait time.Duration, frames int, fast bool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	l, err := match.JoinLobbyByCode(wctx, server, code, withMap(match.LobbyConfig{Player: name}, false, true))
	if err != nil {
		fail(1, "%v", err)
	}
	if _, err := l.Client().Chat(wctx, "gl hf from "+name); err != nil {
		fmt.Fprintf(os.Stderr, "demo-game: chat: %v\n", err)
	}
	fmt.Fprintf(os.Stderr, "demo-game: in lobby %s\n", lobby.NormalizeCode(code))
	playLobby(ctx, wctx, l, 0, frames, fast)
}

// runOnline plays a headless bot match with peers in other processes,
// through the signaling server and the WebRTC mesh.
func runOnline(cfg match.OnlineConfig, wait time.Duration, frames int, fast bool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, wait)
	sess, err := match.DialOnline(dctx, cfg)
	cancel()
	if err != nil {
		fail(1, "%v", err)
	}
	defer sess.Close()
	r := play(ctx, sess, frames, fast)
	if cfg.Matchmaker != "" && r.Phase == arena.PhaseMatchOver.String() {
		// The matchmaker rates its matches from the players' reports.
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		rating, err := sess.ReportResult(rctx, r.Winner)
		if err != nil {
			fail(1, "%v", err)
		}
		fmt.Fprintf(os.Stderr, "demo-game: rated mu %.3f sigma %.3f\n", rating.Mu, rating.Sigma)
	}
}

// playLobby waits until the lobby's host starts the match (once the lobby
// has its member limit, which a creator set from players, and all are
// ready; joiners take the limit from the lobby) and plays it.
func playLobby(ctx, wctx context.Context, l *match.Lobby, players, frames int, fast bool) {
	sess, err := l.AwaitStart(wctx, true)
	if err != nil {
		l.Close()
		fail(1, "%v", err)
	}
	defer sess.Close()
	play(ctx, sess, frames, fast)
}

// play runs a headless match between processes until frames and prints its
// result as one JSON line. It exits with status 1 on an error (the match
// did not start, this player was dropped) and 3 when the match ended but
// the peers do not agree on it (a checksum differs, a player was dropped).
func play(ctx context.Context, sess *match.Online, frames int, fast bool) match.Result {
	fmt.Fprintf(os.Stderr, "demo-game: session %s, seat %d\n", sess.Room(), sess.Seat())
	if t := sess.RejoinTicket(); t != "" {
		// A restarted process takes this seat back with -rejoin TICKET.
		fmt.Fprintf(os.Stderr, "demo-game: rejoin ticket %s\n", t)
	}
	r, err := match.Run(ctx, sess, match.RunConfig{Frames: frames, Fast: fast, OnStart: func(after time.Duration) {
		fmt.Fprintf(os.Stderr, "demo-game: match started (%.3f s at the start barrier)\n", after.Seconds())
	}, OnReconnect: func(rc match.SignalingReconnect) {
		how := "new session"
		if rc.Resumed {
			how = "session resumed"
		}
		fmt.Fprintf(os.Stderr, "demo-game: signaling reconnected to %s, %s (%.3f s without a server)\n", rc.URL, how, time.Duration(rc.Down).Seconds())
	}, OnInSync: func(frame int, after time.Duration) {
		fmt.Fprintf(os.Stderr, "demo-game: back in sync at frame %d (%.3f s)\n", frame, after.Seconds())
	}})
	fmt.Println(r.JSON())
	if err != nil {
		fail(1, "%v", err)
	}
	if c := r.Confirmed; c == nil || !c.PeersAgree {
		reason := "no outcome"
		if c != nil {
			reason = c.Reason
		}
		fail(3, "the peers do not agree on the match: %s", reason)
	}
	return r
}

// runRejoinLAN takes a killed player's seat back in its LAN match with its
// rejoin ticket and plays the match on.
func runRejoinLAN(ticket string, wait time.Duration, frames int, fast bool) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, wait)
	sess, err := match.RejoinLAN(wctx, ticket, match.LobbyConfig{Player: "bot"}, true)
	cancel()
	if err != nil {
		fail(1, "%v", err)
	}
	defer sess.Close()
	play(ctx, sess, frames, fast)
}

// runWatch watches a running match as a spectator until frame frames and
// prints what it saw as one JSON line; the exit status is 1 when it did
// not get there.
func runWatch(open func(context.Context) (*match.Watch, error), wait time.Duration, frames int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	w, err := open(wctx)
	if err != nil {
		fail(1, "%v", err)
	}
	defer w.Close()
	fmt.Fprintf(os.Stderr, "demo-game: watching session %s as %s through the broadcast tree\n", w.Room(), w.ID())
	r, err := w.Run(wctx, frames, func(c match.ParentChange) {
		if c.To == "" {
			fmt.Fprintf(os.Stderr, "demo-game: lost parent %s (seat %d) at frame %d (%s)\n", c.From, c.FromSeat, c.Frame, c.Reason)
			return
		}
		if c.From == "" {
			fmt.Fprintf(os.Stderr, "demo-game: attached to %s (seat %d) at depth %d, frame %d\n", c.To, c.ToSeat, c.Depth, c.Frame)
			return
		}
		fmt.Fprintf(os.Stderr, "demo-game: parent %s (seat %d) -> %s (seat %d) at depth %d, frame %d (%s, stream stopped %.3f s)\n",
			c.From, c.FromSeat, c.To, c.ToSeat, c.Depth, c.Frame, c.Reason, time.Duration(c.Gap).Seconds())
	})
	fmt.Println(r.JSON())
	if err != nil {
		fail(1, "%v", err)
	}
}

// netPort returns the port of a TCP address, or 0.
func netPort(a net.Addr) int {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	return 0
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "demo-game: "+format+"\n", args...)
	os.Exit(code)
}
