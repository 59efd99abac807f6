// Package lobby gathers players before a match: lobbies with members,
// metadata, ready flags, chat and settings, then a start that hands every
// member the session descriptor and puts them in one signaling room, where
// the netcode mesh connects them. One protocol serves two deployments: on
// the internet, "rallypoint serve" hosts lobbies on its signaling server; on
// a LAN with no server, the hosting player's process serves the same
// protocol itself and advertises the lobby over DNS-SD.
//
// # Protocol
//
// The lobby.* messages are extensions of the signaling protocol (see the
// signaling package and docs/lobby.md for the wire format). A client sends
// lobby.create, lobby.list, lobby.join (by id, or by a 6-character join
// code), lobby.leave, lobby.kick (with ban), lobby.meta (its own member
// metadata), lobby.ready, lobby.chat, lobby.settings (host only),
// lobby.start (host only) and lobby.sync, and gets a reply or a coded
// error (the Code constants). Every change of a lobby raises its version by
// one and is pushed to every member as a lobby.delta carrying that
// version; chat lines are pushed as lobby.chat; a start is pushed as
// lobby.started after the members were moved into the session's room. A
// member that holds another version than a delta's Version-1 (it was away,
// or a push overtook a reply) asks lobby.sync for the full state, so no
// member polls and none misses a change.
//
// # Roles
//
// The creator is the host. Exactly one member is host at any time: when the
// host leaves, or drops and its signaling resume grace expires, the member
// present longest becomes host. With Config.NoHostMigration (or the
// lobby's auto_host setting off) the lobby instead closes, and its members
// get lobby.kicked with Closed set (a Closed event). The last member
// leaving ends a lobby.
//
// # Service and Client
//
// New registers a Service on a signaling.Server. Client (Dial, or NewClient
// over a connected signaling.Client) has one typed call per message, keeps
// the newest State and delivers Events: StateChanged, ChatReceived, Kicked,
// Closed, Started, Resynced, and the signaling connection's Disconnected
// and Reconnected. After Started the member's signaling client is in
// the session's room: pass Client.Signaling() to mesh.Connect as its
// netcode.Signaler, with Started.Roster (Session.Roster: the players in
// seat order, the session id and the server's ICE servers). The Client
// claims the pushed lobby.* messages with a signaling subscription, so the
// application keeps the signaling client's Events channel, and a
// matchmaker client and the mesh share the same connection. Should the
// subscription overflow, the Client resyncs with lobby.sync as after a
// reconnect, and reports a start it missed.
//
// A peer in no lobby may watch a started lobby's match: Client.Spectate
// moves its connection into the session's room and returns a roster with
// it among the Spectators; the members see it in Session.Spectators. It
// then runs a mesh over Client.Signaling() and a rollback.Spectator with
// the roster's players as Feeders (it moves to another player when its
// feeder leaves); the players' sessions accept it with AcceptSpectators.
//
// A member whose process died mid-match comes back with the rejoin ticket
// its connection held (Signaling().RejoinTicket() after the start):
// Client.Rejoin on a new connection takes the seat back in the session's
// signaling room (the signaling rejoin request, which checks the ticket)
// and then asks the service (lobby.rejoin) to put the new peer in the old
// one's place in Session.Peers and among the members. The returned roster
// has the client in its old seat, for a mesh and a rollback session with
// Config.Rejoin. A ticket of a room no lobby plays fails with ErrNotFound
// after the seat is back (the signaling client then holds the room's
// seats). The service trusts the room (it cannot check a ticket's MAC):
// the sender must be in the session's room, neither a player nor a
// spectator of it, and the ticket's peer a player no longer in the room.
//
// Servers may also make and list lobbies themselves with Service.Create and
// Service.List, which check their input as the wire does. Service.Stats
// counts lobbies and members for metrics exporters; the package imports no
// metrics library (`rallypoint serve` exports them to Prometheus).
//
// # LAN
//
// NewHost starts a signaling server with a Service on the LAN address,
// creates the lobby with the hosting player's own Client as host, and
// advertises it over DNS-SD (package dnssd) as an instance of
// "_rallypoint._tcp" whose TXT record holds the protocol version, game,
// lobby name and id, player count and maximum, and a password flag; the TXT
// follows the player count. Browse keeps a live list of advertised lobbies
// with Added, Updated and Removed events; a lobby shows within a second of
// its announcement and goes within a second of its goodbye.
//
// On a LAN the lobby lives in the host's process: host migration there
// moves the lobby owner role among the members, but when the host process
// goes, the lobby ends. Members that dialed the host with DialLAN (or
// ClientConfig.LAN) get a Closed event and State drops the lobby: when the
// Host closes, at once (it pushes lobby.kicked with Closed set before its
// server closes the connections; ErrLobbyClosed); when its process dies,
// HostGrace (1.5 s) after the kernel closed its connections (ErrHostGone);
// when it stops answering, within LANIdleTimeout (5 s, against the Host's
// pings every LANPingInterval, 1 s) plus HostSilence (15 s: a live host
// behind a lossy link gets that long to answer the reconnect, whose
// handshakes lose packets too). Browsers drop a dead
// host's lobby when its records expire: every record, the PTR that
// standard browsers such as avahi list included, has LANConfig.HostTTL,
// 100 s by default. docs/lobby.md has the measured figures.
//
// MatchLAN is the LAN party in one call: with LANMatchConfig.Host it hosts
// a lobby of the game for Players and starts the match once the lobby is
// full and every member is ready; otherwise it browses for the first open
// lobby of the game, joins it, gets ready and waits for the host. Either
// way it returns a LANMatch whose Roster and Signaling() go to
// mesh.Connect and rollback.Config; joiners learn the match's size from the
// host's lobby, not from their own settings, and fail with the reason when
// the host goes before the start. With LANMatchConfig.Migrate a host whose
// process is gone before the start does not end the match: the member that
// joined first serves and advertises the lobby anew (TXT key TXTFrom names
// the old lobby), one seat smaller, and the others join it there.
//
// # Cluster
//
// On a cluster of signaling servers (signaling.NewClusterServer, package
// cluster) the Service is a cluster-wide signaling.Service named "lobby":
// every node registers it, one node (its leader, Service.Leader) holds
// every lobby, and the others forward lobby.* requests to it, so lobbies
// are listed, joined, chatted in and started across nodes (the members of
// one lobby may be on several nodes; lobby.start's room spans them). The
// leader saves each lobby after every change in the cluster's store (key
// svc.lobby.l.<id>), answers the request and pushes the change only once
// that record is written, so a change a member was told of survives the
// leader, and learns of members gone on any node. When it dies another node takes over within a few seconds (see
// package cluster): it loads the lobbies, removes members whose sessions
// ended meanwhile, and raises each lobby's version by 1000 with an empty
// lobby.delta, so every member's Client resyncs (a Resynced event) and
// stays in its lobby. Requests in between are answered with
// signaling.CodeUnavailable, which the Client retries until the call's
// context ends. A start is saved (started, with its session) before the
// session's room is made: a new leader keeps it if the room was made and
// drops it if not (the host's unanswered lobby.start is sent again).
// Lost with the leader: changes of its last milliseconds, and the chat, update and join-failure budgets
// (they start full). Stats and Lobbies count on the leader only.
//
// # Concurrency
//
// All methods of Service, Client, Host and Browser are safe for concurrent
// use. On a single node the Service has no goroutine: its handlers run on
// the signaling server's connection goroutines (on a cluster, forwarded
// requests run on the leader's service goroutines) under one lock that
// owns every lobby, and push changes while holding it, so versions reach
// each member in order.
// A Client owns one goroutine that turns pushed messages into events (and
// resyncs), a Browser one that turns DNS-SD events into lobby events, a
// Host one that keeps the advertisement current plus the HTTP server; each
// Close waits for what it owns. Event channels drop their oldest event
// when full and count it (DroppedEvents); Client.State and
// Browser.Lobbies stay exact regardless.
//
// # Performance
//
// Listing scans the public lobbies in creation order (only those of one
// game when a filter names the game: an index) and allocates only for the
// lobbies it returns. Changes go out as small deltas, each encoded once
// for all members. "rallypoint bench lobby" measures both against
// baselines in the same run. On a loaded 2-core machine (load average
// about 5), listing 10,000 lobbies with two filters took 0.19 ms at the
// median and 0.64 ms at p99 (target 5 ms), against 0.008 ms (p99 0.02 ms)
// for a bare loop over the filtered game's rows, the same work the index
// leaves, and 0.03 ms for a bare loop over all 10,000; a settings change
// reached all of 100 WebSocket members in 4.2 ms at the median and 16 ms
// at p99 (target 20 ms), 2.4 times the server's bare sends of the same
// bytes without the host's request (p99 6.7 ms); whole 5 KB states instead
// of deltas took 19 ms, p99 108 ms. Under heavier load (average 7 to 9)
// the fan-out p99 went past 40 ms, as did the bare sends' past 20 ms.
//
// # Limits and security
//
// Config bounds lobbies (MaxLobbies), members per lobby (MaxMembers), chat
// size (MaxChatLen), chat rate (a golang.org/x/time/rate token bucket per
// member, read at Config.Now: ChatRate, ChatBurst) and the replayed
// history (ChatHistory); the protocol bounds names, metadata (MaxMetaKeys
// keys of MaxMetaValue bytes), filters and page sizes, and every decoder is
// fuzzed. A peer is in at most one lobby. Against hostile clients: open
// lobbies per creator's IP and per subject (MaxLobbiesPerIP,
// MaxLobbiesPerPlayer: CodeTooManyLobbies), a bucket per member for the
// updates that reach every member (lobby.meta, lobby.ready, lobby.settings:
// UpdateRate, UpdateBurst, CodeUpdateFlood), a failure budget per IP and per
// subject for wrong join codes and passwords (JoinFailRate, JoinFailBurst:
// CodeTooManyAttempts, the message saying when to try again), list pages of
// at most MaxListBytes, and a kick with ban of an anonymous member holds
// its address, since a reconnect would be a new peer.
// Passwords are compared in constant time and never sent back; listings
// carry neither passwords nor join codes; private lobbies are not listed
// and are joined by code only. Join codes are drawn with crypto/rand from
// CodeAlphabet, which has no look-alike characters, and checked for
// collisions. Members write only their own metadata and ready flag;
// settings, kicks, bans and the start are the host's. A LAN advertisement
// is untrusted input: ParseLANLobby checks every TXT value.
package lobby
