package broadcast

import "fmt"

// DebugState describes the spectator's tree state, for test failures.
func (sp *Spectator) DebugState() string {
	n := sp.n
	return fmt.Sprintf("attached=%v parent=%s target=%s sent=%v cands=%v tried=%d rounds=%d kids=%d hi=%d",
		n.attached, n.parent, n.target, n.targetSent, n.cands, len(n.tried), n.rounds, len(n.kids), n.hi)
}
