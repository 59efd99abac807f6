// Package mesh connects the peers of a match over WebRTC data channels
// (pion/webrtc) and carries their messages: a Mesh implements
// netcode.Transport, so a rollback session (netcode/rollback) or a game's
// own protocol runs on it. It needs a netcode.Signaler to meet its peers;
// it knows nothing of sessions.
//
// # Connecting
//
// A Mesh connects this peer to every other member of its room over WebRTC
// data channels (pion/webrtc), driven by a Signaler: signaling.Client, the
// LAN host's client and netcode/memsignal (tests) all satisfy it. The mesh
// learns of members from the signaler, exchanges offers, answers and trickled ICE
// candidates through it, and after that sends nothing through it: game
// traffic goes directly between peers, so the rendezvous point may go away
// mid-match.
//
// Connect starts a mesh for a match's netcode.Roster (from the matchmaker
// or a lobby's start) and returns once every other member of the roster is
// connected; New starts one for whoever is in the signaler's room and
// returns at once (WaitConnected waits for a number of peers):
//
//	m, err := mesh.Connect(ctx, client, roster, nil) // roster.ICEServers are added
//	...
//	defer m.Close()
//	for { // game loop
//		select {
//		case ev := <-m.Events(): // connected, interrupted, disconnected...
//		default:
//		}
//		m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) { ... })
//		m.Send(peer, netcode.Unreliable, input)
//	}
//
// Of each pair, the peer with the smaller id makes the offer, so two peers
// never offer to each other at once (no glare). An offer waits for the
// first candidates (up to 40 ms) and carries them; later ones trickle as
// they are gathered (those gathered together share one signal). Signals
// leave from a goroutine of their own, in order for each peer, and are
// retried while the signaler refuses them (a rate limit, a reconnecting
// client, a peer that left the room): a peer whose signals are refused
// waits alone, and signals to the others go past it. A signal
// that reaches a peer before its mesh subscribed is lost, so the answering
// side says hello when it learns of a peer and the offering side repeats
// an unanswered offer (after 150 ms, doubling). An attempt that fails
// (after a pause that grows from 100 ms) or has not connected after 5 s
// (10 s, 15 s, 20 s for later ones) is replaced by a new one until
// ConnectTimeout; an attempt whose ICE checks have found no working pair
// after 3 × DisconnectAfter (7.5 s) has failed. An attempt whose ICE has
// selected a pair and whose peer's first DTLS flight has arrived is
// handshaking for up to 5 s from the selection: while it is, and neither
// ICE nor DTLS has failed, no timer replaces it (see ICE policy), since a
// new attempt would throw a working path away and start over on a host
// whose load is what made the handshake slow. When a connected pair
// stays silent (see Lifecycle), the offering side restarts ICE on the
// same connection, which keeps the channels and whatever they had queued.
//
// pion's ICE agent never ends a connection on its own (its failed timeout
// is off): it judges a pair only by the packets from the remote candidate
// it selected, and the two sides of a pair may select different
// candidate pairs (each the best of the candidates it knew when its
// checks succeeded; lossy signaling leaves one side without some of the
// other's). Data then arrives on a pair the receiver did not select, its
// agent hears its own pair only in the answers to its consent checks
// (every 2 s): at 25% loss a few lost in a row would make pion fail a
// connection whose data flows both ways. Liveness is the mesh's: the
// silence of the data and pings, on whichever pair they travel.
//
// # Channels
//
// Every pair carries four data channels, one per Channel value and one
// for the mesh's own pings. Reliable is pre-negotiated on both sides with
// id 0 (no in-band open round trip). The others are opened in-band by the
// offering side, because pion v4.2.20 applies a channel's ordering and
// retransmission limit only after the in-band (DCEP) exchange, so a
// pre-negotiated "unreliable" channel would in fact be reliable and
// ordered. The offering stack picks their ids (a browser ignores an app's
// id on an in-band channel and assigns its own), so the answering side
// matches them by label: a browser, the js/wasm build and a native peer
// each offer and answer to the others with the same channels and the same
// semantics. docs/mesh-wire.md describes the whole wire, for clients not
// written in Go. Channels are detached, so the opening side sends at once
// and no round trip is added. One consequence of the same pion behaviour:
// on a pion offering side the in-band channels keep SCTP's reliable,
// ordered defaults until the peer's acknowledgement of the open arrives,
// one round trip after the pair connects; the answering side's are
// unreliable from the start.
//
//   - Reliable ("rp-reliable", id 0): ordered and reliable. Messages up to
//     Config.MaxMessageSize (4 MiB by default) are cut into 16 KiB
//     chunks and reassembled, so sizes beyond the SCTP message limit work.
//   - Unreliable ("rp-unreliable"): unordered, with a bounded retransmission: a lost
//     message is sent again at most Config.DatagramRetransmits times
//     (once by default; negative: never) and then given up. Messages are
//     limited to netcode.MaxDatagramMessage bytes, one SCTP chunk of one packet; a
//     larger Send fails with a *MessageSizeError.
//   - Sequenced ("rp-sequenced"): like Unreliable, plus a 4-byte sequence number;
//     a message older than one already delivered is dropped (newest wins).
//   - control ("rp-control", not a Channel): the keep-alive pings and their
//     pongs, unordered and never retransmitted, so that loss and RTT are
//     those of the path.
//
// The end of the Reliable channel ends the connection (a goodbye frame on
// it says why); another channel that ends alone only fails its sends (and
// if it is the control channel, the pings stop, so an idle pair times out
// and is tried again).
//
// docs/mesh-wire.md describes the whole wire, precisely enough to write a
// client from it (web/meshjs/rallypoint-mesh.js is one); frame layouts are
// also documented next to their constants in channel.go and the signal
// format in peer_signal.go. Unknown control frame types and unknown signal
// fields are ignored, so later versions can extend them; a signal of
// another version or an unknown type is rejected and reported
// (EventSignalRejected).
//
// # Sending and receiving
//
// Send never blocks: it frames the message and hands it to SCTP, which
// copies it, so the caller may reuse its buffer at once. Sending to a peer
// that is not connected fails with ErrPeerNotConnected; when the bytes
// already queued for a peer exceed Config.SendQueueLimit, Send fails
// with ErrQueueFull. Nothing accepted is dropped silently on the sending
// side.
//
// Poll hands over everything received since the last call, in arrival
// order (Ready signals that something arrived, for loops that wait rather
// than tick; Config.OnMessage instead delivers on the reader goroutine,
// for relays and echo servers); data is valid only during the callback,
// and its buffers are recycled, so a steady stream of small messages
// allocates nothing. The
// inbox holds at most Config.InboxLimit messages: beyond that,
// unreliable and sequenced messages are dropped and counted
// (DroppedMessages), while reliable ones wait in SCTP, which slows the
// sender down instead of losing data.
//
// # Lifecycle
//
// Events delivers Event values, one type per change: EventConnecting,
// EventConnected, EventInterrupted (nothing received for
// Config.InterruptAfter, netcode.DefaultInterruptAfter = 500 ms by
// default), EventResumed, and EventDisconnected with a DisconnectReason: left (the peer closed
// its mesh, or left the room before its channels opened; once they are
// open the data path alone decides, so a signaling server going away does
// not end a match), timed out (nothing for
// Config.DisconnectAfter, netcode.DefaultDisconnectAfter = 2.5 s by
// default; the offering side restarts ICE after three times
// InterruptAfter of silence, 1.5 s by default, before that: a restart
// drops the working candidate pair at once, so a silence that may still
// end by itself, a peer process paused for a second on a loaded machine
// or a burst of loss, is left to end on the old pair, and time this
// process itself did not run does not count), ICE failed (no working
// candidate pair within Config.ConnectTimeout; the event's Err is a
// *ConnectError, see "Networks that fight back"), kicked, kicked by peer,
// protocol error. Pings every Config.PingInterval keep an idle pair
// alive, so silence means the path or the peer is gone; while this side
// sends messages of its own at least that often, they show it is alive and
// pings go out only every Config.BusyPingInterval (2 s). The channel has
// Config.EventBuffer slots; when it is full the oldest event is
// discarded and counted (DroppedEvents). Peers returns the current state
// of every peer at any time.
//
// A peer that timed out, could not be reached or whose connection ended
// without a goodbye (it timed out on its side, or its process died) while
// it is still in the room is tried again by the offering side after
// Config.ReconnectAfter (1 s): a new
// Connecting event follows its Disconnected one, with the same id. Set
// Config.NoReconnect to leave it disconnected.
//
// Kick ends the connection to a peer, tells it why (over the reliable
// channel and through the signaler) and ignores its signals until it
// leaves the room.
//
// # Statistics
//
// Stats returns a PeerStats: smoothed RTT and jitter, loss each way,
// packets and bytes per second each way, totals, bytes queued in SCTP, the
// time since the last packet and the types of the selected candidate pair
// (host, srflx, prflx, relay) and the ICE restarts. RTT, jitter and loss
// (over the last 64 pings) come from the keep-alive pings and are
// available one round trip after connecting. While messages flow the
// pings, and so these figures, are refreshed every BusyPingInterval.
//
// # Bytes on the wire
//
// At 60 ticks/s packets, not payload, decide bandwidth: a session's 8-byte
// datagram travels in a 97-byte UDP packet (28 IP/UDP, 29 DTLS, 12 SCTP
// header, 20 for the I-DATA chunk header, the payload padded to 4 bytes).
// pion/sctp acknowledges every second DATA packet with a SACK of its own
// and cannot bundle it with outgoing DATA. The mesh trims the rest:
//
//   - DTLS offers ChaCha20-Poly1305 first (DefaultDTLSCipherSuites): its
//     records carry a 16-byte tag and no explicit nonce, 8 bytes less than
//     AES-GCM's.
//   - Acknowledgement bundling (Config.AckHold, native builds): the
//     sockets pion writes to hold a packet that is one small DTLS record
//     (at most 44 bytes of ciphertext: an SCTP packet without user data)
//     for up to 20 ms while the same peer is receiving other packets, and
//     send it in the same UDP datagram as the next one, which DTLS allows
//     (internal/piggyback). A SACK then costs 57 bytes instead of 85.
//   - Datagram channels retransmit a lost message once
//     (Config.DatagramRetransmits). With no retransmission pion gives
//     a message up as soon as it is sent and answers every SACK that
//     arrives while one is in flight with a FORWARD-TSN, which the
//     receiver acknowledges at once; once the round trip exceeds the send
//     interval this loop never stops (at 40 ms RTT it put 7.85 packets a
//     tick on the wire instead of 2).
//   - Pings back off while messages flow (BusyPingInterval), and ICE's
//     consent checks go out every 2 s (pion's keep-alive interval).
//
// rallypoint bench rollback measures the result on pion's virtual network
// against the previous settings in the same run.
//
// # ICE policy
//
// Config.ICEServers lists STUN and TURN servers, each with its own
// credentials. A pair first tries to connect directly (host and, unless
// HostOnly, server-reflexive candidates); if its ICE has selected no
// candidate pair after Config.TURNFallbackAfter, its offering side starts
// a second attempt that also gathers relay candidates. A direct attempt
// whose ICE has selected a pair, and whose peer's DTLS ClientHello has
// arrived (so the peer's ICE is up too), is not replaced while it
// handshakes: it falls back to the relay attempt only once ICE or DTLS
// fails, or once its handshake is still unfinished 5 s after the pair was
// selected (a stalled handshake; pion's DTLS has no deadline of its own).
// An attempt whose ICE is up on this side only (nothing of the peer's
// DTLS arrives) falls back at TURNFallbackAfter like one whose ICE is
// not. The decision is per pair: other pairs of the same mesh stay
// direct. With no servers (the zero value) only host candidates are
// gathered and a LAN connects in milliseconds: mDNS candidates are off,
// loopback candidates are used when lo is the only interface (or
// Config.Loopback is set), peer-reflexive and relayed pairs are accepted
// without the default waits, DTLS skips
// HelloVerify (ICE has already checked the peer), SCTP's INIT travels in
// the offer and answer (sctp-init, "SNAP": no association handshake after
// DTLS; a peer without it, such as a browser, gets the usual one), SCTP
// skips its checksum (DTLS already authenticates every packet) and caps
// its retransmission timeout (Config.SCTPRTOMax), which bounds reliable
// latency under loss. The DTLS handshake repeats a lost flight after
// Config.DTLSRetransmitInterval (100 ms, doubling with each repeat)
// rather than pion's 1 s: at 25% loss each way on a LAN, pion's timer
// (repeats after 1, 3 and 7 s) left handshakes running past the mesh's
// attempt and silence timers, with one side connected while the other
// still waited for the final flight (demo-game TestLANLossyMatch, each
// phase timed per pair: handshakes of 3 s and more, some failed; at
// 100 ms nearly all finished within 0.7 s of the pair being selected).
// On loopback with peers in separate processes (rallypoint bench
// transport), two peers connect in about 9 ms from the room filling up
// and four in about 40 ms.
//
// Server-reflexive pairs are accepted as soon as their check succeeds:
// pion's default 500 ms wait delayed every direct connection through a
// NAT by that much (cone/cone NAT pair in namespaces: setup 220-280 ms,
// 610-660 ms with pion's wait; TestNATConeToConeConnectsDirectly logs
// both).
//
// Config.RelayOnly (IP privacy, as streamers ask for) sends every pair
// through a TURN relay from the first attempt: this side gathers and
// signals relay candidates only, so no other player learns its
// addresses, and Stats report a relay local candidate for every pair.
//
// In a browser (GOOS=js) pion wraps RTCPeerConnection and the browser owns
// those settings; the mesh's behaviour is otherwise the same.
//
// # Connecting in few round trips
//
// Over a 50 ms RTT (pion's virtual network; signals pass through a
// rendezvous point halfway between the peers, so they take as long as a
// packet on the direct path) two peers connect in about 3.7-3.9 RTT from
// "match found" to every channel open, and four in about 4-4.2, against
// about 8.5-9 for pion's defaults (rallypoint bench transport, fields
// connect2_rtt50_ms, connect4_rtt50_ms and pion_connect2_rtt50_ms; its
// connect2_rtt50_steps trace one connection). Where the round trips go,
// p0 offering and p1 answering:
//
//	0.5  the offer reaches p1 (p0 sends it as soon as it learns of p1)
//	1.0  the answer reaches p0, which starts its connectivity checks
//	1.5  p0's check reaches p1, which uses that pair at once and starts
//	     DTLS (ClientHello), without waiting for a nomination
//	2.0  p1's response and ClientHello reach p0, which uses the pair at
//	     once too and answers (ServerHello ... ServerHelloDone)
//	2.5  p1 sends its key exchange and Finished
//	3.0  p0 is done (SCTP needs no handshake: SNAP) and sends its
//	     Finished with the in-band channels' opens
//	3.5  p1 is done; every channel is open on both sides
//
// Each pair of a larger mesh runs this at the same time: a mesh makes all
// its offers in one pass as it learns of its peers, and nothing waits for
// another pair. What the mesh changes from pion's defaults, and why each
// is safe:
//
//   - A candidate pair is used as soon as a check shows it works (see
//     earlyPair in ice_native.go): pion waits for the offering side's
//     nomination, which it sends only after a check of its own succeeded
//     and acts on only when the nomination is answered, one round trip
//     more on each side. Both sides take only the best pair of the
//     candidates they signaled, so they agree, and the answering side
//     switches to whatever pair the offering side nominates later. The
//     answer says "early" (docs/mesh-wire.md); an offering mesh selects
//     early only then, because pion stops nominating once a pair is
//     selected and a standard answerer (a browser) waits for a
//     nomination; and not on a host pair while it is behind a NAT (it
//     gathered a server-reflexive address that is none of its host
//     addresses), where the peer may know it only at a NAT mapping it was
//     never told of and so cannot select early either.
//   - DTLS skips HelloVerify (SetDTLSInsecureSkipHelloVerify): one round
//     trip. HelloVerify's cookie keeps a DTLS server from sending its
//     large first flight to a forged source address. Here DTLS runs only
//     over a selected ICE pair, and the DTLS server (the offering side)
//     sends only to its selected pair's address, which has answered a
//     connectivity check authenticated with the ICE credentials exchanged
//     through the signaler: a forged source address never gets the
//     server's flight. (The answering side, the client, may select a
//     pair on an authenticated check alone; its ClientHello is no larger
//     than the check it answers.)
//   - SCTP's INIT travels in the offer and answer (SNAP): two round trips.
//   - The answering side is the DTLS client (pion's default): it selects
//     a pair half a round trip before the offering side, and the server
//     finishes half a round trip before the client, so the in-band
//     channel opens ride with the server's Finished at no cost.
//   - Candidates trickle as gathered, in batches; a description sent
//     again carries those gathered so far.
//
// A real network adds processing and any detour of the signals through a
// distant server; the round trips stay the same.
//
// # Networks that fight back
//
// The mesh's goroutine never waits for pion. Closing or replacing a
// connection happens on a goroutine of its own (pion's Close waits for
// candidate gathering, and a TURN Allocate to a server that does not
// answer retries for about 8 s); TURN connections over TCP or TLS are
// dialed with Config.TURNDialTimeout (3 s) and given up when their
// attempt closes, and the attempt's packet sockets are closed before
// pion's Close, which ends a waiting Allocate at its next retransmission
// (at most 1.6 s). So one pair's trouble delays no other pair's events,
// pings or signals, and Close returns within a second: it waits up to
// 500 ms for the connections, and one that pion still holds then ends on
// its own.
//
// A pair that cannot connect within Config.ConnectTimeout is reported
// with ReasonICEFailed and a *ConnectError whose Failure (also matched by
// errors.Is) says why: ErrTURNAuth (the TURN servers refused the
// credentials, 401 or 441), ErrTURNUnreachable (no TURN server answered,
// over UDP or TCP) or ErrNoCandidatePair; Local and Remote list the
// candidate types tried on each side. pion reports TURN failures only in
// its log: the mesh reads the ICE agent's warnings through the setting
// engine's LoggerFactory, and passes them on to pion's default logger.
//
// TURN REST credentials ("<expiry>:<user>", signaling.TURNCredentials)
// expire. Before an attempt that uses TURN, a mesh whose signaler also
// implements netcode.ICERefresher (signaling.Client does, with the
// protocol's ice request) checks the expiry in the username; within a
// fifth of the credentials' lifetime of it (at least a minute), it asks
// for fresh servers first, at most once per 5 s, and the attempt waits
// for the answer (ICERefreshes counts the requests). An offer the
// answering side holds for a refresh keeps the candidates that arrive for
// it meanwhile (at most 256 per peer) and adds them once it is applied: an
// ICE restart's belong to the new ICE generation, which the description
// still applied does not know. A player who waited an hour in a lobby
// still gets a relay.
//
// # Concurrency
//
// All methods of Mesh are safe for concurrent use, except that Poll must
// not run concurrently with itself and Close must not be called from a
// Poll callback. One goroutine owns each mesh's connection state (signals,
// pion's callbacks, timers and kicks run on it, one at a time); each open
// pair adds four reader goroutines, one per data channel including the
// control channel, besides pion's own (about 23 per PeerConnection); one
// more goroutine sends signals (one at a time, in order for each peer;
// a queued signal drops the waiting ones it makes useless, such as
// repeats of an offer or answer and candidates of a replaced attempt,
// so that a slow signaler cannot hold up the current attempt behind
// stale ones: docs/mesh-wire.md section 2.1), and a kick holds one for at most 500 ms
// while the goodbye drains; closing connections and refreshing TURN
// credentials take one each while they run. Close waits for all of them
// (for the connections, at most 500 ms). The signaler's
// callbacks only queue work for the owning goroutine, so they never block
// on the mesh. Config.OnMessage runs on a reader goroutine and may call
// Send, but not Close.
//
// Errors are this package's sentinels ("mesh: closed", ...), wrapped in
// *PeerError or *MessageSizeError where a peer or a size explains them;
// compare with errors.Is.
//
// # Limits
//
// A full mesh of n peers keeps n-1 connections per peer; it suits rooms of
// up to about 8 players. Reliable messages are capped at
// Config.MaxMessageSize, unreliable ones at netcode.MaxDatagramMessage,
// and signals at 64 KiB.
package mesh
