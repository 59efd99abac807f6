// Package dnssd advertises and discovers services on the local link with
// Multicast DNS and DNS-Based Service Discovery (RFC 6762, RFC 6763). LAN
// lobbies use it: the hosting player advertises an instance of
// "_rallypoint._tcp" whose TXT record describes the lobby, and the other
// players browse for it.
//
// # Overview
//
// A Node owns the mDNS sockets (UDP 5353 on 224.0.0.251 and ff02::fb, shared
// with avahi or Bonjour on the same machine) on one or more interfaces. It is
// both an Advertiser and a Browser:
//
//	n, err := dnssd.New(dnssd.Config{})
//	reg, err := n.Advertise(ctx, dnssd.Service{Instance: "Alice's lobby", Port: 7777,
//		TXT: []string{"v=1", "game=demo", "players=1", "max=4"}})
//	err = reg.UpdateTXT(ctx, []string{"v=1", "game=demo", "players=2", "max=4"})
//	err = reg.Close() // goodbye
//
//	events, err := n.Browse(ctx, dnssd.DefaultType)
//	for ev := range events { // Added, Updated, Removed
//		fmt.Println(ev.Kind, ev.Instance, ev.Addrs, ev.Port, ev.TXT)
//	}
//
// The engine (probing, announcing, answering, the cache, browsing) is this
// package's own, behind the Advertiser and Browser interfaces; the DNS
// message codec under it is github.com/miekg/dns (dns.Msg Pack and Unpack),
// wrapped in message.go, which adds the mDNS class bits, the size and count
// limits and the checks of the records the engine reads. The engine is not
// a library's because the two leading Go ones leave gaps a standard peer
// notices, and closing them around either would have meant replacing most
// of it: pion/mdns/v2 (v2.2.2) reports no removals, sends no goodbye on
// Unregister (a standard browser then keeps the entry for its TTL, up to
// 75 minutes), never announces a new service, and takes any packet with as
// many answers as questions for a response, so it stays silent to a query
// that carries known answers (a browser that already knows another lobby
// never learns of ours); brutella/dnssd browses with a single query (a
// second browser right after a first may see nothing, since responders
// suppress repeats for 500 ms) and re-announces a service removed within
// 1 s. The engine implements what interoperation with standard responders
// and browsers (tested against avahi 0.8) needs:
//
//   - Probing: before announcing, three queries for the instance name 250 ms
//     apart (§8.1); a name another responder answers for is renamed
//     "Name (2)", "Name (3)"...; simultaneous probes are settled by the
//     lexicographic tiebreak of §8.2. Config.NoProbe turns this off. When
//     another host announces an advertised name later (§9), the service is
//     withdrawn under it, renamed and probed again.
//   - Announcing: three unsolicited responses at 0, 1 s and 3 s when a
//     service is advertised, two when its TXT changes (RFC 6762 §8.3, §8.4).
//   - Answering: PTR, SRV, TXT, A, AAAA and ANY questions, with the SRV, TXT
//     and address records as additional records (RFC 6763 §12) and the
//     service type enumeration of RFC 6763 §9; known-answer suppression that
//     leaves out only the records the querier holds with at least half their
//     TTL (§7.1); shared answers delayed 20-120 ms (400-500 ms after a
//     truncated query), unique ones and defences against probes sent at
//     once; a record multicast at most once a second per interface, every
//     250 ms in answer to a probe (§6); unicast replies to QU questions
//     (§5.4) and legacy unicast queries from ports other than 5353 (§6.7).
//     Address records carry the addresses of the interface the answer leaves
//     on (§6.2).
//   - Goodbyes: closing a Registration (or the Node) multicasts its records
//     with TTL 0 (§10.1).
//   - Address changes: while it advertises, a Node looks at its interfaces'
//     addresses every 2 s; on a change it sends goodbyes for the addresses
//     that went away and announces again (§8.4), so browsers follow a host
//     that got a new lease within a few seconds.
//   - Browsing: queries at 0, 1 s, 3 s, 7 s... doubling to an hour, carrying
//     known answers (§5.2, §7.1); a cache that honours cache-flush bits
//     (§10.2), drops a record GoodbyeDelay after its goodbye, and refreshes
//     the records in use at 80, 85, 90 and 95% of their TTL (plus up to 2%
//     jitter) before letting them expire (§5.2); questions for the SRV, TXT
//     and address records an answer lacked. An instance is Added once its
//     PTR, SRV and an address are known, and Removed when its PTR or SRV
//     goes (goodbye or expiry).
//
// Not implemented: probing for the host name (the default host name
// carries a random suffix instead); the §7.2 multipacket known-answer list
// (at most 200 known answers are sent, in one packet, and the known answers
// of a truncated query's follow-up packets are not merged); the §7.3
// duplicate question and §7.4 duplicate answer suppression; interfaces that
// appear after New.
//
// # Timing
//
// Measured between two processes in two network namespaces joined by a
// veth pair (go test -run '^$' -bench LANDiscovery -benchtime 20x):
// Advertise takes 0.75 to 1 s (probing); Added arrives about 0.5 ms after
// the first announcement, a few times the one-way time of a raw multicast
// datagram on the same link; Removed comes GoodbyeDelay (800 ms) after
// Close. When the host vanishes without a goodbye, the instance is Removed
// when its SRV record's TTL (HostTTL) runs out after the last answered
// refresh.
//
// # Concurrency
//
// One goroutine per Node owns all state (registrations, browses, cache,
// timers); one goroutine per socket reads packets; one goroutine per Browse
// feeds its channel. Every method is safe for concurrent use. Close sends the
// goodbyes, closes the sockets and every Browse channel, and waits for all
// of these goroutines. Blocking methods take a context and return its error
// (errors.Is(err, context.Canceled)) when it ends first.
//
// # Limits and hostile input
//
// Packets over 9000 bytes, packets that do not decode (bad lengths,
// compression pointer loops, names over 255 bytes, impossible counts,
// records of other types that do not re-encode to their own bytes), packets from interfaces the Node does not use and
// packets from sources off the link (neither link-local nor inside a prefix
// of the arrival interface: routed here, RFC 6762 §11) are counted in Stats
// and dropped; the decoder is fuzzed. The cache holds at
// most Config.MaxCacheRecords records; when it is full, the records no
// browse uses make room, so that a link flooded with junk records of long
// TTLs does not hide lobbies announced later. Each Browse queues at most
// Config.MaxPendingEvents events. Anyone on the link can advertise anything:
// treat TXT values as untrusted input.
//
// # Platforms
//
// Tested on Linux, in network namespaces joined by veth pairs and bridges
// (see the tests), and against avahi. The arrival interface of each packet
// comes from IP_PKTINFO and IPV6_RECVPKTINFO. Where those are missing
// (Windows), a packet is attributed to the interface whose prefix holds its
// source (IPv6 link-local sources go to the first interface), and sends set
// IP_MULTICAST_IF before each write; that path compiles everywhere but is
// only exercised by unit tests.
package dnssd
