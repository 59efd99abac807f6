//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package dnssd

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets several processes (and other mDNS stacks such as avahi
// or Bonjour) bind port 5353 together; each gets its own copy of every
// multicast packet.
func reuseControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
