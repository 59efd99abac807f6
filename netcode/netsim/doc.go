// Package netsim simulates the network between game peers, for tests and for
// demos.
//
// # Simulated network
//
// A Network is an in-memory network of endpoints. Each Endpoint implements
// netcode.Transport, so a netcode session runs on it exactly as it runs on the
// WebRTC mesh. Every directed link has its own Conditions: one-way latency,
// jitter, loss, duplication, reordering and a bandwidth cap. The network's
// clock is virtual: nothing moves until the test calls Advance, so thousands
// of frames at 100 ms ± 30 ms and 25% loss run in milliseconds of real time,
// and a run with the same Seed and the same calls repeats exactly.
//
// The channels keep their contracts under any conditions:
//
//   - Unreliable messages are lost, duplicated, delayed and reordered as the
//     link's conditions say.
//   - Sequenced messages suffer the same, except that a message older than
//     the last one delivered on the link is dropped.
//   - Reliable messages are never lost, duplicated or reordered. A loss is
//     simulated as a retransmission: the message arrives one retransmission
//     timeout (RetransmitDelay) later, and every later reliable message on
//     the link waits behind it, as it would behind SCTP's head of line.
//
// A link that is Down delivers nothing; reliable messages sent while it is
// down wait and are delivered once it is up again (a transport that gave up
// would close instead: use Endpoint.Close for that).
//
// # Conditioner
//
// A Conditioner wraps any netcode.Transport (the WebRTC mesh, typically) and
// applies Conditions to what it sends, on wall-clock time or on a clock the
// caller supplies. It has no goroutine: held messages are released from Send,
// Poll and Flush, so a game loop that polls every tick releases them on time
// to within one tick.
//
// # Concurrency
//
// A Network and its endpoints are safe for concurrent use; one mutex guards
// the whole network. Deterministic runs need a deterministic order of calls,
// which a test that drives every peer from one goroutine has. A Conditioner is
// safe for concurrent use.
//
// # Limits
//
// Messages are limited to MaxMessageSize bytes. An endpoint's inbox holds at
// most MaxInbox messages; further unreliable messages are dropped and counted
// (Stats), further reliable ones are kept (nothing accepted is lost).
package netsim
