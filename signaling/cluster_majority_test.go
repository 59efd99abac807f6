package signaling

import "testing"

// TestClusterMajority pins when a node takes itself for the majority side
// of the cluster (it then reaps dead nodes' members) or the minority side
// of a cut (it leaves them alone, and sets its own members back from away
// when it rejoins the majority).
func TestClusterMajority(t *testing.T) {
	for _, tc := range []struct {
		live map[string]bool
		want bool
	}{
		{nil, true}, // a single node
		{map[string]bool{"b": true, "c": true}, true},  // all three
		{map[string]bool{"b": true, "c": false}, true}, // two of three
		{map[string]bool{"b": false, "c": false}, false},
		{map[string]bool{"b": false}, false}, // one of two: no quorum either
		{map[string]bool{"b": true, "c": false, "d": false}, false},
		{map[string]bool{"b": true, "c": true, "d": false, "e": false}, true},
	} {
		cl := &clusterState{node: "a", live: tc.live}
		if got := cl.majorityLocked(); got != tc.want {
			t.Errorf("live %v: majority %v, want %v", tc.live, got, tc.want)
		}
	}
}

// TestClusterCutOff pins when a node takes the nodes it does not hear for
// a majority that carries on without it: then it refuses hellos and moves
// its clients there. Not in a cluster of two, nor in a cut into halves.
func TestClusterCutOff(t *testing.T) {
	for _, tc := range []struct {
		live map[string]bool
		want bool
	}{
		{nil, false},
		{map[string]bool{"b": true, "c": false}, false},
		{map[string]bool{"b": false, "c": false}, true},
		{map[string]bool{"b": false}, false}, // one of two: the other may be dead
		{map[string]bool{"b": true, "c": false, "d": false}, false},
		{map[string]bool{"b": false, "c": false, "d": false}, true},
		{map[string]bool{"b": true, "c": false, "d": false, "e": false}, true},
	} {
		cl := &clusterState{node: "a", live: tc.live}
		if got := cl.othersMajorityLocked(); got != tc.want {
			t.Errorf("live %v: cut off %v, want %v", tc.live, got, tc.want)
		}
	}
}
