package dnssd

// The DNS message codec used on the wire (RFC 1035 §4, with the mDNS
// meanings of the class top bit from RFC 6762 §10.2 and §5.4).
//
// Names are kept in presentation form: labels joined by '.', ending in '.',
// with '.' and '\' inside a label escaped by a backslash. Instance names may
// contain dots and spaces (RFC 6763 §4.3), so labels are never split on an
// escaped dot. Decoding follows compression pointers only backwards, so a
// hostile packet cannot loop; every length is checked before use.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
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
	m := &message{
		ID:    binary.BigEndian.Uint16(b[0:]),
		Flags: binary.BigEndian.Uint16(b[2:]),
	}
	qd := int(binary.BigEndian.Uint16(b[4:]))
	an := int(binary.BigEndian.Uint16(b[6:]))
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	if qd+an+ns+ar > maxRecords {
		return nil, malformed(4, "too many entries")
	}
	off := 12
	// Each entry takes at least 5 (question) or 11 (record) bytes: reject
	// impossible counts before allocating.
	if qd*5+(an+ns+ar)*11 > len(b)-off {
		return nil, malformed(4, "counts exceed packet")
	}
	if qd > 0 {
		m.Questions = make([]question, 0, qd)
	}
	for i := 0; i < qd; i++ {
		name, n, err := readName(b, off)
		if err != nil {
			return nil, err
		}
		off = n
		if off+4 > len(b) {
			return nil, malformed(off, "short question")
		}
		t := binary.BigEndian.Uint16(b[off:])
		c := binary.BigEndian.Uint16(b[off+2:])
		off += 4
		m.Questions = append(m.Questions, question{Name: name, Type: t, Class: c &^ topBit, QU: c&topBit != 0})
	}
	var err error
	if m.Answers, off, err = readRecords(b, off, an); err != nil {
		return nil, err
	}
	if m.Authorities, off, err = readRecords(b, off, ns); err != nil {
		return nil, err
	}
	if m.Additionals, _, err = readRecords(b, off, ar); err != nil {
		return nil, err
	}
	return m, nil
}

