package dnssd

// The DNS message layer: the engine's view of a message (question, record,
// message) and its conversion to and from the wire through
// github.com/miekg/dns (dns.Msg Pack and Unpack; RFC 1035 §4), with the
// mDNS meanings of the class top bit from RFC 6762 §10.2 and §5.4.
//
// Names are kept in presentation form: labels joined by '.', ending in '.',
// with '.' and '\' inside a label escaped by a backslash and every other
// byte as is (UTF-8 instance names stay readable). Instance names may
// contain dots and spaces (RFC 6763 §4.3), so labels are never split on an
// escaped dot. miekg/dns escapes more (spaces, quotes, non-ASCII bytes as
// \DDD); fromDNSName and fromDNSText undo that. Before the library sees a
// packet, its size and record counts are checked against maxPacket and
// maxRecords; the library bounds compression pointers and checks every
// length; afterwards every count is checked against what was decoded and
// every A, AAAA, PTR and SRV record against its expected shape.

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Record types the engine understands; others are carried as raw data.
const (
	typeA    uint16 = 1
	typePTR  uint16 = 12
	typeTXT  uint16 = 16
	typeAAAA uint16 = 28
	typeSRV  uint16 = 33
	typeNSEC uint16 = 47
	typeANY  uint16 = 255

	classIN = 1
	// topBit is the cache-flush bit of a record's class and the
	// unicast-response (QU) bit of a question's class.
	topBit = 0x8000

	flagResponse = 0x8000 // QR
	flagAA       = 0x0400 // authoritative answer
	flagTC       = 0x0200 // truncated: more known answers follow

	// maxPacket is the largest mDNS message (RFC 6762 §17).
	maxPacket = 9000
	// maxName is the largest encoded name (RFC 1035 §3.1).
	maxName = 255
	// maxRecords bounds the records of a parsed message: a 9000-byte packet
	// holds at most ~800 minimal records.
	maxRecords = 1024
)

type question struct {
	Name  string
	Type  uint16
	Class uint16 // without the QU bit
	QU    bool   // unicast response requested
}

type record struct {
	Name       string
	Type       uint16
	Class      uint16 // without the cache-flush bit
	CacheFlush bool
	TTL        uint32

	// PTR and SRV target.
	Target string
	// SRV.
	Priority, Weight, Port uint16
	// TXT character-strings.
	TXT []string
	// A and AAAA.
	Addr netip.Addr
	// Other types: the raw RDATA.
	Raw []byte
}

type message struct {
	ID          uint16
	Flags       uint16
	Questions   []question
	Answers     []record
	Authorities []record
	Additionals []record
}

func (m *message) response() bool { return m.Flags&flagResponse != 0 }

// parseError says where a message is malformed.
type parseError struct {
	Off    int
	Reason string
}

func (e *parseError) Error() string {
	return fmt.Sprintf("dnssd: malformed message at byte %d: %s", e.Off, e.Reason)
}

func (e *parseError) Unwrap() error { return ErrMalformed }

func malformed(off int, reason string) error { return &parseError{Off: off, Reason: reason} }

