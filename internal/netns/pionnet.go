package netns

import (
	"net"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
)

// PionNet returns a pion network (for webrtc's SettingEngine.SetNet or a
// mesh's Config.Net) whose sockets live in ns while the code that uses
// them runs anywhere in the test process: every listen and dial happens
// on a thread switched into ns (see Do), and the interfaces it lists are
// ns's, as they were when PionNet was called.
func (ns *NS) PionNet() (transport.Net, error) {
	var inner *stdnet.Net
	err := ns.Do(func() error {
		var err error
		inner, err = stdnet.NewNet()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pionNet{Net: inner, ns: ns}, nil
}

type pionNet struct {
	*stdnet.Net
	ns *NS
}

func (n *pionNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.ns.Do(func() error {
		c, err = n.Net.ListenPacket(network, address)
		return err
	})
	return c, err
}

func (n *pionNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.ns.Do(func() error {
		c, err = n.Net.ListenUDP(network, laddr)
		return err
	})
	return c, err
}

func (n *pionNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	err = n.ns.Do(func() error {
		l, err = n.Net.ListenTCP(network, laddr)
		return err
	})
	return l, err
}

func (n *pionNet) Dial(network, address string) (c net.Conn, err error) {
	err = n.ns.Do(func() error {
		c, err = n.Net.Dial(network, address)
		return err
	})
	return c, err
}

func (n *pionNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.ns.Do(func() error {
		c, err = n.Net.DialUDP(network, laddr, raddr)
		return err
	})
	return c, err
}

func (n *pionNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	err = n.ns.Do(func() error {
		c, err = n.Net.DialTCP(network, laddr, raddr)
		return err
	})
	return c, err
}

func (n *pionNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return nsDialer{inner: n.Net.CreateDialer(d), ns: n.ns}
}

type nsDialer struct {
	inner transport.Dialer
	ns    *NS
}

func (d nsDialer) Dial(network, address string) (c net.Conn, err error) {
	err = d.ns.Do(func() error {
		c, err = d.inner.Dial(network, address)
		return err
	})
	return c, err
}
