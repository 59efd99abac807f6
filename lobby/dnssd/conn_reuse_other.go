//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package dnssd

import "syscall"

// reuseControl sets no options on this platform: port 5353 cannot be shared
// with another mDNS stack running here.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
