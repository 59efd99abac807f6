// Package match runs a match of the demo game, whatever carries it, for the
// screens and for the headless mode.
//
// # The seam
//
// Session is the one interface the game's screens and the headless loop use:
// Tick advances one frame with the local player's input and never blocks on
// the network, State is what to draw, Stats feeds the network overlay (ping,
// kbps and ICE candidate type per peer, rollback frames, frames ahead,
// desyncs, injected lag and loss) and SetConditions injects lag and loss.
//
// Four implementations:
//
//   - Local: one arena.State stepped directly, bots in the other seats; no
//     network, and Stats and SetConditions (ErrNoSimulator) say so.
//   - Simulated: one netcode.Session per seat, all in this process, over a
//     netsim.Network whose virtual clock advances one frame per Tick. The
//     rollback code is the real one; SetConditions changes the links.
//   - Online (DialOnline): peers in other processes. It queues on a
//     signaling server (JoinNext), connects to every peer over the WebRTC
//     mesh, and runs a netcode.Session through a netsim.Conditioner, so that
//     SetConditions delays and drops this peer's packets on the real
//     connection. Seats follow the sorted peer ids; the seed mixes the
//     configured one with the room's name.
//   - LAN (HostLANMatch, BrowseLAN, FindLAN, JoinLAN): Online with no server:
//     the host runs a signaling server itself and advertises it as a
//     "_rallypoint._tcp" DNS-SD service (TXT: v, game=arena, players,
//     seed); the others browse for it and dial it.
//
// Game adapts an arena.State to netcode.SessionGame: one input byte per
// player, the state's binary encoding as the saved state, and a checksum per
// simulated frame so that peers can be compared.
//
// # Headless
//
// Run drives a Session without a window, at arena.TickRate frames per second
// or as fast as possible, and returns a Result that prints as one JSON line.
// A local session stops at the end of the match or the frame limit. A
// session with remote peers needs a frame limit: every peer plays exactly
// that many frames, then keeps its session running until the last frame is
// confirmed by everyone (and one more second, for the peers behind), and
// reports that confirmed frame, so that every process prints the same
// checksum.
//
// # Concurrency
//
// A Session is driven from one goroutine (the game loop); its methods are
// not safe for concurrent use. Local and Simulated own no goroutine; Online
// owns the signaling client's and the mesh's, and Close waits for them.
// Blocking calls (DialOnline, HostLAN, FindLAN, Run) take a context and
// return an error satisfying errors.Is(err, context.Canceled) when it is
// cancelled.
//
// # Limits
//
// A Game remembers the checksums of its last 256 frames, far more than the
// prediction window. LAN advertisements are untrusted input: lobbies whose
// TXT record does not parse are skipped.
package match
