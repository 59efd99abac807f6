package mmclient_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker/mmclient"
	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// Two players quick-match in the "1v1" queue of a server on loopback and
// report the result.
func Example() {
	srv := signaling.NewServer(signaling.Config{})
	svc, _ := service.New(srv, service.Config{Interval: 10 * time.Millisecond})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	defer svc.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	matched := make(chan mmclient.Matched, 2)
	var clients []*mmclient.Client
	for range 2 {
		sc, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			panic(err)
		}
		defer sc.Close()
		mc := mmclient.New(sc, nil)
		defer mc.Close()
		clients = append(clients, mc)
		go func() {
			m, err := mc.Match(ctx, mmclient.Ticket{Queue: "1v1"})
			if err != nil {
				panic(err)
			}
			matched <- m
		}()
	}
	a, b := <-matched, <-matched
	fmt.Println("same session:", a.Session == b.Session, "seats:", len(a.Roster.Players))
	fmt.Println("same seat order:", a.Roster.Players[0] == b.Roster.Players[0])

	ranks := []float64{1, 2} // team 0 wins
	for _, mc := range clients {
		if _, err := mc.Report(ctx, a.Session, ranks); err != nil {
			panic(err)
		}
	}
	for ev := range clients[0].Events() {
		if r, ok := ev.(mmclient.Rated); ok {
			fmt.Println("rated players:", len(r.Ratings))
			break
		}
	}
	// Output:
	// same session: true seats: 2
	// same seat order: true
	// rated players: 2
}
