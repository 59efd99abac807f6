// Package pgtest starts a throwaway PostgreSQL server for tests: initdb
// and pg_ctl from Debian's postgresql package (scripts/setup.sh installs
// it), in a temporary directory, on a free port of 127.0.0.1, with trust
// authentication and fsync off, stopped (immediate mode) and removed at the
// test's cleanup. As root it runs them as the postgres user, since initdb
// refuses to run as root. Without the binaries, Start skips the test with a
// message naming the package.
//
//	dsn := pgtest.Start(t) // postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
//	db, err := store.Open(ctx, dsn)
//
// Each Start costs about a second (initdb dominates).
package pgtest
