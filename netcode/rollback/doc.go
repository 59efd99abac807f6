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
// Reliable channel and catches up at CatchUpSpeed. Given Feeders (the
// roster's players, each of which must accept it), a spectator fails over:
// when its feeder leaves (FeederLeft) or is silent for FeederTimeout, it
// asks the next one and reports EventFeederChanged; every player holds the
// same confirmed inputs and states, so it stays in sync.
//
// # Start barrier
//
// A match starts on every peer at frame 0, and only once every peer reaches
// every other over the transport. Until then AdvanceFrame returns
// ErrPredictionThreshold and sends every peer a hello each tick (on the
// Unreliable channel, so loss only delays it) naming the players whose peers
// it has heard from. A peer starts when it hears every peer and every peer's
// hello names the whole roster; a peer that receives an input datagram (only
// a started peer sends one) starts too, since its sender knew the same. The
// game sees EventStarted with the time waited; the liveness timers start
// then.
//
// A peer that has not heard from every other within Config.StartTimeout
// (DefaultStartTimeout, 30 s, counted from its first AdvanceFrame) fails the
// start: EventStartFailed names the missing peers, AdvanceFrame returns
// ErrStartFailed from then on and keeps telling the others (hellos with the
// abort flag), which fail the same way. Since it never announced the full
// roster, no peer can have started: the match fails for everyone and never
// starts without a player. A peer that hears everyone but never gets
// everyone's confirmation gives up after twice StartTimeout.
//
// # Agreed drops
//
// A peer that sends the session nothing for InterruptTimeout
// (netcode.DefaultInterruptAfter, 500 ms, the mesh's threshold too) is
// reported interrupted (EventPeerInterrupted, then EventPeerResumed when it
// is heard again); after DisconnectTimeout (netcode.DefaultDropAfter, 2 s:
// half a second before the mesh's own disconnect,
// netcode.DefaultDisconnectAfter, so that the peers agree on the drop while
// the connection still stands) the DisconnectPolicy applies: DropPlayer and
// PredictPlayer announce the drop to every peer, StallForPlayer waits.
//
// The rule: a player is dropped only when every peer still in contact has
// announced it, at the frame after the latest input any of them holds (each
// announcement carries the inputs it holds, so all take the same), and only
// by a quorum: the announcing side must hold more than half of the peers
// still in the match, or exactly half including the peer with the lowest
// handle (the tie-break). A peer told by another that it is being dropped
// parts with that peer too. A peer that finds itself without a quorum stops:
// EventDroppedByPeers with the reason, and AdvanceFrame returns
// ErrDroppedByPeers. So a partition never plays on as two games: at most
// one side holds a quorum, the others stop. Between two peers that lose
// only each other, a third follows the one with the lower handle.
//
// With the defaults, a stall (a process stopped, a network blacked out)
// shorter than 2 s ends in a resumed match (the others rolled back over the
// gap); one of 2 s or more ends in an agreed drop of the stalled player at
// about 2 s, and the stalled peer, when it runs again, stops with
// ErrDroppedByPeers (it hears the drop, or finds itself alone). A 3 s
// SIGSTOP is therefore always a drop.
//
// A restarted player rejoins with a new
// Session with Rejoin set, under its old PeerID or a new one that
// AuthorizeRejoin accepts (checking the RejoinToken the game got from its
// signaling layer, such as a resume token): the peers agree
// on a rejoin frame, the connected peer with the lowest handle sends the
// state and inputs, and the player catches up at CatchUpSpeed (the tests
// require it back in sync within 3 s at 100 ms latency, 30 ms jitter and
// 25% loss each way). Through a rallypoint server the token is the
// signaling rejoin ticket (signaling.Client.RejoinTicket): the server
// seats the new connection in the match room only for a valid ticket, so
// AuthorizeRejoin can admit a peer that is in the room and whose ticket
// (signaling.TicketSeat) names the seat it claims. A drop that a rejoin
// healed stays in Outcome.Dropped with Until set and does not keep the
// peers from agreeing. The rejoined session reports EventRejoined when it
// loaded the state and plays again, and EventInSync when a peer's checksum
// of a confirmed frame at or after the rejoin frame matches its own: the
// moment it is provably back in sync (at most ChecksumInterval frames
// plus the confirmation delay after the rejoin frame).
//
// # Outcomes
//
// Finish(end) ends the match at frame end: the session simulates frames
// before end only, and once every input before end is confirmed it
// checksums the state at end and sends every peer a final report (end
// frame, checksum, the players still in the match, the reports it holds),
// repeated each tick. A peer that has not called Finish adopts the end of
// the first final report it receives (EventEnding), going back to its saved
// state of that frame if it predicted past it, so that a peer that ends
// the match (a headless bot with a frame limit) ends it for everyone.
// Outcome says what this peer knows: the outcome is
// frozen once every peer still in the match reported (Reported) and may be
// acted on once every peer holds every report (Settled). Agree is true only
// when every peer of the match reported the same checksum for the same end
// frame with the full roster, no periodic checksum differed and nobody was
// dropped; otherwise Reason says why (a dropped player with its frame, a
// desync, a different checksum or roster).
//
// # Events
//
// Session, Spectator and SyncTest deliver Event values (EventStarted,
// EventStartFailed, EventEnding, EventPeerInterrupted,
// EventPeerResumed, EventPeerDisconnected, EventDroppedByPeers,
// EventDesync, EventWaitRecommended, EventSpectatorJoined, EventRejected,
// EventPeerRejoined, EventRejoined, EventInSync, EventFeederChanged; the set is closed) on the channel
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
// lose only each other resolve in favour of the lower handle; a match runs
// its checksums and final reports in 32 bits (folded).
package rollback
