package signaling

import (
	"net"
	"syscall"
	"testing"
	"time"
)

// keepAliveOn reads SO_KEEPALIVE of c's socket.
func keepAliveOn(t *testing.T, c net.Conn) bool {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return v != 0
}

// TestNoTCPKeepAlive: Go's listener and dialer turn TCP keep-alive on; the
// server turns it off on an upgraded connection and the client on its own
// once the server has announced its pings.
func TestNoTCPKeepAlive(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dialT(t, ts.URL, nil)
	var server, client bool
	for deadline := time.Now().Add(15 * time.Second); ; {
		ts.mu.RLock()
		var sc net.Conn
		for k := range ts.conns {
			sc = k.ws.NetConn()
		}
		ts.mu.RUnlock()
		c.mu.Lock()
		ws := c.ws
		c.mu.Unlock()
		if sc != nil && ws != nil {
			server, client = keepAliveOn(t, sc), keepAliveOn(t, ws.(*gorillaConn).ws.NetConn())
			if !server && !client {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("TCP keep-alive on: server side %v, client side %v", server, client)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
