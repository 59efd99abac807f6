package signaling

import "time"

// wsConn is one WebSocket connection as the Client uses it. The Client's
// logic (hello, resume, calls, events, reconnection) is written once on top
// of it; two implementations, chosen by build tags, carry the frames:
// gorilla/websocket on native platforms (conn_native.go) and
// coder/websocket over the browser's WebSocket object on js/wasm
// (conn_js.go), where Go's net package cannot dial.
//
// readText runs on one goroutine at a time and so does writeText (the
// Client serializes writes); setReadDeadline, closeNormal and close may be
// called from any goroutine.
type wsConn interface {
	// readText returns the next text message, skipping other data frames.
	// It fails once the connection ends or the read deadline passes; a
	// passed deadline ends the connection.
	readText() ([]byte, error)
	// setReadDeadline sets the read deadline; zero means none. It may
	// interrupt a readText in progress.
	setReadDeadline(t time.Time)
	// writeText writes one text message, giving up after timeout.
	writeText(b []byte, timeout time.Duration) error
	// closeNormal starts the closing handshake with a normal-closure frame;
	// readText fails once the server has answered it.
	closeNormal(timeout time.Duration)
	// close ends the connection without waiting for the server.
	close() error
	// onPing installs fn, called for each ping from the server (when the
	// transport lets the program see them) to extend the read deadline to
	// the time fn returns.
	onPing(fn func() time.Time)
	// noKeepAlive turns the transport's TCP keep-alive off, when the
	// program can: the server's pings watch the connection instead.
	noKeepAlive()
}
