package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby"
)

// TestServeLobbies: the server that rallypoint serve builds answers the
// lobby protocol at /ws.
func TestServeLobbies(t *testing.T) {
	defer goleak.VerifyNone(t)
	mux, srv, _, err := newServeMux(serveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws"
	a, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := lobby.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := a.Create(ctx, lobby.CreateData{Name: "served", MaxMembers: 2, Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	page, err := b.List(ctx, lobby.ListData{})
	if err != nil || len(page.Lobbies) != 1 || page.Lobbies[0].ID != st.ID {
		t.Fatalf("list %+v %v", page, err)
	}
	if _, err := b.JoinByCode(ctx, st.Code, lobby.JoinOptions{}); !errors.Is(err, lobby.ErrWrongPassword) {
		t.Fatalf("join without the password: %v", err)
	}
	if _, err := b.JoinByCode(ctx, st.Code, lobby.JoinOptions{Password: "pw"}); err != nil {
		t.Fatal(err)
	}
}

// TestBenchLobbyJSON runs a short bench lobby and checks its JSON.
func TestBenchLobbyJSON(t *testing.T) {
	out, err := exec.Command(binary(t), "bench", "lobby", "-lists", "200", "-rounds", "20", "-members", "20", "-json").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("bench: %v\n%s\n%s", err, out, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"list_10k_p99_ms", "fanout_100_p99_ms", "list_baseline_scan_p99_ms", "fanout_baseline_send_p99_ms"} {
		v, ok := r[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v in %s", k, r[k], out)
		}
	}
	if r["list_matches"].(float64) != 100 || r["members"].(float64) != 20 {
		t.Errorf("bench setup %s", out)
	}
}
