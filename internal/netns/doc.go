// Package netns is a test harness for LAN tests: it builds small networks of
// Linux network namespaces joined by veth pairs or a bridge, with multicast
// enabled and no route out, and runs functions or child processes inside
// them.
//
// # Overview
//
// A Lab belongs to one test. Lab.NS creates a namespace whose name is unique
// to the process and the lab ("rp" + PID + "x" + random hex + "-" + name), so
// parallel test runs never collide. The first Lab of a process also removes
// what the Labs of dead test processes left behind (a test binary killed
// before its cleanup ran). Lab.Link joins two namespaces with a veth pair;
// Lab.Bridge joins any number of them to one Ethernet segment (a Linux bridge
// with multicast snooping off, living in its own namespace). Every link gets
// an IPv4 address from 10.99.N.0/24 (unless LinkOptions.NoIPv4), an IPv6
// unique-local address from fd99:N::/64 and the kernel's fe80:: link-local
// address, with duplicate address detection off so addresses are usable at
// once. Each interface has the MULTICAST flag and the namespace a route for
// 224.0.0.0/4; there is no default route, so no packet leaves the lab.
//
// Everything a Lab creates is removed by t.Cleanup, also when the test fails
// or calls t.Fatal: child processes are killed and waited for, namespaces
// (and with them their interfaces) deleted.
//
// # Running code inside a namespace
//
// NS.Do runs a function on a dedicated, locked OS thread switched into the
// namespace. Sockets created there stay in the namespace, but goroutines the
// function starts run on other threads, in the test's own namespace: Do fits
// short probes, not a whole networked component. For that, NS.StartChild
// re-executes the test binary inside the namespace (through "ip netns exec")
// with -test.run=^$ and an environment variable naming a role; the test's
// TestMain dispatches it with ChildRole before calling m.Run. The child reads
// commands line by line from stdin and reports with lines on stdout, which
// Child.Next and Child.WaitFor return with their arrival time.
//
// # NATs, relays and pion
//
// NS.NAT makes a namespace a router that masquerades what leaves through
// one of its interfaces: NATCone (plain MASQUERADE: a socket keeps its
// port whatever it sends to, so two peers that send to each other's
// server-reflexive addresses punch through) or NATSymmetric
// (MASQUERADE --random-fully: a new port per destination, so only a relay
// connects). The router drops packets from outside that match no mapping
// before conntrack records them, so a peer's early packet cannot steal
// the port of the mapping the inside host is about to make. NS.Forward
// makes a plain router, NS.Route adds a route, NS.IPTables runs iptables,
// and NS.DropUnrouted routes a prefix into a namespace that swallows it:
// the "public" side of a lab gets one for 10.0.0.0/8, because coturn tears
// a whole allocation down when a send to an address it has no route for
// fails. NS.StartTURN runs Debian's coturn in a namespace with a
// configuration of its own (TURN REST secret, no TLS, no CLI, loopback
// peers allowed only on a loopback address) and stops it with the test.
// NS.PionNet returns a pion network (webrtc.SettingEngine.SetNet,
// mesh.Config.Net) whose sockets are opened inside the namespace, so many
// peers in different namespaces run in one test process.
//
// # Requirements
//
// Root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2's ip command;
// iptables for NAT and DropUnrouted, coturn for StartTURN (which skips the
// test without it). Require
// (called by New) skips the test with a clear message when either is missing,
// so the tests still pass elsewhere; CI runs as root with iproute2 installed by
// scripts/setup.sh. Never send multicast in the root namespace: its loopback
// has no MULTICAST flag and its other interfaces lead outside the machine.
package netns
