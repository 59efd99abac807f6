package store

// migrations is the schema, one step per version: migrations[i] takes a
// database from version i to i+1. Only append to this list; a released
// step is never edited. The SQL is the common subset of SQLite and
// PostgreSQL.
var migrations = []string{
	// 1: players with their ratings, match results, bans.
	`CREATE TABLE players (
		subject    TEXT PRIMARY KEY,
		mu         DOUBLE PRECISION NOT NULL,
		sigma      DOUBLE PRECISION NOT NULL,
		games      BIGINT NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	);
	CREATE TABLE matches (
		session    TEXT PRIMARY KEY,
		queue      TEXT NOT NULL,
		teams      TEXT NOT NULL,
		ranks      TEXT NOT NULL,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE bans (
		kind       TEXT NOT NULL,
		key        TEXT NOT NULL,
		reason     TEXT NOT NULL,
		until      BIGINT NOT NULL,
		created_at BIGINT NOT NULL,
		PRIMARY KEY (kind, key)
	)`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)
