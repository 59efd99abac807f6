package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rallypoint/rallypoint/internal/bench"
)

// The bench commands: flags here, the harnesses in internal/bench.
func init() {
	registerCommand("bench", "run a benchmark", runBench)
	registerBench("cluster", "3 `rallypoint serve` processes over embedded NATS, idle sessions from client processes: RSS per session, relay across nodes vs within one vs bare NATS request/reply, resume after SIGKILL", benchClusterCommand)
	registerBench("content", "deliver 16 MiB to 8 members over the mesh: the swarm against each member fetching from the host alone, and the host's upload; -spectators: the players' upload as a broadcast's audience grows", benchContentCommand)
	registerBench("lobby", "listing 10,000 lobbies with filters; a state change fanned out to 100 members", benchLobbyCommand)
	registerBench("matchmaker", "matching passes, insert/cancel, time to match, rating updates", benchMatchmakerCommand)
	registerBench("rollback", "rollback session cost per frame and wire budget", benchRollbackCommand)
	registerBench("signaling", "idle sessions per server and relay latency under load, against a server in a child process", benchSignalingCommand)
	registerBench("browser", "headless Chromium peers (web/meshjs) against native meshes and each other on loopback: connect time and RTT, native baseline", benchBrowserCommand)
	registerBench("transport", "WebRTC mesh vs bare pion vs raw UDP on loopback: RTT, connect time, 1 MiB transfer; connect time at 50 ms RTT on a virtual network; connect time through cone and symmetric NATs with coturn", benchTransportCommand)
	// bench transport starts copies of this binary as its peers.
	if role := bench.TransportChildRole(); role != "" {
		if err := bench.RunTransportChild(role); err != nil {
			fmt.Fprintf(os.Stderr, "bench transport child %s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

// parseBenchFlags parses a bench command's flags; -h prints them and
// returns errHelped.
func parseBenchFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelped
		}
		return err
	}
	return nil
}

// errHelped ends a bench command after -h printed its flags.
var errHelped = errors.New("help printed")

func benchContentCommand(args []string) error {
	var cfg bench.ContentConfig
	fs := flag.NewFlagSet("bench content", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Members, "members", 8, "peers that fetch the content (the host is one more)")
	fs.IntVar(&cfg.SizeMiB, "size", 16, "content size in MiB (at most 64)")
	fs.IntVar(&cfg.Runs, "runs", 3, "deliveries of each kind (the median is reported)")
	spect := fs.Bool("spectators", false, "measure instead one player's broadcast upload as spectators grow 1, 10, 30, 100 (netcode/broadcast, in process)")
	seconds := fs.Int("seconds", 20, "with -spectators: match seconds measured per audience")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	if *spect {
		return bench.Spectators(bench.SpectatorBenchConfig{JSON: cfg.JSON, Seconds: *seconds})
	}
	return bench.Content(cfg)
}

func benchLobbyCommand(args []string) error {
	var cfg bench.LobbyConfig
	fs := flag.NewFlagSet("bench lobby", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Lists, "lists", 2000, "list calls measured")
	fs.IntVar(&cfg.Rounds, "rounds", 300, "state changes fanned out")
	fs.IntVar(&cfg.Members, "members", 100, "members receiving each change")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	return bench.Lobby(cfg)
}

func benchMatchmakerCommand(args []string) error {
	var cfg bench.MatchmakerConfig
	fs := flag.NewFlagSet("bench matchmaker", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Runs, "runs", 5, "runs of each pass measurement (the median is reported)")
	fs.DurationVar(&cfg.Interval, "interval", 100*time.Millisecond, "pass interval of the time-to-match measurement")
	fs.DurationVar(&cfg.WaitDuration, "wait-duration", 3*time.Second, "length of the time-to-match measurement")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	return bench.Matchmaker(cfg)
}

func benchRollbackCommand(args []string) error {
	var cfg bench.RollbackConfig
	fs := flag.NewFlagSet("bench rollback", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Players, "players", 4, "players in the session (one local)")
	fs.IntVar(&cfg.Rollback, "rollback", 8, "frames rolled back every frame")
	fs.IntVar(&cfg.Frames, "frames", 20000, "frames per round")
	fs.IntVar(&cfg.Rounds, "rounds", 5, "rounds; the report gives medians")
	fs.DurationVar(&cfg.Wire, "wire", 5*time.Second, "length of each real-time wire measurement over pion (0 skips it)")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	return bench.Rollback(cfg)
}

func benchSignalingCommand(args []string) error {
	var cfg bench.SignalingConfig
	fs := flag.NewFlagSet("bench signaling", flag.ContinueOnError)
	fs.IntVar(&cfg.Sessions, "sessions", 50_000, "idle sessions to hold open")
	fs.IntVar(&cfg.Addrs, "addrs", 4, "source addresses 127.0.0.2..127.0.0.(addrs+1) to spread the client sockets over")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 64, "concurrent connection attempts")
	fs.IntVar(&cfg.RoomSize, "room-size", 4, "idle sessions per room")
	fs.IntVar(&cfg.Pairs, "pairs", 20, "relaying pairs of peers")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "relayed messages per second, over all pairs")
	fs.DurationVar(&cfg.RelayDuration, "relay-duration", 8*time.Second, "length of each relay measurement")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	return bench.Signaling(cfg)
}