func readRecords(b []byte, off, count int) ([]record, int, error) {
	if count == 0 {
		return nil, off, nil
	}
	rs := make([]record, 0, count)
	for i := 0; i < count; i++ {
		name, n, err := readName(b, off)
		if err != nil {
			return nil, 0, err
		}
		off = n
		if off+10 > len(b) {
			return nil, 0, malformed(off, "short record header")
		}
		r := record{Name: name}
		r.Type = binary.BigEndian.Uint16(b[off:])
		c := binary.BigEndian.Uint16(b[off+2:])
		r.Class, r.CacheFlush = c&^topBit, c&topBit != 0
		r.TTL = binary.BigEndian.Uint32(b[off+4:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		end := off + rdlen
		if end > len(b) {
			return nil, 0, malformed(off, "record data past end")
		}
		if err := readRData(b, off, end, &r); err != nil {
			return nil, 0, err
		}
		off = end
		rs = append(rs, r)
	}
	return rs, off, nil
}

func readRData(b []byte, off, end int, r *record) error {
	rd := b[off:end]
	switch r.Type {
	case typeA:
		if len(rd) != 4 {
			return malformed(off, "A record not 4 bytes")
		}
		r.Addr = netip.AddrFrom4([4]byte(rd))
	case typeAAAA:
		if len(rd) != 16 {
			return malformed(off, "AAAA record not 16 bytes")
		}
		r.Addr = netip.AddrFrom16([16]byte(rd))
	case typePTR:
		name, n, err := readName(b, off)
		if err != nil {
			return err
		}
		if n != end {
			return malformed(off, "PTR data length mismatch")
		}
		r.Target = name
	case typeSRV:
		if len(rd) < 7 {
			return malformed(off, "short SRV record")
		}
		r.Priority = binary.BigEndian.Uint16(rd[0:])
		r.Weight = binary.BigEndian.Uint16(rd[2:])
		r.Port = binary.BigEndian.Uint16(rd[4:])
		name, n, err := readName(b, off+6)
		if err != nil {
			return err
		}
		if n != end {
			return malformed(off, "SRV data length mismatch")
		}
		r.Target = name
	case typeTXT:
		for i := 0; i < len(rd); {
			l := int(rd[i])
			i++
			if i+l > len(rd) {
				return malformed(off+i, "TXT string past end")
			}
			r.TXT = append(r.TXT, string(rd[i:i+l]))
			i += l
		}
	default:
		r.Raw = append([]byte(nil), rd...)
	}
	return nil
}

// readName decodes the name at off and returns it with the offset just past
// it (past the first pointer when compressed).
func readName(b []byte, off int) (string, int, error) {
	var sb strings.Builder
	next := -1 // offset after the name in the original position
	wire := 0  // encoded length, to enforce maxName
	ptr := off // pointers must point before this
	for {
		if off >= len(b) {
			return "", 0, malformed(off, "name past end")
		}
		l := int(b[off])
		switch l & 0xC0 {
		case 0x00:
			off++
			if l == 0 {
				if next < 0 {
					next = off
				}
				if sb.Len() == 0 {
					return ".", next, nil
				}
				return sb.String(), next, nil
			}
			if off+l > len(b) {
				return "", 0, malformed(off, "label past end")
			}
			wire += 1 + l
			if wire+1 > maxName {
				return "", 0, malformed(off, "name longer than 255 bytes")
			}
			writeLabel(&sb, b[off:off+l])
			sb.WriteByte('.')
			off += l
		case 0xC0:
			if off+1 >= len(b) {
				return "", 0, malformed(off, "short pointer")
			}
			p := int(binary.BigEndian.Uint16(b[off:]) & 0x3FFF)
			if p >= ptr {
				return "", 0, malformed(off, "forward or looping compression pointer")
			}
			if next < 0 {
				next = off + 2
			}
			ptr = p
			off = p
		default:
			return "", 0, malformed(off, "unknown label type")
		}
	}
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

// encoder appends a message with name compression.
type encoder struct {
	b     []byte
	names map[string]int // lower-case suffix -> offset
}

// appendMessage encodes m after b (which must be empty or hold nothing the
// message refers to) and returns the extended slice.
func appendMessage(b []byte, m *message) ([]byte, error) {
	e := encoder{b: b, names: map[string]int{}}
	base := len(b)
	e.u16(m.ID)
	e.u16(m.Flags)
	for _, n := range []int{len(m.Questions), len(m.Answers), len(m.Authorities), len(m.Additionals)} {
		if n > 0xFFFF {
			return nil, fmt.Errorf("%w: too many entries", ErrTooLarge)
		}
		e.u16(uint16(n))
	}
	for _, q := range m.Questions {
		if err := e.name(q.Name, base, true); err != nil {
			return nil, err
		}
		e.u16(q.Type)
		c := q.Class
		if q.QU {
			c |= topBit
		}
		e.u16(c)
	}
	for _, sec := range [][]record{m.Answers, m.Authorities, m.Additionals} {
		for i := range sec {
			if err := e.record(&sec[i], base); err != nil {
				return nil, err
			}
		}
	}
	if len(e.b)-base > maxPacket {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(e.b)-base)
	}
	return e.b, nil
}

func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }

// name writes name, compressed against the names written before when
// compress is set (then it also becomes a target for later names).
func (e *encoder) name(name string, base int, compress bool) error {
	if name == "." || name == "" {
		e.b = append(e.b, 0)
		return nil
	}
	// A suffix of the lower-cased presentation form keys each suffix of
	// the name; no per-label allocation.
	lower := nameKey(name)
	wire := 1
	for start := 0; start < len(name); {
		key := lower[start:]
		if compress {
			if off, ok := e.names[key]; ok {
				e.u16(0xC000 | uint16(off))
				return nil
			}
		}
		lenAt := len(e.b)
		e.b = append(e.b, 0)
		n, i := 0, start
		for ; i < len(name) && name[i] != '.'; i++ {
			c := name[i]
			if c == '\\' && i+1 < len(name) {
				i++
				c = name[i]
			}
			e.b = append(e.b, c)
			n++
		}
		if n == 0 {
			return fmt.Errorf("%w: empty label in %q", ErrInvalidName, name)
		}
		if n > 63 {
			return fmt.Errorf("%w: label longer than 63 bytes in %q", ErrInvalidName, name)
		}
		if wire += 1 + n; wire > maxName {
			return fmt.Errorf("%w: name longer than 255 bytes: %q", ErrInvalidName, name)
		}
		e.b[lenAt] = byte(n)
		if off := lenAt - base; compress && off < 0x4000 {
			e.names[key] = off
		}
		start = i + 1
	}
	e.b = append(e.b, 0)
	return nil
}

func (e *encoder) record(r *record, base int) error {
	if err := e.name(r.Name, base, true); err != nil {
		return err
	}
	e.u16(r.Type)
	c := r.Class
	if r.CacheFlush {
		c |= topBit
	}
	e.u16(c)
	e.b = binary.BigEndian.AppendUint32(e.b, r.TTL)
	lenAt := len(e.b)
	e.u16(0)
	start := len(e.b)
	switch r.Type {
	case typeA:
		if !r.Addr.Is4() {
			return fmt.Errorf("%w: A record with %v", ErrInvalidName, r.Addr)
		}
		a := r.Addr.As4()
		e.b = append(e.b, a[:]...)
	case typeAAAA:
		if !r.Addr.Is6() {
			return fmt.Errorf("%w: AAAA record with %v", ErrInvalidName, r.Addr)
		}
		a := r.Addr.As16()
		e.b = append(e.b, a[:]...)
	case typePTR:
		if err := e.name(r.Target, base, true); err != nil {
			return err
		}
	case typeSRV:
		e.u16(r.Priority)
		e.u16(r.Weight)
		e.u16(r.Port)
		// RFC 6762 §18.14: compression in SRV data is allowed in mDNS
		// but not understood by every unicast resolver; write it whole.
		if err := e.name(r.Target, base, false); err != nil {
			return err
		}
	case typeTXT:
		txt := r.TXT
		if len(txt) == 0 {
			txt = []string{""}
		}
		for _, s := range txt {
			if len(s) > 255 {
				return fmt.Errorf("%w: TXT string longer than 255 bytes", ErrTooLarge)
			}
			e.b = append(e.b, byte(len(s)))
			e.b = append(e.b, s...)
		}
	default:
		e.b = append(e.b, r.Raw...)
	}
	n := len(e.b) - start
	if n > 0xFFFF {
		return fmt.Errorf("%w: record data", ErrTooLarge)
	}
	binary.BigEndian.PutUint16(e.b[lenAt:], uint16(n))
	return nil
}
