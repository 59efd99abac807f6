package piggyback

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v4"
	"github.com/pion/transport/v4/stdnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// record builds one DTLS 1.2 record of type typ, epoch, with a ciphertext
// of n bytes filled with fill.
func record(typ byte, epoch uint16, seq uint64, n int, fill byte) []byte {
	b := []byte{typ, 0xfe, 0xfd, byte(epoch >> 8), byte(epoch),
		byte(seq >> 40), byte(seq >> 32), byte(seq >> 24), byte(seq >> 16), byte(seq >> 8), byte(seq),
		byte(n >> 8), byte(n)}
	return append(b, bytes.Repeat([]byte{fill}, n)...)
}

func sack(seq uint64) []byte { return record(contentApplicationData, 1, seq, 44, 's') }
func data(seq uint64) []byte { return record(contentApplicationData, 1, seq, 60, 'd') }
func stunPacket() []byte {
	return append([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12)...)
}
func join(bs ...[]byte) []byte      { return bytes.Join(bs, nil) }
func udpAddr(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: port} }

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want Kind
	}{
		{"empty", nil, Other},
		{"stun", stunPacket(), Other},
		{"turn channel data", append([]byte{0x40, 0x00, 0x00, 0x10}, make([]byte, 16)...), Other},
		{"sack-sized record", sack(1), Control},
		{"smallest control", record(contentApplicationData, 1, 1, 0, 0), Control},
		{"one byte over", record(contentApplicationData, 1, 1, MaxControlRecord+1, 0), Carrier},
		{"data record", data(1), Carrier},
		{"epoch 0 application data", record(contentApplicationData, 0, 1, 20, 0), Carrier},
		{"small alert", record(contentAlert, 1, 1, 18, 0), Carrier},
		{"handshake flight", join(record(contentHandshake, 0, 1, 100, 0), record(contentHandshake, 0, 2, 300, 0)), Carrier},
		{"two small records", join(sack(1), sack(2)), Carrier},
		{"truncated record", sack(1)[:30], Other},
		{"trailing bytes", append(sack(1), 0x17, 0xfe), Other},
		{"bad version", func() []byte { b := sack(1); b[2] = 0x03; return b }(), Other},
		{"connection-id record", record(25, 1, 1, 20, 0), Other},
		{"dtls 1.3 unified header", append([]byte{0x2f, 0x00, 0x01}, make([]byte, 30)...), Other},
	}
	for _, c := range cases {
		if got := Classify(c.b); got != c.want {
			t.Errorf("%s: Classify = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, b := range [][]byte{nil, stunPacket(), sack(1), data(2), join(sack(1), data(2)), record(contentHandshake, 0, 0, 5, 1)} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		switch Classify(b) {
		case Control:
			if len(b) > recordHeader+MaxControlRecord || b[0] != contentApplicationData || b[3]|b[4] == 0 {
				t.Fatalf("control record %x breaks its definition", b)
			}
			if Classify(join(b, b)) != Carrier {
				t.Fatalf("two control records %x are not a carrier", b)
			}
		case Carrier:
			// Whole records: appending a control record keeps it whole.
			if Classify(join(sack(9), b)) != Carrier {
				t.Fatalf("a held record in front of carrier %x breaks it", b)
			}
		}
	})
}

// sink is a fake socket that records what is written to it.
type sink struct {
	transport.UDPConn
	mu     sync.Mutex
	writes [][]byte
	to     []string
	closed bool
}

func (s *sink) WriteTo(p []byte, addr net.Addr) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, append([]byte(nil), p...))
	s.to = append(s.to, addr.String())
	return len(p), nil
}

func (s *sink) Close() error { s.mu.Lock(); s.closed = true; s.mu.Unlock(); return nil }

func (s *sink) got() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.writes...)
}

func newTestConn(cfg Config) (*Net, *Conn, *sink) {
	n := New(nil, cfg)
	s := &sink{}
	return n, n.wrap(s).(*Conn), s
}

func write(t *testing.T, c *Conn, p []byte, port int) {
	t.Helper()
	n, err := c.WriteTo(p, udpAddr(port))
	if err != nil || n != len(p) {
		t.Fatalf("WriteTo = %d, %v; want %d, nil", n, err, len(p))
	}
}

func wantWrites(t *testing.T, s *sink, want ...[]byte) {
	t.Helper()
	got := s.got()
	if len(got) != len(want) {
		t.Fatalf("%d datagrams written, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("datagram %d is %d bytes %x..., want %d bytes", i, len(got[i]), got[i][:min(16, len(got[i]))], len(want[i]))
		}
	}
}

func TestControlRecordRidesOnNextCarrier(t *testing.T) {
	n, c, s := newTestConn(Config{Hold: time.Hour})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000) // the destination is receiving a stream of carriers
	write(t, c, sack(2), 5000) // held
	wantWrites(t, s, data(0), data(1))
	write(t, c, data(3), 5000)
	wantWrites(t, s, data(0), data(1), join(sack(2), data(3)))
	if st := n.Stats(); st != (Stats{Held: 1, Bundled: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoHoldWithoutCarriers(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: time.Hour})
	defer c.Close()
	write(t, c, sack(1), 5000) // nothing sent there yet: the receiving side of a one-way transfer
	wantWrites(t, s, sack(1))
	write(t, c, data(2), 5001) // a carrier to another destination does not count
	write(t, c, sack(3), 5000)
	wantWrites(t, s, sack(1), data(2), sack(3))
}

