package piggyback

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/transport/v4"
)

// Defaults of Config.
const (
	DefaultHold        = 20 * time.Millisecond
	DefaultMaxDatagram = 1400
)

// maxIdleDests bounds the destinations a socket remembers; past it the
// ones without a held record and without a carrier for idleAfter are
// forgotten.
const (
	maxIdleDests = 64
	idleAfter    = 10 * time.Second
)

// Config tunes a Net.
type Config struct {
	// Hold is the longest a control record waits for a carrier to the same
	// destination. Zero means DefaultHold (20 ms: a little more than one
	// tick at 60 ticks/s); negative turns holding off.
	Hold time.Duration
	// MaxDatagram caps a datagram that carries held records; a carrier that
	// would exceed it goes out after them, alone. Zero means
	// DefaultMaxDatagram (1400 bytes, under a 1500-byte path MTU with IPv6
	// and UDP headers).
	MaxDatagram int
}

// Stats counts what the sockets of a Net did, since it was made.
type Stats struct {
	Held    uint64 // control records held back
	Bundled uint64 // held records sent in a carrier's datagram (a datagram saved each)
	Alone   uint64 // held records sent without a carrier: Hold passed, a second record, size, close
}

// Net is a transport.Net whose UDP sockets bundle control records with
// carriers (see the package documentation). Everything but ListenUDP is
// the wrapped Net's.
type Net struct {
	transport.Net
	hold time.Duration
	max  int
	*counters
}

type counters struct {
	held, bundled, alone atomic.Uint64
}

// New wraps inner.
func New(inner transport.Net, cfg Config) *Net {
	if cfg.Hold == 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.MaxDatagram <= 0 {
		cfg.MaxDatagram = DefaultMaxDatagram
	}
	return &Net{Net: inner, hold: cfg.Hold, max: cfg.MaxDatagram, counters: &counters{}}
}

// Wrap returns a Net over inner with n's configuration that adds to n's
// Stats: one per connection when each needs a fresh view of the host's
// interfaces.
func (n *Net) Wrap(inner transport.Net) *Net {
	return &Net{Net: inner, hold: n.hold, max: n.max, counters: n.counters}
}

// Stats returns the counts of every socket the Net, and the Nets made by
// its Wrap, opened.
func (n *Net) Stats() Stats {
	return Stats{Held: n.held.Load(), Bundled: n.bundled.Load(), Alone: n.alone.Load()}
}

// ListenUDP opens a socket of the wrapped Net and wraps it. When the
// socket is a *net.UDPConn the result also has ReadFromAddrPort and
// WriteToAddrPort, which pion/ice uses to read and write without
// allocating.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	inner, err := n.Net.ListenUDP(network, laddr)
	if err != nil || n.hold < 0 {
		return inner, err
	}
	return n.wrap(inner), nil
}

func (n *Net) wrap(inner transport.UDPConn) transport.UDPConn {
	c := &Conn{UDPConn: inner, n: n, dests: make(map[netip.AddrPort]*dest)}
	if u, ok := inner.(*net.UDPConn); ok {
		c.udp = u
		return &addrPortConn{c}
	}
	return c
}

// Conn is a UDP socket that holds control records for the next carrier to
// the same destination.
type Conn struct {
	transport.UDPConn
	n   *Net
	udp *net.UDPConn // the socket itself, when the wrapped Net is the host's

	mu      sync.Mutex
	dests   map[netip.AddrPort]*dest
	scratch []byte
	closed  bool
}

// dest is what a socket knows of one destination.
type dest struct {
	key         netip.AddrPort
	addr        net.Addr
	held        []byte // whole control records, in the order written
	count       int
	since       time.Time // when the first held record was written
	lastCarrier time.Time
	prevCarrier time.Time // the carrier before lastCarrier
	timer       *time.Timer
}

// WriteTo writes p to addr, or holds it (see the package documentation).
// A held record counts as written.
func (c *Conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return c.UDPConn.WriteTo(p, addr)
	}
	return c.send(p, u.AddrPort(), addr)
}

// WriteToUDP is WriteTo for a *net.UDPAddr.
func (c *Conn) WriteToUDP(p []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return c.UDPConn.WriteToUDP(p, addr)
	}
	return c.send(p, addr.AddrPort(), addr)
}

