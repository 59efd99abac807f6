package match

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/signaling"
)

// TestLobbyMatchRejoin: a player of an online lobby's match gives up its
// session mid-match (its process ends) and a new connection takes its seat
// back with the ticket it had (DialOnline with Rejoin: through the lobby's
// lobby.rejoin, with the lobby's seed). The rejoined session reports the
// frame it was back in sync at, and every player ends on the same checksum
// with the peers agreeing.
func TestLobbyMatchRejoin(t *testing.T) {
	url := lobbyServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	host, err := CreateLobby(ctx, url, LobbyConfig{Players: 3, Seed: 4, Player: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := host.Client().State()
	lobbies := []*Lobby{host}
	for range 2 {
		l, err := JoinLobbyByCode(ctx, url, st.Code, LobbyConfig{Player: "bot"})
		if err != nil {
			t.Fatal(err)
		}
		lobbies = append(lobbies, l)
	}
	const frames = 480
	const victim = 2
	sessions := make([]*Online, 3)
	results := make([]Result, 3)
	errs := make([]error, 3)
	var first, again string // the victim's tickets, before and after the rejoin
	var wg sync.WaitGroup
	for i, l := range lobbies {
		wg.Go(func() {
			sessions[i], errs[i] = l.AwaitStart(ctx, true)
			if errs[i] != nil {
				l.Close()
				return
			}
			rctx := ctx
			if i == victim {
				var stop context.CancelFunc
				rctx, stop = context.WithCancel(ctx)
				defer stop()
				first = sessions[i].RejoinTicket()
				// Killed a second into the match.
				_, errs[i] = Run(rctx, sessions[i], RunConfig{Frames: frames, OnStart: func(time.Duration) { time.AfterFunc(time.Second, stop) }})
				sessions[i].Close()
				if !errors.Is(errs[i], context.Canceled) {
					return
				}
				errs[i] = nil
				sessions[i], errs[i] = DialOnline(ctx, OnlineConfig{ServerURL: url, AllBots: true, Rejoin: first})
				if errs[i] != nil {
					return
				}
				again = sessions[i].RejoinTicket()
			}
			defer sessions[i].Close()
			results[i], errs[i] = Run(ctx, sessions[i], RunConfig{Frames: frames})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("player %d: %v", i, err)
		}
	}
	if room, _, ok := signaling.TicketSeat(first); !ok || room != sessions[0].Room() {
		t.Fatalf("the lobby match's ticket %q names room %q, want %q", first, room, sessions[0].Room())
	}
	if again == "" || again == first {
		t.Fatalf("the rejoined player's ticket %q (first %q)", again, first)
	}
	for i, r := range results {
		c := r.Confirmed
		if r.Frames != frames || c == nil || !c.PeersAgree || !c.RosterFull || r.ChecksumHex != results[0].ChecksumHex ||
			!slices.ContainsFunc(c.Rejoins, func(j RejoinResult) bool { return slices.Equal(j.Seats, []int{victim}) && j.Self == (i == victim) }) {
			t.Fatalf("player %d: %s, player 0: %s", i, r.JSON(), results[0].JSON())
		}
	}
	self := results[victim].Confirmed.Rejoins[len(results[victim].Confirmed.Rejoins)-1]
	if !self.Self || self.SyncFrame < self.Frame {
		t.Fatalf("the rejoined player's rejoin %+v: want a sync frame at or after its rejoin frame", self)
	}
	t.Logf("rejoined at frame %d, in sync at frame %d; all end on %s", self.Frame, self.SyncFrame, results[0].ChecksumHex)
}
