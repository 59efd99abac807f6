// Package store keeps what must outlive a server process: players, their
// ratings, match results and bans, in a real SQL database.
//
// Open takes a data source name. A postgres:// or postgresql:// URL opens
// PostgreSQL through the pgx driver (github.com/jackc/pgx/v5/stdlib): the
// choice for several server nodes that share one database. Anything else is
// the path of an embedded SQLite file (modernc.org/sqlite, pure Go, no
// cgo), created with its directory on first use; ":memory:" is a private
// database that lives as long as the DB.
//
//	db, err := store.Open(ctx, "/var/lib/rallypoint/rallypoint.db")
//	...
//	defer db.Close()
//	r, ok, err := db.Get(ctx, "player-subject")
//
// # Schema and migrations
//
// The schema is a numbered list of migrations (see migrations in
// schema.go); Open applies the ones a database lacks, each in a
// transaction that also records its number in schema_migrations, so a
// database made by an older server is brought up to date and one made by a
// newer server is refused (ErrSchemaTooNew). On PostgreSQL the migrations
// run under an advisory lock, so nodes starting together migrate once.
//
// Tables: players (subject, mu, sigma, games, created_at, updated_at),
// matches (session, queue, teams and ranks as JSON, created_at) and bans
// (kind "player" or "ip", key, reason, until, created_at).
//
// # Identity
//
// A player is its authenticated subject. Anonymous peers have none: the
// matchmaker stores no rating for them, and bans on them are by IP address.
//
// # Concurrency
//
// A DB is safe for concurrent use. Put writes every rating of a match in
// one transaction. The SQLite file is opened in WAL mode with a busy
// timeout and one connection, so writers queue instead of failing.
//
// This package is server-side only: the client packages (signaling, lobby,
// netcode) never import it, which internal/depcheck enforces.
package store
