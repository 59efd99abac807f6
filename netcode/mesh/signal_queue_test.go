package mesh

import (
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
)

// TestSignalQueueSupersedes checks which waiting signals a new one drops
// from the sender's queue: repeats and those of replaced attempts, never
// a first offer under an ICE restart's, a bye, the current attempt's
// candidates or another addressee's signals.
func TestSignalQueueSupersedes(t *testing.T) {
	q := func(to, typ string, gen uint32, restart bool) outSignal {
		return outSignal{to: netcode.PeerID("p" + to), t: typ, gen: gen, restart: restart}
	}
	cases := []struct {
		name     string
		old, new outSignal
		want     bool
	}{
		{"repeated offer", q("1", sigOffer, 1, false), q("1", sigOffer, 1, false), true},
		{"offer of a new attempt", q("1", sigOffer, 1, false), q("1", sigOffer, 2, false), true},
		{"restart offer keeps the first", q("1", sigOffer, 1, false), q("1", sigOffer, 1, true), false},
		{"repeated restart offer", q("1", sigOffer, 1, true), q("1", sigOffer, 1, true), true},
		{"older offer does not replace", q("1", sigOffer, 2, false), q("1", sigOffer, 1, false), false},
		{"repeated answer", q("1", sigAnswer, 1, false), q("1", sigAnswer, 1, false), true},
		{"answer of a new attempt", q("1", sigAnswer, 1, false), q("1", sigAnswer, 2, false), true},
		{"older answer does not replace", q("1", sigAnswer, 2, false), q("1", sigAnswer, 1, false), false},
		{"candidates of a replaced attempt", q("1", sigCand, 1, false), q("1", sigOffer, 2, false), true},
		{"candidates of a replaced attempt (answer)", q("1", sigCand, 1, false), q("1", sigAnswer, 2, false), true},
		{"candidates of the current attempt", q("1", sigCand, 2, false), q("1", sigOffer, 2, false), false},
		{"candidates do not replace candidates", q("1", sigCand, 1, false), q("1", sigCand, 1, false), false},
		{"repeated hello", q("1", sigHello, 1, false), q("1", sigHello, 2, false), true},
		{"bye stays", q("1", sigBye, 0, false), q("1", sigOffer, 3, false), false},
		{"an answer does not replace an offer", q("1", sigOffer, 1, false), q("1", sigAnswer, 2, false), false},
		{"another addressee", q("1", sigOffer, 1, false), q("2", sigOffer, 2, false), false},
	}
	for _, c := range cases {
		if got := c.new.supersedes(c.old); got != c.want {
			t.Errorf("%s: supersedes = %v, want %v", c.name, got, c.want)
		}
	}
}
