package rollback

import (
	"errors"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

func feedMsg(start int, inputs ...byte) []byte {
	b, _ := appendFeedMsg(nil, &wireFeedMsg{Start: start, Count: len(inputs), Inputs: inputs}, 1, nil)
	return b
}

// TestSpectatorStateThenLaterFeed: a state and the feed that follows it
// arrive in different polls (the state on the reliable channel, the feed
// on the unreliable one). The spectator goes on from the state's frame.
func TestSpectatorStateThenLaterFeed(t *testing.T) {
	tr := &scriptTransport{}
	g := &recGame{}
	sp, err := NewSpectator(tr, g, SpectatorConfig{Host: "h", Players: 1})
	if err != nil {
		t.Fatal(err)
	}
	st := (&recGame{frame: 100, acc: 7}).SaveState(nil)
	tr.queue = append(tr.queue, scripted{"h", appendStateMsg(nil, &wireStateMsg{Frame: 100, State: st})})
	if err := sp.AdvanceFrame(); !errors.Is(err, ErrSpectatorWaiting) || sp.Frame() != 100 {
		t.Fatalf("after the state: %v at frame %d", err, sp.Frame())
	}
	tr.queue = append(tr.queue, scripted{"h", feedMsg(100, 1, 2, 3)})
	for i := 0; i < 3; i++ {
		if err := sp.AdvanceFrame(); err != nil {
			t.Fatalf("frame %d: %v", sp.Frame(), err)
		}
	}
	if sp.Frame() != 103 || g.frame != 103 {
		t.Fatalf("spectator at %d, game at %d, want 103", sp.Frame(), g.frame)
	}
}

// TestSpectatorFailoverUnit: the silence timeout moves the spectator to the
// next feeder not reported gone, with one event; a previous feeder's late
// messages are ignored (not rejected, not used); a stranger's are rejected.
func TestSpectatorFailoverUnit(t *testing.T) {
	now := time.Unix(1000, 0)
	tr := &scriptTransport{}
	g := &recGame{}
	sp, err := NewSpectator(tr, g, SpectatorConfig{Feeders: []netcode.PeerID{"a", "b", "c"}, Players: 1,
		FeederTimeout: time.Second, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	tr.queue = append(tr.queue, scripted{"a", feedMsg(0, 1, 2)})
	if err := sp.AdvanceFrame(); err != nil || sp.Feeder() != "a" {
		t.Fatalf("%v, feeder %s", err, sp.Feeder())
	}
	sp.FeederLeft("b") // gone before it was ever needed: skipped
	now = now.Add(999 * time.Millisecond)
	_ = sp.AdvanceFrame()
	if sp.Feeder() != "a" {
		t.Fatalf("moved before the timeout: %s", sp.Feeder())
	}
	now = now.Add(time.Millisecond)
	_ = sp.AdvanceFrame()
	if sp.Feeder() != "c" {
		t.Fatalf("feeder %s after a's silence, want c (b left)", sp.Feeder())
	}
	select {
	case e := <-sp.Events():
		if e != (EventFeederChanged{From: "a", To: "c", Frame: 2, Reason: FeederSilent}) {
			t.Fatalf("event %+v", e)
		}
	default:
		t.Fatal("no EventFeederChanged")
	}
	tr.queue = append(tr.queue, scripted{"a", feedMsg(2, 9)}, scripted{"c", feedMsg(2, 5)}, scripted{"x", feedMsg(3, 1)})
	if err := sp.AdvanceFrame(); err != nil {
		t.Fatal(err)
	}
	if sp.Frame() != 3 || sp.last != 2 || sp.players[0].at(2)[0] != 5 {
		t.Fatalf("frame %d last %d input %d: want c's input 5 at frame 2", sp.Frame(), sp.last, sp.players[0].at(2)[0])
	}
	if sp.stats.Rejected != 1 {
		t.Fatalf("%d rejected, want only the stranger's", sp.stats.Rejected)
	}
	sp.FeederLeft("c") // all others gone: back to a (which may come back)
	if sp.Feeder() != "a" {
		t.Fatalf("feeder %s after c left, want a", sp.Feeder())
	}
}
