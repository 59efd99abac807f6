package dnssd_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"strconv"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

// A LAN lobby host advertises its lobby; players browse for lobbies. (Not
// run as a test: it needs a multicast-capable network.)
func Example() {
	ctx := context.Background()
	node, err := dnssd.New(dnssd.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()

	reg, err := node.Advertise(ctx, dnssd.Service{
		Instance: "Alice's lobby",
		Port:     7777,
		TXT:      []string{"v=1", "game=demo", "players=1", "max=4", "pw=0"},
	})
	if err != nil {
		log.Fatal(err)
	}
	// A second player joined: browsers see the change within a second.
	if err := reg.UpdateTXT(ctx, []string{"v=1", "game=demo", "players=2", "max=4", "pw=0"}); err != nil {
		log.Fatal(err)
	}
	defer reg.Close() // goodbye: browsers drop the lobby within a second

	events, err := node.Browse(ctx, dnssd.DefaultType)
	if err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		switch ev.Kind {
		case dnssd.Added, dnssd.Updated:
			players, _ := dnssd.TXTValue(ev.TXT, "players")
			fmt.Println(ev.Kind, ev.Instance, ev.Addrs, ev.Port, "players:", players)
		case dnssd.Removed:
			fmt.Println("gone:", ev.Instance)
		}
	}
}

func ExampleTXTValue() {
	txt := []string{"v=1", "game=demo", "players=3", "max=8", "locked"}
	players, _ := dnssd.TXTValue(txt, "players")
	limit, _ := dnssd.TXTValue(txt, "MAX") // keys ignore case
	_, locked := dnssd.TXTValue(txt, "locked")
	_, hasMode := dnssd.TXTValue(txt, "mode")
	n, _ := strconv.Atoi(players)
	fmt.Println(n, limit, locked, hasMode)
	// Output: 3 8 true false
}

func ExampleEventKind_String() {
	fmt.Println(dnssd.Added, dnssd.Updated, dnssd.Removed)
	// Output: added updated removed
}

func ExampleEvent_AddrPorts() {
	ev := dnssd.Event{Port: 7777, Addrs: []netip.Addr{
		netip.MustParseAddr("fe80::1%eth0"),
		netip.MustParseAddr("fd99:1::1"),
		netip.MustParseAddr("10.99.1.1"),
	}}
	fmt.Println(ev.AddrPorts())
	// Output: [10.99.1.1:7777 [fd99:1::1]:7777 [fe80::1%eth0]:7777]
}
