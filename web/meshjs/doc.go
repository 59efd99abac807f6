// Package meshjs holds rallypoint-mesh.js, the reference JavaScript client
// of the mesh wire (docs/mesh-wire.md) and of the signaling protocol subset
// a game needs (docs/protocol.md: hello, join, signal), for web games not
// written in Go, and peer.html, a page that drives it from outside (tests,
// `rallypoint bench browser`).
//
// The module is an ES module with no dependencies and no build step: copy
// it next to a game's page, or serve it from Go with Handler:
//
//	mux.Handle("/meshjs/", http.StripPrefix("/meshjs", meshjs.Handler()))
//	// in the page: import { connect, Channel } from "/meshjs/rallypoint-mesh.js";
//
// It offers and answers like the Go mesh (netcode/mesh, native or js/wasm):
// the peer with the smaller id offers; the reliable channel is
// pre-negotiated with id 0 and the others are opened in-band and matched by
// label; control pings are answered; reliable messages are chunked above
// 16 KiB; liveness follows the same deadlines (interrupted after 500 ms of
// silence, disconnected after 2.5 s). It does not implement signaling
// resume, ICE restarts as the offering side (it starts a new attempt
// instead, which a Go answerer accepts), TURN fallback or kicks; it
// answers an ICE restart and reports a kick.
//
// The tests in this package run the module in a real headless Chromium
// (internal/browser) against native Go meshes through a real
// signaling.Server, between two pages, and against the js/wasm build of
// netcode/mesh (internal/wasmpeer).
package meshjs

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed rallypoint-mesh.js peer.html
var files embed.FS

// FS holds rallypoint-mesh.js and peer.html.
var FS fs.FS = files

// Handler serves FS (rallypoint-mesh.js with a JavaScript content type).
func Handler() http.Handler { return http.FileServerFS(files) }
