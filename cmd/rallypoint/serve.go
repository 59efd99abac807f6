package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rallypoint/rallypoint/cluster"
	"github.com/rallypoint/rallypoint/internal/metrics"
	"github.com/rallypoint/rallypoint/internal/webdemo"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/nearby"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
	"github.com/rallypoint/rallypoint/store"
)

func init() {
	registerCommand("serve", "run the signaling, lobby and matchmaking server", runServe)
}

// serveConfig is everything the serve command's flags set.
type serveConfig struct {
	Addr         string
	TLSCert      string
	TLSKey       string
	AuthSecret   string
	Origins      []string // allowed browser origins; empty: same host only; "*": any
	TURNSecret   string
	TURNURLs     []string
	STUNURLs     []string
	DB           string // data source name: a postgres:// URL or an SQLite file path
	DataDir      string // where the default SQLite file lives when DB is empty
	Signaling    signaling.Config
	Lobby        lobby.Config
	Matchmaker   mmservice.Config
	ShutdownWait time.Duration
	Logger       *slog.Logger
	// Web is a directory of static files served at / (a web game next to
	// its signaling endpoint, such as the web demo); empty: none.
	Web string
	// WebDemo builds the demo for browsers (internal/webdemo) into a
	// temporary directory and serves it as Web.
	WebDemo bool

	// Cluster: with ClusterListen or NATSURL set the node joins a cluster
	// (package cluster); otherwise it is a single node, all in memory.
	Cluster cluster.Config
	// backplane is the started cluster node, if any.
	backplane *cluster.Node
	// DebugAddr, when set, serves the profiler and /debug/gc there
	// (serveDebug).
	DebugAddr string
}

// clustered reports whether the flags ask for a cluster node.
func (cfg serveConfig) clustered() bool {
	return cfg.Cluster.Listen != "" || cfg.Cluster.NATSURL != ""
}

// newServeMux wires the server: the signaling Server at /ws, /healthz,
// the static files of cfg.Web at / when set, and /metrics (Prometheus: the Go runtime, the process, signaling, lobbies and
// the matchmaker). Services built on the signaling server are wired and
// their metrics registered here.
func newServeMux(cfg serveConfig) (*http.ServeMux, *signaling.Server, *prometheus.Registry, error) {
	return newServeMuxDB(cfg, nil)
}

// newServeMuxDB is newServeMux with a database: ratings, match results and
// bans come from db when it is not nil (in memory otherwise).
func newServeMuxDB(cfg serveConfig, db *store.DB) (*http.ServeMux, *signaling.Server, *prometheus.Registry, error) {
	sc := cfg.Signaling
	sc.Logger = cfg.Logger
	if cfg.AuthSecret != "" {
		sc.Auth = signaling.HMACAuth{Secret: []byte(cfg.AuthSecret)}
	}
	if db != nil {
		sc.Auth = banCheck{auth: sc.Auth, db: db}
	}
	if len(cfg.Origins) > 0 {
		sc.CheckOrigin = originChecker(cfg.Origins)
	}
	if len(cfg.STUNURLs) > 0 {
		sc.ICEServers = append(sc.ICEServers, signaling.ICEServer{URLs: cfg.STUNURLs})
	}
	if cfg.TURNSecret != "" && len(cfg.TURNURLs) == 0 {
		return nil, nil, nil, errors.New("-turn-secret needs -turn-urls")
	}
	sc.TURNSecret, sc.TURNURLs = cfg.TURNSecret, cfg.TURNURLs
	var srv *signaling.Server
	if cfg.backplane != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var err error
		srv, err = signaling.NewClusterServer(ctx, sc, cfg.backplane)
		cancel()
		if err != nil {
			return nil, nil, nil, err
		}
	} else {
		srv = signaling.NewServer(sc)
	}

	reg := metrics.NewRegistry()
	if err := metrics.RegisterSignaling(reg, srv); err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	if cfg.backplane != nil {
		if err := metrics.RegisterCluster(reg, cfg.backplane, srv); err != nil {
			srv.Close()
			return nil, nil, nil, err
		}
	}

	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/metrics", metrics.Handler(reg))
	if cfg.Web != "" {
		mux.Handle("/", webHandler(cfg.Web))
	}
	var lobbies *lobby.Service
	var mms *mmservice.Service
	var err error
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
		if bp := cfg.backplane; bp != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			fmt.Fprintf(w, "node %s\nlive_nodes %d\nroutes %d\nsessions %d\nkv_leader %s\n", bp.Node(), len(bp.LiveNodes()), bp.Routes(), srv.Sessions(), bp.KVLeader(ctx))
			if lobbies != nil && mms != nil {
				fmt.Fprintf(w, "lobby_leader %s\nmm_leader %s\nsvc_pending %d\n", lobbies.Leader(), mms.Leader(), lobbies.Pending()+mms.Pending())
			}
		}
	})
	mm := metrics.NewMatchmaker()
	mc := cfg.Matchmaker
	mc.Logger, mc.OnPass = cfg.Logger, mm.ObservePass
	if db != nil {
		mc.Store = dbStore{db}
	}
	mms, err = mmservice.New(srv, mc) // stops when srv closes
	if err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	mm.Watch(mms.Matchmaker())
	lc := cfg.Lobby
	lc.Logger = cfg.Logger
	lobbies, err = lobby.New(srv, lc) // lives as long as srv
	if err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	nearby.Serve(srv, nearby.ServiceConfig{}) // presence and relayed messages (nearby.*)
	if err := errors.Join(reg.Register(mm), metrics.RegisterLobby(reg, lobbies)); err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	return mux, srv, reg, nil
}

