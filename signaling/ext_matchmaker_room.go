package signaling

import (
	"errors"
	"fmt"
)

var (
	// ErrUnknownRoom is returned by Server.AddToRoom for a room that does
	// not exist (never made, or every member left).
	ErrUnknownRoom = errors.New("signaling: unknown room")
	// ErrRoomFull is returned by Server.AddToRoom when the peers would not
	// fit the room's capacity.
	ErrRoomFull = errors.New("signaling: room is full")
)

// AddToRoom puts connected peers, in order, into the existing room called
// name, a private one made by CreateRoom included: the matchmaker uses it to
// backfill a running session. As with CreateRoom, each peer leaves its
// previous room (its members get peer_left), receives joined with the
// members before it, and the members before it receive peer_joined. Peers
// already in the room are left alone. Nothing changes on error.
func (s *Server) AddToRoom(name string, peers []string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	r := s.rooms[name]
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownRoom, name)
	}
	members := make([]*session, 0, len(peers))
	seen := make(map[*session]bool, len(peers))
	n := len(r.members)
	for _, p := range peers {
		sess := s.sessions[p]
		if sess == nil {
			s.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrUnknownPeer, p)
		}
		if sess.room != r && !seen[sess] {
			seen[sess] = true
			members = append(members, sess)
			n++
		}
	}
	if n > r.capacity {
		s.mu.Unlock()
		return fmt.Errorf("%w: %q holds %d", ErrRoomFull, name, r.capacity)
	}
	var out []delivery
	for _, sess := range members {
		out = s.leaveLocked(sess, out)
		out = s.joinLocked(sess, r, "", out)
	}
	s.mu.Unlock()
	deliver(out)
	return nil
}
