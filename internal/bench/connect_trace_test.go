package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"go.uber.org/goleak"
)

// firstArrival returns when the first event from -> to containing what
// arrived, or false.
func firstArrival(ev []traceEvent, from, to, what string) (time.Duration, bool) {
	for _, e := range ev {
		if e.From == from && e.To == to && strings.Contains(e.What, what) {
			return e.At, true
		}
	}
	return 0, false
}

// On the delay lab (100 ms RTT, so that the margins below are half a
// round trip), the mesh's answering side starts DTLS before any
// nomination reaches it, and the offering side answers it without
// waiting for its nomination's response: both used the checked pair at
// once.
func TestConnectTraceMeshSelectsBeforeNomination(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const oneWay = 50 * time.Millisecond
	tr := newConnectTrace(2)
	ms, err := kitConnectRTT(2, oneWay, tr)
	if err != nil {
		t.Fatal(err)
	}
	ev := tr.events()
	printTrace(testWriter{t}, "mesh", ev, 2*oneWay)
	if _, ok := firstArrival(ev, "p1", "p0", "signal answer early"); !ok {
		t.Fatal("the answer does not say early")
	}
	hello, ok := firstArrival(ev, "p1", "p0", "ClientHello")
	if !ok {
		t.Fatal("no ClientHello from the answering side")
	}
	server, ok := firstArrival(ev, "p0", "p1", "ServerHello")
	if !ok {
		t.Fatal("no ServerHello from the offering side")
	}
	if nom, ok := firstArrival(ev, "p0", "p1", "USE-CANDIDATE"); ok {
		if hello >= nom {
			t.Errorf("ClientHello arrived at %v, after the nomination at %v: the answering side waited for it", hello, nom)
		}
		// pion's own rule would answer the ClientHello only once the
		// nomination's response is back, a round trip after it left.
		if server > nom+oneWay {
			t.Errorf("ServerHello arrived at %v, a round trip after the nomination (%v): the offering side waited for its response", server, nom)
		}
	}
	steps := milestones(ev, time.Duration(ms*float64(time.Millisecond)), 2*oneWay)
	if last := steps[len(steps)-1]; last.Step != "every channel open on both sides" || last.Ms != ms {
		t.Errorf("last step %+v, want every channel open at %.1f ms", last, ms)
	}
}

// Bare pion with its defaults (the baseline) selects a pair on the
// answering side only when the nomination arrives.
func TestConnectTracePionWaitsForNomination(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const oneWay = 50 * time.Millisecond
	tr := newConnectTrace(2)
	if _, err := pionConnectRTT(oneWay, tr); err != nil {
		t.Fatal(err)
	}
	ev := tr.events()
	printTrace(testWriter{t}, "pion", ev, 2*oneWay)
	nom, ok := firstArrival(ev, "p0", "p1", "USE-CANDIDATE")
	if !ok {
		t.Fatal("no nomination")
	}
	hello, ok := firstArrival(ev, "p1", "p0", "ClientHello")
	if !ok {
		t.Fatal("no ClientHello from the answering side")
	}
	if hello < nom {
		t.Errorf("ClientHello at %v before the nomination at %v", hello, nom)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestClassifyPacket(t *testing.T) {
	m, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.NewUsername("a:b"), ice.UseCandidate(), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if got := classifyPacket(m.Raw); got != "STUN binding request USE-CANDIDATE" {
		t.Errorf("nomination: %q", got)
	}
	m, err = stun.Build(stun.BindingSuccess, stun.TransactionID)
	if err != nil {
		t.Fatal(err)
	}
	if got := classifyPacket(m.Raw); got != "STUN binding success" {
		t.Errorf("success: %q", got)
	}
	// Two DTLS records in one datagram: a ClientHello (epoch 0) and an
	// encrypted handshake record (epoch 1).
	rec := func(ct byte, epoch uint16, body ...byte) []byte {
		h := []byte{ct, 0xfe, 0xfd, byte(epoch >> 8), byte(epoch), 0, 0, 0, 0, 0, 1, byte(len(body) >> 8), byte(len(body))}
		return append(h, body...)
	}
	d := append(rec(22, 0, 1, 0, 0, 0), rec(20, 0, 1)...)
	d = append(d, rec(22, 1, 9, 9, 9)...)
	if got := classifyPacket(d); got != "DTLS ClientHello, ChangeCipherSpec, Finished" {
		t.Errorf("DTLS: %q", got)
	}
	if got := classifyPacket(rec(23, 1, 1, 2, 3)); got != "DTLS application data (SCTP, 3 B)" {
		t.Errorf("application data: %q", got)
	}
	if got := classifyPacket([]byte{1, 2, 3}); got != "3 bytes" {
		t.Errorf("short: %q", got)
	}
}

func FuzzClassifyPacket(f *testing.F) {
	m, _ := stun.Build(stun.BindingRequest, stun.TransactionID, ice.UseCandidate())
	f.Add(m.Raw)
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if classifyPacket(b) == "" {
			t.Fatal("empty name")
		}
	})
}
