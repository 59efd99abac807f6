package netsim_test

import (
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
)

// Example sends 1,000 unreliable and 10 reliable messages over a link with
// 100 ms ± 30 ms and 25% loss, in virtual time: the reliable ones all
// arrive, in order.
func Example() {
	n := netsim.New(netsim.Config{Seed: 7, Default: netsim.Conditions{
		Latency: 100 * time.Millisecond, Jitter: 30 * time.Millisecond, Loss: 0.25}})
	a, b := n.Endpoint("a"), n.Endpoint("b")
	for i := 0; i < 1000; i++ {
		_ = a.Send("b", netcode.Unreliable, []byte{byte(i)})
		if i%100 == 0 {
			_ = a.Send("b", netcode.Reliable, []byte{byte(i / 100)})
		}
		n.Advance(time.Millisecond)
	}
	n.Advance(2 * time.Second) // no sleeping: the clock is virtual
	unreliable, reliable := 0, []byte{}
	b.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
		if ch == netcode.Reliable {
			reliable = append(reliable, data[0])
		} else {
			unreliable++
		}
	})
	fmt.Println("unreliable delivered:", unreliable > 700 && unreliable < 800)
	fmt.Println("reliable delivered in order:", reliable)
	// Output:
	// unreliable delivered: true
	// reliable delivered in order: [0 1 2 3 4 5 6 7 8 9]
}
