package broadcast

import (
	"fmt"

	"github.com/rallypoint/rallypoint/netcode"
)

// DebugState describes the spectator's tree state, for test failures.
func (sp *Spectator) DebugState() string {
	n := sp.n
	var tries []string
	for _, a := range n.tries {
		tries = append(tries, fmt.Sprintf("%s(sent=%v)", a.peer, a.sent))
	}
	return fmt.Sprintf("attached=%v parent=%s tries=%v cands=%v tried=%d rounds=%d kids=%d hi=%d",
		n.attached, n.parent, tries, n.cands, len(n.tried), n.rounds, len(n.kids), n.hi)
}

// UpHolder returns the node with a free slot the spectator's root last
// named: the second place it asks after losing its parent.
func (sp *Spectator) UpHolder() netcode.PeerID { return sp.n.upHolder }
