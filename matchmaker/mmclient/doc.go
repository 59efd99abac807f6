// Package mmclient is a game's typed client for the matchmaker that
// "rallypoint serve" runs over signaling (package matchmaker/service):
// enqueue alone or as a party, cancel, status, the match as a
// netcode.Roster, result reporting and rating updates, without the wire
// types.
//
// # Use
//
//	sc, _ := signaling.Dial(ctx, "wss://play.example.org/ws", nil)
//	mc := mmclient.New(sc, nil)
//	m, err := mc.Match(ctx, mmclient.Ticket{Queue: "1v1"}) // Enqueue + WaitMatched
//	// sc is now in the match's room; m.Roster seats the players:
//	// connect the mesh over sc with m.Roster, run the session, then
//	mc.Report(ctx, m.Session, ranks) // every player gets a Rated event
//
// A party forms by consent: each member calls JoinParty(leaderID), then
// the leader enqueues with Ticket.Party listing them; members hear
// Enqueued and may WaitMatched like the leader. Any member may Cancel for
// the party; the others hear Canceled.
//
// # Events
//
// Events delivers a closed set of types: Matched, Enqueued, Requeued,
// Expired, Canceled, Rated, Backfilled and Overflowed. The channel holds
// Config.EventBuffer events (64); when it is full the oldest is dropped
// and counted (DroppedEvents). WaitMatched does not read the channel: it
// follows the client's ticket state, so a game may use either or both.
// Coded errors of the service come back as *Error, which matches the
// package's sentinels (errors.Is(err, ErrUnknownQueue)).
//
// # Sharing the connection
//
// The client claims the pushed mm.* messages of its signaling client with
// a subscription (signaling.Client.Subscribe), so a lobby.Client, the
// mesh's SubscribeSignals callbacks and the application's Events channel
// share the connection and none waits for another. If the client's
// goroutine falls behind by Config.PushQueue (256) pushes, later ones are
// dropped: it then asks mm.status, reports Overflowed, and if its ticket
// is gone WaitMatched returns ErrLost rather than wait forever. After a
// reconnect that does not resume the signaling session the server has
// cancelled the ticket: the client reports Canceled with an empty By.
//
// # Concurrency
//
// All methods are safe for concurrent use. A Client owns one goroutine,
// which turns pushes into events and never blocks on the application;
// Close stops it and waits, and does not close the signaling client.
package mmclient