// parseMessage decodes a DNS message. Trailing bytes are ignored.
func parseMessage(b []byte) (*message, error) {
	if len(b) > maxPacket {
		return nil, malformed(maxPacket, "packet larger than 9000 bytes")
	}
	if len(b) < 12 {
		return nil, malformed(len(b), "short header")
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	if qd+an+ns+ar > maxRecords {
		return nil, malformed(4, "too many entries")
	}
	// Each entry takes at least 5 (question) or 11 (record) bytes.
	if qd*5+(an+ns+ar)*11 > len(b)-12 {
		return nil, malformed(4, "counts exceed packet")
	}
	var dm dns.Msg
	if err := dm.Unpack(b); err != nil {
		return nil, malformed(12, err.Error())
	}
	// The library stops early, without an error, at a count that runs
	// past the end of the packet.
	if len(dm.Question) != qd || len(dm.Answer) != an || len(dm.Ns) != ns || len(dm.Extra) != ar {
		return nil, malformed(4, "fewer entries than counted")
	}
	m := &message{ID: dm.Id, Flags: headerFlags(&dm.MsgHdr)}
	if qd > 0 {
		m.Questions = make([]question, 0, qd)
	}
	for _, q := range dm.Question {
		m.Questions = append(m.Questions, question{Name: fromDNSName(q.Name), Type: q.Qtype,
			Class: q.Qclass &^ topBit, QU: q.Qclass&topBit != 0})
	}
	var err error
	if m.Answers, err = fromRRs(dm.Answer); err != nil {
		return nil, err
	}
	if m.Authorities, err = fromRRs(dm.Ns); err != nil {
		return nil, err
	}
	if m.Additionals, err = fromRRs(dm.Extra); err != nil {
		return nil, err
	}
	return m, nil
}

// headerFlags returns the header's second 16-bit word (RFC 1035 §4.1.1).
func headerFlags(h *dns.MsgHdr) uint16 {
	f := uint16(h.Opcode&0xF)<<11 | uint16(h.Rcode&0xF)
	for _, b := range []struct {
		set bool
		bit uint16
	}{{h.Response, flagResponse}, {h.Authoritative, flagAA}, {h.Truncated, flagTC}, {h.RecursionDesired, 0x0100},
		{h.RecursionAvailable, 0x0080}, {h.Zero, 0x0040}, {h.AuthenticatedData, 0x0020}, {h.CheckingDisabled, 0x0010}} {
		if b.set {
			f |= b.bit
		}
	}
	return f
}

func setHeaderFlags(h *dns.MsgHdr, f uint16) {
	h.Response = f&flagResponse != 0
	h.Opcode = int(f>>11) & 0xF
	h.Authoritative = f&flagAA != 0
	h.Truncated = f&flagTC != 0
	h.RecursionDesired = f&0x0100 != 0
	h.RecursionAvailable = f&0x0080 != 0
	h.Zero = f&0x0040 != 0
	h.AuthenticatedData = f&0x0020 != 0
	h.CheckingDisabled = f&0x0010 != 0
	h.Rcode = int(f & 0xF)
}

func fromRRs(rrs []dns.RR) ([]record, error) {
	if len(rrs) == 0 {
		return nil, nil
	}
	out := make([]record, 0, len(rrs))
	for _, rr := range rrs {
		h := rr.Header()
		r := record{Name: fromDNSName(h.Name), Type: h.Rrtype, Class: h.Class &^ topBit, CacheFlush: h.Class&topBit != 0, TTL: h.Ttl}
		switch rr := rr.(type) {
		case *dns.A:
			a, ok := netip.AddrFromSlice(rr.A)
			if !ok || !a.Unmap().Is4() {
				return nil, malformed(12, "A record not 4 bytes")
			}
			r.Addr = a.Unmap()
		case *dns.AAAA:
			a, ok := netip.AddrFromSlice(rr.AAAA)
			if !ok || len(rr.AAAA) != 16 {
				return nil, malformed(12, "AAAA record not 16 bytes")
			}
			r.Addr = a
		case *dns.PTR:
			if rr.Ptr == "" {
				return nil, malformed(12, "PTR record without a name")
			}
			r.Target = fromDNSName(rr.Ptr)
		case *dns.SRV:
			if rr.Target == "" {
				return nil, malformed(12, "short SRV record")
			}
			r.Priority, r.Weight, r.Port, r.Target = rr.Priority, rr.Weight, rr.Port, fromDNSName(rr.Target)
		case *dns.TXT:
			if len(rr.Txt) > 0 {
				r.TXT = make([]string, len(rr.Txt))
				for i, s := range rr.Txt {
					r.TXT[i] = fromDNSText(s)
				}
			}
		default:
			raw, err := rawRData(rr)
			if err != nil {
				return nil, err
			}
			r.Raw = raw
		}
		out = append(out, r)
	}
	return out, nil
}

// rawRData returns the RDATA of a record of a type the engine does not
// read, which travels as is (RFC 3597). The library decodes some types more
// leniently than it encodes them, so the bytes must decode to themselves
// again; a record whose do not makes the message malformed.
func rawRData(rr dns.RR) ([]byte, error) {
	var u dns.RFC3597
	if err := u.ToRFC3597(rr); err != nil {
		return nil, malformed(12, err.Error())
	}
	raw, err := hex.DecodeString(u.Rdata)
	if err != nil {
		return nil, malformed(12, err.Error())
	}
	h := *rr.Header()
	h.Rdlength = uint16(len(raw))
	again, off, err := dns.UnpackRRWithHeader(h, raw, 0)
	if err != nil || off != len(raw) {
		return nil, malformed(12, fmt.Sprintf("type %d record does not survive re-encoding", h.Rrtype))
	}
	var u2 dns.RFC3597
	if err := u2.ToRFC3597(again); err != nil || u2.Rdata != u.Rdata {
		return nil, malformed(12, fmt.Sprintf("type %d record does not survive re-encoding", h.Rrtype))
	}
	return raw, nil
}

// fromDNSName turns a name as miekg/dns presents it into the engine's
// form: the escapes \DDD and \X become bytes, and only '.' and '\' inside
// a label are escaped again.
func fromDNSName(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			sb.WriteByte(c) // a plain byte, or an unescaped '.' ending a label
			continue
		}
		c, i = unescapeAt(s, i)
		if c == '.' || c == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// fromDNSText turns a TXT character-string as miekg/dns presents it into
// its bytes.
func fromDNSText(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			c, i = unescapeAt(s, i)
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// unescapeAt decodes the escape starting at s[i] == '\\' and returns its
// byte and the index of its last character.
func unescapeAt(s string, i int) (byte, int) {
	if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
		return byte((int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')) & 0xFF), i + 3
	}
	if i+1 < len(s) {
		return s[i+1], i + 1
	}
	return '\\', i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// toDNSText escapes a TXT character-string for miekg/dns, which reads
// \X and \DDD escapes when it packs.
func toDNSText(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	return strings.ReplaceAll(s, `\`, `\\`)
}

func writeLabel(sb *strings.Builder, l []byte) {
	for _, c := range l {
		if c == '.' || c == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteByte(c)
	}
}

// splitName splits a presentation name into raw labels.
func splitName(name string) ([]string, error) {
	if name == "." || name == "" {
		return nil, nil
	}
	var labels []string
	var cur []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '\\' && i+1 < len(name):
			i++
			cur = append(cur, name[i])
		case c == '.':
			if len(cur) == 0 {
				return nil, fmt.Errorf("%w: empty label in %q", ErrInvalidName, name)
			}
			labels = append(labels, string(cur))
			cur = cur[:0]
		default:
			cur = append(cur, c)
		}
	}
	if len(cur) > 0 {
		labels = append(labels, string(cur))
	}
	wire := 1
	for _, l := range labels {
		if len(l) > 63 {
			return nil, fmt.Errorf("%w: label longer than 63 bytes in %q", ErrInvalidName, name)
		}
		wire += 1 + len(l)
	}
	if wire > maxName {
		return nil, fmt.Errorf("%w: name longer than 255 bytes: %q", ErrInvalidName, name)
	}
	return labels, nil
}

// joinName builds a presentation name from raw labels.
func joinName(labels ...string) string {
	var sb strings.Builder
	for _, l := range labels {
		writeLabel(&sb, []byte(l))
		sb.WriteByte('.')
	}
	if sb.Len() == 0 {
		return "."
	}
	return sb.String()
}

// nameKey folds ASCII case, for comparing names (RFC 6762 §16).
func nameKey(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}

func sameName(a, b string) bool { return a == b || nameKey(a) == nameKey(b) }

// sameData reports whether two records carry the same name, type, class and
// data (their TTLs and cache-flush bits may differ).
func sameData(a, b *record) bool {
	if a.Type != b.Type || a.Class != b.Class || !sameName(a.Name, b.Name) {
		return false
	}
	switch a.Type {
	case typeA, typeAAAA:
		return a.Addr.WithZone("") == b.Addr.WithZone("")
	case typePTR:
		return sameName(a.Target, b.Target)
	case typeSRV:
		return a.Priority == b.Priority && a.Weight == b.Weight && a.Port == b.Port && sameName(a.Target, b.Target)
	case typeTXT:
		return txtEqual(a.TXT, b.TXT)
	default:
		return string(a.Raw) == string(b.Raw)
	}
}

func txtEqual(a, b []string) bool {
	// An empty TXT record is one empty string on the wire (RFC 6763 §6.1).
	if len(a) == 0 {
		a = []string{""}
	}
	if len(b) == 0 {
		b = []string{""}
	}
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// appendMessage encodes m after b and returns the extended slice. Names
// are compressed where RFC 1035 allows it (not inside SRV data, which
// RFC 6762 §18.14 permits in mDNS but not every unicast resolver reads).
func appendMessage(b []byte, m *message) ([]byte, error) {
	for _, n := range []int{len(m.Questions), len(m.Answers), len(m.Authorities), len(m.Additionals)} {
		if n > 0xFFFF {
			return nil, fmt.Errorf("%w: too many entries", ErrTooLarge)
		}
	}
	dm := dns.Msg{Compress: true}
	dm.Id = m.ID
	setHeaderFlags(&dm.MsgHdr, m.Flags)
	if len(m.Questions) > 0 {
		dm.Question = make([]dns.Question, len(m.Questions))
	}
	for i, q := range m.Questions {
		if err := checkName(q.Name); err != nil {
			return nil, err
		}
		c := q.Class
		if q.QU {
			c |= topBit
		}
		dm.Question[i] = dns.Question{Name: fqdn(q.Name), Qtype: q.Type, Qclass: c}
	}
	var err error
	if dm.Answer, err = toRRs(m.Answers); err != nil {
		return nil, err
	}
	if dm.Ns, err = toRRs(m.Authorities); err != nil {
		return nil, err
	}
	if dm.Extra, err = toRRs(m.Additionals); err != nil {
		return nil, err
	}
	out, err := dm.Pack()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
	}
	if len(out) > maxPacket {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(out))
	}
	return append(b, out...), nil
}

// fqdn returns the root for an empty name; the engine's names are fully
// qualified otherwise.
func fqdn(name string) string {
	if name == "" {
		return "."
	}
	return name
}

// checkName reports names the wire cannot carry with the package's errors
// (the library's would not wrap ErrInvalidName).
func checkName(name string) error {
	if name == "." || name == "" {
		return nil
	}
	dotAtEnd := false
	for i := 0; i < len(name); i++ {
		dotAtEnd = name[i] == '.'
		if name[i] == '\\' {
			i++ // the escaped byte is part of a label
		}
	}
	if !dotAtEnd {
		return fmt.Errorf("%w: %q is not fully qualified", ErrInvalidName, name)
	}
	_, err := splitName(name)
	return err
}

func toRRs(rs []record) ([]dns.RR, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	out := make([]dns.RR, len(rs))
	for i := range rs {
		r := &rs[i]
		if err := checkName(r.Name); err != nil {
			return nil, err
		}
		c := r.Class
		if r.CacheFlush {
			c |= topBit
		}
		h := dns.RR_Header{Name: fqdn(r.Name), Rrtype: r.Type, Class: c, Ttl: r.TTL}
		switch r.Type {
		case typeA:
			if !r.Addr.Is4() {
				return nil, fmt.Errorf("%w: A record with %v", ErrInvalidName, r.Addr)
			}
			out[i] = &dns.A{Hdr: h, A: net.IP(r.Addr.AsSlice())}
		case typeAAAA:
			if !r.Addr.Is6() {
				return nil, fmt.Errorf("%w: AAAA record with %v", ErrInvalidName, r.Addr)
			}
			a := r.Addr.As16()
			out[i] = &dns.AAAA{Hdr: h, AAAA: net.IP(a[:])}
		case typePTR:
			if err := checkName(r.Target); err != nil {
				return nil, err
			}
			out[i] = &dns.PTR{Hdr: h, Ptr: fqdn(r.Target)}
		case typeSRV:
			if err := checkName(r.Target); err != nil {
				return nil, err
			}
			out[i] = &dns.SRV{Hdr: h, Priority: r.Priority, Weight: r.Weight, Port: r.Port, Target: fqdn(r.Target)}
		case typeTXT:
			// An empty TXT record is one empty string on the wire (RFC 6763
			// §6.1).
			txt := []string{""}
			if len(r.TXT) > 0 {
				txt = make([]string, len(r.TXT))
				for j, s := range r.TXT {
					if len(s) > 255 {
						return nil, fmt.Errorf("%w: TXT string longer than 255 bytes", ErrTooLarge)
					}
					txt[j] = toDNSText(s)
				}
			}
			out[i] = &dns.TXT{Hdr: h, Txt: txt}
		default:
			if len(r.Raw) > 0xFFFF {
				return nil, fmt.Errorf("%w: record data", ErrTooLarge)
			}
			out[i] = &dns.RFC3597{Hdr: h, Rdata: hex.EncodeToString(r.Raw)}
		}
	}
	return out, nil
}
