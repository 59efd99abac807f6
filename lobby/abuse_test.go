package lobby_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/signaling"
)

// rawLobby is a signaling client that sends lobby.* requests by hand.
func rawLobby(t *testing.T, url string) *signaling.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestAbuseLobbies has a row per lobby attack of the hostile-client review:
// each asserts the coded refusal or bound, and a bystander lobby keeps
// working between the rows.
func TestAbuseLobbies(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{MaxLobbiesPerIP: 3, JoinFailBurst: 3, JoinFailRate: 0.5, UpdateBurst: 4, UpdateRate: 1})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "bystanders"})
	if err != nil {
		t.Fatal(err)
	}
	guest := dial(t, s.url, nil)
	if _, err := guest.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); err != nil {
		t.Fatal(err)
	}
	chat := 0
	bystanders := func() {
		t.Helper()
		chat++
		if _, err := guest.Chat(ctx, "still here"); err != nil {
			t.Fatalf("bystander chat %d: %v", chat, err)
		}
	}

	t.Run("lobbies per IP", func(t *testing.T) {
		// The bystander's lobby is one of 127.0.0.1's; two more fit.
		for range 2 {
			c := rawLobby(t, s.url)
			if _, err := c.Request(ctx, lobby.TypeCreate, lobby.CreateData{Name: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		c := rawLobby(t, s.url)
		_, err := c.Request(ctx, lobby.TypeCreate, lobby.CreateData{Name: "one too many"})
		wantCode(t, err, nil, lobby.CodeTooManyLobbies)
	})
	bystanders()

	t.Run("join codes and passwords have a failure budget", func(t *testing.T) {
		c := rawLobby(t, s.url)
		codes := 0
		var err error
		for ; codes < 20; codes++ {
			_, err = c.Request(ctx, lobby.TypeJoin, lobby.JoinData{Code: "ZZZZZZ"})
			if !errIsCode(err, lobby.CodeNotFound) {
				break
			}
		}
		wantCode(t, err, nil, lobby.CodeTooManyAttempts)
		if codes != 3 {
			t.Fatalf("%d wrong codes before the back-off, want the burst of 3", codes)
		}
		// The budget is per address: another connection from it waits too,
		// even with a code that exists.
		d := rawLobby(t, s.url)
		_, err = d.Request(ctx, lobby.TypeJoin, lobby.JoinData{Code: st.Code})
		wantCode(t, err, nil, lobby.CodeTooManyAttempts)
	})
	bystanders()

	t.Run("lobby.ready and lobby.meta are rate limited", func(t *testing.T) {
		c := rawLobby(t, s.url)
		// Join the bystanders' lobby by id (no code, no password: no
		// failure budget involved).
		if _, err := c.Request(ctx, lobby.TypeJoin, lobby.JoinData{ID: st.ID}); err != nil {
			t.Fatal(err)
		}
		ok := 0
		var err error
		for i := range 40 {
			if i%2 == 0 {
				_, err = c.Request(ctx, lobby.TypeReady, lobby.ReadyData{Ready: i%4 == 0})
			} else {
				_, err = c.Request(ctx, lobby.TypeMeta, lobby.MetaData{Member: map[string]string{"k": strings.Repeat("v", i)}})
			}
			if err != nil {
				break
			}
			ok++
		}
		wantCode(t, err, nil, lobby.CodeUpdateFlood)
		if ok < 4 || ok > 8 {
			t.Fatalf("%d updates before the flood limit, want about the burst of 4", ok)
		}
		if _, err := c.Request(ctx, lobby.TypeLeave, nil); err != nil {
			t.Fatal(err)
		}
	})
	bystanders()

	t.Run("list replies are bounded in bytes", func(t *testing.T) {
		raw, err := guest.Signaling().Request(ctx, lobby.TypeList, lobby.ListData{Limit: lobby.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		var lr lobby.ListReply
		if err := json.Unmarshal(raw, &lr); err != nil || len(raw) > lobby.MaxListBytes+1024 {
			t.Fatalf("list reply of %d bytes: %v", len(raw), err)
		}
	})
	bystanders()
}

func errIsCode(err error, code string) bool {
	se, ok := err.(*signaling.Error)
	return ok && se.Code == code
}

// TestAbuseAnonymousBanHoldsTheAddress: without auth a reconnect is a new
// peer, so a kick with ban holds the member's address.
func TestAbuseAnonymousBanHoldsTheAddress(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "bans"})
	if err != nil {
		t.Fatal(err)
	}
	pest := rawLobby(t, s.url)
	if _, err := pest.Request(ctx, lobby.TypeJoin, lobby.JoinData{Code: st.Code}); err != nil {
		t.Fatal(err)
	}
	if _, err := host.Signaling().Request(ctx, lobby.TypeKick, lobby.KickData{Peer: pest.ID(), Ban: true}); err != nil {
		t.Fatal(err)
	}
	pest.Close()
	again := rawLobby(t, s.url) // a new connection, a new peer id, the same address
	_, err = again.Request(ctx, lobby.TypeJoin, lobby.JoinData{Code: st.Code})
	wantCode(t, err, nil, lobby.CodeBanned)
	if _, err := host.Chat(ctx, "the host carries on"); err != nil {
		t.Fatal(err)
	}
}

// TestAbusePasswordBudget: wrong passwords draw on the same failure
// budget as wrong codes; the right password must wait for the back-off too,
// and a bystander in the lobby carries on.
func TestAbusePasswordBudget(t *testing.T) {
	s := serve(t, signaling.Config{}, lobby.Config{JoinFailBurst: 2, JoinFailRate: 0.5})
	ctx := tctx(t)
	host := dial(t, s.url, nil)
	st, err := host.Create(ctx, lobby.CreateData{Name: "secret", Password: "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	c := rawLobby(t, s.url)
	for range 2 {
		_, err := c.Request(ctx, lobby.TypeJoin, lobby.JoinData{ID: st.ID, Password: "guess"})
		wantCode(t, err, nil, lobby.CodeWrongPassword)
	}
	_, err = c.Request(ctx, lobby.TypeJoin, lobby.JoinData{ID: st.ID, Password: "hunter2"})
	wantCode(t, err, nil, lobby.CodeTooManyAttempts)
	if _, err := host.Chat(ctx, "the host carries on"); err != nil {
		t.Fatal(err)
	}
}
