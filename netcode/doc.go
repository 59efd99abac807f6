// Package netcode is the small contract shared by the parts of Rallypoint
// that move a game between its players. It imports the standard library
// only, so that every side may depend on it:
//
//   - PeerID names a peer (the id its rendezvous point assigned).
//   - Channel names how a message travels: Reliable, Unreliable or
//     Sequenced; an unreliable message fits MaxDatagramMessage bytes.
//   - Transport is what a game session needs from the network: Send that
//     never blocks and Poll that returns at once. The WebRTC mesh
//     (netcode/mesh) and the network simulator (netcode/netsim) implement
//     it; the rollback session (netcode/rollback) runs on any of them.
//   - Signaler is how a mesh meets its peers: signaling.Client, the LAN
//     host's client and netcode/memsignal satisfy it.
//   - Roster and Seat are who takes part in one match and where each player
//     sits, as a matchmaker's match or a lobby's start announces them, with
//     the ICEServer list (the signaling server's; signaling.ICEServer is the
//     same type) the match's connections use.
//
// A game that quick-matches and plays turns a roster into a connected mesh
// and a session's players:
//
//	m, err := mesh.Connect(ctx, client, roster, nil)
//	s, err := rollback.New(m, game, rollback.Config{Roster: &roster})
//
// # Liveness
//
// The mesh and the session judge a peer by the time since anything last
// arrived from it, with one set of defaults: DefaultInterruptAfter (500 ms)
// for both to report a peer interrupted, DefaultDropAfter (2 s) for the
// session to drop a silent player by agreement of the others, and
// DefaultDisconnectAfter (2.5 s) for the mesh to close the connection. The
// order is deliberate: the remaining peers agree on the drop frame while
// the mesh still holds the connection, and the mesh restarts ICE after 1 s
// of silence, so a path that recovers in time keeps the player.
//
// # Concurrency and limits
//
// The types here are plain values. Transport implementations document
// their own concurrency; Transport requires that Send never blocks and that
// Poll returns at once, so a game loop can drive them every tick. Roster
// values are shared read-only; Validate checks one before use.
package netcode