// dbStore is the matchmaker's view of the database: ratings by subject and
// the results it records.
type dbStore struct{ *store.DB }

func (d dbStore) RecordResult(ctx context.Context, session, queue string, teams [][]string, ranks []float64) error {
	return d.RecordMatch(ctx, store.Match{Session: session, Queue: queue, Teams: teams, Ranks: ranks})
}

// banCheck refuses the upgrade of a banned player (by auth subject) or, for
// anonymous clients, of a banned address: 401 with CodeUnauthorized and the
// ban's reason.
type banCheck struct {
	auth signaling.Authenticator
	db   store.Store
}

func (b banCheck) Authenticate(r *http.Request) (signaling.Identity, error) {
	auth := b.auth
	if auth == nil {
		auth = signaling.Anonymous{}
	}
	id, err := auth.Authenticate(r)
	if err != nil {
		return id, err
	}
	kind, key := store.BanPlayer, id.Subject
	if key == "" {
		kind, key = store.BanIP, r.RemoteAddr
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			key = host
		}
	}
	ban, banned, err := b.db.Banned(r.Context(), kind, key, time.Now())
	if err != nil {
		return id, fmt.Errorf("ban check failed: %w", err)
	}
	if banned {
		return id, fmt.Errorf("banned (%s %s): %s", kind, key, ban.Reason)
	}
	return id, nil
}

// dataSource is the database serve opens: -db, or the SQLite file
// rallypoint.db in the data directory.
func (cfg serveConfig) dataSource() string {
	if cfg.DB != "" {
		return cfg.DB
	}
	if cfg.DataDir == "" { // a serveConfig not made from flags
		return ":memory:"
	}
	return filepath.Join(cfg.DataDir, "rallypoint.db")
}

// defaultDataDir is $XDG_DATA_HOME/rallypoint, or ~/.local/share/rallypoint.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "rallypoint")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "rallypoint")
	}
	return "rallypoint-data"
}

