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
// Failures come back as error messages with a stable code (the Code
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
// # Client
//
// Dial connects and says hello; Join, JoinNext, Leave, Signal and Request
// are blocking calls that take a context and return the server's coded
// error as *Error. Events arrive on the Events channel as a closed set of
// types. When the connection drops, the client reconnects with backoff and
// resumes its session: it keeps its id and room seat, and the other members
// see PeerInterrupted then PeerResumed instead of leave and join. Client
// satisfies netcode.Signaler (LocalID, SendSignal, SubscribeSignals)
// without importing it. Signals that arrive before anything subscribes
// (between Join and SubscribeSignals, say) are kept, up to
// ClientConfig.EarlySignals (256), for the first subscriber; the rest are
// dropped and counted by DroppedSignals.
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
// Extension handlers run on the sender's reader goroutine and must return
// quickly. A Client owns two goroutines: one reads and reconnects, the other
// delivers events and runs SubscribeSignals callbacks, so that a slow
// application never holds back the replies its own calls wait for; Close
// waits for both.
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
// connections per IP, the send queue per connection (a slow consumer is
// disconnected with CodeSlowConsumer), and read, write and hello deadlines. Browsers from other origins are
// refused unless Config.CheckOrigin allows them.
package signaling
