package bench

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/transport/v4/vnet"
)

// A connectTrace records one connection over the delay lab: every signal
// and every packet with the time it reached its addressee (the router's
// filters see a packet when its delay is over), so the timeline shows
// where each round trip goes.
type connectTrace struct {
	start time.Time
	names map[string]string // vnet IP -> peer
	mu    sync.Mutex
	ev    []traceEvent
}

// traceEvent is one arrival.
type traceEvent struct {
	At   time.Duration `json:"-"`
	Ms   float64       `json:"ms"`
	From string        `json:"from"`
	To   string        `json:"to"`
	What string        `json:"what"`
}

func newConnectTrace(size int) *connectTrace {
	t := &connectTrace{names: map[string]string{}}
	for i := 0; i < size; i++ {
		t.names[labIP(i)] = fmt.Sprintf("p%d", i)
	}
	return t
}

// labIP is the address of the delay lab's i-th host.
func labIP(i int) string { return fmt.Sprintf("10.77.0.%d", 10+i) }

func (t *connectTrace) add(from, to, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.start.IsZero() {
		return
	}
	at := time.Since(t.start)
	t.ev = append(t.ev, traceEvent{At: at, Ms: float64(at.Microseconds()) / 1e3, From: from, To: to, What: what})
}

// begin starts the clock ("match found").
func (t *connectTrace) begin() {
	t.mu.Lock()
	t.start = time.Now()
	t.mu.Unlock()
}

// signal records a signal's arrival.
func (t *connectTrace) signal(from, to string, payload []byte) {
	var s struct {
		T     string `json:"t"`
		Early bool   `json:"early"`
		SDP   string `json:"sdp"`
		Cands []any  `json:"cands"`
	}
	_ = json.Unmarshal(payload, &s)
	what := "signal " + s.T
	if n := strings.Count(s.SDP, "a=candidate:"); n > 0 {
		what += fmt.Sprintf(" (%d candidates in the SDP)", n)
	}
	if len(s.Cands) > 0 {
		what += fmt.Sprintf(" (%d candidates)", len(s.Cands))
	}
	if s.Early {
		what += " early"
	}
	t.add(from, to, what)
}

// filter is a vnet chunk filter that records every packet and passes it.
func (t *connectTrace) filter(c vnet.Chunk) bool {
	from, to := t.peer(c.SourceAddr()), t.peer(c.DestinationAddr())
	t.add(from, to, classifyPacket(c.UserData()))
	return true
}

func (t *connectTrace) peer(a net.Addr) string {
	if u, ok := a.(*net.UDPAddr); ok {
		if n, ok := t.names[u.IP.String()]; ok {
			return n
		}
	}
	return a.String()
}

// events returns the timeline, runs of the same packet between the same
// peers collapsed into one line.
func (t *connectTrace) events() []traceEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []traceEvent
	for _, e := range t.ev {
		if n := len(out); n > 0 && out[n-1].From == e.From && out[n-1].To == e.To &&
			strings.TrimSuffix(out[n-1].What, " (more)") == e.What && strings.HasPrefix(e.What, "DTLS application data") {
			out[n-1].What = e.What + " (more)"
			continue
		}
		out = append(out, e)
	}
	return out
}

// print writes the timeline, times also in round trips of rtt.
func printTrace(w io.Writer, title string, ev []traceEvent, rtt time.Duration) {
	fmt.Fprintf(w, "%s\n", title)
	for _, e := range ev {
		fmt.Fprintf(w, "  %7.1f ms  %4.2f RTT  %s -> %s  %s\n", e.Ms, float64(e.At)/float64(rtt), e.From, e.To, e.What)
	}
}

