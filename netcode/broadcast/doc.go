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
// named) or the players. A node with a free slot accepts it; a full one
// redirects it to its children, those with the most free slots in their
// subtrees first (each child reports its subtree's free slots and size
// in its acknowledgements), so the tree fills breadth-first and its
// depth stays near log_Fanout of the audience. A node refuses a joiner
// that is one of its ancestors (it knows its path to the root), and one
// that would exceed Config.MaxDepth.
//
// Failure: a parent relays a beat that its root increments every tick. A
// spectator whose parent's beat has not grown for Config.ParentTimeout
// (300 ms), or whose parent says goodbye, or whose connection the game
// reports gone (PeerGone), asks its grandparent and then the players
// for a new place, keeping its frame: the new parent resends from that
// frame out of its buffer (Config.BufferFrames, 1024 frames), or sends a
// state first when its buffer no longer reaches it (a spectator sends its
// own state, a player its newest delayed snapshot, taken every
// Config.SnapshotInterval frames). Meanwhile the orphan tells its own
// children that it holds (they keep it for Config.HoldTimeout, 3 s), so
// only the direct children of a dead relay move. With the defaults a
// child is back in the stream well within a second (TestTreeRelaysKilled
// in process; TestBroadcastOverPion over real pion measures it). A beat
// that stops growing also breaks any cycle that stale paths let form.
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
// that redirect it), not to the whole room.
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
// Per node: Fanout children (at most 64); BufferFrames frames held (at
// most 65,536) of at most 4 KiB each; one state of at most 256 KiB;
// a Source holds at most Delay ticks of frames and 64 snapshots; a tree
// at most 31 deep; a redirect names at most 8 peers. Records carry every
// player's input raw (players × InputSize bytes plus a one-byte mask for
// dropped players); frames go out every FlushInterval (50 ms) in batches
// of at most 128, so a relay sends about 20 small messages a second per
// child.
package broadcast
