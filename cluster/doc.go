// Package cluster makes several `rallypoint serve` nodes act as one over
// NATS. A Node is this process's membership: it embeds a NATS server
// (routed to the other nodes' servers) or connects to an external NATS
// cluster, and implements signaling.Backplane, through which a
// signaling.Server made with signaling.NewClusterServer shares its rooms,
// resume state and signals. A single node needs none of this: a Server
// without a backplane keeps everything in memory.
//
//	node, err := cluster.Start(ctx, cluster.Config{
//		Name:   "a",
//		Listen: "10.0.0.1:6222",
//		Routes: []string{"nats://10.0.0.1:6222", "nats://10.0.0.2:6222", "nats://10.0.0.3:6222"},
//	})
//	srv, err := signaling.NewClusterServer(ctx, signaling.Config{}, node)
//
// # What goes over NATS
//
// State lives in one JetStream key/value bucket (Config.Bucket,
// "rallypoint"), in memory storage, replicated on Config.Replicas nodes (3
// in an embedded cluster of three or more), with history 1. Every write is
// a compare-and-set on the key's revision. The keys:
//
//	key.token          32 random bytes, created by the first node: the HMAC key of
//	                   resume tokens and rejoin tickets, so any node checks them
//	room.<hex(name)>   {"cap":16,"private":false,"members":[{"id":"…","node":"a","away":false}],"seats":["…"]}
//	open.<hex(name)>.N the name of the next=N group of name that is still filling
//	sess.<id>          {"node":"a","nonce":"…","subject":"…"}: who holds a session, and the
//	                   nonce its current resume token carries
//	lead.<service>     {"node":"a"}: the leader of a cluster-wide service (lobby, mm),
//	                   renewed by compare-and-set every 500 ms
//	svc.<service>.<k>  a service's own records, written by its leader: lobby
//	                   l.<id> (a lobby), mm t.<id> (a waiting ticket), s.<id> (a match),
//	                   c.<member> (a party consent) and b.<session> (a pending backfill request)
//
// Core NATS subjects (not JetStream):
//
//	rp.hb              every node publishes its name every Config.Heartbeat (250 ms)
//	rp.node.<name>     messages to one node: a JSON header, a newline, then the
//	                   payload byte for byte. Header "t" is one of
//	                   sig      {"from","fn","to","room","cid","t0"} + the signal's data
//	                   ack      {"to","cid","code","msg","t0"}: the result of a sig, for its sender
//	                            (t0 echoes the sig's, so the sender times the round trip)
//	                   takeover {"to"}: another node resumed this session; drop it
//	                   send     {"to"} + a complete frame (signaling.Server.Send across nodes,
//	                            and a service leader's replies, which carry the request's
//	                            "cid": the forwarding node stops waiting for it). With "fn" it was sent
//	                            to the node the peer's last service request came from,
//	                            without reading its sess record; that node forwards
//	                            it once if the peer has moved
//	                   svc      {"from","fn"} + {"svc","id","addr","env"}: a request of a
//	                            cluster-wide service forwarded to its leader
//	                   room     {"room"} + a JSON list of peers: apply the room's record now,
//	                            once it shows them (sent by CreateRoom to the new
//	                            members' nodes before anything else)
//
// # Services on one leader
//
// signaling.Server.Service registers a cluster-wide service: the lobbies
// (package lobby) and the matchmaker (package matchmaker/service) use it.
// One node leads each service: it holds lead.<service> and renews it every
// 500 ms; it steps down if it could not renew for 2 s. Another node takes
// the key over (compare-and-set on the revision it saw) when the key is
// gone, has not changed for 3 s, or names a node that stopped
// heart-beating; a node that closes (a drain) deletes it, so the next
// takes over at once. Requests reaching other nodes are forwarded to the
// leader, which serves them on four goroutines (by peer, in order) and
// answers through the sender's node; while no live leader is known they
// are answered with the code unavailable, and so is a request in flight
// when its leader is seen down (the forwarding node remembers those it
// forwarded until their reply passes through, at most 100,000, each at
// most a minute). The leader saves its state in
// svc.<service>.* (newest value per key, the records saved while a write
// is in flight going out together in the next) and answers a request, or
// pushes a change, only once the records saved before are written; a
// leader whose writes fail for 2 s steps down, answering the requests
// waiting with unavailable. It learns that
// a peer ended, on any node, from the deletion of its sess record. A new
// leader starts from those records and the set of live sessions.
//
// # Ownership
//
// A session belongs to the node that holds its connection: its member
// entries and its sess record name that node. Only the owner changes a
// member's away flag; a resume on another node takes the session over by
// compare-and-set on its sess record (the old token's nonce must match, so
// a token resumes once), then rewrites the member entry, and the old
// node, if it is alive, drops its copy when it sees that (or on takeover).
// Room records have no owner: any node changes one with compare-and-set,
// and every node applies the changes, in revision order, from one watch
// of room.> — the only source of joined replies and room events, so all
// members see a room's history in the same order.
//
// # Failure model
//
// A node that stops heart-beating for Config.DeadAfter (2 s) is down.
// The live node with the smallest name then marks the dead node's members
// away (the others get peer_interrupted) and, after the signaling
// Server's ResumeGrace, removes them (peer_left) and their sess records.
// A client of the dead node reconnects to another (signaling.ClientConfig.URLs)
// and resumes there with the same peer id and room: the resume reads the
// sess record from any replica and the room from the local replica, so it
// does not wait for the KV bucket to elect a new leader if the dead node
// held it (JetStream elects one within about 4 to 9 s; meanwhile writes,
// such as joins, wait or are answered with the code unavailable and a
// retry hint, which clients retry). Signals queued on the dead node for its
// clients are lost, as with any dropped TCP connection; a match's own
// traffic is peer-to-peer and never passes through a node.
//
// A node cut off from the others (a route cut) keeps its local sessions
// but cannot write to the bucket without a quorum: joins there are
// answered at once with the code unavailable (retry after 1 s) until the
// routes heal, and the other nodes see it down and mark its members
// away. A node that hears no majority of the nodes it knows takes itself
// for the small side and reaps nobody. The embedded server pings its
// routes every second and redials one that misses 4 pings, so a healed
// cut reconnects within about a second. Once healed, its heartbeats mark
// it up again, its members' entries are still its own, and it sets its
// connected members back from away (peer_resumed). While the nodes it
// does not hear are a majority (the cluster goes on without it) it refuses
// hellos (code unavailable), and once cut off for half the resume grace it
// closes its clients' connections, so that a client
// that knows another node resumes there before the majority removes it.
// After a cut longer than the resume grace the majority has removed the
// rest, and their sessions end: a resume on the healed node finds the
// record gone and answers resume_expired, and the client starts anew. A Watch
// that a node's death kicks into watching again keeps reading its old
// watcher until the new one exists (creating one needs JetStream's meta
// leader, which may be on the other side). docs/operations.md gives the
// figures measured.
//
// # Limits
//
// Per-connection rate limits and message sizes are enforced by the node
// that holds the connection, as on a single node; a relayed signal is
// checked again by the target's node (membership, send queue). Session
// limits (MaxSessions, per IP, per subject) are per node. A join costs a
// few KV round trips (about a millisecond); a cross-node signal one NATS
// hop each way for its ack. Every node keeps a replica of all room
// records (a few hundred bytes per room). A lobby or matchmaker request
// costs one NATS hop each way when it arrives at a node that does not lead
// the service; the leader serves all of them, so a service scales with
// one node's CPU (the engine's own limits: docs/matchmaker.md). Rejoin
// tickets work on any node (the key is key.token): the seat changes hands
// in the room's record, which remembers a seat's earlier holders (at most
// four per seat of capacity) for their tickets.
//
// # Observing a node
//
// LiveNodes, Routes and KVLeader answer for this node only; `rallypoint
// serve` prints them on /healthz, and its /metrics (internal/metrics
// RegisterCluster) adds the node's name (rallypoint_node_info{node}),
// the signals it exchanges with other nodes and whether it leads each
// cluster-wide service (rallypoint_service_leader{service}: the lobby and
// matchmaker metrics of that node are the cluster's; docs/operations.md).
// `rallypoint bench cluster` measures a cluster of serve processes.
//
// # Concurrency
//
// Node's methods are safe for concurrent use. It owns a heartbeat
// goroutine and one goroutine per Watch; Close stops them and shuts the
// embedded server down.
//
// An embedding node reaches its own NATS server in-process, not over a
// socket: through the server's pipe, whose node end buffers writes (up
// to 8 MiB, then a write waits) and has one goroutine feed the pipe, so
// that a publish returns at once and costs no system call. Every publish
// is written through on the publishing goroutine (nats.go's write buffer
// is one byte), so a signal for another node leaves on the goroutine that
// routes it, and arrives there on the NATS subscription's goroutine,
// which writes it to its target's socket (package signaling). Send and
// Broadcast therefore never wait for the network, only for that buffer.
package cluster
