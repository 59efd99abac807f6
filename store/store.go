package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/rallypoint/rallypoint/matchmaker"
)

// Store is what the server keeps in a database. DB implements it; the
// matchmaker service uses Get and Put (its own Store interface) and
// RecordMatch, the server's upgrade check Banned.
type Store interface {
	// Get returns a player's rating; ok is false for a player never rated.
	Get(ctx context.Context, subject string) (r matchmaker.Rating, ok bool, err error)
	// Put stores the new ratings of several players in one transaction,
	// counting one game for each.
	Put(ctx context.Context, ratings map[string]matchmaker.Rating) error
	// RecordMatch keeps the result of a match.
	RecordMatch(ctx context.Context, m Match) error
	// Ban adds or replaces a ban; Unban lifts it.
	Ban(ctx context.Context, b Ban) error
	Unban(ctx context.Context, kind, key string) error
	// Banned returns the ban in force on kind and key at now, if any.
	Banned(ctx context.Context, kind, key string, now time.Time) (Ban, bool, error)
	// Close releases the database.
	Close() error
}

// Match is the agreed result of a match: the players' subjects by team
// ("" for an anonymous player) and the ranks per team.
type Match struct {
	Session string
	Queue   string
	Teams   [][]string
	Ranks   []float64
	At      time.Time
}

// Ban kinds.
const (
	BanPlayer = "player" // Key is an authenticated subject
	BanIP     = "ip"     // Key is an IP address (anonymous mode)
)

// Ban keeps a player or an address out. A zero Until is forever.
type Ban struct {
	Kind   string
	Key    string
	Reason string
	Until  time.Time
	At     time.Time
}

// DB is a Store over database/sql: SQLite or PostgreSQL.
type DB struct {
	db       *sql.DB
	postgres bool
	closed   atomic.Bool
}

var _ Store = (*DB)(nil)

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open opens the database named by dsn (see the package documentation),
// creating an SQLite file and its directory if needed, and migrates it to
// SchemaVersion.
func Open(ctx context.Context, dsn string) (*DB, error) {
	s := &DB{postgres: IsPostgres(dsn)}
	var err error
	if s.postgres {
		s.db, err = sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		s.db.SetMaxOpenConns(8)
	} else {
		path := dsn
		if dsn == "" {
			return nil, errors.New("store: empty data source name")
		}
		if dsn != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(dsn), 0o700); err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
		}
		s.db, err = sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		// One connection: writers queue in database/sql rather than meet
		// SQLITE_BUSY, and ":memory:" stays one database.
		s.db.SetMaxOpenConns(1)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Version returns the schema version of the database.