func benchTransportCommand(args []string) error {
	var cfg bench.TransportConfig
	fs := flag.NewFlagSet("bench transport", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Pings, "n", 2000, "round trips per RTT measurement")
	fs.IntVar(&cfg.Runs, "runs", 15, "connections per connect-time measurement and transfers")
	nat := fs.Bool("nat", true, "also measure connect times through cone and symmetric NATs in network namespaces with coturn (needs root, iptables, coturn)")
	fs.BoolVar(&cfg.RTT50Only, "rtt50-only", false, "measure only the connect times at 50 ms RTT on pion's virtual network")
	fs.BoolVar(&cfg.Trace, "trace", false, "also print every packet and signal of one traced 2-peer connection at 50 ms RTT, kit and bare pion (on stderr with -json)")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	cfg.NoNAT = !*nat
	return bench.Transport(cfg)
}

func benchBrowserCommand(args []string) error {
	var cfg bench.BrowserConfig
	fs := flag.NewFlagSet("bench browser", flag.ContinueOnError)
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	fs.IntVar(&cfg.Runs, "runs", 10, "connections per connect-time measurement")
	fs.IntVar(&cfg.Pings, "n", 500, "round trips per RTT measurement")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	return bench.Browser(cfg)
}

func benchClusterCommand(args []string) error {
	var cfg bench.ClusterConfig
	fs := flag.NewFlagSet("bench cluster", flag.ContinueOnError)
	fs.IntVar(&cfg.Nodes, "nodes", 3, "node processes (rallypoint serve)")
	fs.IntVar(&cfg.Sessions, "sessions", 50_000, "idle sessions, spread over the nodes")
	fs.IntVar(&cfg.ClientProcs, "client-procs", 0, "processes holding the idle sessions (0: one per 12,500 sessions)")
	fs.IntVar(&cfg.Addrs, "addrs", 8, "source addresses 127.0.0.2..127.0.0.(addrs+1) to spread the client sockets over")
	fs.IntVar(&cfg.DialConcurrency, "dial-concurrency", 32, "concurrent connection attempts per client process")
	fs.IntVar(&cfg.RoomSize, "room-size", 4, "idle sessions per room (rooms span nodes; 0: no rooms)")
	fs.IntVar(&cfg.Pairs, "pairs", 20, "relaying pairs of peers")
	fs.Float64Var(&cfg.Rate, "rate", 1000, "relayed messages per second, over all pairs")
	fs.DurationVar(&cfg.RelayDuration, "relay-duration", 8*time.Second, "length of each relay measurement")
	fs.DurationVar(&cfg.IdleWindow, "idle-window", 5*time.Second, "how long the CPU of the nodes and client processes is measured with only the idle sessions, before the relay (0: not measured)")
	fs.BoolVar(&cfg.PauseDAMON, "pause-damon", false, "turn the kernel's DAMON memory monitors (kdamond) off during the relay measurements and on again after them (root; see docs/operations.md)")
	fs.IntVar(&cfg.NodeProcs, "node-gomaxprocs", -1, "GOMAXPROCS of each node process (-1: cores / nodes, at least 1, as docs/operations.md advises for nodes sharing a machine; 0: the runtime's default, every core)")
	fs.IntVar(&cfg.ClientGoProcs, "client-gomaxprocs", 1, "GOMAXPROCS of each client process (0: the runtime's default)")
	clientSched := fs.String("client-sched", "idle", "scheduling policy of the client processes, which stand for the players' machines: idle (SCHED_IDLE: they take no core the nodes want) or normal")
	fs.IntVar(&cfg.Failover, "failover", 50, "clients on the node that is SIGKILLed (0: no failover)")
	fs.StringVar(&cfg.Profile, "profile", "", "write heap profiles of the nodes with their sessions, and CPU profiles of the two relaying nodes during the cross-node relay, to this directory")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of a table")
	if err := parseBenchFlags(fs, args); err != nil {
		if err == errHelped {
			return nil
		}
		return err
	}
	switch *clientSched {
	case "idle":
	case "normal":
		cfg.ClientNormal = true
	default:
		return fmt.Errorf("bench cluster: -client-sched %q: want idle or normal", *clientSched)
	}
	return bench.Cluster(cfg)
}
