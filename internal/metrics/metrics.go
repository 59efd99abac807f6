package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rallypoint/rallypoint/cluster"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/signaling"
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics of g in the format the scraper asks for.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}

// RegisterSignaling registers the metrics of srv, read from srv.Stats at
// each scrape.
func RegisterSignaling(reg prometheus.Registerer, srv *signaling.Server) error {
	return reg.Register(&signalingCollector{stats: srv.Stats})
}

var (
	sigSessions       = prometheus.NewDesc("rallypoint_signaling_sessions", "Signaling sessions, live or waiting to resume.", nil, nil)
	sigConnections    = prometheus.NewDesc("rallypoint_signaling_connections", "Open signaling WebSocket connections.", nil, nil)
	sigRooms          = prometheus.NewDesc("rallypoint_signaling_rooms", "Signaling rooms.", nil, nil)
	sigSessionsOpened = prometheus.NewDesc("rallypoint_signaling_sessions_opened_total", "Signaling sessions created.", nil, nil)
	sigConnsOpened    = prometheus.NewDesc("rallypoint_signaling_connections_opened_total", "Signaling WebSocket connections accepted.", nil, nil)
	sigResumes        = prometheus.NewDesc("rallypoint_signaling_resumes_total", "Signaling sessions resumed after a drop.", nil, nil)
	sigRejoins        = prometheus.NewDesc("rallypoint_signaling_rejoins_total", "Match room seats taken back with a rejoin ticket.", nil, nil)
	sigMessages       = prometheus.NewDesc("rallypoint_signaling_messages_total", "Signaling messages accepted.", nil, nil)
	sigRelayed        = prometheus.NewDesc("rallypoint_signaling_relayed_total", "Signals relayed between peers.", nil, nil)
	sigErrors         = prometheus.NewDesc("rallypoint_signaling_errors_total", "Signaling errors by code.", []string{"code"}, nil)
	sigRelaySeconds   = prometheus.NewDesc("rallypoint_signaling_relay_seconds", "Time from reading a signal to writing it to its target.", nil, nil)
)

// signalingCollector turns a Server's Stats snapshot into metrics. The
// relay histogram's buckets are the server's own (RelayBucketsMicros).
type signalingCollector struct {
	stats func() signaling.Stats
}

func (c *signalingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sigSessions, sigConnections, sigRooms, sigSessionsOpened, sigConnsOpened,
		sigResumes, sigRejoins, sigMessages, sigRelayed, sigErrors, sigRelaySeconds} {
		ch <- d
	}
}

