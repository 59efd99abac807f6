package piggyback

// DTLS 1.2 record layer (RFC 6347 §4.1): type(1) version(2) epoch(2)
// sequence(6) length(2), then length bytes.
const (
	recordHeader = 13

	contentChangeCipherSpec = 20
	contentAlert            = 21
	contentHandshake        = 22
	contentApplicationData  = 23

	// MaxControlRecord is the largest ciphertext (the record's length
	// field) of a record that is held as a control record. The smallest
	// record overhead among the DTLS ciphers pion implements is 16 bytes
	// (ChaCha20-Poly1305 and AES-CCM-8: a tag and no explicit nonce, or an
	// 8-byte nonce and an 8-byte tag), so such a record's plaintext is at
	// most 28 bytes: an SCTP common header (12) and 16 bytes of control
	// chunks. An SCTP DATA or I-DATA chunk with one byte of user data is 20
	// bytes or more, so a packet that carries data never qualifies.
	MaxControlRecord = 44
)

// Kind is what a datagram is, as far as bundling goes.
type Kind uint8

// The kinds of datagram.
const (
	// Other is written as it is: STUN, TURN framing, anything that is not
	// whole DTLS 1.2 records.
	Other Kind = iota
	// Control is one small encrypted application-data record: an SCTP
	// packet without user data. It may be held for the next carrier.
	Control
	// Carrier is one or more whole DTLS 1.2 records; held control records
	// go out in front of it.
	Carrier
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Control:
		return "control"
	case Carrier:
		return "carrier"
	default:
		return "other"
	}
}

// Classify says what a datagram is. It reads only record headers, never
// allocates, and accepts any input.
func Classify(b []byte) Kind {
	if len(b) < recordHeader || b[0] < 20 || b[0] > 63 {
		return Other
	}
	n := 0
	for off := 0; off < len(b); n++ {
		rest := b[off:]
		if len(rest) < recordHeader {
			return Other
		}
		switch rest[0] {
		case contentChangeCipherSpec, contentAlert, contentHandshake, contentApplicationData:
		default:
			return Other // includes the connection-ID record, whose header length varies
		}
		if rest[1] != 0xfe || (rest[2] != 0xfd && rest[2] != 0xff) {
			return Other
		}
		l := int(rest[11])<<8 | int(rest[12])
		if l > len(rest)-recordHeader {
			return Other
		}
		off += recordHeader + l
	}
	if n == 1 && b[0] == contentApplicationData {
		epoch := int(b[3])<<8 | int(b[4])
		if l := len(b) - recordHeader; epoch > 0 && l <= MaxControlRecord {
			return Control
		}
	}
	return Carrier
}
