package nearby_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rallypoint/rallypoint/lobby/nearby"
	"github.com/rallypoint/rallypoint/signaling"
)

// Two players on one server: Ann is visible, Ben sees her, invites her
// to his lobby and messages her; Ann answers. On a LAN, StartLAN gives
// the same API with no server.
func Example() {
	srv := signaling.NewServer(signaling.Config{})
	defer srv.Close()
	nearby.Serve(srv, nearby.ServiceConfig{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	player := func(name string, visible bool) *nearby.Nearby {
		c, err := signaling.Dial(ctx, url, nil)
		if err != nil {
			panic(err)
		}
		context.AfterFunc(ctx, func() { c.Close() })
		n, err := nearby.StartOnline(ctx, c, nearby.Config{Profile: nearby.Profile{Name: name, Game: "arena"}, Visible: visible})
		if err != nil {
			panic(err)
		}
		return n
	}
	ann := player("Ann", true)
	defer ann.Close()
	ben := player("Ben", false)
	defer ben.Close()

	for ev := range ben.Events() {
		if j, ok := ev.(nearby.PlayerJoined); ok {
			fmt.Println("Ben sees", j.Player.Name, j.Player.Status)
			break
		}
	}
	if _, err := ben.Invite(ctx, ann.ID(), nearby.Invitation{Lobby: "L7", Name: "Ben's lobby"}); err != nil {
		panic(err)
	}
	if err := ben.Send(ctx, ann.ID(), "join us!"); err != nil {
		panic(err)
	}
	for seen := 0; seen < 2; {
		switch ev := (<-ann.Events()).(type) {
		case nearby.InviteReceived:
			seen++
			fmt.Println("Ann is invited to", ev.Invitation.Name)
			if err := ann.Answer(ctx, ev.From.ID, ev.Invitation.ID, true); err != nil {
				panic(err)
			}
		case nearby.MessageReceived:
			seen++
			fmt.Println("Ann reads:", ev.Text)
		}
	}
	for ev := range ben.Events() {
		if a, ok := ev.(nearby.InviteAnswered); ok {
			fmt.Println("accepted:", a.Accepted)
			break
		}
	}
	// Output:
	// Ben sees Ann idle
	// Ann is invited to Ben's lobby
	// Ann reads: join us!
	// accepted: true
}