// originChecker allows the listed origins ("https://game.example") or any
// origin for "*"; requests without an Origin header (non-browsers) pass.
func originChecker(origins []string) func(*http.Request) bool {
	allowed := map[string]bool{}
	for _, o := range origins {
		allowed[strings.ToLower(strings.TrimRight(o, "/"))] = true
	}
	return func(r *http.Request) bool {
		o := r.Header.Get("Origin")
		if o == "" || allowed["*"] {
			return true
		}
		u, err := url.Parse(o)
		if err != nil {
			return false
		}
		return allowed[strings.ToLower(u.Scheme+"://"+u.Host)]
	}
}

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func parseServeFlags(args []string) (serveConfig, error) {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:7000", "listen address HOST:PORT (port 0 picks a free one)")
	fs.StringVar(&cfg.DB, "db", "", "database: a postgres://user@host/db URL, or an SQLite file (default: rallypoint.db in -data-dir, created on first run)")
	fs.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "directory of the default SQLite database")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); with -tls-key serves wss://")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "TLS key file (PEM)")
	fs.StringVar(&cfg.AuthSecret, "auth-secret", "", "HMAC secret for auth tokens; empty allows anonymous clients (development)")
	fs.Var((*listFlag)(&cfg.Origins), "origins", "comma-separated browser origins allowed to connect (\"*\" for any; default same host)")
	fs.StringVar(&cfg.TURNSecret, "turn-secret", "", "TURN REST API shared secret; clients get short-lived TURN credentials")
	fs.Var((*listFlag)(&cfg.TURNURLs), "turn-urls", "comma-separated TURN URLs (turn:host:3478?transport=udp,...)")
	fs.Var((*listFlag)(&cfg.STUNURLs), "stun-urls", "comma-separated STUN URLs pushed to clients")
	sc := &cfg.Signaling
	fs.DurationVar(&sc.TURNTTL, "turn-ttl", time.Hour, "lifetime of TURN credentials")
	fs.IntVar(&sc.MaxMessageSize, "max-message", signaling.DefaultMaxMessageSize, "largest message in bytes")
	fs.IntVar(&sc.MaxRoomSize, "max-room-size", 16, "most peers in a room")
	fs.IntVar(&sc.MaxRooms, "max-rooms", 100_000, "most rooms")
	fs.IntVar(&sc.MaxSessions, "max-sessions", 1_000_000, "most sessions")
	fs.IntVar(&sc.MaxConnsPerIP, "max-conns-per-ip", 64, "most connections from one IP (-1: no limit)")
	fs.Float64Var(&sc.RatePerSec, "rate", 50, "messages per second per connection")
	fs.IntVar(&sc.RateBurst, "burst", 100, "message burst per connection")
	fs.IntVar(&sc.SendQueueLen, "send-queue", 256, "messages queued per connection before it is dropped as a slow consumer")
	fs.IntVar(&sc.SendQueueBytes, "send-queue-bytes", 128<<10, "bytes queued per session (live or waiting to resume) before it is dropped as a slow consumer")
	fs.Int64Var(&sc.MaxQueuedBytes, "max-queued-bytes", 32<<20, "bytes queued for all sessions together; over it only empty queues take a message")
	fs.IntVar(&sc.MaxSessionsPerSubject, "max-sessions-per-player", 8, "most sessions, live or waiting to resume, of one authenticated player (-1: no limit)")
	fs.IntVar(&sc.MaxSessionsPerIP, "max-sessions-per-ip", 0, "most sessions, live or waiting to resume, opened from one IP (0: twice -max-conns-per-ip; -1: no limit)")
	fs.DurationVar(&sc.PingInterval, "ping-interval", 25*time.Second, "keep-alive ping interval")
	fs.DurationVar(&sc.ResumeGrace, "resume-grace", 30*time.Second, "how long a dropped session may resume (negative: never)")
	fs.IntVar(&cfg.Lobby.MaxLobbiesPerIP, "max-lobbies-per-ip", 16, "open lobbies created from one IP (-1: no limit)")
	fs.IntVar(&cfg.Lobby.MaxLobbiesPerPlayer, "max-lobbies-per-player", 4, "open lobbies created by one authenticated player (-1: no limit)")
	fs.IntVar(&cfg.Matchmaker.MaxTicketsPerIP, "max-tickets-per-ip", 32, "waiting matchmaking tickets from one IP (-1: no limit)")
	fs.StringVar(&cfg.Web, "web", "", "serve the static files of `DIR` at / (a web game, e.g. the web demo), next to /ws")
	fs.BoolVar(&cfg.WebDemo, "web-demo", false, "build the demo game for browsers (needs the go command and the repository's source) and serve it at /: open http://ADDR/ to play")
	fs.DurationVar(&cfg.ShutdownWait, "shutdown-wait", 10*time.Second, "how long graceful shutdown waits")
	fs.StringVar(&cfg.Cluster.Name, "node", "", "cluster node name, unique in the cluster (default: random)")
	fs.StringVar(&cfg.Cluster.Listen, "cluster-listen", "", "embedded NATS cluster (route) address HOST:PORT; makes this node part of a cluster")
	fs.Var((*listFlag)(&cfg.Cluster.Routes), "cluster-routes", "comma-separated route URLs of the cluster's nodes (nats://host:port,...; may include this node's)")
	fs.StringVar(&cfg.Cluster.NATSURL, "nats", "", "external NATS cluster URL(s) with JetStream, instead of an embedded NATS server")
	fs.StringVar(&cfg.Cluster.ClientListen, "nats-listen", "", "embedded NATS client address HOST:PORT, for NATS tools (default: a random local port)")
	fs.StringVar(&cfg.Cluster.StoreDir, "nats-dir", "", "embedded JetStream directory (default: a temporary directory)")
	fs.IntVar(&cfg.Cluster.Replicas, "cluster-replicas", 0, "replicas of the cluster's KV bucket (default: 3, or the cluster's size below three; 1 with -nats)")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve the Go profiler (/debug/pprof/) and /debug/gc on this HOST:PORT (keep it private; default: off)")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	format := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.Web != "" && cfg.WebDemo {
		return cfg, errors.New("-web and -web-demo exclude each other")
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return cfg, errors.New("-tls-cert and -tls-key go together")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return cfg, fmt.Errorf("-log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch *format {
	case "text":
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
	case "json":
		cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
	default:
		return cfg, fmt.Errorf("-log-format: %q is neither text nor json", *format)
	}
	return cfg, nil
}

