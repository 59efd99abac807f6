// Package match runs a match of the demo game for the screen or for the
// headless mode, whatever carries it: a local match against bots today, a
// rollback session over the network simulator or the WebRTC mesh when wired.
//
// # The seam
//
// Session is the one interface the game's screens and the headless loop use:
// Tick advances one frame with the local player's input, State is what to
// draw, Stats feeds the network overlay (ping, kbps and candidate type per
// peer, rollback frames, frames ahead, injected lag and loss) and
// SetConditions injects simulated lag and loss. A Session that has no network
// reports it honestly: Stats says so and SetConditions returns
// ErrNoSimulator.
//
// Local is the session with no network: one arena.State, stepped once per
// Tick, with bots (arena.BotInput) for every seat except the local player's.
//
// # Headless
//
// Run drives a Session without a window, at arena.TickRate frames per second
// or as fast as possible, until a frame count, a duration or the end of the
// match, and returns a Result (frames, checksum, winner) that prints as one
// JSON line. Two processes that play the same match print the same checksum.
//
// # Concurrency
//
// A Session is driven from one goroutine (the game loop); its methods are
// not safe for concurrent use. Run owns no goroutine: it returns when it is
// done or when its context is cancelled, with an error that satisfies
// errors.Is(err, context.Canceled).
package match
