// Package piggyback lets a WebRTC peer send SCTP's acknowledgements in the
// same UDP datagram as its next outgoing packet instead of in one of their
// own.
//
// # Why
//
// A game that sends one small datagram per peer per tick pays more for the
// packets than for the payload. pion/sctp acknowledges every second DATA
// packet with a SACK in a packet of its own and cannot bundle it with
// outgoing DATA, so at 60 ticks/s a peer sends 30 extra UDP datagrams a
// second, each with 28 bytes of IP/UDP header around a 57–65 byte DTLS
// record. DTLS allows several records in one datagram (RFC 6347 §4.1.1),
// and every DTLS stack, pion's and the browsers', reads them, so the
// acknowledgement can travel as an extra record in the datagram that
// carries the next game packet.
//
// # How
//
// Net wraps a transport.Net (the host's network, or pion's virtual one)
// and is given to pion through SettingEngine.SetNet. Every UDP socket it
// opens looks at the datagrams written to it:
//
//   - A control record is a datagram that is one DTLS application-data
//     record of epoch 1 or more whose ciphertext is at most
//     MaxControlRecord (44) bytes. With the ciphers pion implements (at
//     least 16 bytes of record overhead) its plaintext is at most 28 bytes:
//     an SCTP packet whose chunks are only control chunks (a SACK without
//     gap blocks is 28), never one that carries a DATA chunk (32 or more).
//   - A carrier is any other datagram that starts with a DTLS record
//     (first byte 20–63, the range WebRTC's demultiplexer gives to DTLS) and
//     parses as whole records.
//   - Anything else (STUN, TURN framing, malformed bytes) is written as
//     it is, at once.
//
// A control record is held, per destination, only while that destination
// is receiving a steady stream of carriers (the last within two Hold
// periods and the one before it within three): then it
// goes out in front of the next carrier to the same address, in one
// datagram. It is written alone when Hold passes first, when a second
// control record joins it (so a bulk transfer's acknowledgements wait at
// most for the next one), when the combined datagram would exceed
// MaxDatagram, or when the socket closes. A destination that receives no
// carriers (the receiving side of a one-way transfer) never has its
// acknowledgements held. Records are never reordered, merged or dropped:
// only their packaging into datagrams changes.
//
// # Costs and limits
//
// A held acknowledgement reaches the peer up to Hold later (20 ms by
// default, about one tick at 60 ticks/s), which SCTP sees as a slightly
// longer round trip: the reliable channel's retransmission timer grows by
// that much, while unreliable datagrams are unaffected. Only direct UDP
// paths are bundled: a TURN relay's framing hides the records, so relayed
// pairs behave as without this package. Listeners opened with
// ListenPacket (pion's TURN client) are passed through.
//
// # Concurrency
//
// A Conn is safe for concurrent use, as net.PacketConn requires. Writes to
// one socket are serialised under a mutex (they were already serialised by
// DTLS per connection); holding a record costs one timer per destination.
package piggyback