func (s *DB) Version(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

func (s *DB) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	if s.postgres {
		// Nodes that start together migrate one after the other.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(727001)`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	cur := int(v.Int64)
	if cur > len(migrations) {
		return fmt.Errorf("%w: version %d, this server knows %d", ErrSchemaTooNew, cur, len(migrations))
	}
	for i := cur; i < len(migrations); i++ {
		for _, stmt := range strings.Split(migrations[i], ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("store: migration %d: %w", i+1, err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), i+1, time.Now().Unix()); err != nil {
			return fmt.Errorf("store: migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// q rewrites ? placeholders as $1, $2, ... for PostgreSQL.
func (s *DB) q(query string) string {
	if !s.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (s *DB) check() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Get implements Store.
func (s *DB) Get(ctx context.Context, subject string) (matchmaker.Rating, bool, error) {
	var r matchmaker.Rating
	if err := s.check(); err != nil {
		return r, false, err
	}
	err := s.db.QueryRowContext(ctx, s.q(`SELECT mu, sigma FROM players WHERE subject = ?`), subject).Scan(&r.Mu, &r.Sigma)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("store: get %q: %w", subject, err)
	}
	return r, true, nil
}

// Put implements Store.
func (s *DB) Put(ctx context.Context, ratings map[string]matchmaker.Rating) error {
	if err := s.check(); err != nil {
		return err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	defer tx.Rollback()
	now := time.Now().Unix()
	q := s.q(`INSERT INTO players (subject, mu, sigma, games, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET mu = excluded.mu, sigma = excluded.sigma,
		games = players.games + 1, updated_at = excluded.updated_at`)
	// Rows are written in one order (by subject), so that two concurrent
	// Puts lock them in the same order and never deadlock (PostgreSQL
	// aborts one of two transactions that wait on each other's rows).
	for _, sub := range slices.Sorted(maps.Keys(ratings)) {
		r := ratings[sub]
		if _, err := tx.ExecContext(ctx, q, sub, r.Mu, r.Sigma, now, now); err != nil {
			return fmt.Errorf("store: put %q: %w", sub, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Games returns how many rated games a player has played.
func (s *DB) Games(ctx context.Context, subject string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT games FROM players WHERE subject = ?`), subject).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// RecordMatch implements Store. Recording a session twice keeps the first.
func (s *DB) RecordMatch(ctx context.Context, m Match) error {
	if err := s.check(); err != nil {
		return err
	}
	teams, _ := json.Marshal(m.Teams)
	ranks, _ := json.Marshal(m.Ranks)
	if m.At.IsZero() {
		m.At = time.Now()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO matches (session, queue, teams, ranks, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (session) DO NOTHING`), m.Session, m.Queue, string(teams), string(ranks), m.At.Unix())
	if err != nil {
		return fmt.Errorf("store: record match %q: %w", m.Session, err)
	}
	return nil
}

// Matches returns the recorded results, oldest first, at most limit.
func (s *DB) Matches(ctx context.Context, limit int) ([]Match, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT session, queue, teams, ranks, created_at FROM matches ORDER BY created_at, session LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: matches: %w", err)
	}
	defer rows.Close()
	var out []Match
	for rows.Next() {
		var m Match
		var teams, ranks string
		var at int64
		if err := rows.Scan(&m.Session, &m.Queue, &teams, &ranks, &at); err != nil {
			return nil, fmt.Errorf("store: matches: %w", err)
		}
		if err := errors.Join(json.Unmarshal([]byte(teams), &m.Teams), json.Unmarshal([]byte(ranks), &m.Ranks)); err != nil {
			return nil, fmt.Errorf("store: match %q: %w", m.Session, err)
		}
		m.At = time.Unix(at, 0)
		out = append(out, m)
	}
	return out, rows.Err()
}

// Ban implements Store.
func (s *DB) Ban(ctx context.Context, b Ban) error {
	if err := s.check(); err != nil {
		return err
	}
	if (b.Kind != BanPlayer && b.Kind != BanIP) || b.Key == "" {
		return fmt.Errorf("%w: kind %q key %q", ErrInvalidBan, b.Kind, b.Key)
	}
	if b.At.IsZero() {
		b.At = time.Now()
	}
	var until int64
	if !b.Until.IsZero() {
		until = b.Until.Unix()
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO bans (kind, key, reason, until, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET reason = excluded.reason, until = excluded.until, created_at = excluded.created_at`),
		b.Kind, b.Key, b.Reason, until, b.At.Unix())
	if err != nil {
		return fmt.Errorf("store: ban: %w", err)
	}
	return nil
}

// Unban implements Store.
func (s *DB) Unban(ctx context.Context, kind, key string) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM bans WHERE kind = ? AND key = ?`), kind, key); err != nil {
		return fmt.Errorf("store: unban: %w", err)
	}
	return nil
}

// Banned implements Store.
func (s *DB) Banned(ctx context.Context, kind, key string, now time.Time) (Ban, bool, error) {
	b := Ban{Kind: kind, Key: key}
	if err := s.check(); err != nil {
		return b, false, err
	}
	var until, at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT reason, until, created_at FROM bans WHERE kind = ? AND key = ?`), kind, key).Scan(&b.Reason, &until, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return b, false, nil
	}
	if err != nil {
		return b, false, fmt.Errorf("store: banned: %w", err)
	}
	b.At = time.Unix(at, 0)
	if until != 0 {
		b.Until = time.Unix(until, 0)
		if !now.Before(b.Until) {
			return b, false, nil
		}
	}
	return b, true, nil
}

// Close implements Store. It is idempotent.
func (s *DB) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.db.Close()
}
