// Package bench holds the harnesses behind rallypoint bench: signaling
// (idle sessions and relay latency against a server in a child process),
// transport (the mesh against bare pion and raw UDP, each in child
// processes; connect times of both at 50 ms RTT on pion's virtual network,
// with one connection of each traced packet by packet (connect_trace.go);
// and connect times through cone and symmetric NATs in network
// namespaces with coturn, when run as root), rollback (a session's cost per frame against the game's own,
// and its bytes on the wire over pion), matchmaker (passes, insert/cancel,
// time to match, rating updates), lobby (listing and fan-out), browser
// (pages running web/meshjs in headless Chromium against native meshes and
// each other: connect time and RTT, with the native pair as baseline; it
// needs chromium, see internal/browser), cluster (`rallypoint serve`
// processes over embedded NATS with client processes holding the idle
// sessions: each node's RSS per session, the CPU and context switches of
// every process with only the idle sessions and during the relay, relay
// across nodes against relay within one, a bare NATS request/reply and a
// loopback floor of two forwarder processes (cluster_floor.go), and resume
// on another node when one is SIGKILLed; -pause-damon turns the kernel's
// DAMON monitors off for the relay (damon.go)) and content (a lobby's content delivered by
// the swarm of lobby/content against each member fetching from the host
// alone, over meshes in this process).
//
// Each bench is a function taking its Config, the flags cmd/rallypoint
// parses, and printing one report on stdout: a table, or one JSON object
// whose field names are stable (scripts and the issue tracker read them).
// Every figure comes with a baseline measured in the same run, because the
// machines these run on are noisy: compare ratios, not absolute times.
//
// The transport, signaling and cluster benches start copies of the
// running binary as child processes (cluster runs `rallypoint serve`
// itself, with -debug-addr for a GC before each RSS reading), so they work
// only from the rallypoint command (its main dispatches
// TransportChildRole); their end-to-end tests live in cmd/rallypoint. On
// Linux the children die with the bench. RunRollbackBench needs no child and is tested here.
//
// Nothing here is part of the kit's API; nothing in the library packages
// imports it.
package bench
