package dnssd

import (
	"bufio"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// sampleResponse is an announcement of one instance, as a Node sends it.
func sampleResponse() *message {
	return &message{
		Flags: flagResponse | flagAA,
		Answers: []record{
			{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN, TTL: 4500, Target: `Bob's\.lobby._rallypoint._tcp.local.`},
			{Name: `Bob's\.lobby._rallypoint._tcp.local.`, Type: typeSRV, Class: classIN, CacheFlush: true, TTL: 120, Port: 7777, Target: "bob-pc.local."},
			{Name: `Bob's\.lobby._rallypoint._tcp.local.`, Type: typeTXT, Class: classIN, CacheFlush: true, TTL: 120, TXT: []string{"v=1", "players=2"}},
			{Name: "bob-pc.local.", Type: typeA, Class: classIN, CacheFlush: true, TTL: 120, Addr: netip.MustParseAddr("10.0.0.7")},
			{Name: "bob-pc.local.", Type: typeAAAA, Class: classIN, CacheFlush: true, TTL: 120, Addr: netip.MustParseAddr("fe80::1")},
		},
	}
}

// The wire form of sampleResponse. Pinned: a change here is a change of the
// bytes on the network.
const sampleResponseHex = "000084000000000500000000" +
	// PTR _rallypoint._tcp.local. -> "Bob's.lobby" + pointer to offset 12
	"0b5f72616c6c79706f696e74045f746370056c6f63616c00000c000100001194000e0b426f6227732e6c6f626279c00c" +
	// SRV (cache-flush, TTL 120) port 7777 -> bob-pc.local., target uncompressed
	"c02e00218001000000780014000000001e6106626f622d7063056c6f63616c00" +
	// TXT "v=1" "players=2"
	"c02e0010800100000078000e03763d3109706c61796572733d32" +
	// A: pointer to bob-pc.local. in the SRV data at 78: 10.0.0.7
	"c04e000180010000007800040a000007" +
	// AAAA: the same pointer: fe80::1
	"c04e001c8001000000780010fe800000000000000000000000000001"

func TestMessageGolden(t *testing.T) {
	b, err := appendMessage(nil, sampleResponse())
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != sampleResponseHex {
		t.Fatalf("encoding changed:\n got %s\nwant %s", got, sampleResponseHex)
	}
	m, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(m, sampleResponse()) {
		t.Fatalf("round trip: %+v", m)
	}
}

// An independent decoder (x/net/dns/dnsmessage) reads what we write.
func TestEncodingReadByDNSMessage(t *testing.T) {
	m := sampleResponse()
	for i := range m.Answers {
		for _, s := range []*string{&m.Answers[i].Name, &m.Answers[i].Target} {
			*s = strings.ReplaceAll(*s, `\.`, " ")
		}
	}
	b, err := appendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Response || !h.Authoritative {
		t.Errorf("header %+v", h)
	}
	if err := p.SkipAllQuestions(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		rh, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		line := rh.Name.String() + " " + rh.Type.String() + " " + hex.EncodeToString([]byte{byte(rh.Class >> 8), byte(rh.Class)})
		switch rh.Type {
		case dnsmessage.TypePTR:
			r, err := p.PTRResource()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + r.PTR.String()
		case dnsmessage.TypeSRV:
			r, err := p.SRVResource()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + r.Target.String()
		case dnsmessage.TypeTXT:
			r, err := p.TXTResource()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + strings.Join(r.TXT, ",")
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + netip.AddrFrom4(r.A).String()
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				t.Fatal(err)
			}
			line += " " + netip.AddrFrom16(r.AAAA).String()
		}
		got = append(got, line)
	}
	// (dnsmessage refuses dots inside labels, hence "Bob's lobby" here.)
	want := []string{
		"_rallypoint._tcp.local. TypePTR 0001 Bob's lobby._rallypoint._tcp.local.",
		"Bob's lobby._rallypoint._tcp.local. TypeSRV 8001 bob-pc.local.",
		"Bob's lobby._rallypoint._tcp.local. TypeTXT 8001 v=1,players=2",
		"bob-pc.local. TypeA 8001 10.0.0.7",
		"bob-pc.local. TypeAAAA 8001 fe80::1",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("dnsmessage read:\n%s", strings.Join(got, "\n"))
	}
}

