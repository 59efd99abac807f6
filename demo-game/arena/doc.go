// Package arena is the rules of Rallypoint's demo game: a top-down tank
// arena for 2 to 4 players. Tanks turn, thrust, dash and shoot bullets that
// bounce once off walls; a bullet takes one of three hit points; pickups
// heal, shield or give rapid fire; the last tank standing wins the round
// (after 60 seconds the healthiest does) and the first to win three rounds
// wins the match.
//
// # Determinism
//
// The package is built for rollback netcode, where every peer runs the same
// simulation from the same inputs and must reach bit-identical states:
//
//   - all simulation math is integer: positions are Fixed (1/256 pixel),
//     directions are Angle (1/256 turn) with a literal sine table;
//   - the only randomness is a SplitMix64 generator inside the State,
//     seeded by New;
//   - there are no maps, no time and no goroutines; loops run in index order;
//   - State is a flat value with no pointers, so Save and Load are plain
//     copies (about 20 ns, no allocation) and two equal states have the
//     same future.
//
// TestGoldenChecksum pins a checksum after 2,000 frames of a 4-player match,
// and it passes on 64-bit and 32-bit platforms alike.
//
// # Maps
//
// The arena a match is played in is a Layout: a size from MinWidth ×
// MinHeight to Width × Height, up to MaxWalls walls, MaxPlayers spawn
// points and up to MaxSpots pickup spots. It is a flat value inside the
// State (State.Map), set by New (DefaultLayout, the demo's own arena) or
// NewWithLayout, so Save, Load, the encoding and Checksum all carry it:
// peers that play different maps see their checksums differ at once.
// ParseMap reads a map file (a small JSON object, described at MapVersion)
// and rejects anything the rules cannot play with a *MapError naming the
// field; MarshalMap writes one. FuzzParseMap fuzzes the decoder.
//
// # Driving a match
//
// Create a match with New, call Step once per frame (TickRate per second)
// with one Input per player, and draw from the State's exported fields. A
// rollback session keeps snapshots with Save, rewinds with Load, and
// compares Checksum values of confirmed frames to detect a desync. BotInput
// computes a computer player's input from the state alone, so bots run on
// any peer without extra traffic.
//
// AppendBinary and UnmarshalBinary give a compact, versioned, fixed-size
// encoding (EncodedSize bytes) for shipping a state to a spectator or a
// reconnecting peer. UnmarshalBinary checks every field and rejects states
// the rules cannot reach, with a *DecodeError naming the field.
//
// # Concurrency and limits
//
// A State is a plain value: it is not safe for concurrent use, and needs
// none. Functions that only read a State (Checksum, AppendBinary, BotInput)
// may run concurrently with each other. A match has at most MaxBullets
// bullets in flight; a shot fired when they all are is lost.
package arena
