// Package match runs a match of the demo game, whatever carries it, for the
// screens and for the headless mode.
//
// # The seam
//
// Session is the one interface the game's screens and the headless loop use:
// Tick advances one frame with the local player's input and never blocks on
// the network, State is what to draw, Stats feeds the network overlay (ping,
// kbps and ICE candidate type per peer, rollback frames, frames ahead,
// desyncs, injected lag and loss) and SetConditions injects lag and loss.
//
// Three implementations:
//
//   - Local: one arena.State stepped directly, bots in the other seats; no
//     network, and Stats and SetConditions (ErrNoSimulator) say so.
//   - Simulated: one rollback.Session per seat, all in this process, over a
//     netsim.Network whose virtual clock advances one frame per Tick. The
//     rollback code is the real one; SetConditions changes the links.
//   - Online: peers in other processes, connected over the WebRTC mesh,
//     running a rollback.Session through a netsim.Conditioner, so that
//     SetConditions delays and drops this peer's packets on the real
//     connection. The seed mixes the configured one with the match's
//     session name.
//
// # From a roster to a match
//
// Every online match starts from a netcode.Roster, whoever made it, and
// goes through one function: mesh.Connect with the roster (the mesh with
// the roster's ICE servers, once every other player is connected), then
// rollback.New with rollback.Config.Roster (the players in seat order,
// this peer's seat local). The seats are the roster's on every peer; the
// demo maps no peers to seats by hand. Three ways lead to a roster:
//
//   - DialOnline with Matchmaker set queues on the server's matchmaker
//     ("1v1" on rallypoint serve) through a matchmaker/mmclient Client and
//     plays Matched.Roster, seated in the matchmaker's order. After the
//     match, Online.ReportResult reports the ranks with Client.Report and
//     returns the new rating from the Rated event.
//   - DialOnline without it groups the next Players arrivals under Queue
//     (signaling's JoinNext), waits until the room is full and seats the
//     members in the order of their ids (the roster's session is the
//     room).
//   - A Lobby (below) plays the roster of its lobby.Started event, the
//     members seated in join order, the host first.
//
// No part of an online match reads the signaling client's Events channel,
// before or after the mesh is up: the mesh takes its signals through SubscribeSignals and
// the lobby and matchmaker clients their pushes through subscriptions of
// their own, each with its own bounded queue, so an ICE restart or a
// reconnect late in a match is never held up behind an unread channel.
// The lobby and matchmaker clients' event channels drop their oldest
// event when full; the session and the mesh's events are drained by Tick.
//
// # Lobbies
//
// A Lobby is a player's place in a lobby of the lobby package before the
// match: CreateLobby and JoinLobbyByCode on a rallypoint server, HostLAN
// (lobby.NewHost: this process serves the signaling and lobby protocol and
// advertises the lobby over DNS-SD) and JoinLAN on a LAN with no server,
// where BrowseLAN (lobby.Browse) keeps the live list and FindLAN returns
// the first lobby with a free seat. Arena lobbies have the game LobbyGame
// and keep the match seed in their metadata (MetaSeed); members carry
// their names in MemberName. The screens drive the lobby's Client (chat,
// ready, settings, start) and call Lobby.Play with the roster of
// lobby.Started; the headless mode calls AwaitStart, which gets ready,
// starts as the host once every member is, and plays.
//
// Rejoin: every online match made by a lobby (online or on a LAN host) or by
// the next-arrivals grouping gives its players a rejoin ticket
// (Online.RejoinTicket). A restarted process takes its seat back with it:
// DialOnline with OnlineConfig.Rejoin on the server's (or the LAN host's)
// address, or RejoinLAN, which finds the LAN host over DNS-SD. A lobby's
// match comes back through lobby.Client.Rejoin (roster and seed from the
// lobby); a grouping's from the room's seats. The rejoined session reports
// the frame it was back in sync at (rollback.EventInSync) in its rejoins
// and to RunConfig.OnInSync.
//
// # Spectators
//
// A lobby's match is broadcast to its spectators through a tree of peers
// (netcode/broadcast). Every player's Online runs a broadcast.Source over
// its half of the mesh (broadcast.Split; the session has the other): it
// holds the confirmed frames back by the lobby's delay (MetaSpectateDelay,
// set from LobbyConfig.SpectateDelay by the lobby's creator: 3 s by
// default) and feeds at most broadcast.DefaultRootFanout relays; the
// player's Result reports it (BroadcastResult). The players' mesh is on
// demand (mesh.Config.OnDemand): it connects the roster's players and
// whoever dials it, not every spectator in the room. A Watch
// (SpectateCode online, SpectateLAN on a LAN) joins a running lobby match
// as a spectator (lobby.Client.Spectate) and runs a broadcast.Spectator
// on an on-demand mesh: it asks the players after the lobby's host first,
// attaches where the tree has room, simulates the frames and relays them
// to up to broadcast.DefaultFanout spectators. It passes the peers the
// signaling server (or LAN host) reports interrupted, and those its mesh
// reports interrupted, to PeerSuspect, and those its mesh disconnects to
// PeerGone, so a dead parent is replaced within a fraction of a second.
// Watch.Run ends when the match's end comes down the tree, and returns a
// WatchResult whose confirmed frame and checksum compare with the
// players', with its parent changes and their gaps. A player relaying to
// spectators lingers after the match until they have the end and left
// (at most the delay and 5 s). A player that rejoined after a restart
// runs no Source (its session holds no frames from the start).
//
// # A lobby's map
//
// A lobby created with LobbyConfig.Map (a map file, arena.ParseMap) plays
// that arena. The host's Lobby seeds the file in a content swarm
// (lobby/content) and offers its reference in the lobby's metadata
// (content.Offer). Every member's Lobby (CreateLobby, JoinLobbyByCode,
// HostLAN, JoinLAN) follows the offer on a goroutine of its own: it joins
// the signaling room MapContentRoom + the lobby id on the lobby's server
// (or LAN host) with a second connection, connects a mesh among the
// members there, and loads the map from LobbyConfig.MapCache (a
// content.Cache, checked on load) or fetches it in verified pieces from
// the members that have it, then stores it in the cache. Its progress
// goes into its member metadata (content.ReportProgress, at most four
// times a second) and to LobbyConfig.OnMap as a MapStatus. AwaitStart on
// the host starts only when every member reports the map whole
// (Lobby.MapMissing, content.Missing), and tells OnMap who lacks it
// meanwhile. Lobby.Play plays the offered map (OnlineConfig.Map, so the
// state, its encoding and its checksum carry it), closes the map's mesh,
// and fails with ErrMapMissing when this player lacks it. The headless
// Result's map block says which map was played and where it came from.
// A spectator (a Watch) is no member and fetches nothing: it plays the
// offered map from LobbyConfig.Map when that is the same file, or from
// its MapCache, and refuses to watch (ErrMapMissing) without it.
//
// Game adapts an arena.State to rollback.Game: one input byte per
// player, the state's binary encoding as the saved state, and a checksum per
// simulated frame so that peers can be compared.
//
// # Headless
//
// Run drives a Session without a window, at arena.TickRate frames per second
// or as fast as possible, and returns a Result that prints as one JSON line.
// A local session stops at the end of the match or the frame limit. A
// session with remote peers needs a frame limit: the match starts once
// every peer reaches every other (rollback's start barrier; start_s in the
// JSON), every peer plays exactly that many frames (rollback.Session.Finish),
// then keeps its session running until every peer reported its final
// checksum and roster (and one more second, for the peers behind). The
// result's confirmed block is the agreed outcome: peers_agree is true only
// when every peer reported the same final checksum with the full roster;
// roster_full, dropped and reason say what happened otherwise. The demo's
// headless mode exits 3 when the peers do not agree, 1 when this player was
// dropped or the match could not start.
//
// # Concurrency
//
// A Session is driven from one goroutine (the game loop); its methods are
// not safe for concurrent use. Local and Simulated own no goroutine; Online
// owns the signaling client's, the mesh's and, from the matchmaker, the
// mmclient Client's (from a lobby, the Lobby's), and Close waits for them.
// A Lobby is safe for concurrent use; its map sharing runs on one
// goroutine that owns the map's signaling connection, mesh and swarm, and
// Close (or Play) waits for it. Blocking calls (DialOnline,
// CreateLobby, JoinLobbyByCode, HostLAN, FindLAN, JoinLAN, RejoinLAN,
// SpectateCode, SpectateLAN, Lobby.Play, Lobby.AwaitStart,
// Online.ReportResult, Run, Watch.Run) take a context and return an
// error satisfying errors.Is(err, context.Canceled) when it is cancelled.
//
// # Limits
//
// A Game remembers the checksums of its last 256 frames, far more than the
// prediction window. LAN advertisements are untrusted input, checked by
// the lobby package (lobby.ParseLANLobby); a lobby's seed that does not
// parse counts as 0 for every member alike, and a roster whose player
// count is outside arena.MinPlayers to arena.MaxPlayers, or where this
// peer holds no seat, is refused with ErrBadConfig before anything is
// connected. A lobby's map is at most arena.MaxMapFile (16 KiB, one piece
// of content.MinPieceSize); an offer larger than that is refused, and the
// map's swarm holds at most two contents.
package match
