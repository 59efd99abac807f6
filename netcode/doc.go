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
// are gathered. When a connected pair's ICE state turns disconnected or
// failed, the offering side restarts ICE on the same connection, which
// keeps the channels and whatever they had queued.
//
// # Channels
//
// Every pair carries three data channels with fixed ids, one per Channel
// value. Reliable is pre-negotiated on both sides (no in-band open round
// trip). Unreliable and Sequenced are opened in-band by the offering side,
// with fixed ids: pion v4.2.20 applies a channel's ordering and
// retransmission limit only after the in-band (DCEP) exchange, so a
// pre-negotiated "unreliable" channel would in fact be reliable and
// ordered. Channels are detached, so the opening side sends at once and
// no round trip is added.
//
//   - Reliable (id 0): ordered and reliable. Messages up to
//     MeshConfig.MaxMessageSize (4 MiB by default) are cut into 16 KiB
//     chunks and reassembled, so sizes beyond the SCTP message limit work.
//   - Unreliable (id 1): unordered, maxRetransmits 0: a lost message is
//     never retransmitted. Messages are limited to MaxDatagramMessage
//     bytes, one SCTP chunk of one packet; a larger Send fails with a
//     *MessageSizeError. The keep-alive pings travel here too.
//   - Sequenced (id 2): like Unreliable, plus a 4-byte sequence number;
//     a message older than one already delivered is dropped (newest wins).
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
// order; data is valid only during the callback, and its buffers are
// recycled, so a steady stream of small messages allocates nothing. The
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
// alive, so silence means the path or the peer is gone. The channel has
// MeshConfig.EventBuffer slots; when it is full the oldest event is
// discarded and counted (DroppedEvents). Peers returns the current state
// of every peer at any time.
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
// (host, srflx, prflx, relay). RTT, jitter and loss come from the
// keep-alive pings and are available one ping interval plus one round
// trip after connecting (100 ms plus RTT by default).
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
// relayed pairs are accepted without the default waits, and DTLS skips
// HelloVerify (ICE has already checked the peer).
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
// PeerConnection). Close waits for all of them.
//
// # Limits
//
// A full mesh of n peers keeps n-1 connections per peer; it suits rooms of
// up to about 8 players. Reliable messages are capped at
// MeshConfig.MaxMessageSize, unreliable ones at MaxDatagramMessage, and
// signals at 64 KiB.
package netcode
