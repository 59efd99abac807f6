package dnssd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// The mDNS port and groups (RFC 6762 §3).
const mdnsPort = 5353

var (
	group4 = netip.MustParseAddr("224.0.0.251")
	group6 = netip.MustParseAddr("ff02::fb")
)

// mconn is one multicast socket: IPv4 or IPv6, bound to port 5353 on all
// addresses, joined to the mDNS group on every selected interface. It learns
// each packet's arrival interface from control messages and sends on a
// chosen interface the same way.
type mconn struct {
	v6 bool
	pc net.PacketConn
	p4 *ipv4.PacketConn
	p6 *ipv6.PacketConn
	// noCM is set where the system has no per-packet interface control
	// messages (Windows): packets then arrive with interface index 0, and
	// sends pick their interface with IP_MULTICAST_IF first.
	noCM bool
}

// listenMulticast opens the socket of one family and joins the group on
// ifaces. It returns the interfaces it joined on; it fails when it joined on
// none.
func listenMulticast(v6 bool, ifaces []net.Interface) (*mconn, []net.Interface, error) {
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", mdnsPort)
	if v6 {
		network, addr = "udp6", fmt.Sprintf("[::]:%d", mdnsPort)
	}
	lc := net.ListenConfig{Control: reuseControl}
	pc, err := lc.ListenPacket(context.Background(), network, addr)
	if err != nil {
		return nil, nil, err
	}
	c := &mconn{v6: v6, pc: pc}
	var joined []net.Interface
	var errs []error
	if v6 {
		c.p6 = ipv6.NewPacketConn(pc)
		for i := range ifaces {
			err := c.p6.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group6.AsSlice()})
			if err != nil {
				errs = append(errs, &InterfaceError{Interface: ifaces[i].Name, Err: err})
				continue
			}
			joined = append(joined, ifaces[i])
		}
		c.noCM = c.p6.SetControlMessage(ipv6.FlagInterface|ipv6.FlagSrc, true) != nil
		err = errors.Join(
			c.p6.SetMulticastHopLimit(255),
			c.p6.SetHopLimit(255),
			c.p6.SetMulticastLoopback(true),
		)
	} else {
		c.p4 = ipv4.NewPacketConn(pc)
		for i := range ifaces {
			err := c.p4.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group4.AsSlice()})
			if err != nil {
				errs = append(errs, &InterfaceError{Interface: ifaces[i].Name, Err: err})
				continue
			}
			joined = append(joined, ifaces[i])
		}
		c.noCM = c.p4.SetControlMessage(ipv4.FlagInterface, true) != nil
		err = errors.Join(
			c.p4.SetMulticastTTL(255),
			c.p4.SetTTL(255),
			c.p4.SetMulticastLoopback(true),
		)
	}
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	if len(joined) == 0 {
		pc.Close()
		return nil, nil, fmt.Errorf("%w: joining %v: %w", ErrNoInterfaces, group(v6), errors.Join(errs...))
	}
	return c, joined, nil
}

func group(v6 bool) netip.Addr {
	if v6 {
		return group6
	}
	return group4
}

// read reads one packet and returns its length, arrival interface index and
// source.
func (c *mconn) read(buf []byte) (int, int, netip.AddrPort, error) {
	if c.v6 {
		n, cm, src, err := c.p6.ReadFrom(buf)
		if err != nil {
			return 0, 0, netip.AddrPort{}, err
		}
		ifindex := 0
		if cm != nil {
			ifindex = cm.IfIndex
		}
		ap := src.(*net.UDPAddr).AddrPort()
		return n, ifindex, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	n, cm, src, err := c.p4.ReadFrom(buf)
	if err != nil {
		return 0, 0, netip.AddrPort{}, err
	}
	ifindex := 0
	if cm != nil {
		ifindex = cm.IfIndex
	}
	ap := src.(*net.UDPAddr).AddrPort()
	return n, ifindex, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// send writes b to dst (the group when dst is invalid) out of interface
// ifindex.
func (c *mconn) send(b []byte, ifindex int, dst netip.AddrPort) error {
	if !dst.IsValid() {
		dst = netip.AddrPortFrom(group(c.v6), mdnsPort)
	}
	ua := net.UDPAddrFromAddrPort(dst)
	if c.noCM {
		// Only the Node's loop goroutine sends, so setting the socket's
		// multicast interface before each write does not race.
		ifc, err := net.InterfaceByIndex(ifindex)
		if err != nil {
			return err
		}
		if c.v6 {
			if err := c.p6.SetMulticastInterface(ifc); err != nil {
				return err
			}
			_, err = c.p6.WriteTo(b, nil, ua)
			return err
		}
		if err := c.p4.SetMulticastInterface(ifc); err != nil {
			return err
		}
		_, err = c.p4.WriteTo(b, nil, ua)
		return err
	}
	if c.v6 {
		_, err := c.p6.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifindex}, ua)
		return err
	}
	_, err := c.p4.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifindex}, ua)
	return err
}

func (c *mconn) close() error { return c.pc.Close() }
