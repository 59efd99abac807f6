package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/pgtest"
	"github.com/rallypoint/rallypoint/matchmaker"
	"github.com/rallypoint/rallypoint/store"
)

// backends runs f against an SQLite file and a PostgreSQL server the test
// starts, each opened twice in turn: what the first DB wrote, the second
// (a restart) reads.
func backends(t *testing.T, f func(t *testing.T, open func() *store.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "data", "rallypoint.db")
		f(t, func() *store.DB { return openT(t, path) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.Start(t)
		f(t, func() *store.DB { return openT(t, dsn) })
	})
}

func openT(t *testing.T, dsn string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStoreSurvivesReopen(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.DB) {
		ctx := context.Background()
		db := open()
		if v, err := db.Version(ctx); err != nil || v != store.SchemaVersion {
			t.Fatalf("version %d, %v", v, err)
		}
		if _, ok, err := db.Get(ctx, "ana"); ok || err != nil {
			t.Fatalf("fresh database has ana: %v", err)
		}
		win := matchmaker.Rating{Mu: 27.5, Sigma: 8.1}
		if err := db.Put(ctx, map[string]matchmaker.Rating{"ana": win, "bo": {Mu: 22.5, Sigma: 8.1}}); err != nil {
			t.Fatal(err)
		}
		if err := db.Put(ctx, map[string]matchmaker.Rating{"ana": {Mu: 29, Sigma: 7.5}}); err != nil {
			t.Fatal(err)
		}
		m := store.Match{Session: "s1", Queue: "1v1", Teams: [][]string{{"ana"}, {"bo"}}, Ranks: []float64{1, 2}, At: time.Unix(1000, 0)}
		if err := errors.Join(db.RecordMatch(ctx, m), db.RecordMatch(ctx, m)); err != nil {
			t.Fatal(err)
		}
		if err := db.Ban(ctx, store.Ban{Kind: store.BanPlayer, Key: "cheater", Reason: "aimbot"}); err != nil {
			t.Fatal(err)
		}
		if err := db.Ban(ctx, store.Ban{Kind: store.BanIP, Key: "192.0.2.7", Reason: "flood", Until: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := db.Ban(ctx, store.Ban{Kind: "planet", Key: "x"}); !errors.Is(err, store.ErrInvalidBan) {
			t.Fatalf("ban of an unknown kind: %v", err)
		}
		db.Close()
		if _, _, err := db.Get(ctx, "ana"); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Get after Close: %v", err)
		}

		// A restart: everything is still there, and migrating again is a
		// no-op.
		db = open()
		r, ok, err := db.Get(ctx, "ana")
		if err != nil || !ok || r != (matchmaker.Rating{Mu: 29, Sigma: 7.5}) {
			t.Fatalf("ana after reopen: %+v %v %v", r, ok, err)
		}
		if n, err := db.Games(ctx, "ana"); err != nil || n != 2 {
			t.Fatalf("ana played %d games (%v), want 2", n, err)
		}
		ms, err := db.Matches(ctx, 10)
		if err != nil || len(ms) != 1 || ms[0].Session != "s1" || ms[0].Teams[1][0] != "bo" || ms[0].Ranks[1] != 2 {
			t.Fatalf("matches %+v, %v", ms, err)
		}
		now := time.Now()
		if b, ok, err := db.Banned(ctx, store.BanPlayer, "cheater", now); err != nil || !ok || b.Reason != "aimbot" {
			t.Fatalf("player ban %+v %v %v", b, ok, err)
		}
		if _, ok, _ := db.Banned(ctx, store.BanIP, "192.0.2.7", now); !ok {
			t.Fatal("ip ban lost")
		}
		if _, ok, _ := db.Banned(ctx, store.BanIP, "192.0.2.7", now.Add(2*time.Hour)); ok {
			t.Fatal("an expired ban is in force")
		}
		if err := db.Unban(ctx, store.BanPlayer, "cheater"); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.Banned(ctx, store.BanPlayer, "cheater", now); ok {
			t.Fatal("unbanned player still banned")
		}
	})
}

// TestConcurrentPuts: writers from many goroutines all land (SQLite's
// single writer queues them rather than failing with SQLITE_BUSY).
func TestConcurrentPuts(t *testing.T) {
	backends(t, func(t *testing.T, open func() *store.DB) {
		ctx := context.Background()
		db := open()
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- db.Put(ctx, map[string]matchmaker.Rating{"p": {Mu: float64(i), Sigma: 1}, "q": {Mu: 1, Sigma: 1}})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n, _ := db.Games(ctx, "q"); n != 40 {
			t.Fatalf("%d games counted, want 40", n)
		}
	})
}
