// Package rollback runs a game's fixed-tick loop for the players of a
// match over any netcode.Transport: the WebRTC mesh (netcode/mesh), the
// netsim simulator, a netsim.Conditioner around either, or a game's own
// transport. It imports no WebRTC stack.
//
// # Sessions
//
// A Session runs the loop for 1 to 32 players, several of them local if
// need be. Its players come from Config.Players or from a match's
// netcode.Roster (Config.Roster: seat i is handle i on every peer, the
// seat of Roster.Self is local). Each tick the game adds its local
// players' inputs and calls AdvanceFrame; the session calls back into the
// game through Game (SaveState, LoadState, AdvanceFrame) to simulate
// the next frame and, when a remote input contradicts its prediction, to
// roll back to the first wrong frame (the earliest over every peer) and
// resimulate. Inputs are InputSize bytes per player; InputCodec, with
// AddLocalInputOf and InputOf, carries a game's own input type.
//
//	m, _ := mesh.Connect(ctx, client, roster, nil)
//	s, _ := rollback.New(m, game, rollback.Config{Roster: &roster, InputDelay: 2})
//	me := roster.SeatOf(roster.Self)
//	for range ticker.C {
//		s.AddLocalInput(me, readPad())
//		if err := s.AdvanceFrame(); errors.Is(err, rollback.ErrPredictionThreshold) {
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
// with 1-byte inputs cost about 7.3 bytes per datagram (rallypoint bench
// rollback measures it).
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
// checksummed state to keep for diffing. A SyncTest checks a game's
// determinism locally by rolling back every frame.
//
// A Spectator receives the confirmed inputs of every player from a host
// player; one that joins mid-match first gets a saved state over the
// Reliable channel and catches up at CatchUpSpeed.
//
// Disconnects: a peer that sends the session nothing for InterruptTimeout
// (netcode.DefaultInterruptAfter, 500 ms, the mesh's threshold too) is
// reported interrupted; after DisconnectTimeout (netcode.DefaultDropAfter,
// 2 s: half a second before the mesh's own disconnect, so that the peers
// agree on the drop while the connection still stands) the
// DisconnectPolicy applies:
// DropPlayer and PredictPlayer drop its players at a frame every remaining
// peer agrees on (each announces the inputs it holds; the frame follows the
// latest), StallForPlayer waits. A restarted player rejoins with a new
// Session with Rejoin set, under its old PeerID or a new one that
// AuthorizeRejoin accepts (checking the RejoinToken the game got from its
// signaling layer, such as a resume token): the peers agree
// on a rejoin frame, the connected peer with the lowest handle sends the
// state and inputs, and the player catches up at CatchUpSpeed (the tests
// require it back in sync within 3 s at 100 ms latency, 30 ms jitter and
// 25% loss each way).
//
// # Events
//
// Session, Spectator and SyncTest deliver Event values (EventPeerInterrupted,
// EventPeerResumed, EventPeerDisconnected, EventDroppedByPeers,
// EventDesync, EventWaitRecommended, EventSpectatorJoined, EventRejected,
// EventPeerRejoined, EventRejoined; the set is closed) on the channel
// Events returns. It has Config.EventBuffer slots (64 by default); when
// it is full, new events are dropped and counted (Stats.EventsDropped),
// so a game that never drains it never blocks. Errors are this package's
// sentinels ("rollback: closed", ...) and the typed *WireError,
// *GameError and *SyncTestError; compare with errors.Is.
//
// # Concurrency
//
// A Session is not safe for concurrent use: call it from the game loop's
// goroutine only (Events may be read anywhere). It starts no goroutine:
// AdvanceFrame and Poll do all its work, and the transport's Send must not
// block (netcode.Transport says so).
//
// # Limits
//
// On the hot path a session allocates nothing: rallypoint bench rollback
// (4 players, an 8-frame rollback every frame) measures under 1 µs of
// session work per frame. Limits: 32 players, inputs of 1 to 1024 bytes and at most 900
// bytes a frame for all players together (a datagram), a prediction window
// of at most 64 frames, an input delay of at most 32, transferred states of
// at most 60 KiB; peers must start with the same InputDelay; two peers that
// lose only each other resolve in favour of the lower handle.
package rollback
