// Package nearby shows who is around and lets players invite and message
// each other: on a LAN with no server (presence over DNS-SD, messages in
// signed UDP datagrams), and through a `rallypoint serve` server with the
// same API.
//
// # Overview
//
// A player opts in to be visible with a Profile (display name, status
// idle / in a lobby / in a match, game); others see a live list (Players)
// and typed events (PlayerJoined, PlayerLeft, PlayerChanged). Nothing is
// advertised unless Config.Visible is set or SetVisible(true) is called.
//
//	n, err := nearby.StartLAN(ctx, nearby.LANConfig{Config: nearby.Config{
//		Profile: nearby.Profile{Name: "Alice", Game: "arena"}, Visible: true}})
//	defer n.Close()
//	for ev := range n.Events() {
//		switch ev := ev.(type) {
//		case nearby.PlayerJoined:
//			n.Invite(ctx, ev.Player.ID, nearby.Invitation{Lobby: host.LobbyID(), Port: port})
//		case nearby.InviteReceived:
//			c, st, err := nearby.JoinLAN(ctx, n, ev, nil) // accept and join
//		case nearby.MessageReceived:
//			fmt.Println(ev.From.Name, ev.Text)
//		}
//	}
//
// On a LAN each visible player is a DNS-SD service of type ServiceType
// ("_rp-nearby._udp"), advertised by the project's DNS-SD engine
// (lobby/dnssd): announced at once (its instance name carries part of the
// player id, so it needs no probing), with goodbyes when it leaves and a
// short TTL (LANConfig.TTL, 5 s) on every record, so a player whose
// process dies disappears within the TTL, from avahi-browse too. Its TXT
// record carries the player id, the ed25519 public key, the name, status
// and game, signed by the key; the SRV port is the UDP port messages go
// to.
//
// Online, Serve registers the nearby.* family on a signaling server
// (`rallypoint serve` does) and StartOnline gives the same API over a
// signaling.Client: the server lists the recently shown visible players
// and relays packets by player id, the auth subject when auth is on
// (docs/protocol.md).
//
// # Timing
//
// Measured by the LAN tests (players as processes in network namespaces
// on one bridge, 2 cores): a player that starts is seen by the others
// within 2-200 ms at 0% loss and 15-150 ms at 10% loss (iptables
// statistic drop on the bridge); an invitation arrives in 3-5 ms at the
// median at 0% loss, and at 10% in 4-47 ms at the median and up to 270 ms
// (a lost datagram waits for a retransmission, 200 ms at least); four
// players starting together all see each other within about 1.1 s (a
// responder multicasts a record at most once a second); a SIGKILLed player
// with a 3 s TTL leaves the others' lists and avahi-browse after 2.1-3.1 s.
//
// # Identity and safety
//
// Each player has an ed25519 key pair (Identity); on a LAN its id is
// derived from the public key (KeyID), so a record or a packet cannot
// claim another player's id. Every datagram is signed and names its
// receiver; a receiver checks the signature and reports the sender
// (Sender) as the id and key it verified and the address it came from,
// with the display name only as a claim. Online, the server vouches for
// the sender: its auth subject when auth is on. Messages, invitations and
// answers from one sender are rate-limited (Config.RateLimit, a token
// bucket of golang.org/x/time/rate; the excess is dropped unacknowledged)
// and all packets are limited to 2000 a second before their signatures
// are checked. Block drops everything from a player.
//
// # Delivery
//
// Send, Invite and Answer are reliable: each conversation is a stream of
// numbered packets, retransmitted (200 ms doubling to 1 s) until
// acknowledged (cumulative and selective acks) or Config.DeliveryTimeout
// (10 s) passes; the receiver delivers each message once and in order.
// They block until the acknowledgement. The wire is in docs/nearby.md.
//
// # Concurrency and limits
//
// One goroutine owns the state; one reads the UDP socket and one the
// DNS-SD browse. Methods are safe for concurrent use; Close withdraws the
// record (goodbye) and waits for every goroutine. Events is buffered
// (Config.EventBuffer, 256): when full the oldest event is dropped and
// counted. At most Config.MaxPending unacknowledged messages wait per
// receiver, 256 receive streams and conversations are kept (least
// recently used evicted) and each history holds Config.HistoryLen
// messages. TXT values and payloads are untrusted and checked.
package nearby
