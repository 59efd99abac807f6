//go:build js

package signaling

// cutConn ends ws as abruptly as a browser allows.
func cutConn(ws wsConn) { ws.close() }
