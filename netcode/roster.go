package netcode

import (
	"fmt"
	"slices"
)

// Roster is who takes part in one match and where each player sits, as a
// matchmaker's match, an online lobby's start or a LAN lobby's start
// announces it. Every peer of the match holds the same Roster apart from
// Self, so that the mesh connects the same peers everywhere and the session
// lists its players in the same order everywhere.
type Roster struct {
	// Session names the match: the matchmaker's session id or the lobby's
	// session id. Peers use it to tell one match from the next.
	Session string `json:"session"`
	// Self is this peer's id in the match's room.
	Self PeerID `json:"self"`
	// Players lists the players by seat: Players[i] is seat i, which is the
	// player's handle in a rollback session. Each peer appears once.
	Players []Seat `json:"players"`
	// Spectators are peers of the room that watch the match.
	Spectators []PeerID `json:"spectators,omitempty"`
	// ICEServers are the STUN and TURN servers the rendezvous point handed
	// out for this match (the signaling server's welcome). Nil: none.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
}

// Seat is one player of a Roster.
type Seat struct {
	// Peer is the peer that controls the seat.
	Peer PeerID `json:"peer"`
	// Team is the seat's team, counted from 0. Zero for free-for-all.
	Team int `json:"team,omitempty"`
	// Name is the player's display name, if the rendezvous point knows it.
	Name string `json:"name,omitempty"`
}

// Validate reports whether r is usable: at least one player, no empty or
// repeated peer id among players and spectators, and Self among them.
func (r Roster) Validate() error {
	if len(r.Players) == 0 {
		return fmt.Errorf("%w: no players", ErrBadRoster)
	}
	if r.Self == "" {
		return fmt.Errorf("%w: no self", ErrBadRoster)
	}
	seen := make(map[PeerID]bool, len(r.Players)+len(r.Spectators))
	for _, p := range r.Members() {
		if p == "" {
			return fmt.Errorf("%w: empty peer id", ErrBadRoster)
		}
		if seen[p] {
			return fmt.Errorf("%w: peer %q listed twice", ErrBadRoster, p)
		}
		seen[p] = true
	}
	if !seen[r.Self] {
		return fmt.Errorf("%w: self %q is neither a player nor a spectator", ErrBadRoster, r.Self)
	}
	return nil
}

// Members returns every peer of the match, players by seat, then spectators.
func (r Roster) Members() []PeerID {
	out := make([]PeerID, 0, len(r.Players)+len(r.Spectators))
	for _, s := range r.Players {
		out = append(out, s.Peer)
	}
	return append(out, r.Spectators...)
}

// Remotes returns every peer of the match other than Self: the peers a mesh
// must connect to.
func (r Roster) Remotes() []PeerID {
	return slices.DeleteFunc(r.Members(), func(p PeerID) bool { return p == r.Self })
}

// SeatOf returns the seat of peer, or -1 when peer is not a player.
func (r Roster) SeatOf(peer PeerID) int {
	return slices.IndexFunc(r.Players, func(s Seat) bool { return s.Peer == peer })
}

// IsPlayer reports whether Self plays (false: Self only watches).
func (r Roster) IsPlayer() bool { return r.SeatOf(r.Self) >= 0 }