// Close writes any held records and closes the socket.
func (c *Conn) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, d := range c.dests {
			if d.timer != nil {
				d.timer.Stop()
			}
			c.flushLocked(d)
		}
	}
	c.mu.Unlock()
	return c.UDPConn.Close()
}

func normalize(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (c *Conn) send(p []byte, key netip.AddrPort, addr net.Addr) (int, error) {
	kind := Classify(p)
	if kind == Other || !key.IsValid() {
		return c.raw(p, key, addr)
	}
	key = normalize(key)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.raw(p, key, addr)
	}
	d := c.dests[key]
	if kind == Control {
		// Hold only for a steady stream of carriers (the last two within
		// three Hold periods): a lone packet now and then, such as the
		// receiving side's pings during a bulk transfer, would only delay
		// its acknowledgements.
		if d == nil || now.Sub(d.lastCarrier) > 2*c.n.hold || now.Sub(d.prevCarrier) > 3*c.n.hold {
			return c.raw(p, key, addr)
		}
		if d.count > 0 && len(d.held)+len(p) > c.n.max {
			c.flushLocked(d)
		}
		d.held = append(d.held, p...)
		d.count++
		c.n.held.Add(1)
		if d.count >= 2 {
			c.flushLocked(d)
			return len(p), nil
		}
		d.since = now
		if d.timer == nil {
			d.timer = time.AfterFunc(c.n.hold, func() { c.expire(key) })
		} else {
			d.timer.Reset(c.n.hold)
		}
		return len(p), nil
	}
	if d == nil {
		d = c.addDest(key, addr, now)
	}
	d.prevCarrier, d.lastCarrier = d.lastCarrier, now
	if d.count == 0 {
		return c.raw(p, key, d.addr)
	}
	if len(d.held)+len(p) > c.n.max {
		c.flushLocked(d)
		return c.raw(p, key, d.addr)
	}
	buf := append(append(c.scratch[:0], d.held...), p...)
	c.scratch = buf
	c.n.bundled.Add(uint64(d.count))
	d.held, d.count = d.held[:0], 0
	if d.timer != nil {
		d.timer.Stop()
	}
	if _, err := c.raw(buf, key, d.addr); err != nil {
		return 0, err
	}
	return len(p), nil
}

// addDest remembers a destination, forgetting idle ones past the bound.
func (c *Conn) addDest(key netip.AddrPort, addr net.Addr, now time.Time) *dest {
	if len(c.dests) >= maxIdleDests {
		for k, o := range c.dests {
			if o.count == 0 && now.Sub(o.lastCarrier) > idleAfter {
				if o.timer != nil {
					o.timer.Stop()
				}
				delete(c.dests, k)
			}
		}
	}
	d := &dest{key: key, addr: addr}
	c.dests[key] = d
	return d
}

// expire runs when a held record's Hold has passed.
func (c *Conn) expire(key netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dests[key]
	if d == nil || d.count == 0 || c.closed {
		return
	}
	if left := c.n.hold - time.Since(d.since); left > time.Millisecond {
		d.timer.Reset(left) // a stale firing: the record now held is younger
		return
	}
	c.flushLocked(d)
}

// flushLocked writes the held records of d in one datagram. Write errors
// are dropped, as a lost datagram's would be.
func (c *Conn) flushLocked(d *dest) {
	if d.count == 0 {
		return
	}
	c.n.alone.Add(uint64(d.count))
	_, _ = c.raw(d.held, d.key, d.addr)
	d.held, d.count = d.held[:0], 0
}

// raw writes one datagram to the wrapped socket.
func (c *Conn) raw(p []byte, key netip.AddrPort, addr net.Addr) (int, error) {
	if c.udp != nil && key.IsValid() {
		return c.udp.WriteToUDPAddrPort(p, key)
	}
	return c.UDPConn.WriteTo(p, addr)
}

// addrPortConn adds the allocation-free methods pion/ice looks for.
type addrPortConn struct{ *Conn }

// ReadFromAddrPort reads a datagram and its source without allocating.
func (c *addrPortConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.udp.ReadFromUDPAddrPort(b)
}

// WriteToAddrPort is WriteTo for a netip.AddrPort.
func (c *addrPortConn) WriteToAddrPort(b []byte, ap netip.AddrPort) (int, error) {
	return c.send(b, ap, nil)
}
