// Package depcheck holds repository-wide checks. One keeps the library packages free of the
// demo's and the server binary's dependencies: a game that embeds netcode,
// lobby, matchmaker or signaling must not pull in Ebiten or cmd/rallypoint.
//
// Another checks that every package has a doc.go manual. It has no code of
// its own; run it with go test ./internal/depcheck.
package depcheck
