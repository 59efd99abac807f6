// Package service serves a matchmaker.Matchmaker over the signaling
// protocol: the mm.* extension messages of a signaling.Server.
//
// A client sends mm.enqueue (its peer id is the ticket's first player, its
// rating comes from the Store, keyed by the authenticated subject or else
// the peer id), mm.cancel, mm.status and mm.stats, and gets a reply or a
// coded error (the Code constants). Every Interval the service runs a pass;
// each match is put into a fresh signaling room named by its session id
// (the joined event arrives first), then every player receives mm.matched
// with the session id, the peer list, the teams and the designated host.
// Players report the outcome with mm.result; once a strict majority of the
// session's players agree on the ranks, the ratings are updated with the
// Weng-Lin Plackett-Luce model, stored, and pushed as mm.rated. A ticket
// whose peer leaves for good is cancelled; one whose TTL runs out is
// answered with mm.expired. A player of a running session may ask with
// mm.backfill to replace players who left: the newcomers join the session's
// room (signaling's Server.AddToRoom) and the others get mm.backfilled. The
// wire format is in docs/matchmaker.md; games use the typed client in
// package matchmaker/mmclient rather than these wire types.
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
// wait starts again).
package service
