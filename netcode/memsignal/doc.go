// Package memsignal is an in-memory rendezvous point for tests and
// single-process tools: a Hub is one room, and each Hub.Join returns a
// Signaler that satisfies netcode.Signaler.
//
// # Delivery
//
// Each Signaler owns one goroutine that runs its callbacks, one at a time,
// in the order the hub queued them: first onPeer(id, true) for every member
// already in the room, then signals and joins/leaves as they happen. Queues
// are unbounded (a test double should never drop), so a subscriber that
// never returns from a callback only stalls itself.
//
// # Lifecycle
//
// Signaler.Leave removes the member from the room (the others see
// onPeer(id, false)), stops its goroutine and waits for it. Sending to a
// peer that is not in the room returns ErrNoPeer; any call after Leave
// returns ErrClosed.
//
// # Testing hooks
//
// Hub.Filter sees every signal and may drop it, so tests can lose or
// inspect signals on the way.
package memsignal
