package signaling

import "net"

// noTCPKeepAlive turns the kernel's TCP keep-alive off on c's TCP
// connection (under TLS too), where it can tell one. A WebSocket's
// liveness is the server's pings and both ends' deadlines; Go turns TCP
// keep-alive on by default (a probe after 15 s of silence), which on an
// idle session sends about one probe and one answer per ping interval and
// socket: with tens of thousands of sessions, thousands of packets a
// second that the kernel handles on top of the pings themselves.
func noTCPKeepAlive(c net.Conn) {
	for c != nil {
		switch v := c.(type) {
		case *net.TCPConn:
			v.SetKeepAlive(false)
			return
		case interface{ NetConn() net.Conn }: // *tls.Conn
			c = v.NetConn()
		default:
			return
		}
	}
}