// We read what an independent encoder (x/net/dns/dnsmessage, with
// compression) writes.
func TestParseDNSMessageEncoding(t *testing.T) {
	bld := dnsmessage.NewBuilder(nil, dnsmessage.Header{Response: true, Authoritative: true})
	bld.EnableCompression()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(bld.StartAnswers())
	typ := dnsmessage.MustNewName("_game._udp.local.")
	inst := dnsmessage.MustNewName("Carol._game._udp.local.")
	host := dnsmessage.MustNewName("carol.local.")
	must(bld.PTRResource(dnsmessage.ResourceHeader{Name: typ, Class: dnsmessage.ClassINET, TTL: 4500}, dnsmessage.PTRResource{PTR: inst}))
	must(bld.SRVResource(dnsmessage.ResourceHeader{Name: inst, Class: dnsmessage.ClassINET | topBit, TTL: 120}, dnsmessage.SRVResource{Port: 9000, Target: host}))
	must(bld.TXTResource(dnsmessage.ResourceHeader{Name: inst, Class: dnsmessage.ClassINET | topBit, TTL: 120}, dnsmessage.TXTResource{TXT: []string{"a=1"}}))
	must(bld.AResource(dnsmessage.ResourceHeader{Name: host, Class: dnsmessage.ClassINET, TTL: 120}, dnsmessage.AResource{A: [4]byte{192, 168, 1, 9}}))
	b, err := bld.Finish()
	must(err)
	m, err := parseMessage(b)
	must(err)
	if len(m.Answers) != 4 {
		t.Fatalf("answers: %+v", m.Answers)
	}
	ptr, srv, txt, a := m.Answers[0], m.Answers[1], m.Answers[2], m.Answers[3]
	if ptr.Target != "Carol._game._udp.local." || ptr.TTL != 4500 || ptr.CacheFlush {
		t.Errorf("PTR %+v", ptr)
	}
	if srv.Port != 9000 || srv.Target != "carol.local." || !srv.CacheFlush || srv.Class != classIN {
		t.Errorf("SRV %+v", srv)
	}
	if !slices.Equal(txt.TXT, []string{"a=1"}) {
		t.Errorf("TXT %+v", txt)
	}
	if a.Addr != netip.MustParseAddr("192.168.1.9") {
		t.Errorf("A %+v", a)
	}
}

