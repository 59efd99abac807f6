package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/rallypoint/rallypoint/store"
)

func init() {
	registerCommand("ban", "ban (or -lift a ban on) a player or an IP address in the server's database", runBan)
}

// runBan writes a ban into the database a server uses (the same -db and
// -data-dir as serve). A running server checks bans at every connection,
// so the ban applies to the next one.
func runBan(args []string) error {
	fs := flag.NewFlagSet("ban", flag.ContinueOnError)
	db := fs.String("db", "", "database, as for serve (default: rallypoint.db in -data-dir)")
	dataDir := fs.String("data-dir", defaultDataDir(), "directory of the default SQLite database")
	player := fs.String("player", "", "the player's auth subject")
	ip := fs.String("ip", "", "an IP address (bans of anonymous clients)")
	reason := fs.String("reason", "", "why, shown to the refused client")
	dur := fs.Duration("for", 0, "how long (0: until lifted)")
	lift := fs.Bool("lift", false, "lift the ban instead")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	kind, key := store.BanPlayer, *player
	if (*player == "") == (*ip == "") {
		return errors.New("ban: give one of -player or -ip")
	}
	if *ip != "" {
		kind, key = store.BanIP, *ip
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, serveConfig{DB: *db, DataDir: *dataDir}.dataSource())
	if err != nil {
		return err
	}
	defer s.Close()
	if *lift {
		if err := s.Unban(ctx, kind, key); err != nil {
			return err
		}
		fmt.Fprintf(os.Stdout, "lifted the ban on %s %s\n", kind, key)
		return nil
	}
	b := store.Ban{Kind: kind, Key: key, Reason: *reason}
	if *dur > 0 {
		b.Until = time.Now().Add(*dur)
	}
	if err := s.Ban(ctx, b); err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "banned %s %s\n", kind, key)
	return nil
}
