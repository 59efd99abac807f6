// Package metrics binds the server's components to Prometheus'
// client_golang: it registers collectors that read a signaling.Server, a
// lobby.Service and a matchmaker service into a prometheus.Registerer. The
// exposition format is client_golang's (promhttp); nothing here writes it.
//
// The library packages stay free of client_golang: signaling, lobby and
// matchmaker/service are imported by games, browser builds included, and
// client_golang with its protobuf dependency adds about 5 MB to a js/wasm
// binary. They offer plain snapshots (signaling.Server.Stats,
// lobby.Service.Stats, matchmaker.Matchmaker.Stats) and a pass hook
// (matchmaker/service Config.OnPass); this package turns those into
// metrics. A component that is not registered has no metrics.
//
// Usage, as in `rallypoint serve`:
//
//	reg := metrics.NewRegistry() // with the Go runtime and process collectors
//	metrics.RegisterSignaling(reg, srv)
//	metrics.RegisterCluster(reg, node, srv) // cluster nodes only
//	mm := metrics.NewMatchmaker()
//	svc, _ := mmservice.New(srv, mmservice.Config{OnPass: mm.ObservePass})
//	mm.Watch(svc.Matchmaker())
//	reg.MustRegister(mm)
//	metrics.RegisterLobby(reg, lobbySvc)
//	mux.Handle("/metrics", metrics.Handler(reg))
//
// # Metric names
//
// Signaling (read from Server.Stats at each scrape): the gauges
// rallypoint_signaling_sessions, rallypoint_signaling_connections and
// rallypoint_signaling_rooms; the counters
// rallypoint_signaling_sessions_opened_total,
// rallypoint_signaling_connections_opened_total,
// rallypoint_signaling_resumes_total,
// rallypoint_signaling_rejoins_total, rallypoint_signaling_messages_total,
// rallypoint_signaling_relayed_total and
// rallypoint_signaling_errors_total{code}; the histogram
// rallypoint_signaling_relay_seconds.
//
// Cluster nodes (RegisterCluster, read from the cluster.Node and the
// node's Server.Stats at each scrape): rallypoint_node_info{node} (always
// 1; its label names the node, so that each node's scrape says which node
// it is), the gauges rallypoint_cluster_live_nodes (nodes heard, itself
// included) and rallypoint_cluster_routes (embedded NATS routes), the
// counters rallypoint_cluster_signals_sent_total and
// rallypoint_cluster_signals_received_total (signals between a peer here
// and a peer on another node), and the histogram
// rallypoint_cluster_relay_round_trip_seconds (a signal sent to another
// node, from reading it to that node's ack; timed on this node's clock
// alone), and rallypoint_service_leader{service} (1 on the node that
// leads and serves a cluster-wide service, lobby or mm, 0 on the others:
// the lobby and matchmaker metrics below describe the cluster only on
// that node; elsewhere their gauges are 0).
//
// Lobbies: the gauges rallypoint_lobby_lobbies (open),
// rallypoint_lobby_listed and rallypoint_lobby_members.
//
// Matchmaker, per queue: the gauges rallypoint_matchmaker_tickets and
// rallypoint_matchmaker_players (waiting now), the counter
// rallypoint_matchmaker_matches_total and the histogram
// rallypoint_matchmaker_time_to_match_seconds; for the whole engine the
// histogram rallypoint_matchmaker_pass_seconds (the time of one
// Matchmaker.Process).
//
// NewRegistry adds client_golang's Go runtime (go_goroutines, go_memstats_*,
// go_gc_*) and process (process_resident_memory_bytes,
// process_cpu_seconds_total, process_open_fds, ...) collectors.
//
// # Concurrency
//
// Collectors read their component's snapshot on the scraping goroutine;
// the snapshots take their component's lock briefly. ObservePass may be
// called from any goroutine.
package metrics
