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
// itself looking for a parent, or a cycle of stale paths formed) looks
// for a new place, keeping its frame. Its joins name the parent it lost,
// so a grandparent that still counts that child drops it and gives the
// slot to the orphan; a spectator keeps a standby connection to its
// grandparent (a player so holds at most RootFanout × Fanout of them
// besides its relays), so that join needs no new connection. The new
// parent resends from the orphan's frame out of its buffer
// (Config.BufferFrames, 1024 frames), or sends a state first when its
// buffer no longer reaches it (a spectator sends its own state, a player
// its newest delayed snapshot, taken every Config.SnapshotInterval
// frames). Only the direct children of a dead relay move: their own
// children keep them (their beat stops but they still speak).
//
// Hedged joins: the grandparent may have died with the parent (one
// process, one machine) without anyone suspecting it yet, and a join to a
// dead peer is never answered. So an orphan asks its grandparent and the
// free slot nearest the root (the holder the root passes down in frames)
// at once, then the second free slot the root names (under another of
// its children) and the nodes redirects name (the first of a redirect at
// once), the next one whenever 100 ms pass without an answer, and a
// player only once the newest join has waited JoinTimeout/2 (the orphans
// of a whole process must not all make new connections to the players at
// once). At
// most 4 joins are in flight, at most 3 of them waiting for a new
// connection, and only for the first 4 JoinTimeouts (1 s) after the loss:
// after that the node asks one candidate at a time again, so that a
// machine too starved to set up connections in time is not flooded with
// more of them. A join is given up JoinTimeout (250 ms) after the
// transport took it, when its candidate is suspected, or after 8
// JoinTimeouts without a connection (2 once the places are taken); a
// connection still being made is then left to finish (a starved machine
// may need seconds, and the next round may want it) and ended once the
// node has a parent. The first accept wins; every other candidate that
// was sent a join is told leave, so a slot it gave is free again at once,
// and a late accept is answered with leave. A node never holds more
// children than its fan-out: it accepts a join only into a free slot. A first join asks one candidate at a time (a crowd of new
// spectators would otherwise dial the players all at once). A search
// skips suspected peers.
//
// The re-attach bound. The stream's pause for an orphan
// (EventAttached.Gap, from its parent's last message) is the detection
// (ParentTimeout, 300 ms; 100 ms for a suspected parent; nothing for a
// goodbye) plus the search. With the injectable clock,
// TestTreeReattachDeadCandidates kills an orphan's parent, its
// grandparent (a join to it is taken and never answered) and the free
// slot the root named (a connection to it never comes up), suspected by
// nobody, and every orphan is back within 0.73 s when a new connection
// takes 5 to 50 ms (as on a LAN: 5 to 7 ms between namespaces) and 0.87 s
// at 100 ms (1.12 s at 150 ms): the bound of 1 s holds while new
// connections come up within 100 ms. Before hedged joins the same orphans
// waited 2 s for the connection to the dead holder. Hedging more eagerly
// (the next candidate after 50 ms while a connection is being made) kept
// the bound up to 150 ms in the simulation, but over pion on a loaded
// machine the handshakes it piled onto the few nodes with free slots
// starved their processes, whose own children then found them silent:
// in 3 of 9 runs of TestBroadcastOverPionProcesses at load 12 to 17 the
// tree did not settle within 15 s.
// TestTreeRelaysKilled pins it for relays dying in a tree with no
// connection cost.
//
// Field figures, over pion on a 2-core machine loaded by other jobs (load
// average 6 to 14): TestBroadcastOverPionProcesses (in CI) has 2 players
// in one process and 30 spectators in 5 processes (non-race binaries) at
// 60 ticks a second with the default timings; two processes hosting
// relays are killed with SIGKILL, 11 to 15 orphans in the other processes
// re-attach, and a relay leaves with a goodbye. Six runs: p50 0.33 to
// 0.54 s, max 0.52 to 0.97 s, and 1.68 s in the one run where new WebRTC
// connections took p50 235 ms and up to 2.1 s (treepeer reports each; in
// the others p50 83 to 155 ms). The test holds the slowest re-attach to
// 1 s, and to 2 s when the load average exceeds 2 per core: then a new
// connection may take seconds, and an orphan that needs one cannot be
// back within 1 s. TestBroadcastLAN runs the players and 24 spectators in
// five network namespaces on one bridge: orphans p50 0.19 to 0.27 s, max
// 0.27 to 0.42 s; children of a relay that left 31 to 116 ms. With all
// peers in one race-built process (TestBroadcastOverPionSmall,
// TestBroadcastOverPion by hand) a starved goroutine looks silent too and
// connections may stall for seconds: that test only catches a spectator
// stuck.
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
// Joins: at most 4 in flight per node, at most 3 of them waiting for a
// new connection, hedged only in the first second after a loss (in
// TestTreeReattachDeadCandidates 7 orphans made 27 to 38 connections in
// all, the standby connections to their new grandparents included). Many
// spectators joining at once through the players make the players set up
// many connections at once; a lobby that admits spectators one after the
// other and names a spectator already watching as Entry keeps the
// players' connections to their K relays.
//
// Per node: Fanout children (at most 64); BufferFrames frames held (at
// most 65,536) of at most 4 KiB each; one state of at most 256 KiB;
// a Source holds at most Delay ticks of frames and 64 snapshots; a
// Spectator remembers at most 64 suspected peers, each for HoldTimeout;
// a tree at most 31 deep; a redirect names at most 8 peers; frames name
// at most 2 free slots. Records carry every
// player's input raw (players × InputSize bytes plus a one-byte mask for
// dropped players); frames go out every FlushInterval (50 ms) in batches
// of at most 128, so a relay sends about 20 small messages a second per
// child.
package broadcast
