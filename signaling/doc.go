// Package signaling is Rallypoint's rendezvous point: a versioned JSON
// protocol over WebSocket through which peers meet in rooms and exchange
// WebRTC offers, answers and candidates (or any opaque signal), plus the
// Server that speaks it and a reconnecting Client.
//
// # Protocol
//
// Every message, in both directions, is one Envelope in one WebSocket text
// frame:
//
//	{"v":1,"type":"signal","cid":"7","from":"p1","to":"p2","room":"r","data":{...}}
//
// A client opens with hello (listing the versions it speaks, and a resume
// token to take an earlier session back); the server answers welcome with
// the peer id it assigned, a resume token, the ICE servers (with short-lived
// TURN credentials when configured) and its limits. Then the client joins a
// room by name (join) or joins the next-N group of a name (join with
// {"next":N}), and relays signals to named peers of its room. The server
// stamps "from" on everything it relays, so no peer can speak as another.
// An ice request (TypeICE, Client.RefreshICEServers) returns the ICE
// servers with fresh TURN credentials at any time, for a peer whose
// welcome's have expired; a mesh asks for them through
// netcode.ICERefresher. Failures come back as error messages with a stable code (the Code
// constants) and the cid of the request. docs/protocol.md in the repository
// is the full reference.
//
// # Server
//
// Server is an http.Handler. NewServer(Config{}) is a working development
// server (anonymous, default limits). Services built on top register
// handlers for their own message types ("lobby.*", "mm.*") with Handle,
// push messages with Send, put matched peers in a room with CreateRoom and
// learn of departures through OnPeerGone.
//
// # Cluster
//
// NewClusterServer makes the server one node of a cluster: rooms, next=N
// groups, signals and resume state are shared with the other nodes
// through a Backplane (package cluster implements it over NATS), so a
// peer on one node signals a peer on another and a client whose node dies
// resumes on another with the same id and room (ClientConfig.URLs lists
// the nodes to try). Services built with Handle stay per node; a service
// registered with Server.Service is cluster-wide: its handlers run on one
// node, the service's leader (elected through the backplane's store with
// a renewed lease), other nodes forward its requests there (answering
// CodeUnavailable while there is no live leader), and its state survives
// the leader in records it saves (Service.Save) that the next leader
// loads (ServiceConfig.Lead). The leader's replies, and its pushes sent
// with Service.Send, wait until the records saved before them are
// written (grouped: one write round trip per batch), so a client is never
// told of a change the next leader would not know. Send, CreateRoom, AddToRoom and PeerRoom
// take peers of any node; rejoin tickets work on every node. Package
// cluster's documentation gives the records, subjects and failure model.
//
// # Client
//
// Dial connects and says hello; Join, JoinNext, Leave, Signal and Request
// are blocking calls that take a context and return the server's coded
// error as *Error. Join, JoinNext, Leave, Rejoin and Request send a
// request answered with CodeUnavailable (a cluster condition: no store
// quorum, no service leader) again, after the server's hint
// (Error.RetryAfter), until their context ends. When the connection drops, the client reconnects with backoff and
// resumes its session: it keeps its id and room seat, and the other members
// see PeerInterrupted then PeerResumed instead of leave and join.
//
// A process that dies loses its resume token with it. In a match room (a
// JoinNext group, a room made by Server.CreateRoom) each member's joined
// carries a rejoin ticket, Client.RejoinTicket, signed by the server and
// valid for Config.RejoinTTL (1 h): a restarted process hands it to
// Client.Rejoin on a fresh connection and takes the seat back under a new
// id; the members see PeerLeft for the old id, if it was still there, and
// PeerJoined with Replaces naming it. docs/protocol.md gives the format.
//
// Client satisfies netcode.Signaler (LocalID, SendSignal, SubscribeSignals)
// without importing it. Signals that arrive before anything subscribes
// (between Join and SubscribeSignals, say) are kept, up to
// ClientConfig.EarlySignals (256), for the first subscriber; the rest are
// dropped and counted by DroppedSignals.
//
// # Sharing one connection
//
// Several consumers share a Client, and none waits for another:
//
//   - the mesh, through SubscribeSignals: signals and room membership, by
//     callback;
//   - each protocol, through Subscribe ("lobby.*", "mm.*"): the pushed
//     messages of the types it claims, plus Disconnected and Reconnected,
//     on a bounded queue of its own (SubscriptionConfig.Queue, 256). A
//     full queue drops, counts (Subscription.Dropped) and queues one
//     Overflow event at the place of the loss, so the owner always learns
//     of it and resyncs from the server;
//   - the application, through Events: everything else, as a closed set
//     of types. The client never waits for this channel: an event that
//     finds it full (ClientConfig.EventBuffer, 256) is dropped and counted
//     (DroppedEvents).
//
// So lobby.Client, the matchmaker client and a mesh run on one
// connection, and an application that reads Events once and stops holds
// back neither the mesh nor the protocols.
//
// # Browsers (js/wasm)
//
// The same Client compiles for GOOS=js GOARCH=wasm, where Go's net package
// cannot dial: there it speaks through the JavaScript WebSocket object of
// the browser (or of Node.js 22, or 20 with --experimental-websocket) by
// way of github.com/coder/websocket, and natively through
// github.com/gorilla/websocket; one build-tagged file per platform carries
// the frames and everything else is shared. In a browser,
// ClientConfig.NetDialContext, TLSConfig and Header do not apply (the
// browser dials, checks certificates and sets headers; pass credentials in
// ClientConfig.Token), a refused upgrade comes back without its HTTP status
// (no *HTTPError), and since the page never sees the server's WebSocket
// pings (the browser answers them), the client sends an application ping
// every ping interval to keep its own read deadline. A server that serves
// browser pages from another origin must allow it with Config.CheckOrigin.
//
// # Concurrency
//
// All methods of Server and Client are safe for concurrent use. The server
// runs one reader goroutine per connection, a writer goroutine only while a
// connection has messages queued, and one housekeeping goroutine for
// keep-alives and timeouts; Close and Shutdown wait for all of them.
// A relayed signal (and its ack) to a connection with nothing queued is
// written by the goroutine that routes it, the sender's reader or a
// cluster node's message handler, with no hand-off, the signal before the
// ack; so is a ping the housekeeping goroutine sends to an idle
// connection. Such a write waits at most 100 ms (only a full socket makes
// it wait): a connection that takes longer is closed as a slow consumer.
// That goroutine visits the connections in 250 slots spread evenly over
// each second (or a quarter of the ping interval, if shorter), ticking
// often enough that a tick sends about 8 pings (every 12 ms with 16,700
// idle sessions, at most every 4 ms, at least every 62.5 ms): the pings
// of thousands of idle sessions go out a few at a time, never as a burst
// that would hold up a relay, with no more wake-ups than that needs. Liveness is
// the WebSocket pings: the server and a native client turn the kernel's
// TCP keep-alive off on their connections (Go turns it on by default,
// which on an idle session sends another probe and answer about every
// ping interval).
// Extension handlers run on the sender's reader goroutine and must return
// quickly. A Client owns two goroutines: one reads and reconnects, and
// queues subscriptions' events without waiting; the other runs
// SubscribeSignals callbacks and feeds the Events channel without waiting
// for it, so that a slow callback never holds back the replies calls wait
// for. Only the callbacks can slow the client down: past 4096 deliveries
// waiting behind them the reader waits too. Close waits for both
// goroutines and closes Events and every subscription's channel.
//
// # Delivery guarantees
//
// Messages the server accepted for a peer wait in that peer's send queue
// until written, also while the peer is away and may resume; a queue that
// overflows disconnects its consumer rather than dropping messages
// silently, and a sender whose target cannot take more gets
// CodePeerUnavailable. A message written to a connection that then drops
// may be lost with it, as with any TCP stream.
//
// # Limits
//
// Config bounds message size, messages per second per connection (a token
// bucket from golang.org/x/time/rate), room size, rooms, sessions,
// connections and sessions per IP, sessions per authenticated subject, the
// send queue per session in messages
// and bytes (a slow consumer is disconnected with CodeSlowConsumer; a
// session waiting to resume keeps at most as much), a server-wide budget of
// queued bytes, and read, write and hello deadlines. Frames are written
// without HTML escaping and relayed data byte for byte. Browsers from other origins are
// refused unless Config.CheckOrigin allows them.
package signaling
