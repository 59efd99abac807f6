// Package content delivers a lobby's content (a map, a mod: up to 64 MiB)
// among peers, in verified pieces, from every peer that has some of it.
//
// # Identity and verification
//
// Content is named by its SHA-256 (ID). A Ref adds what a peer needs to
// check every byte before it has them all: the size, the piece size (a
// power of two from 16 KiB to 1 MiB, 64 KiB by default) and the SHA-256 of
// the piece-hash list (the SHA-256 of each piece, concatenated). A lobby
// offers content by publishing the Ref's text form
// ("rpc1:<id>:<size>:<log2 piece size>:<list hash>", ParseRef). A fetching
// peer gets the list from any peer and checks it against the Ref, checks
// each piece against the list as it arrives, and checks the whole content
// against the ID at the end. A peer that sends a piece or a list that
// fails its check is avoided: the piece is discarded, the swarm asks that
// peer for nothing more (EventPeerAvoided) and asks others.
//
// # The swarm
//
// A Swarm runs over any Sender (netcode.Transport's Send; a mesh.Mesh)
// and takes the messages it receives through Handle, which reports whether
// a message was its own, so a game passes its Poll (or
// mesh.Config.OnMessage) callback through it:
//
//	sw := content.New(m, content.Config{})
//	go sw.Run(ctx)                  // timeouts and retries
//	ref, _ := sw.Seed(mapBytes)     // on the host; publish ref.String()
//	_ = sw.Fetch(ref)               // on the others
//	// from the mesh's events: sw.PeerUp(id) / sw.PeerDown(id)
//	m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
//		if sw.Handle(from, ch, data) {
//			return
//		}
//		... // the game's messages
//	})
//
// Its messages travel on netcode.Reliable and start with the byte Magic
// (0xC7), which no game message on that channel may start with. They are
// requests and answers for one piece at a time, so what a swarm puts
// ahead of a game's reliable messages to one peer is at most
// Config.MaxRequestsPerPeer pieces (4 × 64 KiB by default, about 5 ms at
// the mesh's reliable throughput); a game's inputs travel on the
// datagram channels and never wait behind content. docs/content.md
// describes the wire.
//
// Peers tell each other which pieces they have (a bitfield when they meet
// or start tracking a content, then one message per new piece). A
// fetching swarm asks every peer that has pieces, in parallel, for the
// rarest piece it has (fewest holders), ties broken in the swarm's own
// random order of the pieces. Peers that did not seed the content are
// asked first; a source (a peer that seeded it) is asked only for pieces
// no other peer holds, and each fetching peer asks it only for its share
// of those (the fetchers, sorted by id, split the pieces by index), so
// the source uploads about one copy and the members pass pieces on. A
// fetcher with nothing outstanding at a Tick asks a source for anything,
// so a slow fetcher delays the others by one tick at most. (The share
// needs the Sender's LocalID, which a mesh.Mesh has.) A
// request unanswered for Config.RequestTimeout goes to another peer; a
// peer that disconnects (PeerDown) loses its requests to others, and the
// pieces already verified are kept, so a fetch resumes where it stopped
// when peers come back (PeerUp).
//
// # In a lobby
//
// A lobby carries the offer and everyone's progress in its metadata (see
// docs/content.md): the host calls Offer with the references (lobby
// metadata keys "content.0" to "content.3"), each member fetches what
// Offered returns and calls ReportProgress now and then (member metadata,
// same keys, "<id12> <have>/<pieces>"), so every member sees every other's
// progress in the lobby state. Missing says who lacks content (a
// *MissingError with each member's pieces), and Start starts the match
// only when nobody does. The swarm needs a mesh among the lobby's members
// before the match: each joins a signaling room of its own for it (the
// tests use "content:" and the lobby id) on the same server, or on the LAN
// host, which serves signaling too.
//
// # Cache
//
// Cache keeps received content on disk by id (one file per content,
// checked on Load), so a game seeds what it already has instead of
// fetching it again.
//
// # Events and state
//
// Events delivers EventProgress for each verified piece, EventComplete,
// EventPeerAvoided and EventFailed (the whole content did not hash to the
// Ref's id: the Ref was wrong). Progress, PeerPieces (what each peer has:
// who is still missing the content), Avoided and Stats (bytes uploaded and
// verified, bad pieces, timeouts) read the state at any time.
//
// # Concurrency
//
// All methods are safe for concurrent use; one mutex guards the state, and
// Handle may run on the mesh's reader goroutines. The swarm starts no
// goroutine of its own: Run (or a game loop calling Tick) drives
// timeouts. Handle and Tick call Sender.Send with the lock held, so Send
// must not block nor call back into the swarm (the mesh's does neither).
// Close ends Run, closes the Events channel and forgets all content.
//
// # Limits
//
// Content is at most Config.MaxContentSize (MaxSize, 64 MiB) and the swarm
// holds at most Config.MaxStoredBytes (256 MiB) in Config.MaxContents (16)
// contents. Requests outstanding are capped per peer
// (Config.MaxRequestsPerPeer, 4) and in bytes over all peers
// (Config.MaxBufferedBytes, 4 MiB). Decoders check every count and length
// against these limits before allocating; a malformed message is dropped
// and counted. A served piece that the mesh refuses (its send queue is
// full) is answered "busy", and the asking peer backs off.
//
// # Why not a library
//
// Content moves over the mesh the game already has, which has no
// streams, only channels carrying messages. The Go BitTorrent engines
// (anacrolix/torrent and its relatives) own their own connections
// (TCP, uTP, their own WebRTC trackers), peer discovery and disk storage,
// and their piece engine cannot run over a netcode.Channel; the WebTorrent
// protocol needs its own tracker and signaling. What a lobby needs, a few
// peers already connected and at most 64 MiB held in memory, fits in the
// small protocol here.
package content
