package nearby

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

// DefaultTTL is LANConfig.TTL's zero value.
const DefaultTTL = 5 * time.Second

// LANConfig configures StartLAN. The zero value is valid.
type LANConfig struct {
	Config
	// Interfaces and Network select the interfaces and IP families of
	// DNS-SD, as lobby.LANConfig's. Empty means every multicast interface,
	// both families.
	Interfaces []string
	Network    string
	// TTL is the TTL of every record of the presence record (PTR, SRV,
	// TXT, addresses): a player whose process dies disappears from other
	// players' lists (and from avahi-browse) within TTL of its last
	// answer. Zero means DefaultTTL (5 s). Browsers re-query a record at
	// 80% of its TTL, so a short TTL costs a few small packets per player
	// every few seconds.
	TTL time.Duration
	// Addr is the UDP address messages are received on. Empty means ":0".
	Addr string
	// Logf, when set, receives DNS-SD diagnostics. Nil means silence.
	Logf func(format string, args ...any)
}

type udpLink struct{ pc *net.UDPConn }

func (l *udpLink) send(r route, b []byte) error {
	if !r.addr.IsValid() {
		return ErrUnknownPlayer
	}
	_, err := l.pc.WriteToUDPAddrPort(b, r.addr)
	return err
}

func (l *udpLink) close() { _ = l.pc.Close() }

func (l *udpLink) routeFor(string) (route, bool) { return route{}, false }

type lanPresence struct {
	node  *dnssd.Node
	ident *Identity
	port  uint16
	mu    sync.Mutex
	reg   *dnssd.Registration
	inst  string
}

func (p *lanPresence) publish(ctx context.Context, prof Profile) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	txt := recordTXT(p.ident, prof)
	inst := instanceName(p.ident.ID(), prof.Name)
	if p.reg != nil && inst == p.inst {
		return p.reg.UpdateTXT(ctx, txt)
	}
	if p.reg != nil {
		_ = p.reg.Close()
		p.reg = nil
	}
	reg, err := p.node.Advertise(ctx, dnssd.Service{Instance: inst, Type: ServiceType, Port: p.port, TXT: txt})
	if err != nil {
		return fmt.Errorf("nearby: advertising: %w", err)
	}
	p.reg, p.inst = reg, inst
	return nil
}

func (p *lanPresence) withdraw(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg != nil {
		_ = p.reg.Close()
		p.reg = nil
	}
	return nil
}

func (p *lanPresence) close() {
	_ = p.withdraw(context.Background())
	_ = p.node.Close()
}

// StartLAN starts browsing the local network for nearby players, and
// listens for messages on a UDP port. The player is advertised only when
// cfg.Visible is set or after SetVisible(true). Close stops everything.
func StartLAN(ctx context.Context, cfg LANConfig) (*Nearby, error) {
	if err := cfg.Config.prepare(); err != nil {
		return nil, err
	}
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	addr := cfg.Addr
	if addr == "" {
		addr = ":0"
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("nearby: %w", err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("nearby: listening: %w", err)
	}
	node, err := dnssd.New(dnssd.Config{Interfaces: cfg.Interfaces, Network: cfg.Network, HostTTL: ttl, ServiceTTL: ttl,
		NoProbe: true, Logf: cfg.Logf})
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("nearby: %w", err)
	}
	n := newNearby(cfg.Config, cfg.Identity.ID())
	n.link = &udpLink{pc: pc}
	n.pres = &lanPresence{node: node, ident: cfg.Identity, port: uint16(pc.LocalAddr().(*net.UDPAddr).Port)}
	bctx, cancel := context.WithCancel(context.Background())
	evs, err := node.Browse(bctx, ServiceType)
	if err != nil {
		cancel()
		node.Close()
		pc.Close()
		return nil, fmt.Errorf("nearby: %w", err)
	}
	n.start()
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		defer cancel()
		n.browse(evs)
	}()
	go func() {
		defer n.wg.Done()
		n.readUDP(pc)
	}()
	if cfg.Visible {
		if err := n.SetVisible(ctx, true); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// Port returns the UDP port messages are received on (LAN).
func (n *Nearby) Port() int {
	if l, ok := n.link.(*udpLink); ok {
		return l.pc.LocalAddr().(*net.UDPAddr).Port
	}
	return 0
}

func (n *Nearby) browse(evs <-chan dnssd.Event) {
	for ev := range evs {
		var pl *Player
		if ev.Kind != dnssd.Removed {
			if p, err := ParseRecord(ev.TXT, ev.AddrPorts()); err == nil {
				pl = &p
			}
		}
		inst := ev.Instance
		select {
		case n.ops <- func() { n.presenceUpdate(inst, pl) }:
		case <-n.quit:
			return
		}
	}
}

func (n *Nearby) readUDP(pc *net.UDPConn) {
	buf := make([]byte, MaxPacket+1)
	for {
		sz, src, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-n.quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		if sz > MaxPacket {
			n.malformed.Add(1)
			continue
		}
		in := inbound{b: append([]byte(nil), buf[:sz]...), src: route{addr: netip.AddrPortFrom(src.Addr().Unmap(), src.Port())}}
		select {
		case n.in <- in:
		case <-n.quit:
			return
		}
	}
}

// JoinLAN accepts an invitation received on a LAN and joins its lobby:
// it answers the inviter, dials the lobby's host at the address the
// invitation came from (or its URL) with lobby.DialLAN and joins the
// lobby. cfg may be nil. The caller owns the returned client.
func JoinLAN(ctx context.Context, n *Nearby, inv InviteReceived, cfg *lobby.ClientConfig) (*lobby.Client, lobby.State, error) {
	if err := n.Answer(ctx, inv.From.ID, inv.Invitation.ID, true); err != nil {
		return nil, lobby.State{}, err
	}
	l := lobby.LANLobby{ID: inv.Invitation.Lobby, Name: inv.Invitation.Name, Game: inv.Invitation.Game}
	var c *lobby.Client
	var err error
	if inv.Invitation.URL != "" {
		c, err = lobby.Dial(ctx, inv.Invitation.URL, cfg)
	} else {
		if !inv.From.Addr.IsValid() || inv.Invitation.Port == 0 {
			return nil, lobby.State{}, fmt.Errorf("%w: the invitation names no LAN host", ErrInvalid)
		}
		l.Addrs = []netip.AddrPort{netip.AddrPortFrom(inv.From.Addr.Addr(), inv.Invitation.Port)}
		c, err = lobby.DialLAN(ctx, l, cfg)
	}
	if err != nil {
		return nil, lobby.State{}, err
	}
	st, err := c.Join(ctx, inv.Invitation.Lobby, lobby.JoinOptions{Password: inv.Invitation.Password})
	if err != nil {
		c.Close()
		return nil, lobby.State{}, err
	}
	return c, st, nil
}