func runServe(args []string) error {
	cfg, err := parseServeFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.WebDemo {
		dir, err := os.MkdirTemp("", "rallypoint-web")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.Logger.Info("building the web demo", "dir", dir)
		start := time.Now()
		if err := webdemo.Build(ctx, "", dir); err != nil {
			return err
		}
		cfg.Logger.Info("web demo built", "took", time.Since(start).Round(time.Millisecond))
		cfg.Web = dir
	}
	return serve(ctx, cfg, func(addr net.Addr) {
		scheme, web := "ws", "http"
		if cfg.TLSCert != "" {
			scheme, web = "wss", "https"
		}
		attrs := []any{"addr", addr.String(), "signaling", scheme + "://" + addr.String() + "/ws"}
		if cfg.Web != "" {
			attrs = append(attrs, "web", web+"://"+addr.String()+"/")
		}
		cfg.Logger.Info("listening", attrs...)
	})
}

// serve runs the server until ctx is done, then shuts down gracefully:
// it stops accepting, closes every WebSocket with a shutdown reason and
// waits up to cfg.ShutdownWait. ready is called with the bound address.
func serve(ctx context.Context, cfg serveConfig, ready func(net.Addr)) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownWait <= 0 {
		cfg.ShutdownWait = 10 * time.Second
	}
	if cfg.Web != "" {
		if _, err := os.Stat(filepath.Join(cfg.Web, "index.html")); err != nil {
			return fmt.Errorf("-web %s: no index.html: %w", cfg.Web, err)
		}
	}
	if cfg.DebugAddr != "" {
		if _, err := serveDebug(ctx, cfg.DebugAddr, cfg.Logger); err != nil {
			return err
		}
	}
	octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
	db, err := store.Open(octx, cfg.dataSource())
	ocancel()
	if err != nil {
		return err
	}
	defer db.Close()
	kind := "sqlite"
	if store.IsPostgres(cfg.dataSource()) {
		kind = "postgres"
	}
	cfg.Logger.Info("database open", "kind", kind)
	if cfg.clustered() {
		cc := cfg.Cluster
		cc.Logger = cfg.Logger
		node, err := cluster.Start(ctx, cc)
		if err != nil {
			return err
		}
		defer node.Close()
		cfg.backplane = node
		cfg.Logger.Info("cluster joined", "node", node.Node(), "nats", node.ClientURL())
	}
	mux, srv, _, err := newServeMuxDB(cfg, db)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if cfg.TLSCert != "" {
			err = hs.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			err = hs.Serve(ln)
		}
		errc <- err
	}()
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down", "sessions", srv.Sessions(), "node", srv.Node())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownWait)
	defer cancel()
	herr := hs.Shutdown(sctx)  // stops accepting; does not touch hijacked WebSockets
	serr := srv.Shutdown(sctx) // closes the WebSockets
	<-errc
	if err := errors.Join(herr, serr); err != nil {
		return err
	}
	cfg.Logger.Info("stopped")
	return nil
}

// webHandler serves the static files of dir (a web game). Every response
// says to revalidate, so a rebuilt game is loaded at the next visit;
// directories without an index.html are not listed. A file with a gzipped
// copy next to it (demo.wasm.gz) is sent compressed to clients that accept
// gzip.
func webHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+r.URL.Path)))
		if strings.HasSuffix(r.URL.Path, "/") {
			if _, err := os.Stat(filepath.Join(name, "index.html")); err != nil {
				http.NotFound(w, r)
				return
			}
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) && !strings.HasSuffix(r.URL.Path, "/") {
			if f, err := os.Open(name + ".gz"); err == nil {
				defer f.Close()
				ctype := mime.TypeByExtension(filepath.Ext(name))
				if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && ctype != "" {
					w.Header().Set("Content-Type", ctype)
					w.Header().Set("Content-Encoding", "gzip")
					http.ServeContent(w, r, "", st.ModTime(), f)
					return
				}
			}
		}
		files.ServeHTTP(w, r)
	})
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, enc := range strings.Split(v, ",") {
			enc, q, _ := strings.Cut(strings.TrimSpace(enc), ";")
			if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
				return true
			}
		}
	}
	return false
}
