package signaling

import (
	"errors"
	"fmt"
	"slices"
)

var errRejoinedAlready = errors.New("holds the seat")

// crejoin is rejoin on a cluster node: one compare-and-set on the room's
// record moves the seat's holder out and the sender in; every node's
// replica then tells its members (left for the holder, joined with the
// request's cid for the sender, peer_joined with replaces for the
// others). The cluster's HMAC key (key.token) is shared, so a ticket
// issued by any node is good on every node.
func (c *conn) crejoin(sess *session, env Envelope, t rejoinTicket) {
	s := c.srv
	cl := s.cl
	if c.refuseOnMinority(env.Cid) {
		return
	}
	ctx, cancel := s.opCtx()
	defer cancel()
	cl.mu.Lock()
	cur := sess.croom
	cl.mu.Unlock()
	if cur != "" && cur != t.room {
		if err := cl.casRoom(ctx, cur, removeMember(sess.id, "")); err != nil {
			c.replyClusterErr(env.Cid, err)
			return
		}
		cl.mu.Lock()
		if sess.croom == cur {
			sess.croom = ""
		}
		cl.mu.Unlock()
	}
	cl.mu.Lock()
	sess.pendRoom, sess.pendCid = t.room, env.Cid
	cl.mu.Unlock()
	err := cl.casRoom(ctx, t.room, func(rec *roomRec) (*roomRec, error) {
		if rec == nil {
			return nil, &Error{Code: CodeTicketExpired, Message: fmt.Sprintf("match room %q is gone", t.room)}
		}
		seat := slices.Index(rec.Seats, t.peer)
		if seat < 0 {
			i, ok := rec.Replaced[t.peer]
			if !ok || i >= len(rec.Seats) {
				return nil, &Error{Code: CodeTicketExpired, Message: fmt.Sprintf("match room %q has no seat for %q", t.room, t.peer)}
			}
			seat = i
		}
		holder := rec.Seats[seat]
		mine := memberIndex(rec, sess.id) >= 0
		if holder == sess.id && mine {
			return nil, errRejoinedAlready
		}
		if mine {
			return nil, &Error{Code: CodeBadRequest, Message: "already in this room, in another seat"}
		}
		if i := memberIndex(rec, holder); i >= 0 {
			rec.Members = slices.Delete(rec.Members, i, i+1)
		}
		if len(rec.Members) >= rec.Cap {
			return nil, &Error{Code: CodeRoomFull, Message: fmt.Sprintf("room holds %d peers", rec.Cap)}
		}
		rec.Members = append(rec.Members, memberRec{ID: sess.id, Node: cl.node})
		rec.Seats = slices.Clone(rec.Seats)
		rec.Seats[seat] = sess.id
		if rec.Replaced == nil {
			rec.Replaced = map[string]int{}
		}
		if len(rec.Replaced) < 4*max(rec.Cap, 1) { // bounded: a seat changes hands a few times at most
			rec.Replaced[holder] = seat
		}
		return rec, nil
	})
	if err == nil {
		s.stats.rejoins.Add(1)
		s.log.Debug("seat rejoined", "peer", sess.id, "room", t.room, "replaces", t.peer)
		return
	}
	cl.mu.Lock()
	sess.pendRoom, sess.pendCid = "", ""
	cl.mu.Unlock()
	if errors.Is(err, errRejoinedAlready) {
		c.cjoinedAgain(sess, env.Cid, t.room)
		return
	}
	c.replyClusterErr(env.Cid, err)
}
