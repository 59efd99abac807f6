package signaling

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/rallypoint/rallypoint/netcode"
)

// ProtocolVersion is the version of the wire protocol this package speaks.
//
// History:
//
//	1: first version: hello/welcome, rooms, next=N grouping, relay, resume,
//	   extension messages with the lobby. and mm. prefixes reserved;
//	   later, compatibly: rejoin tickets in joined, the rejoin request,
//	   replaces in peer_joined (an older server answers unknown_type).
//
// A client lists the versions it speaks in its hello; the server picks the
// highest it also speaks and names it in welcome. Every envelope carries the
// negotiated version in its "v" field.
const ProtocolVersion = 1

// Envelope is the one message shape of the protocol, in both directions:
//
//	{"v":1,"type":"signal","cid":"7","from":"p1","to":"p2","room":"r","data":{...}}
//
// Type names the message; Cid is chosen by the client and echoed in the
// server's reply or error; From is stamped by the server on everything it
// relays (a client must leave it empty or set it to its own id); To names the
// target peer of a signal; Room names a room; Data is the type's payload.
// Unknown fields are ignored so that later versions can add fields.
type Envelope struct {
	V    int             `json:"v"`
	Type string          `json:"type"`
	Cid  string          `json:"cid,omitempty"`
	From string          `json:"from,omitempty"`
	To   string          `json:"to,omitempty"`
	Room string          `json:"room,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Message types of the core protocol. The strings are part of the wire
// contract: only append to this list. The prefixes "lobby." and "mm." are
// reserved for the lobby and matchmaker services; any other type the server
// does not know is answered with CodeUnknownType.
const (
	// Client to server.
	TypeHello  = "hello"  // first message: versions, optional resume token
	TypeJoin   = "join"   // join a room by name, or the next=N group of a name
	TypeLeave  = "leave"  // leave the current room
	TypeSignal = "signal" // relay data to a peer in the same room (also server to client)
	TypePing   = "ping"   // application keep-alive; answered with pong
	TypeRejoin = "rejoin" // take back a match room seat with a rejoin ticket; answered with joined

	// Server to client.
	TypeWelcome         = "welcome"          // answer to hello: id, resume token, ICE servers
	TypeJoined          = "joined"           // answer to join, or pushed when the server moves the peer
	TypeLeft            = "left"             // answer to leave, or pushed when the server removes the peer
	TypePeerJoined      = "peer_joined"      // another peer entered the room
	TypePeerLeft        = "peer_left"        // another peer left for good
	TypePeerInterrupted = "peer_interrupted" // another peer lost its connection; it may resume
	TypePeerResumed     = "peer_resumed"     // an interrupted peer is back
	TypeAck             = "ack"              // a request with a cid succeeded and has no other answer
	TypeReply           = "reply"            // an extension handler's answer
	TypePong            = "pong"             // answer to ping
	TypeError           = "error"            // a request failed; data is ErrorData
)

// Reserved type-name prefixes for the services built on this protocol.
const (
	PrefixLobby      = "lobby."
	PrefixMatchmaker = "mm."
)

// Wire limits. The server's configurable limits default to these.
const (
	// DefaultMaxMessageSize is the largest text frame, in bytes, a peer may
	// send before it is answered with CodeTooLarge.
	DefaultMaxMessageSize = 16 << 10
	// MaxRoomNameLen is the longest room name in bytes.
	MaxRoomNameLen = 64
	// MaxTypeLen is the longest message type name in bytes.
	MaxTypeLen = 64
	// MaxCidLen is the longest correlation id in bytes.
	MaxCidLen = 64
)

// HelloData is the payload of hello.
type HelloData struct {
	// Versions lists the protocol versions the client speaks. Empty means [1].
	Versions []int `json:"versions,omitempty"`
	// Resume is the token of an earlier session to take back, or "".
	Resume string `json:"resume,omitempty"`
}

// WelcomeData is the payload of welcome.
type WelcomeData struct {
	// ID is the peer id the server assigned (the old one after a resume).
	ID string `json:"id"`
	// Resume is the token with which a new connection can take this session
	// back within ResumeGraceMs after this one drops.
	Resume string `json:"resume"`
	// Resumed tells whether the session of HelloData.Resume was taken back.
	Resumed bool `json:"resumed,omitempty"`
	// Room and Peers describe the room the session is in (after a resume).
	Room  string   `json:"room,omitempty"`
	Peers []string `json:"peers,omitempty"`
	// ICEServers are the STUN/TURN servers peers should use.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
	// PingIntervalMs is how often the server pings; a client may treat
	// silence for twice this long as a dead connection.
	PingIntervalMs int64 `json:"ping_interval_ms"`
	// ResumeGraceMs is how long the server keeps a dropped session.
	ResumeGraceMs int64 `json:"resume_grace_ms"`
	// Limits tells the client the server's limits.
	Limits LimitsData `json:"limits"`
}

// LimitsData lists the limits a server enforces, as announced in welcome.
type LimitsData struct {
	MaxMessageSize int     `json:"max_message_size"`
	MaxRoomSize    int     `json:"max_room_size"`
	RatePerSec     float64 `json:"rate_per_sec"`
	RateBurst      int     `json:"rate_burst"`
}

// ICEServer is one STUN or TURN server, in the shape of the browser's
// RTCIceServer: the netcode contract's type, so that the servers a welcome
// carries go to a mesh (mesh.Config.ICEServers, netcode.Roster.ICEServers)
// as they are. Its JSON names (urls, username, credential) are part of the
// wire.
type ICEServer = netcode.ICEServer

// JoinData is the payload of join (the room name travels in Envelope.Room).
type JoinData struct {
	// Next, when at least 2, puts the sender into the group of the next Next
	// arrivals for the room name: a fresh room of their own, named by the
	// server.
	Next int `json:"next,omitempty"`
}

// JoinedData is the payload of joined (the room name is in Envelope.Room).
type JoinedData struct {
	// Peers lists the other members, in the order they joined.
	Peers []string `json:"peers"`
	// Ticket is the rejoin ticket of this member's seat in a match room
	// (a room that accepts no joins by name: next=N groups, rooms made by
	// Server.CreateRoom): a new connection takes the seat back with it
	// (rejoin) until the ticket expires. Empty for other rooms, or when
	// the server issues no tickets.
	Ticket string `json:"ticket,omitempty"`
	// Seats, in a match room, lists the peer holding each seat, in seat
	// order (the order of first arrival; for Server.CreateRoom the order
	// of its peers), this member included; a rejoin replaces one entry in
	// place. Empty for other rooms.
	Seats []string `json:"seats,omitempty"`
}

// RejoinData is the payload of rejoin (client to server).
type RejoinData struct {
	// Ticket is a JoinedData.Ticket this server issued.
	Ticket string `json:"ticket"`
}

// PeerData is the payload of peer_joined, peer_left, peer_interrupted and
// peer_resumed.
type PeerData struct {
	Peer string `json:"peer"`
	// Replaces, in a peer_joined caused by a rejoin, is the peer id that
	// held the seat before (the rejoining process's old id).
	Replaces string `json:"replaces,omitempty"`
}

// ErrorData is the payload of error.
type ErrorData struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryMs, when set (with CodeUnavailable), is how long the server
	// suggests waiting before sending the request again, in milliseconds.
	RetryMs int `json:"retry_ms,omitempty"`
}

// Error codes carried by ErrorData.Code, by close frames and by the JSON
// bodies of refused upgrades. They are stable strings: only append.
const (
	CodeBadRequest         = "bad_request"          // not a valid envelope (invalid JSON, bad field)
	CodeUnknownType        = "unknown_type"         // no handler for this message type
	CodeTooLarge           = "too_large"            // frame larger than the maximum message size
	CodeBinaryUnsupported  = "binary_unsupported"   // binary frames are not part of the protocol
	CodeUnsupportedVersion = "unsupported_version"  // no common protocol version
	CodeHelloRequired      = "hello_required"       // first message must be hello
	CodeNotInRoom          = "not_in_room"          // the request needs a room
	CodeUnknownPeer        = "unknown_peer"         // no such peer in the sender's room
	CodeForgedSender       = "forged_sender"        // the from field names another peer
	CodeRateLimited        = "rate_limited"         // the token bucket is empty
	CodeRoomFull           = "room_full"            // the room has its maximum size
	CodeRoomClosed         = "room_closed"          // the room accepts no joins by name
	CodeTooManyRooms       = "too_many_rooms"       // the server has its maximum number of rooms
	CodeInvalidRoom        = "invalid_room"         // bad room name or next value
	CodeInvalidToken       = "invalid_token"        // a resume token that the server did not issue
	CodeResumeExpired      = "resume_expired"       // the session of a valid resume token is gone
	CodePeerUnavailable    = "peer_unavailable"     // the target's queue is full
	CodeTooManyConnections = "too_many_connections" // per-IP connection limit (HTTP 429)
	CodeUnauthorized       = "unauthorized"         // the Authenticator refused (HTTP 401)
	CodeForbiddenOrigin    = "forbidden_origin"     // the origin check refused (HTTP 403)
	CodeSlowConsumer       = "slow_consumer"        // close reason: the send queue overflowed
	CodeTimeout            = "timeout"              // close reason: no traffic within the idle timeout
	CodeShutdown           = "shutdown"             // close reason: the server is shutting down
	CodeReplaced           = "replaced"             // close reason: a resume took the session over
	CodeServerFull         = "server_full"          // the server has its maximum number of sessions
	CodeInternal           = "internal"             // a handler failed unexpectedly
	CodeTooManySessions    = "too_many_sessions"    // per-IP session limit (live or waiting to resume)
	CodeInvalidUTF8        = "invalid_utf8"         // close reason (1007): a text frame that is not UTF-8
	CodeInvalidTicket      = "invalid_ticket"       // a rejoin ticket the server did not issue, or for another identity
	CodeTicketExpired      = "ticket_expired"       // a valid rejoin ticket past its expiry, or its room is gone
	CodeUnavailable        = "unavailable"          // a cluster condition (no store quorum, no live service leader, a node unreachable): retry, after ErrorData.RetryMs when set
)

// Decode parses one text frame into an Envelope and checks the fields every
// message must satisfy: a non-empty type of at most MaxTypeLen bytes, a cid
// of at most MaxCidLen bytes, and a version of 0 (absent) or
// ProtocolVersion, except in hello, whose data negotiates the version.
// The error, if any, is an *Error with CodeBadRequest.
func Decode(frame []byte) (Envelope, error) {
	var e Envelope
	if len(bytes.TrimSpace(frame)) == 0 || bytes.TrimSpace(frame)[0] != '{' {
		return e, &Error{Code: CodeBadRequest, Message: "message is not a JSON object"}
	}
	if err := json.Unmarshal(frame, &e); err != nil {
		return Envelope{}, &Error{Code: CodeBadRequest, Message: "invalid JSON: " + trimErr(err)}
	}
	switch {
	case e.Type == "":
		return e, &Error{Code: CodeBadRequest, Message: "missing type"}
	case len(e.Type) > MaxTypeLen || !printable(e.Type):
		return e, &Error{Code: CodeBadRequest, Message: "invalid type"}
	case len(e.Cid) > MaxCidLen:
		return e, &Error{Code: CodeBadRequest, Message: "cid too long"}
	case e.V != 0 && e.V != ProtocolVersion && e.Type != TypeHello:
		return e, &Error{Code: CodeUnsupportedVersion, Message: fmt.Sprintf("version %d not supported", e.V)}
	}
	if len(e.Data) > 0 && string(e.Data) == "null" {
		e.Data = nil
	}
	return e, nil
}

// Encode returns the wire form of e, with V set to ProtocolVersion. Strings
// are written without HTML escaping ("<", ">" and "&" stay one byte each)
// and e.Data, which must be valid JSON, is copied byte for byte: a relayed
// payload arrives exactly as it was sent.
func Encode(e Envelope) ([]byte, error) {
	e.V = ProtocolVersion
	data := e.Data
	e.Data = nil
	b, err := marshalJSON(e)
	if err != nil {
		return nil, fmt.Errorf("signaling: encode %s: %w", e.Type, err)
	}
	if len(data) == 0 {
		return b, nil
	}
	if !json.Valid(data) {
		return nil, fmt.Errorf("signaling: encode %s: data is not valid JSON", e.Type)
	}
	out := make([]byte, 0, len(b)+len(data)+8)
	out = append(out, b[:len(b)-1]...) // without the closing brace
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// marshalJSON is json.Marshal without HTML escaping.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// MarshalJSON is json.Marshal without HTML escaping, as the server encodes
// every payload: services that measure a reply's size before sending it use
// it to count the bytes that will go out.
func MarshalJSON(v any) ([]byte, error) { return marshalJSON(v) }

// JSONSize returns len(MarshalJSON(v)) without keeping the encoding: the
// bytes go through a counter, so measuring a reply's parts makes no garbage
// of their size.
func JSONSize(v any) (int, error) {
	var n byteCounter
	enc := json.NewEncoder(&n)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return 0, err
	}
	return int(n) - 1, nil // Encode's trailing newline
}

type byteCounter int

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// encodeWith marshals data into e.Data and encodes e.
func encodeWith(e Envelope, data any) ([]byte, error) {
	if data != nil {
		raw, ok := data.(json.RawMessage)
		if !ok {
			b, err := marshalJSON(data)
			if err != nil {
				return nil, fmt.Errorf("signaling: encode %s data: %w", e.Type, err)
			}
			raw = b
		}
		e.Data = raw
	}
	return Encode(e)
}

// validRoomName reports whether name may name a room: 1 to MaxRoomNameLen
// bytes of letters, digits and "-_.:#@".
func validRoomName(name string) bool {
	if name == "" || len(name) > MaxRoomNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.:#@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

func trimErr(err error) string {
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}