func TestNoHoldForALoneCarrier(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: 5 * time.Millisecond})
	defer c.Close()
	write(t, c, data(1), 5000)
	time.Sleep(20 * time.Millisecond) // more than three Hold periods
	write(t, c, data(2), 5000)        // a ping now and then is not a stream
	write(t, c, sack(3), 5000)
	wantWrites(t, s, data(1), data(2), sack(3))
}

func TestNoHoldAfterCarriersStop(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: 5 * time.Millisecond})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	time.Sleep(15 * time.Millisecond) // more than two Hold periods
	write(t, c, sack(2), 5000)
	wantWrites(t, s, data(0), data(1), sack(2))
}

func TestHeldRecordGoesAloneAfterHold(t *testing.T) {
	n, c, s := newTestConn(Config{Hold: 10 * time.Millisecond})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	start := time.Now()
	write(t, c, sack(2), 5000)
	for len(s.got()) < 3 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the held record was never written")
		}
		time.Sleep(time.Millisecond)
	}
	if waited := time.Since(start); waited < 10*time.Millisecond {
		t.Fatalf("written after %v, before Hold", waited)
	}
	wantWrites(t, s, data(0), data(1), sack(2))
	if st := n.Stats(); st != (Stats{Held: 1, Alone: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

func TestSecondControlRecordFlushesBoth(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: time.Hour})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	write(t, c, sack(2), 5000)
	write(t, c, sack(3), 5000)
	wantWrites(t, s, data(0), data(1), join(sack(2), sack(3)))
}

func TestOtherDatagramsPassAndKeepTheHold(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: time.Hour})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	write(t, c, sack(2), 5000)
	write(t, c, stunPacket(), 5000) // a STUN check cannot carry records
	write(t, c, data(3), 5001)      // another destination's carrier does not either
	write(t, c, data(4), 5000)
	wantWrites(t, s, data(0), data(1), stunPacket(), data(3), join(sack(2), data(4)))
}

func TestCarrierTooBigGoesSeparately(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: time.Hour, MaxDatagram: 100})
	defer c.Close()
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	write(t, c, sack(2), 5000)
	big := record(contentApplicationData, 1, 3, 80, 'b')
	write(t, c, big, 5000)
	wantWrites(t, s, data(0), data(1), sack(2), big)
}

func TestCloseWritesHeldRecords(t *testing.T) {
	_, c, s := newTestConn(Config{Hold: time.Hour})
	write(t, c, data(0), 5000)
	write(t, c, data(1), 5000)
	write(t, c, sack(2), 5000)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wantWrites(t, s, data(0), data(1), sack(2))
	if !s.closed {
		t.Fatal("the socket was not closed")
	}
}

func TestHoldOffPassesSocketsThrough(t *testing.T) {
	std, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hold    time.Duration
		wrapped bool
	}{{-1, false}, {0, true}} {
		c, err := New(std, Config{Hold: tc.hold}).ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		_, isPlain := c.(*net.UDPConn)
		_, isWrapped := c.(*addrPortConn)
		if isPlain == tc.wrapped || isWrapped != tc.wrapped {
			t.Errorf("Hold %v: socket %T, wrapped %v", tc.hold, c, tc.wrapped)
		}
		c.Close()
	}
}

func TestDestinationsAreBounded(t *testing.T) {
	_, c, _ := newTestConn(Config{Hold: time.Hour})
	defer c.Close()
	for port := 1; port <= maxIdleDests; port++ {
		write(t, c, data(1), port)
	}
	c.mu.Lock()
	for _, d := range c.dests {
		d.lastCarrier = d.lastCarrier.Add(-2 * idleAfter)
	}
	c.mu.Unlock()
	write(t, c, data(1), 9999)
	c.mu.Lock()
	n := len(c.dests)
	c.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d destinations remembered after the idle ones were due to go, want 1", n)
	}
}

func TestConcurrentWriters(t *testing.T) {
	n, c, s := newTestConn(Config{Hold: 2 * time.Millisecond})
	var wg sync.WaitGroup
	const per = 500
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				p := data(uint64(i))
				if i%2 == 1 {
					p = sack(uint64(i))
				}
				if _, err := c.WriteTo(p, udpAddr(5000+g%2)); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Every record written went out exactly once.
	var records int
	for _, d := range s.got() {
		for off := 0; off < len(d); records++ {
			off += recordHeader + (int(d[off+11])<<8 | int(d[off+12]))
		}
	}
	if records != 4*per {
		t.Fatalf("%d records on the wire, want %d", records, 4*per)
	}
	st := n.Stats()
	if st.Held != st.Bundled+st.Alone {
		t.Fatalf("stats %+v: held records unaccounted for", st)
	}
}
