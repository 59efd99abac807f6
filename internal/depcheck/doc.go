// Package depcheck holds a test that keeps the library packages free of the
// demo's and the server binary's dependencies: a game that embeds netcode,
// lobby, matchmaker or signaling must not pull in Ebiten or cmd/rallypoint.
//
// It has no code of its own; run it with go test ./internal/depcheck.
package depcheck
