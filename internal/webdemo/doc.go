// Package webdemo builds the demo game for browsers: one directory with the
// page (demo-game/web/index.html), Go's wasm_exec.js and demo.wasm, the
// demo compiled for js/wasm. `rallypoint serve -web DIR` serves such a
// directory next to its WebSocket endpoint, and `rallypoint serve -web-demo`
// builds one into a temporary directory first, so a player opens one URL
// and plays online against native players; the browser tests of demo-game
// build theirs the same way.
//
// # Requirements and limits
//
// Build runs the go command (found on PATH) on the module's source: it
// works in a checkout of the repository, not from an installed binary
// alone. A build takes as long as `GOOS=js GOARCH=wasm go build ./demo-game`
// (seconds with a warm build cache, a minute or more cold); demo.wasm is
// about 38 MB, and its gzipped copy demo.wasm.gz, which rallypoint serve
// sends to browsers that accept gzip, about 10 MB. Build is safe to call from several
// goroutines with different directories.
package webdemo
