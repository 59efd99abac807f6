// Package netcode carries a game between its players: a WebRTC peer mesh
// (this file's first half) and, on top of it, the rollback session.
//
// # Mesh
//
// A Mesh connects this peer to every other member of its room over WebRTC
// data channels (pion/webrtc), driven by a Signaler: signaling.Client, the
// LAN host's client and memsignal (tests) all satisfy it. The mesh learns
// of members from the signaler, exchanges offers, answers and trickled ICE
// candidates through it, and after that sends nothing through it: game
// traffic goes directly between peers, so the rendezvous point may go away
// mid-match.
//
//	m, err := netcode.NewMesh(client, netcode.MeshConfig{ICEServers: servers})
//	...
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
// never offer to each other at once (no glare). Candidates trickle as they
// are gathered (those gathered together share one signal). Signals leave
// from a goroutine of their own, in order, and are retried while the
// signaler refuses them (a rate limit, a reconnecting client). A signal
// that reaches a peer before its mesh subscribed is lost, so the answering
// side says hello when it learns of a peer and the offering side repeats
// an unanswered offer (after 150 ms, doubling). An attempt that fails
// (after a pause that grows from 100 ms) or has not connected after 5 s
// (10 s, 15 s, 20 s for later ones) is replaced by a new one until
// ConnectTimeout. When a connected pair's ICE state turns disconnected or
// failed, the offering side restarts ICE on the same connection, which
// keeps the channels and whatever they had queued.
//
// # Channels
//
// Every pair carries four data channels with fixed ids, one per Channel
// value and one for the mesh's own pings. Reliable is pre-negotiated on
// both sides (no in-band open round trip). The others are opened in-band
// by the offering side,
// with fixed ids: pion v4.2.20 applies a channel's ordering and
// retransmission limit only after the in-band (DCEP) exchange, so a
// pre-negotiated "unreliable" channel would in fact be reliable and
// ordered. Channels are detached, so the opening side sends at once and
// no round trip is added. One consequence of the same pion behaviour: on
// the offering side the in-band channels keep SCTP's reliable, ordered
// defaults until the peer's acknowledgement of the open arrives, one round
// trip after the pair connects; the answering side's are unreliable from
// the start.
//
//   - Reliable (id 0): ordered and reliable. Messages up to
//     MeshConfig.MaxMessageSize (4 MiB by default) are cut into 16 KiB
//     chunks and reassembled, so sizes beyond the SCTP message limit work.
//   - Unreliable (id 1): unordered, with a bounded retransmission: a lost
//     message is sent again at most MeshConfig.DatagramRetransmits times
//     (once by default; negative: never) and then given up. Messages are
//     limited to MaxDatagramMessage bytes, one SCTP chunk of one packet; a
//     larger Send fails with a *MessageSizeError.
//   - Sequenced (id 2): like Unreliable, plus a 4-byte sequence number;
//     a message older than one already delivered is dropped (newest wins).
//   - control (id 3, not a Channel): the keep-alive pings and their
//     pongs, unordered and never retransmitted, so that loss and RTT are
//     those of the path.
//
// The end of the Reliable channel ends the connection (a goodbye frame on
// it says why); another channel that ends alone only fails its sends (and
// if it is the control channel, the pings stop, so an idle pair times out
// and is tried again).
//
// Frame layouts are documented next to their constants in channel.go; the
// signal format in peer_signal.go. Both carry a version or type byte and
// unknown types are ignored, so later versions can extend them.
//
// # Sending and receiving
//
// Send never blocks: it frames the message and hands it to SCTP, which
// copies it, so the caller may reuse its buffer at once. Sending to a peer
// that is not connected fails with ErrPeerNotConnected; when the bytes
// already queued for a peer exceed MeshConfig.SendQueueLimit, Send fails
// with ErrQueueFull. Nothing accepted is dropped silently on the sending
// side.
//
// Poll hands over everything received since the last call, in arrival
// order (Ready signals that something arrived, for loops that wait rather
// than tick; MeshConfig.OnMessage instead delivers on the reader goroutine,
// for relays and echo servers); data is valid only during the callback,
// and its buffers are recycled, so a steady stream of small messages
// allocates nothing. The
// inbox holds at most MeshConfig.InboxLimit messages: beyond that,
// unreliable and sequenced messages are dropped and counted
// (DroppedMessages), while reliable ones wait in SCTP, which slows the
// sender down instead of losing data.
//
// # Lifecycle
//
// Events delivers PeerEvent values: connecting, connected, interrupted
// (nothing received for MeshConfig.InterruptAfter, 500 ms by default),
// resumed, and disconnected with a DisconnectReason: left (the peer closed
// its mesh, or left the room before its channels opened; once they are
// open the data path alone decides, so a signaling server going away does
// not end a match), timed out (nothing for
// MeshConfig.DisconnectAfter, 2.5 s by default), ICE failed (no working
// candidate pair within MeshConfig.ConnectTimeout), kicked, kicked by peer,
// protocol error. Pings every MeshConfig.PingInterval keep an idle pair
// alive, so silence means the path or the peer is gone; while this side
// sends messages of its own at least that often, they show it is alive and
// pings go out only every MeshConfig.BusyPingInterval (2 s). The channel has
// MeshConfig.EventBuffer slots; when it is full the oldest event is
// discarded and counted (DroppedEvents). Peers returns the current state
// of every peer at any time.
//
// A peer that timed out, could not be reached or whose connection ended
// without a goodbye (it timed out on its side, or its process died) while
// it is still in the room is tried again by the offering side after
// MeshConfig.ReconnectAfter (1 s): a new
// Connecting event follows its Disconnected one, with the same id. Set
// MeshConfig.NoReconnect to leave it disconnected.
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
//   - Acknowledgement bundling (MeshConfig.AckHold, native builds): the
//     sockets pion writes to hold a packet that is one small DTLS record
//     (at most 44 bytes of ciphertext: an SCTP packet without user data)
//     for up to 20 ms while the same peer is receiving other packets, and
//     send it in the same UDP datagram as the next one, which DTLS allows
//     (internal/piggyback). A SACK then costs 57 bytes instead of 85.
//   - Datagram channels retransmit a lost message once
//     (MeshConfig.DatagramRetransmits). With no retransmission pion gives
//     a message up as soon as it is sent and answers every SACK that
//     arrives while one is in flight with a FORWARD-TSN, which the
//     receiver acknowledges at once; once the round trip exceeds the send
//     interval this loop never stops (at 40 ms RTT it put 7.85 packets a
//     tick on the wire instead of 2).
//   - Pings back off while messages flow (BusyPingInterval), and ICE's
//     consent checks go out once a second.
//
// rallypoint bench rollback measures the result on pion's virtual network
// against the previous settings in the same run.
//
// # ICE policy
//
// MeshConfig.ICEServers lists STUN and TURN servers, each with its own
// credentials. A pair first tries to connect directly (host and, unless
// HostOnly, server-reflexive candidates); if it has not connected after
// MeshConfig.TURNFallbackAfter, its offering side starts a second attempt
// that also gathers relay candidates. The decision is per pair: other
// pairs of the same mesh stay direct. With no servers (the zero value)
// only host candidates are gathered and a LAN connects in milliseconds:
// mDNS candidates are off, loopback candidates are used when lo is the
// only interface (or MeshConfig.Loopback is set), peer-reflexive and
// relayed pairs are accepted without the default waits, DTLS skips
// HelloVerify (ICE has already checked the peer), SCTP skips its checksum
// (DTLS already authenticates every packet) and caps its retransmission
// timeout (MeshConfig.SCTPRTOMax), which bounds reliable latency under
// loss. On loopback with peers in separate processes (rallypoint bench
// transport), two peers connect in about 9 ms from the room filling up
// and four in about 40 ms.
//
// In a browser (GOOS=js) pion wraps RTCPeerConnection and the browser owns
// those settings; the mesh's behaviour is otherwise the same.
//
// # Concurrency
//
// All methods of Mesh are safe for concurrent use, except that Poll must
// not run concurrently with itself and Close must not be called from a
// Poll callback. One goroutine owns each mesh's connection state; each
// open pair adds three reader goroutines besides pion's own (about 25 per
// PeerConnection); one more goroutine sends signals. Close waits for all
// of them. MeshConfig.OnMessage runs on a reader goroutine and may call
// Send, but not Close.
//
// # Limits
//
// A full mesh of n peers keeps n-1 connections per peer; it suits rooms of
// up to about 8 players. Reliable messages are capped at
// MeshConfig.MaxMessageSize, unreliable ones at MaxDatagramMessage, and
// signals at 64 KiB.
//
// # Sessions
//
// A Session runs a game's fixed-tick loop over any Transport (the Mesh, the
// netsim simulator, a netsim.Conditioner around either) for 2 to 32 players,
// several of them local if need be. Each tick the game adds its local
// players' inputs and calls AdvanceFrame; the session calls back into the
// game through SessionGame (SaveState, LoadState, AdvanceFrame) to simulate
// the next frame and, when a remote input contradicts its prediction, to
// roll back to the first wrong frame (the earliest over every peer) and
// resimulate. Inputs are InputSize bytes per player; InputCodec, with
// AddLocalInputOf and InputOf, carries a game's own input type.
//
//	s, _ := netcode.NewSession(mesh, game, netcode.SessionConfig{Players: players, InputDelay: 2})
//	for range ticker.C {
//		s.AddLocalInput(me, readPad())
//		if err := s.AdvanceFrame(); errors.Is(err, netcode.ErrPredictionThreshold) {
//			continue // the window is full: wait for the others
//		}
//		select { case ev := <-s.Events(): handle(ev); default: }
//	}
//
// Modes: rollback with a prediction window (MaxPrediction, 8 by default),
// or Lockstep (window 0), which needs an InputDelay of at least the one-way
// latency and then never stalls; SuggestInputDelay computes it from a
// measured RTT. SetInputDelay changes the delay at runtime.
//
// Every tick the session sends one datagram per peer on the Unreliable
// channel carrying every local input the peer has not acknowledged
// (redundancy instead of retransmission), XOR-delta and run-length coded,
// with the peer's ack, the frame advantage and a checksum report. The
// format is versioned and documented in docs/netcode-wire.md; 2 players
// with 1-byte inputs cost about 7.5 bytes per datagram.
//
// Time sync: both sides measure the frame advantage; TickScale slows the
// peer ahead by 3% per frame (at most 25%) so the others catch up without
// a skipped frame (SkipTick does the same for a fixed-rate loop such as
// Ebiten's by skipping a tick now and then), and EventWaitRecommended
// reports large leads.
//
// Desync detection compares checksums of confirmed frames only, every
// ChecksumInterval frames (60 by default), and reports EventDesync with the
// frame, both checksums and the peer; OnConfirmedState hands the game every
// checksummed state to keep for diffing. SyncTestSession checks a game's
// determinism locally by rolling back every frame.
//
// A Spectator receives the confirmed inputs of every player from a host
// player; one that joins mid-match first gets a saved state over the
// Reliable channel and catches up at CatchUpSpeed.
//
// Disconnects: a peer silent for InterruptTimeout (500 ms) is reported
// interrupted; after DisconnectTimeout (2 s) the DisconnectPolicy applies:
// DropPlayer and PredictPlayer drop its players at a frame every remaining
// peer agrees on (each announces the inputs it holds; the frame follows the
// latest), StallForPlayer waits. A restarted player rejoins with a new
// Session with Rejoin set, under its old PeerID or a new one that
// AuthorizeRejoin accepts (checking the RejoinToken the game got from its
// signaling layer, such as a resume token): the peers agree
// on a rejoin frame, the lowest-handled one sends the state and inputs, and
// the player is back in sync within about two seconds under 100 ms, 25% loss.
//
// A Session is not safe for concurrent use: call it from the game loop's
// goroutine only (Events may be read anywhere). It starts no goroutine.
// Events has SessionConfig.EventBuffer slots (64); when it is full, new
// events are dropped and counted (SessionStats.EventsDropped).
// On the hot path it allocates nothing: rollback bench (4 players, an
// 8-frame rollback every frame) measures about 1 µs of session work per
// frame. Limits: 32 players, inputs of 1 to 1024 bytes and at most 900
// bytes a frame for all players together (a datagram), a prediction window
// of at most 64 frames, an input delay of at most 32, transferred states of
// at most 60 KiB; peers must start with the same InputDelay; two peers that
// lose only each other resolve in favour of the lower handle.
package netcode
