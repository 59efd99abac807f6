package mesh_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
	"github.com/rallypoint/rallypoint/netcode/mesh"
)

// Two peers meet through an in-memory signaler (in a game, a
// signaling.Client), connect directly over WebRTC and exchange a message.
func ExampleMesh() {
	var room memsignal.Hub
	alice, _ := room.Join("alice")
	bob, _ := room.Join("bob")
	defer alice.Leave()
	defer bob.Leave()

	cfg := mesh.Config{Loopback: true}
	ma, _ := mesh.New(alice, cfg)
	defer ma.Close()
	mb, _ := mesh.New(bob, cfg)
	defer mb.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ev := range ma.Events() {
		fmt.Println("alice:", ev)
		if _, ok := ev.(mesh.EventConnected); ok {
			break
		}
	}
	if err := mb.WaitConnected(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}

	_ = ma.Send("bob", netcode.Reliable, []byte("hello, bob"))
	for done := false; !done; {
		select {
		case <-mb.Ready():
		case <-ctx.Done():
			fmt.Println("nothing arrived")
			return
		}
		mb.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			fmt.Printf("bob got %q from %s on the %s channel\n", data, from, ch)
			done = true
		})
	}

	// An unreliable message must fit one datagram; the error says so
	// before anything is queued.
	err := ma.Send("bob", netcode.Unreliable, make([]byte, netcode.MaxDatagramMessage+1))
	fmt.Println(errors.Is(err, mesh.ErrMessageTooLarge), err)
	// Output:
	// alice: bob connecting
	// alice: bob connected
	// bob got "hello, bob" from alice on the reliable channel
	// true mesh: message too large: 1153 bytes on unreliable channel (limit 1152)
}
