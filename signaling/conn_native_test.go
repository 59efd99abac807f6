//go:build !js

package signaling

// cutConn drops ws's TCP connection under it, without a closing handshake,
// as a failing network would.
func cutConn(ws wsConn) { ws.(*gorillaConn).ws.NetConn().Close() }
