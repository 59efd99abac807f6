package mesh

import (
	"math"
	"net"
	"strings"
	"testing"
	"time"
)

func TestPingRoundTrip(t *testing.T) {
	b := appendPing(nil, framePing, 0xdeadbeef, -5, 1234)
	if len(b) != pingSize {
		t.Fatalf("ping of %d bytes", len(b))
	}
	p, ok := parsePing(b)
	if !ok || p.seq != 0xdeadbeef || p.sentAt != -5 || p.loss != 1234 {
		t.Fatalf("parsed %+v %v", p, ok)
	}
	if _, ok := parsePing(b[:pingSize-1]); ok {
		t.Fatal("short ping accepted")
	}
}

func FuzzParsePing(f *testing.F) {
	f.Add(appendPing(nil, framePing, 1, 2, 3))
	f.Add(appendPing(nil, framePong, 0xffffffff, -1, 65535))
	f.Add([]byte{framePing})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parsePing(b)
		if !ok {
			if len(b) >= pingSize {
				t.Fatal("well-sized ping refused")
			}
			return
		}
		again := appendPing(nil, b[0], p.seq, p.sentAt, p.loss)
		if string(again) != string(b[:pingSize]) {
			t.Fatalf("round trip %x -> %x", b[:pingSize], again)
		}
	})
}

func TestLossWindow(t *testing.T) {
	var s peerStats
	s.init()
	// 100 pings, every fifth lost.
	for i := uint32(1); i <= 100; i++ {
		if i%5 != 0 {
			s.pingIn(i)
		}
	}
	if math.Abs(s.lossIn-0.2) > 0.03 {
		t.Fatalf("loss %.3f, want 0.2", s.lossIn)
	}
	// A late arrival counts as received; a duplicate changes nothing.
	s.pingIn(95)
	l := s.lossIn
	s.pingIn(95)
	if s.lossIn != l || l > 0.2 {
		t.Fatalf("late and duplicate: %.3f then %.3f", l, s.lossIn)
	}
	// A long gap saturates, recovery follows.
	s.pingIn(1000)
	if s.lossIn < 0.9 {
		t.Fatalf("after a gap of 900: %.3f", s.lossIn)
	}
	for i := uint32(1001); i <= 1100; i++ {
		s.pingIn(i)
	}
	if s.lossIn != 0 {
		t.Fatalf("after 100 clean pings: %.3f", s.lossIn)
	}
	// Wrap-around of the sequence number.
	s.reset()
	for i := uint32(math.MaxUint32 - 10); i != 20; i++ {
		s.pingIn(i)
	}
	if s.lossIn != 0 {
		t.Fatalf("across wrap-around: %.3f", s.lossIn)
	}
}

func TestRTTEstimator(t *testing.T) {
	var s peerStats
	s.init()
	now := int64(10 * time.Second)
	for i := 0; i < 50; i++ {
		rtt := int64(time.Millisecond)
		if i%2 == 1 {
			rtt = int64(3 * time.Millisecond)
		}
		s.pongIn(ping{seq: uint32(i), sentAt: now - rtt, loss: 6553}, now)
	}
	if srtt := time.Duration(s.srtt); srtt < 1500*time.Microsecond || srtt > 2500*time.Microsecond {
		t.Fatalf("srtt %v for samples alternating 1 and 3 ms", srtt)
	}
	if j := time.Duration(s.jitter); j < time.Millisecond || j > 2*time.Millisecond {
		t.Fatalf("jitter %v for samples alternating 1 and 3 ms", j)
	}
	if math.Abs(s.lossOut-0.1) > 0.001 {
		t.Fatalf("loss out %.3f", s.lossOut)
	}
	// A pong from the future (clock confusion) is ignored.
	n := s.samples
	s.pongIn(ping{sentAt: now + 1}, now)
	if s.samples != n {
		t.Fatal("negative RTT sample taken")
	}
}

// FuzzCandidateAddr checks the parser of the peer's candidate lines (it
// records their addresses for the candidate-type statistics): no input
// panics it, and an address it returns names the line's own host, port and
// type.
func FuzzCandidateAddr(f *testing.F) {
	f.Add("candidate:1 1 udp 16777215 10.9.0.13 49152 typ relay raddr 10.9.0.10 rport 50000")
	f.Add("candidate:2 1 udp 2130706431 ::1 9 typ host")
	f.Add("candidate:3 1 udp 2130706431 127.0.0.1 9 typ srflx raddr 0.0.0.0 rport 0")
	f.Add("candidate:4 1 udp 1 h 70000 typ relay")
	f.Add("candidate:5 1 udp 1 abc.local 9 typ host")
	f.Add("0 0 0 0 [ 0 typ relay")
	f.Fuzz(func(t *testing.T, line string) {
		addr, typ, ok := candidateAddr(line)
		if !ok {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%q gave %q: %v", line, addr, err)
		}
		f := strings.Fields(line)
		if host != f[4] || port != f[5] || typ != f[7] {
			t.Fatalf("%q gave %q %q", line, addr, typ)
		}
	})
}

// A remote candidate that shows as peer-reflexive because a check arrived
// before its signal is reported with the type of the signaled candidate
// at that address.
func TestPrflxReportedAsSignaledType(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"candidate:1 1 udp 2130706431 10.1.0.2 5000 typ host", "host"},
		{"candidate:2 1 udp 16777215 10.9.0.13 49152 typ relay raddr 10.9.0.10 rport 50000", "relay"},
	} {
		var s peerStats
		addr, typ, ok := candidateAddr(tc.line)
		if !ok || typ != tc.want {
			t.Fatalf("%q: %q %q %v", tc.line, addr, typ, ok)
		}
		s.remoteCandidate(addr, typ)
		if got := s.remoteTypes[addr]; got != tc.want {
			t.Fatalf("%q recorded as %q", tc.line, got)
		}
	}
	if _, _, ok := candidateAddr("candidate:5 1 udp 1 abc.local 9 typ host"); ok {
		t.Fatal("an mDNS name was taken for an address")
	}
}
