// Package broadcast carries a match to many spectators through a tree of
// peers, so that the players' upload stays the same however many watch.
//
// # Overview
//
// Every player runs a Source next to its rollback.Session. The Source
// reads the session's confirmed frames (Session.ConfirmedInputs), holds
// each back for Config.Delay ticks (3 s at 60 ticks a second by default,
// so that a stream never tells a cheating player what the others do now),
// and feeds them to at most Config.RootFanout spectators (K, 2 by
// default). Spectators run a Spectator: it attaches to a parent (a player
// or another spectator), simulates the frames with the game, and relays
// them to at most Config.Fanout children of its own (4 by default; a
// negative Fanout makes a leaf that uploads nothing). Every player
// publishes the same frames, so a spectator may hang under any of them.
//
// Placement: a joining spectator asks Config.Entry (any node a lobby
// named) or the players. Every node knows the shallowest node of its
// subtree with a free slot (its holder: itself when it has a slot, else
// the holder its children report nearest to them), the players pass
// theirs down the tree with the stream, and a node sends a new joiner to
// that holder: the tree fills breadth-first whichever node a joiner asks
// (TestTreeShallow: 100 spectators under 2 players take 4 levels). A node
// with a free slot accepts; a full one redirects to its children's
// holders. A node refuses a joiner that is one of its ancestors (it knows
// its path to the root), and one that would exceed Config.MaxDepth.
//
// Failure: a parent sends its children frames or a heartbeat every
// Config.FlushInterval (50 ms), carrying a beat that its root increments
// every tick. A spectator whose parent says nothing for
// Config.ParentTimeout (300 ms), says goodbye, whose connection the game
// reports gone (PeerGone), that the game reports suspected (PeerSuspect:
// the signaling server saw its connection drop, as it does at once when a
// process dies) and that has then missed two heartbeats, or whose beat
// has not grown for Config.HoldTimeout (3 s: the parent speaks but is
// itself looking for a parent, or a cycle of stale paths formed) asks its
// grandparent and then the players for a new place, keeping its frame. Its join names the
// parent it lost, so a grandparent that still counts that child drops it
// and gives the slot to the orphan; a spectator keeps a standby
// connection to its grandparent (a player so holds at most RootFanout ×
// Fanout of them besides its relays), so that join needs no new
// connection. A search skips suspected peers. The new parent resends
// from the orphan's frame out of its buffer (Config.BufferFrames, 1024
// frames), or sends a state first when its buffer no longer reaches it (a
// spectator sends its own state, a player its newest delayed snapshot,
// taken every Config.SnapshotInterval frames). Only the direct children of a dead relay move: their own
// children keep them (their beat stops but they still speak). With an
// injectable clock (TestTreeRelaysKilled) every orphan is back in the
// stream within a second of its parent's last message.
//
// Field figures, over pion on loopback on a loaded 2-core machine (load
// average 8 to 11.5), TestBroadcastOverPionProcesses (in CI): 2 players in
// one process and 30 spectators in 5 processes (non-race binaries) at 60
// ticks a second with the default timings; two processes hosting relays
// are killed with SIGKILL, 11 to 15 orphans in the other processes
// re-attach. The stream's pause (EventAttached.Gap, from the parent's last
// message), eleven runs: p50 0.2 to 0.47 s, max 0.35 to 0.8 s, except in
// two runs where one orphan took 2.2 s (a join waits up to 2 s for a new
// connection before it asks the next candidate). A relay that leaves with
// a goodbye: its children's gaps 50 to 200 ms. Where it goes: 100 ms of
// silence before a suspected parent is dropped (300 ms unsuspected); then
// an orphan that gets its grandparent's freed slot is back within 40 ms
// over the standby connection, while its siblings are redirected and each
// waits for a new WebRTC connection (100 to 500 ms under that load). At 30
// ticks a second without the suspicion and the player standby, the same
// test measured p50 0.73 s, max 0.93 s; with all 33 peers in one
// race-built process (TestBroadcastOverPionSmall, TestBroadcastOverPion by
// hand) 1.2 to 2.8 s, since a starved goroutine looks silent too.
//
// Since every spectator runs Delay behind the players, the stream has
// seconds of slack: a re-attach delays nothing the viewer sees as long as
// the spectator catches up (Config.CatchUpSpeed frames per tick while
// behind).
//
// The end: once the players agree on the match's final checksum
// (Session.Outcome), the Source sends it down the tree after the same
// delay; a Spectator that simulated up to the end frame reports
// EventEnded with its own checksum and whether it matches.
//
// # Transport
//
// The package runs over any netcode.Transport. Messages travel on the
// Reliable channel (spectators are seconds behind: ordered delivery and
// retransmission cost nothing there). A player shares its transport with
// its session through Split. Over the WebRTC mesh, give spectators a mesh
// with mesh.Config.OnDemand and Config.Dial = mesh.Dial, so each connects
// only to the peers it talks to (its parent, its children and the nodes
// that redirect it), not to the whole room. Pass the mesh's
// EventDisconnected to PeerGone and the signaling client's
// PeerInterrupted to PeerSuspect (internal/treepeer shows both).
//
// # Wire
//
// docs/netcode-wire.md ("Spectator broadcast") describes the messages;
// wire.go holds the codec, pinned by TestWireGolden; FuzzWire and
// FuzzRecord fuzz the decoders. A rejected message is counted
// (Stats.Rejected), reported as EventRejected with a *WireError and
// never stops a node.
//
// # Concurrency
//
// Source and Spectator are not safe for concurrent use: call Tick from
// the game loop's goroutine, once per tick (Events may be read anywhere).
// They start no goroutine. The halves of a Split may be polled from
// different goroutines.
//
// # Limits
//
// Joins: a join waits for the answer JoinTimeout (250 ms) from the moment
// the transport took it, and up to 8 JoinTimeouts (2 s) for an on-demand
// connection to come up (none for a candidate suspected meanwhile:
// PeerSuspect). Many spectators joining at once through the
// players make the players set up many connections at once; a lobby that
// admits spectators one after the other and names a spectator already
// watching as Entry keeps the players' connections to their K relays.
//
// Per node: Fanout children (at most 64); BufferFrames frames held (at
// most 65,536) of at most 4 KiB each; one state of at most 256 KiB;
// a Source holds at most Delay ticks of frames and 64 snapshots; a
// Spectator remembers at most 64 suspected peers, each for HoldTimeout;
// a tree at most 31 deep; a redirect names at most 8 peers. Records carry every
// player's input raw (players × InputSize bytes plus a one-byte mask for
// dropped players); frames go out every FlushInterval (50 ms) in batches
// of at most 128, so a relay sends about 20 small messages a second per
// child.
package broadcast
