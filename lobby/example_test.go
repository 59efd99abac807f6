package lobby_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/signaling"
)

// A server hosts lobbies; a host creates one, a friend finds it in the list,
// joins, chats and readies up, and the host starts the match.
func Example() {
	srv := signaling.NewServer(signaling.Config{})
	if _, err := lobby.New(srv, lobby.Config{}); err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx := context.Background()

	host, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer host.Close()
	st, err := host.Create(ctx, lobby.CreateData{Name: "Friday night", Game: "arena", MaxMembers: 4})
	if err != nil {
		log.Fatal(err)
	}

	friend, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer friend.Close()
	game := "arena"
	page, err := friend.List(ctx, lobby.ListData{Filters: []lobby.Filter{{Key: "game", Eq: &game}}})
	if err != nil {
		log.Fatal(err)
	}
	l := page.Lobbies[0]
	fmt.Printf("listed: %s, %d/%d\n", l.Name, l.Members, l.MaxMembers)
	if _, err := friend.Join(ctx, l.ID, lobby.JoinOptions{Member: map[string]string{"nick": "bob"}}); err != nil {
		log.Fatal(err)
	}
	if _, err := friend.Chat(ctx, "hi all"); err != nil {
		log.Fatal(err)
	}
	for ev := range friend.Events() { // pushed to every member, the sender too
		if c, ok := ev.(lobby.ChatReceived); ok {
			fmt.Println("chat:", c.Message.Text)
			break
		}
	}
	_, err = host.Start(ctx)
	fmt.Println("start before ready:", errors.Is(err, lobby.ErrNotReady))
	if err := friend.SetReady(ctx, true); err != nil {
		log.Fatal(err)
	}
	sess, err := host.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("session peers:", len(sess.Peers), "host is creator:", sess.Host == st.Host)
	for ev := range friend.Events() {
		if s, ok := ev.(lobby.Started); ok {
			// The friend's signaling client is in the session's room now;
			// s.Roster seats the players for the mesh and the session.
			fmt.Println("started; in the session's room:", friend.Signaling().Room() == s.Session.ID)
			fmt.Println("friend's seat:", s.Roster.SeatOf(netcode.PeerID(friend.ID())))
			return
		}
	}
	// Output:
	// listed: Friday night, 1/4
	// chat: hi all
	// start before ready: true
	// session peers: 2 host is creator: true
	// started; in the session's room: true
	// friend's seat: 1
}

func ExampleNormalizeCode() {
	fmt.Println(lobby.NormalizeCode("abc-234"))
	fmt.Println(lobby.NormalizeCode("ABC0O1") == "") // look-alikes are not in codes
	// Output:
	// ABC234
	// true
}

func ExampleState_Apply() {
	st := lobby.State{ID: "l1", Version: 1, Host: "p1", Members: []lobby.Member{{ID: "p1"}}}
	st, ok := st.Apply(lobby.Delta{ID: "l1", Version: 2, Member: &lobby.Member{ID: "p2"}})
	fmt.Println(ok, st.Version, len(st.Members))
	_, ok = st.Apply(lobby.Delta{ID: "l1", Version: 4}) // a missed change: resync
	fmt.Println(ok)
	// Output:
	// true 2 2
	// false
}