// classifyPacket names a UDP payload: a STUN binding request or response
// (with USE-CANDIDATE when it nominates) or the DTLS records of a datagram
// (handshake messages of epoch 0 by name; later records are encrypted).
func classifyPacket(b []byte) string {
	if len(b) >= 20 && b[0]&0xc0 == 0 && binary.BigEndian.Uint32(b[4:8]) == 0x2112a442 {
		typ := binary.BigEndian.Uint16(b[0:2])
		name := fmt.Sprintf("STUN 0x%04x", typ)
		switch typ {
		case 0x0001:
			name = "STUN binding request"
		case 0x0101:
			name = "STUN binding success"
		case 0x0011:
			name = "STUN binding indication"
		}
		for rest := b[20:]; len(rest) >= 4; {
			at, n := binary.BigEndian.Uint16(rest[0:2]), int(binary.BigEndian.Uint16(rest[2:4]))
			if at == 0x0025 {
				name += " USE-CANDIDATE"
			}
			n = (n + 3) &^ 3
			if len(rest) < 4+n {
				break
			}
			rest = rest[4+n:]
		}
		return name
	}
	if len(b) >= 13 && b[0] >= 20 && b[0] <= 63 {
		var parts []string
		for rest := b; len(rest) >= 13; {
			ct, epoch, n := rest[0], binary.BigEndian.Uint16(rest[3:5]), int(binary.BigEndian.Uint16(rest[11:13]))
			body := rest[13:]
			if len(body) < n {
				break
			}
			switch {
			case ct == 20:
				parts = append(parts, "ChangeCipherSpec")
			case ct == 21:
				parts = append(parts, "alert")
			case ct == 22 && epoch == 0 && n > 0:
				parts = append(parts, handshakeName(body[0]))
			case ct == 22:
				parts = append(parts, "Finished")
			case ct == 23:
				parts = append(parts, fmt.Sprintf("application data (SCTP, %d B)", n))
			default:
				parts = append(parts, fmt.Sprintf("record %d", ct))
			}
			rest = body[n:]
		}
		return "DTLS " + strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d bytes", len(b))
}

func handshakeName(t byte) string {
	switch t {
	case 1:
		return "ClientHello"
	case 2:
		return "ServerHello"
	case 3:
		return "HelloVerifyRequest"
	case 11:
		return "Certificate"
	case 12:
		return "ServerKeyExchange"
	case 13:
		return "CertificateRequest"
	case 14:
		return "ServerHelloDone"
	case 15:
		return "CertificateVerify"
	case 16:
		return "ClientKeyExchange"
	default:
		return fmt.Sprintf("handshake %d", t)
	}
}

// traceStep is one milestone of a 2-peer connection.
type traceStep struct {
	Step string  `json:"step"`
	Ms   float64 `json:"ms"`
	RTTs float64 `json:"rtts"`
}

// milestones picks the steps of a 2-peer connection out of its timeline
// (p0 offers, p1 answers and is the DTLS client, as with pion's default
// answering role; the first arrival of each kind), ending with done.
func milestones(ev []traceEvent, done time.Duration, rtt time.Duration) []traceStep {
	var out []traceStep
	step := func(name string, at time.Duration) {
		out = append(out, traceStep{Step: name, Ms: float64(at.Microseconds()) / 1e3, RTTs: float64(at) / float64(rtt)})
	}
	first := func(name string, match func(e traceEvent) bool) {
		for _, e := range ev {
			if match(e) {
				step(name, e.At)
				return
			}
		}
	}
	has := func(s string) func(e traceEvent) bool {
		return func(e traceEvent) bool { return strings.Contains(e.What, s) }
	}
	first("offer reaches the answering side", has("signal offer"))
	first("answer reaches the offering side", has("signal answer"))
	first("first connectivity check arrives", has("STUN binding request"))
	first("first check answered", has("STUN binding success"))
	first("nomination (USE-CANDIDATE) arrives", has("USE-CANDIDATE"))
	first("DTLS ClientHello arrives (the client selected a pair)", has("ClientHello"))
	first("DTLS server flight (ServerHello...) arrives", has("ServerHello"))
	first("DTLS client's key exchange and Finished arrive (server done)", has("ClientKeyExchange"))
	first("DTLS server's Finished arrives (client done)", func(e traceEvent) bool {
		return e.From == "p0" && e.To == "p1" && strings.Contains(e.What, "Finished")
	})
	first("first SCTP data (channel opens, pings)", has("application data"))
	step("every channel open on both sides", done)
	return out
}
