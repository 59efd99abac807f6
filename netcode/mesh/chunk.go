package mesh

import (
	"encoding/binary"
	"fmt"
)

// chunkSize is the payload of one reliable frame. It stays well under
// every WebRTC stack's maximum message size (pion and browsers accept at
// least 64 KiB), so large messages work with any peer.
const chunkSize = 16 << 10

// chunkHeader is the largest reliable frame header: type and total length.
const chunkHeader = 5

// chunkFrames frames a reliable message: whole when it fits one chunk,
// otherwise a first chunk carrying the total length followed by next
// chunks. The channel is ordered and reliable, so chunks arrive in order.
// emit gets each frame in turn, built in buf (which is returned for
// reuse); it must not keep the frame.
func chunkFrames(buf, data []byte, emit func([]byte) error) ([]byte, error) {
	if len(data) <= chunkSize {
		f := append(buf[:0], frameMessage)
		f = append(f, data...)
		return f, emit(f)
	}
	f := append(buf[:0], frameFirst)
	f = binary.BigEndian.AppendUint32(f, uint32(len(data)))
	f = append(f, data[:chunkSize]...)
	if err := emit(f); err != nil {
		return f, err
	}
	for off := chunkSize; off < len(data); off += chunkSize {
		end := min(off+chunkSize, len(data))
		f = append(f[:0], frameNext)
		f = append(f, data[off:end]...)
		if err := emit(f); err != nil {
			return f, err
		}
	}
	return f, nil
}

// reassembler rebuilds chunked reliable messages. The channel is ordered,
// so a message's chunks arrive contiguously; anything else is a protocol
// violation.
type reassembler struct {
	max  int    // largest total accepted
	want int    // total of the message being rebuilt, 0 when none
	buf  []byte // the message so far
}

// feed takes one reliable frame. It returns a complete message, or nil
// when more chunks are needed. owned reports that msg is a fresh buffer the
// caller may keep; otherwise msg aliases frame.
func (r *reassembler) feed(frame []byte) (msg []byte, owned bool, err error) {
	if len(frame) == 0 {
		return nil, false, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	switch frame[0] {
	case frameMessage:
		if r.want != 0 {
			return nil, false, fmt.Errorf("%w: message inside a chunked message", ErrProtocol)
		}
		if len(frame)-1 > r.max {
			return nil, false, fmt.Errorf("%w: %d-byte message over the %d-byte cap", ErrProtocol, len(frame)-1, r.max)
		}
		return frame[1:], false, nil
	case frameFirst:
		if r.want != 0 {
			return nil, false, fmt.Errorf("%w: first chunk inside a chunked message", ErrProtocol)
		}
		if len(frame) < chunkHeader {
			return nil, false, fmt.Errorf("%w: short first chunk", ErrProtocol)
		}
		total := int(binary.BigEndian.Uint32(frame[1:]))
		part := frame[chunkHeader:]
		if total > r.max {
			return nil, false, fmt.Errorf("%w: %d-byte message over the %d-byte cap", ErrProtocol, total, r.max)
		}
		if len(part) == 0 || len(part) > total {
			return nil, false, fmt.Errorf("%w: first chunk of %d bytes for a %d-byte message", ErrProtocol, len(part), total)
		}
		// Grow as chunks arrive rather than trusting total up front.
		r.buf = append(make([]byte, 0, min(total, 4*chunkSize)), part...)
		r.want = total
	case frameNext:
		if r.want == 0 {
			return nil, false, fmt.Errorf("%w: chunk without a first chunk", ErrProtocol)
		}
		part := frame[1:]
		if len(r.buf)+len(part) > r.want || len(part) == 0 {
			return nil, false, fmt.Errorf("%w: chunk overruns its %d-byte message", ErrProtocol, r.want)
		}
		r.buf = append(r.buf, part...)
	default:
		return nil, false, fmt.Errorf("%w: frame type %d on the reliable channel", ErrProtocol, frame[0])
	}
	if len(r.buf) < r.want {
		return nil, false, nil
	}
	msg = r.buf
	r.buf, r.want = nil, 0
	return msg, true, nil
}
