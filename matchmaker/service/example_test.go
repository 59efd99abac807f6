package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
)

// Two players meet through the matchmaker served on a signaling server.
func Example() {
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer func() {
		srv.Close() // closes the WebSockets, which hs.Close would wait for
		hs.Close()
	}()
	svc, err := service.New(srv, service.Config{Interval: 50 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	defer svc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	var sessions []string
	var clients []*signaling.Client
	var events []<-chan signaling.Event
	for i := 0; i < 2; i++ {
		c, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			panic(err)
		}
		defer c.Close()
		events = append(events, c.Events()) // before the match can arrive
		if _, err := c.Request(ctx, service.TypeEnqueue, service.EnqueueData{Queue: "1v1"}); err != nil {
			panic(err)
		}
		clients = append(clients, c)
	}
	for _, evs := range events {
		for ev := range evs {
			if m, ok := ev.(signaling.Message); ok && m.Type == service.TypeMatched {
				var d service.MatchedData
				_ = json.Unmarshal(m.Data, &d)
				sessions = append(sessions, d.Session)
				break
			}
		}
	}
	fmt.Println("same session:", sessions[0] == sessions[1])
	fmt.Println("in its room:", clients[0].Room() == sessions[0] && clients[1].Room() == sessions[0])
	// Output:
	// same session: true
	// in its room: true
}
