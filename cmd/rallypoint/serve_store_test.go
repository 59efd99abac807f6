package main

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/pgtest"
	mmservice "github.com/rallypoint/rallypoint/matchmaker/service"
	"github.com/rallypoint/rallypoint/signaling"
	"github.com/rallypoint/rallypoint/store"
)

// TestServeRatingsSurviveRestart plays a rated 1v1 through a real
// `rallypoint serve` with auth, stops it, bans a player in the database,
// and starts it again on the same database: the ratings, the recorded
// match and the ban are all there. Once with the default SQLite file, once
// with a PostgreSQL server the test starts.
func TestServeRatingsSurviveRestart(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		testRestart(t, filepath.Join(t.TempDir(), "state", "rallypoint.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		testRestart(t, pgtest.Start(t))
	})
}

func testRestart(t *testing.T, dsn string) {
	const secret = "restart secret"
	auth := signaling.HMACAuth{Secret: []byte(secret)}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dialAs := func(url, sub string) (*signaling.Client, error) {
		cfg := &signaling.ClientConfig{DisableReconnect: true}
		if sub != "" {
			tok, err := auth.Issue(signaling.Identity{Subject: sub}, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Token = tok
		}
		return signaling.Dial(ctx, url, cfg)
	}
	waitFor := func(c *signaling.Client, ev <-chan signaling.Event, typ string, v any) {
		t.Helper()
		for {
			select {
			case e := <-ev:
				if m, ok := e.(signaling.Message); ok && m.Type == typ {
					if err := json.Unmarshal(m.Data, v); err != nil {
						t.Fatal(err)
					}
					return
				}
			case <-ctx.Done():
				t.Fatalf("%s never came", typ)
			}
		}
	}

	url, cmd, wait, _ := startServe(t, "-db", dsn, "-auth-secret", secret)
	ana, err := dialAs(url, "ana")
	if err != nil {
		t.Fatal(err)
	}
	bo, err := dialAs(url, "bo")
	if err != nil {
		t.Fatal(err)
	}
	aev, bev := ana.Events(), bo.Events()
	for _, c := range []*signaling.Client{ana, bo} {
		if _, err := c.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"}); err != nil {
			t.Fatal(err)
		}
	}
	var m mmservice.MatchedData
	waitFor(ana, aev, mmservice.TypeMatched, &m)
	waitFor(bo, bev, mmservice.TypeMatched, &mmservice.MatchedData{})
	ranks := []float64{1, 2}
	if m.Teams[0][0] != ana.ID() {
		ranks = []float64{2, 1}
	}
	for _, c := range []*signaling.Client{ana, bo} {
		if _, err := c.Request(ctx, mmservice.TypeResult, mmservice.ResultData{Session: m.Session, Ranks: ranks}); err != nil {
			t.Fatal(err)
		}
	}
	var rd mmservice.RatedData
	waitFor(ana, aev, mmservice.TypeRated, &rd)
	won := rd.Ratings[ana.ID()]
	ana.Close()
	bo.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := wait(); err != nil {
		t.Fatalf("serve: %v", err)
	}

	// Between the runs, an operator bans a player in the database.
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ban(ctx, store.Ban{Kind: store.BanPlayer, Key: "mallory", Reason: "cheating"}); err != nil {
		t.Fatal(err)
	}
	ms, err := db.Matches(ctx, 10)
	db.Close()
	if err != nil || len(ms) != 1 || ms[0].Session != m.Session {
		t.Fatalf("recorded matches %+v, %v", ms, err)
	}

	url, _, _, _ = startServe(t, "-db", dsn, "-auth-secret", secret)
	ana, err = dialAs(url, "ana")
	if err != nil {
		t.Fatal(err)
	}
	defer ana.Close()
	raw, err := ana.Request(ctx, mmservice.TypeEnqueue, mmservice.EnqueueData{Queue: "1v1"})
	if err != nil {
		t.Fatal(err)
	}
	var td mmservice.TicketData
	if err := json.Unmarshal(raw, &td); err != nil || td.Rating == nil || *td.Rating != won || won.Mu <= 25 {
		t.Fatalf("after the restart ana queues at %+v (%v); she won at %+v", td.Rating, err, won)
	}
	t.Logf("%s: ana's rating after the restart: mu %.2f sigma %.2f", filepath.Base(dsn), td.Rating.Mu, td.Rating.Sigma)
	_, err = dialAs(url, "mallory")
	var he *signaling.HTTPError
	if !errors.As(err, &he) || !errors.Is(err, &signaling.Error{Code: signaling.CodeUnauthorized}) {
		t.Fatalf("banned player connected: %v", err)
	}
	// `rallypoint ban` bans an address while the server runs; a player
	// with a subject is not banned by address.
	if out, err := exec.Command(binary(t), "ban", "-db", dsn, "-ip", "127.0.0.1", "-reason", "flood", "-for", "1h").CombinedOutput(); err != nil {
		t.Fatalf("rallypoint ban: %v\n%s", err, out)
	}
	bo, err = dialAs(url, "bo")
	if err != nil {
		t.Fatalf("a player from the banned address (bans by address are for anonymous clients): %v", err)
	}
	bo.Close()
}

// TestServeBansAnonymousByIP: without auth a client has no subject, so a
// ban holds its address; `rallypoint ban` writes it while the server runs,
// and -lift lifts it.
func TestServeBansAnonymousByIP(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "rallypoint.db")
	url, _, _, _ := startServe(t, "-db", dsn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() error {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatal(err)
	}
	ban := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(binary(t), append([]string{"ban", "-db", dsn, "-ip", "127.0.0.1"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("rallypoint ban: %v\n%s", err, out)
		}
	}
	ban("-reason", "flood")
	err := dial()
	if !errors.Is(err, &signaling.Error{Code: signaling.CodeUnauthorized}) || !strings.Contains(err.Error(), "flood") {
		t.Fatalf("anonymous client from a banned address: %v", err)
	}
	ban("-lift")
	if err := dial(); err != nil {
		t.Fatalf("after the ban was lifted: %v", err)
	}
}