func (c *signalingCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	gauge := func(d *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(sigSessions, st.Sessions)
	gauge(sigConnections, st.Connections)
	gauge(sigRooms, st.Rooms)
	counter(sigSessionsOpened, st.SessionsOpened)
	counter(sigConnsOpened, st.ConnsOpened)
	counter(sigResumes, st.Resumes)
	counter(sigRejoins, st.Rejoins)
	counter(sigMessages, st.MessagesIn)
	counter(sigRelayed, st.Relayed)
	if len(st.Errors) == 0 {
		// Show the family before the first error, so that alerts on it
		// have a series to watch.
		counter(sigErrors, 0, signaling.CodeInternal)
	}
	for code, n := range st.Errors {
		counter(sigErrors, n, code)
	}
	ch <- relayHistogram(sigRelaySeconds, st.RelayCounts, st.RelaySumMicros)
}

// relayHistogram turns counts in the buckets of
// signaling.RelayBucketsMicros (the last one counting the rest) into a
// histogram in seconds.
func relayHistogram(d *prometheus.Desc, counts []uint64, sumMicros float64) prometheus.Metric {
	buckets := make(map[float64]uint64, len(signaling.RelayBucketsMicros))
	var cum uint64
	for i, b := range signaling.RelayBucketsMicros {
		if i < len(counts) {
			cum += counts[i]
		}
		buckets[b/1e6] = cum
	}
	if n := len(signaling.RelayBucketsMicros); len(counts) > n {
		cum += counts[n]
	}
	return prometheus.MustNewConstHistogram(d, cum, sumMicros/1e6, buckets)
}

// RegisterCluster registers the metrics of a cluster node and of srv, its
// cluster server (signaling.NewClusterServer): the node's name as the
// label of rallypoint_node_info, the nodes it hears and its NATS routes,
// the signals it exchanges with other nodes, and whether it leads each
// cluster-wide service of srv (rallypoint_service_leader{service}, for
// services registered before or after). All are read at each scrape.
func RegisterCluster(reg prometheus.Registerer, node *cluster.Node, srv *signaling.Server) error {
	return reg.Register(&clusterCollector{node: node, stats: srv.Stats, services: srv.Services})
}

var (
	nodeInfo          = prometheus.NewDesc("rallypoint_node_info", "Always 1; its node label names this cluster node.", []string{"node"}, nil)
	clusterLiveNodes  = prometheus.NewDesc("rallypoint_cluster_live_nodes", "Cluster nodes this node hears (heartbeats within the failure-detection delay), itself included.", nil, nil)
	clusterRoutes     = prometheus.NewDesc("rallypoint_cluster_routes", "Routes of this node's embedded NATS server to the other nodes' (0 with an external NATS).", nil, nil)
	clusterSent       = prometheus.NewDesc("rallypoint_cluster_signals_sent_total", "Signals relayed from a peer here to a peer on another node.", nil, nil)
	clusterReceived   = prometheus.NewDesc("rallypoint_cluster_signals_received_total", "Signals received from another node for a peer here.", nil, nil)
	serviceLeader     = prometheus.NewDesc("rallypoint_service_leader", "1 on the node that leads and serves the cluster-wide service (lobby, mm) now, 0 on the others: the lobby and matchmaker metrics of the node where it is 1 are the cluster's.", []string{"service"}, nil)
	clusterRTTSeconds = prometheus.NewDesc("rallypoint_cluster_relay_round_trip_seconds", "Signals sent to another node: from reading the signal to receiving the target node's ack (one NATS hop each way plus the target node's delivery), on this node's clock.", nil, nil)
)

type clusterCollector struct {
	node     *cluster.Node
	stats    func() signaling.Stats
	services func() []*signaling.Service
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeInfo, clusterLiveNodes, clusterRoutes, clusterSent, clusterReceived, clusterRTTSeconds, serviceLeader} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(nodeInfo, prometheus.GaugeValue, 1, c.node.Node())
	ch <- prometheus.MustNewConstMetric(clusterLiveNodes, prometheus.GaugeValue, float64(len(c.node.LiveNodes())))
	ch <- prometheus.MustNewConstMetric(clusterRoutes, prometheus.GaugeValue, float64(c.node.Routes()))
	ch <- prometheus.MustNewConstMetric(clusterSent, prometheus.CounterValue, float64(st.ClusterSent))
	ch <- prometheus.MustNewConstMetric(clusterReceived, prometheus.CounterValue, float64(st.ClusterReceived))
	ch <- relayHistogram(clusterRTTSeconds, st.ClusterRTTCounts, st.ClusterRTTSumMicros)
	for _, v := range c.services() {
		lead := 0.0
		if v.Leading() {
			lead = 1
		}
		ch <- prometheus.MustNewConstMetric(serviceLeader, prometheus.GaugeValue, lead, v.Name())
	}
}

// RegisterLobby registers the metrics of svc, read from one svc.Stats
// snapshot at each scrape.
func RegisterLobby(reg prometheus.Registerer, svc *lobby.Service) error {
	return reg.Register(lobbyCollector{svc})
}

var (
	lobbyLobbies = prometheus.NewDesc("rallypoint_lobby_lobbies", "Lobbies open, started or not.", nil, nil)
	lobbyListed  = prometheus.NewDesc("rallypoint_lobby_listed", "Public lobbies that have not started.", nil, nil)
	lobbyMembers = prometheus.NewDesc("rallypoint_lobby_members", "Peers in a lobby.", nil, nil)
)

