// Package service serves a matchmaker.Matchmaker over the signaling
// protocol: the mm.* extension messages of a signaling.Server.
//
// A client sends mm.enqueue (its peer id is the ticket's first player, its
// rating comes from the Store, keyed by the authenticated subject; an
// anonymous peer plays at a fresh rating that is never stored), mm.cancel, mm.status and mm.stats, and gets a reply or a
// coded error (the Code constants). Every Interval the service runs a pass;
// each match is put into a fresh signaling room named by its session id
// (the joined event arrives first), then every player receives mm.matched
// with the session id, the peer list, the teams and the designated host.
// Players report the outcome with mm.result; once a strict majority of the
// session's players agree on the ranks, the ratings are updated with the
// Weng-Lin Plackett-Luce model, stored, and pushed as mm.rated.
//
// # Ratings that cannot be forged
//
// A player is its authenticated subject: it holds at most one waiting
// ticket across all its connections (a second is CodeAlreadyQueued, and a
// party may not name one subject twice), so it is never matched against
// itself. Reports count per player, and only the session's own peers may
// report. The result policy: a result applies when a strict majority of
// the session's players (a 1v1 needs both) have reported the same ranks.
// If any two reports disagree, the session is disputed for good: the
// report is answered with CodeDisputed, so is every later one, and no
// rating changes. Players who never report (no-shows, rage-quits) count
// for nothing: if the majority never reports before SessionTTL, the
// session is dropped unrated. Rating updates are serialized, so two
// sessions of one player never overwrite each other's result.
//
// A backfill may name only players who left the session's room for good:
// one still there or waiting to resume is CodeStillPresent. One backfill
// request per session is prepared at a time; a backfill prepared before
// another was delivered is withdrawn, and a delivery that would put more
// players into a team than it started with, or the same player twice, is
// requeued instead, so concurrent requests never overfill a match. An IP
// address holds at most Config.MaxTicketsPerIP waiting tickets
// (CodeTooManyTickets). A ticket
// whose peer leaves for good is cancelled; one whose TTL runs out is
// answered with mm.expired. A player of a running session may ask with
// mm.backfill to replace players who left: the newcomers join the session's
// room (signaling's Server.AddToRoom) and the others get mm.backfilled,
// naming the request. A request is withdrawn when its requester leaves
// for good or its session ends, and waits again if a newcomer leaves
// before the room takes it. The
// wire format is in docs/matchmaker.md; games use the typed client in
// package matchmaker/mmclient rather than these wire types.
//
// # Cluster
//
// On a cluster of signaling servers (signaling.NewClusterServer, package
// cluster) the Service is a cluster-wide signaling.Service named "mm":
// every node registers it and runs its loop, but only its leader
// (Service.Leader) holds the pools and runs passes, so each queue is one
// pool for the whole cluster; the other nodes forward mm.* requests to
// it, and its pushes (mm.matched and the rest) reach players on any node.
// A match's room spans the players' nodes, and each player is in it
// before mm.matched arrives. Ratings come from the Store, which a
// cluster shares (PostgreSQL). The leader saves each waiting ticket
// (svc.mm.t.<id>), each running match (svc.mm.s.<id>, with its reports),
// each party consent not yet used (svc.mm.c.<member>) and each pending
// backfill request (svc.mm.b.<session>) in the cluster's store, and answers a request, or pushes a change (mm.matched
// included, and the match's room is made), only once its records are
// written. When it dies, another node takes over
// within a few seconds: it puts the tickets of players still connected
// back in their queues under the same ids, oldest first, with the time
// they were enqueued (their wait, and so the widening of the rules, goes
// on: matchmaker.EnqueueSince; clients notice nothing but the delay) and
// accepts results for the matches as before. A match's session, and a
// backfill's new teams, are written before the room takes the players,
// and their tickets' removals once it has: a new leader drops the tickets
// of players in the room and takes a backfill's newcomers who are not in
// it out of the session (their tickets wait again). A backfill request
// that mm.backfill answered stays pending under its id, with its wait
// (matchmaker.RequestBackfillSince), unless its requester is gone: the
// new leader puts it back after the sessions and tickets, except one
// that the session shows filled (its newcomers in the room); one whose
// newcomers are not in the room waits again, so a request ends filled or
// pending, never both or neither. Requests in between are answered with
// signaling.CodeUnavailable, which mmclient retries until the call's
// context ends. Matchmaker().Stats counts on the leader only.
//
// # Concurrency and lifetime
//
// New registers the handlers and starts one goroutine, the matching loop,
// owned by the Service: Close stops it and waits; it also stops when the
// signaling server closes. Handlers run on the signaling connections'
// reader goroutines and only touch the Matchmaker and the Store briefly.
//
// # Metrics
//
// The package does not import a metrics library: Config.OnPass reports each
// pass's engine time and result (matches per queue, each matched ticket's
// wait) and Matchmaker().Stats the waiting tickets per queue. `rallypoint
// serve` turns them into Prometheus metrics (internal/metrics).
//
// # Limits
//
// One waiting ticket per peer. A party forms by consent: each member sends
// mm.party naming its leader, then the leader's mm.enqueue lists them; the
// members are told with mm.enqueued, any member may cancel for the party,
// and a member leaving cancels the ticket (the others get mm.canceled). If a matched player is gone before its
// room can be created, the other players are put back in the queue (their
// wait goes on: each ticket goes back at its place among the waiting).
package service