// avahiPackets returns the packets captured from avahi (testdata).
func avahiPackets(t testing.TB) [][]byte {
	f, err := os.Open("testdata/avahi-packets.hex")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestParseAvahiPackets(t *testing.T) {
	pkts := avahiPackets(t)
	if len(pkts) < 5 {
		t.Fatalf("only %d packets", len(pkts))
	}
	var sawSRV, sawKnownAnswerQuery, sawProbe bool
	for _, b := range pkts {
		m, err := parseMessage(b)
		if err != nil {
			t.Fatalf("avahi packet %x: %v", b, err)
		}
		for _, r := range append(m.Answers, m.Additionals...) {
			if r.Type == typeSRV && r.Name == "Avahi lobby._rallypoint._tcp.local." {
				sawSRV = r.Port == 7100 && r.Target == "avahi-host.local."
			}
		}
		if !m.response() && len(m.Answers) > 0 {
			sawKnownAnswerQuery = true
		}
		if !m.response() && len(m.Authorities) > 0 {
			sawProbe = true
		}
		// Re-encoding gives a message that decodes to the same content.
		b2, err := appendMessage(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := parseMessage(b2)
		if err != nil || !sameMessage(m, m2) {
			t.Fatalf("round trip of %x: %v", b, err)
		}
	}
	if !sawSRV || !sawKnownAnswerQuery || !sawProbe {
		t.Errorf("srv %v, known-answer query %v, probe %v", sawSRV, sawKnownAnswerQuery, sawProbe)
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	good, _ := appendMessage(nil, sampleResponse())
	hdr := func(qd, an uint16) []byte {
		return []byte{0, 0, 0x84, 0, byte(qd >> 8), byte(qd), byte(an >> 8), byte(an), 0, 0, 0, 0}
	}
	cases := map[string][]byte{
		"empty":          {},
		"short header":   good[:11],
		"truncated":      good[:len(good)-3],
		"counts too big": hdr(0, 1000),
		"too many":       hdr(0xFFFF, 0xFFFF),
		"self pointer":   append(hdr(1, 0), 0xC0, 12, 0, 1, 0, 1),
		"pointer loop":   append(hdr(1, 0), 0xC0, 14, 0xC0, 12, 0, 1, 0, 1),
		"short count":    append(hdr(2, 0), 0, 0, 1, 0, 1),
		"label past end": append(hdr(1, 0), 10, 'a', 'b'),
		"bad label type": append(hdr(1, 0), 0x80, 0, 0, 1, 0, 1),
		"long name": append(append(hdr(1, 0), slices.Repeat(append([]byte{63}, slices.Repeat([]byte{'a'}, 63)...), 5)...),
			0, 0, 1, 0, 1),
		"A of 3 bytes":   append(hdr(0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 3, 1, 2, 3),
		"TXT past end":   append(hdr(0, 1), 0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 2, 5, 'x'),
		"rdata past end": append(hdr(0, 1), 0, 0, 16, 0, 1, 0, 0, 0, 1, 0, 9, 1),
		"PTR length":     append(hdr(0, 1), 0, 0, 12, 0, 1, 0, 0, 0, 1, 0, 3, 0, 0, 0),
		"oversized":      append(slices.Clone(good), make([]byte, maxPacket)...),
	}
	for name, b := range cases {
		m, err := parseMessage(b)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %+v, %v; want ErrMalformed", name, m, err)
		}
	}
}

func TestNameEscapes(t *testing.T) {
	labels, err := splitName(`a\.b\\c.local.`)
	if err != nil || !slices.Equal(labels, []string{`a.b\c`, "local"}) {
		t.Fatalf("split: %q %v", labels, err)
	}
	if got := joinName(labels...); got != `a\.b\\c.local.` {
		t.Fatalf("join: %q", got)
	}
	if _, err := splitName("a..b."); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty label: %v", err)
	}
	if _, err := splitName(strings.Repeat("x", 64) + ".local."); !errors.Is(err, ErrInvalidName) {
		t.Errorf("64-byte label: %v", err)
	}
	for _, bad := range []string{"a..b.", strings.Repeat("x", 64) + ".local.", strings.Repeat("abcdefg.", 40)} {
		_, err := appendMessage(nil, &message{Questions: []question{{Name: bad, Type: typeA, Class: classIN}}})
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("encoding %q: %v", bad, err)
		}
	}
	if !sameName("Foo.LOCAL.", "foo.local.") {
		t.Error("names must compare case-insensitively")
	}
}

func FuzzParseMessage(f *testing.F) {
	good, _ := appendMessage(nil, sampleResponse())
	f.Add(good)
	for _, b := range avahiPackets(f) {
		f.Add(b)
	}
	q, _ := appendMessage(nil, &message{Questions: []question{{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN, QU: true}}})
	f.Add(q)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		b2, err := appendMessage(nil, m)
		if errors.Is(err, ErrTooLarge) {
			return // our compression may be weaker than the sender's
		}
		if err != nil {
			t.Fatalf("re-encode of a parsed message: %v", err)
		}
		m2, err := parseMessage(b2)
		if err != nil {
			t.Fatalf("parse of re-encoded message: %v", err)
		}
		if !sameMessage(m, m2) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}

// sameMessage compares two messages by content (record data as sameData
// sees it, plus TTLs and cache-flush bits).
func sameMessage(a, b *message) bool {
	if a.ID != b.ID || a.Flags != b.Flags || !slices.EqualFunc(a.Questions, b.Questions, func(x, y question) bool {
		return x.Name == y.Name && x.Type == y.Type && x.Class == y.Class && x.QU == y.QU
	}) {
		return false
	}
	eq := func(x, y record) bool {
		return x.Name == y.Name && sameData(&x, &y) && x.TTL == y.TTL && x.CacheFlush == y.CacheFlush
	}
	return slices.EqualFunc(a.Answers, b.Answers, eq) && slices.EqualFunc(a.Authorities, b.Authorities, eq) &&
		slices.EqualFunc(a.Additionals, b.Additionals, eq)
}

// BenchmarkParseMessage decodes a five-record announcement; the baseline in
// the same run is golang.org/x/net/dns/dnsmessage decoding the same packet
// (names, headers and the typed bodies).
func BenchmarkParseMessage(b *testing.B) {
	m := sampleResponse()
	for i := range m.Answers {
		for _, s := range []*string{&m.Answers[i].Name, &m.Answers[i].Target} {
			*s = strings.ReplaceAll(*s, `\.`, " ")
		}
	}
	pkt, _ := appendMessage(nil, m)
	b.Run("dnssd", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			if _, err := parseMessage(pkt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline=x-net-dnsmessage", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			var p dnsmessage.Parser
			if _, err := p.Start(pkt); err != nil {
				b.Fatal(err)
			}
			if _, err := p.AllQuestions(); err != nil {
				b.Fatal(err)
			}
			if _, err := p.AllAnswers(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendMessage(b *testing.B) {
	m := sampleResponse()
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendMessage(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
}

// Bytes miekg/dns escapes in its presentation form (spaces, quotes, '@',
// ';', parentheses, non-ASCII, control bytes) travel as themselves and come
// back in the engine's form, where only '.' and '\' are escaped.
func TestSpecialBytesRoundTrip(t *testing.T) {
	label := "Zoë's \"lobby\" @home; (1)\x00.\\x"
	inst := joinName(label, "_rallypoint", "_tcp", "local")
	txt := []string{`path=C:\games`, "name=Zoë \"Z\"", "nul=\x00\xff", ""}
	m := &message{Flags: flagResponse | flagAA, Answers: []record{
		{Name: "_rallypoint._tcp.local.", Type: typePTR, Class: classIN, TTL: 4500, Target: inst},
		{Name: inst, Type: typeTXT, Class: classIN, CacheFlush: true, TTL: 120, TXT: txt},
	}}
	b, err := appendMessage(nil, m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), string(rune(len(label)))+label) {
		t.Fatalf("label not on the wire as its bytes: %q", b)
	}
	got, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameMessage(got, m) {
		t.Fatalf("round trip:\n%+v\n%+v", got, m)
	}
	if labels, _ := splitName(got.Answers[0].Target); labels[0] != label {
		t.Fatalf("instance label %q", labels[0])
	}
	if !slices.Equal(got.Answers[1].TXT, txt) {
		t.Fatalf("TXT %q", got.Answers[1].TXT)
	}
}