type lobbyCollector struct{ svc *lobby.Service }

func (c lobbyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lobbyLobbies
	ch <- lobbyListed
	ch <- lobbyMembers
}

func (c lobbyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.svc.Stats()
	ch <- prometheus.MustNewConstMetric(lobbyLobbies, prometheus.GaugeValue, float64(st.Lobbies))
	ch <- prometheus.MustNewConstMetric(lobbyListed, prometheus.GaugeValue, float64(st.Listed))
	ch <- prometheus.MustNewConstMetric(lobbyMembers, prometheus.GaugeValue, float64(st.Members))
}

// Matchmaker is the metrics of a matchmaker service: a prometheus.Collector
// fed by the service's pass hook (ObservePass) and, for the waiting
// tickets, by the engine it watches.
type Matchmaker struct {
	eng     atomic.Pointer[matchmaker.Matchmaker]
	pass    prometheus.Histogram
	matches *prometheus.CounterVec
	wait    *prometheus.HistogramVec
}

var (
	mmTickets = prometheus.NewDesc("rallypoint_matchmaker_tickets", "Tickets waiting, by queue.", []string{"queue"}, nil)
	mmPlayers = prometheus.NewDesc("rallypoint_matchmaker_players", "Players waiting, by queue.", []string{"queue"}, nil)
)

// NewMatchmaker returns the collector; pass its ObservePass as the
// service's Config.OnPass and Watch the service's engine.
func NewMatchmaker() *Matchmaker {
	return &Matchmaker{
		pass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rallypoint_matchmaker_pass_seconds",
			Help:    "Time of one matching pass over every queue.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100 µs to 26 s
		}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rallypoint_matchmaker_matches_total",
			Help: "Matches made, backfills included, by queue.",
		}, []string{"queue"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rallypoint_matchmaker_time_to_match_seconds",
			Help:    "Time matched tickets waited, by queue.",
			Buckets: []float64{0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600},
		}, []string{"queue"}),
	}
}

// Watch sets the engine whose queues the tickets and players gauges read,
// and whose queues get their series before the first match.
func (m *Matchmaker) Watch(eng *matchmaker.Matchmaker) { m.eng.Store(eng) }

// ObservePass records one pass: its duration, its matches and the wait of
// each matched ticket. It has the signature of the service's
// Config.OnPass.
func (m *Matchmaker) ObservePass(took time.Duration, res matchmaker.Result) {
	m.pass.Observe(took.Seconds())
	for _, match := range res.Matches {
		m.matches.WithLabelValues(match.Queue).Inc()
		h := m.wait.WithLabelValues(match.Queue)
		for _, t := range match.Tickets {
			h.Observe(t.Waited.Seconds())
		}
	}
}

// Describe implements prometheus.Collector.
func (m *Matchmaker) Describe(ch chan<- *prometheus.Desc) {
	ch <- mmTickets
	ch <- mmPlayers
	m.pass.Describe(ch)
	m.matches.Describe(ch)
	m.wait.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Matchmaker) Collect(ch chan<- prometheus.Metric) {
	if eng := m.eng.Load(); eng != nil {
		for _, q := range eng.Queues() {
			st, err := eng.Stats(q.Name)
			if err != nil {
				continue
			}
			ch <- prometheus.MustNewConstMetric(mmTickets, prometheus.GaugeValue, float64(st.Tickets), q.Name)
			ch <- prometheus.MustNewConstMetric(mmPlayers, prometheus.GaugeValue, float64(st.Players), q.Name)
			m.matches.WithLabelValues(q.Name) // a series at 0 before the first match
			m.wait.WithLabelValues(q.Name)
		}
	}
	m.pass.Collect(ch)
	m.matches.Collect(ch)
	m.wait.Collect(ch)
}
