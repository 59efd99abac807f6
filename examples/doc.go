// Package examples holds the runnable examples behind the README's "Embed
// it" section: the whole of a game's networking code for a quick match
// through a server, and for hosting or joining a game on a LAN with no
// server. The package has no API; its examples run in the test suite
// against a real signaling server with the matchmaker, and against a real
// LAN host advertised over DNS-SD inside a network namespace.
//
// Each example keeps the game's own code (SaveState, LoadState and
// AdvanceFrame of a rollback.Game, and reading the local input) apart from
// the networking code, which stays within 20 lines.
package examples
