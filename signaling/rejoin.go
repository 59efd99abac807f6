package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rejoin tickets
//
// Every member of a match room (a room that accepts no joins by name)
// receives, in its joined, a ticket for its seat:
//
//	"1." base64url(room) "." peer "." expiry "." base64url(mac)
//
// expiry is in Unix seconds; mac is the first 18 bytes of
// HMAC-SHA256(server key, "rejoin" 0 room 0 peer 0 expiry 0 subject), where
// subject is the authenticated identity's (empty when anonymous). Only the
// server that issued a ticket can check it: its key is random per process,
// so tickets do not outlive a server restart (nor do the rooms). The nodes
// of a cluster share one key (key.token in the backplane), so any node
// checks a ticket any other issued, and crejoin moves the seat in the
// room's record.

const ticketVersion = "1"

// ticketMAC computes a ticket's MAC.
func (s *Server) ticketMAC(room, peer, exp, subject string) string {
	m := hmac.New(sha256.New, s.tokenKey)
	m.Write([]byte("rejoin\x00" + room + "\x00" + peer + "\x00" + exp + "\x00" + subject))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// rejoinTicketLocked issues sess's ticket for its seat in r, or "" when
// tickets are off.
func (s *Server) rejoinTicketLocked(sess *session, r *room) string {
	return s.ticketFor(sess, r.name)
}

// ticketFor issues sess's ticket for its seat in the room called name, or
// "" when tickets are off.
func (s *Server) ticketFor(sess *session, name string) string {
	if s.cfg.RejoinTTL < 0 {
		return ""
	}
	exp := strconv.FormatInt(time.Now().Add(s.cfg.RejoinTTL).Unix(), 10)
	return ticketVersion + "." + base64.RawURLEncoding.EncodeToString([]byte(name)) + "." + sess.id + "." + exp + "." + s.ticketMAC(name, sess.id, exp, sess.identity.Subject)
}

// rejoinTicket is a parsed ticket.
type rejoinTicket struct {
	room, peer string
	expiry     int64 // Unix seconds
}

// parseRejoinTicket checks a ticket's shape and MAC for subject. The error
// is an *Error with CodeInvalidTicket; expiry is the caller's to check.
func (s *Server) parseRejoinTicket(tok, subject string) (rejoinTicket, error) {
	bad := func(why string) (rejoinTicket, error) {
		return rejoinTicket{}, &Error{Code: CodeInvalidTicket, Message: "rejoin ticket " + why}
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 5 || parts[0] != ticketVersion {
		return bad("malformed")
	}
	room, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !validRoomName(string(room)) || parts[2] == "" {
		return bad("malformed")
	}
	exp, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || exp < 0 || strconv.FormatInt(exp, 10) != parts[3] {
		return bad("malformed")
	}
	want := s.ticketMAC(string(room), parts[2], parts[3], subject)
	if !hmac.Equal([]byte(parts[4]), []byte(want)) {
		return bad("not issued by this server, or for another identity")
	}
	return rejoinTicket{room: string(room), peer: parts[2], expiry: exp}, nil
}

// rejoin serves TypeRejoin: sess takes the ticket's seat in its room. The
// seat's current holder, if it is still a member (a killed process's
// session waiting out its resume grace), leaves the room: its members get
// peer_left for it and it gets left. sess leaves its own room, receives
// joined (with a fresh ticket) and the members get peer_joined with
// replaces naming the seat's previous holder.
func (c *conn) rejoin(sess *session, env Envelope) {
	s := c.srv
	var rd RejoinData
	if len(env.Data) == 0 || json.Unmarshal(env.Data, &rd) != nil || rd.Ticket == "" {
		c.replyError(env.Cid, CodeBadRequest, "rejoin needs data {\"ticket\": TICKET}")
		return
	}
	t, err := s.parseRejoinTicket(rd.Ticket, sess.identity.Subject)
	if err != nil {
		e := err.(*Error)
		c.replyError(env.Cid, e.Code, e.Message)
		return
	}
	if time.Now().Unix() > t.expiry {
		c.replyError(env.Cid, CodeTicketExpired, "rejoin ticket expired")
		return
	}
	if s.cl != nil {
		c.crejoin(sess, env, t)
		return
	}
	s.mu.Lock()
	r := s.rooms[t.room]
	seat, ok := 0, false
	if r != nil {
		seat, ok = r.seatOf[t.peer]
	}
	if !ok {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeTicketExpired, fmt.Sprintf("match room %q is gone", t.room))
		return
	}
	var out []delivery
	holder := s.sessions[r.holder[seat]]
	if holder == sess && sess.room == r {
		jd := JoinedData{Peers: r.peerIDs(sess), Ticket: s.rejoinTicketLocked(sess, r), Seats: slices.Clone(r.holder)}
		s.mu.Unlock()
		b, _ := encodeWith(Envelope{Type: TypeJoined, Cid: env.Cid, Room: r.name}, jd)
		sess.enqueue(b, 0)
		return
	}
	if sess.room == r {
		s.mu.Unlock()
		c.replyError(env.Cid, CodeBadRequest, "already in this room, in another seat")
		return
	}
	if holder != nil && holder != sess && holder.room == r {
		out = s.leaveLocked(holder, out)
		b, _ := encodeWith(Envelope{Type: TypeLeft, Room: r.name}, nil)
		out = append(out, delivery{holder, b})
	}
	if len(r.members) >= r.capacity {
		s.mu.Unlock()
		deliver(out)
		c.replyError(env.Cid, CodeRoomFull, fmt.Sprintf("room holds %d peers", r.capacity))
		return
	}
	out = s.leaveLocked(sess, out)
	if s.rooms[r.name] != r { // the holder's leaving emptied it
		s.rooms[r.name] = r
	}
	out = s.joinSeatLocked(sess, r, env.Cid, seat, out)
	s.mu.Unlock()
	s.stats.rejoins.Add(1)
	s.log.Debug("seat rejoined", "peer", sess.id, "room", r.name, "replaces", t.peer)
	deliver(out)
}

// TicketSeat reads the room and the peer id a rejoin ticket names, without
// checking it (only the issuing server can): a restarted process learns
// from it which seat it held, and the peers of a match which player a
// rejoin request claims. ok is false when ticket is not shaped like one.
func TicketSeat(ticket string) (room, peer string, ok bool) {
	parts := strings.Split(ticket, ".")
	if len(parts) != 5 || parts[0] != ticketVersion || parts[2] == "" {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !validRoomName(string(b)) {
		return "", "", false
	}
	return string(b), parts[2], true
}
