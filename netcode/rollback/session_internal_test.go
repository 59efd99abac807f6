package rollback

import (
	"errors"
	"testing"

	"github.com/rallypoint/rallypoint/netcode"
)

// scriptTransport hands the session scripted messages and records what it
// sends.
type scriptTransport struct {
	queue []scripted
	sent  int
}

type scripted struct {
	from netcode.PeerID
	data []byte
}

func (t *scriptTransport) Send(netcode.PeerID, netcode.Channel, []byte) error { t.sent++; return nil }
func (t *scriptTransport) Poll(fn func(netcode.PeerID, netcode.Channel, []byte)) {
	for _, m := range t.queue {
		fn(m.from, netcode.Unreliable, m.data)
	}
	t.queue = t.queue[:0]
}

// recGame records the frames it loads; its state is the sum of all inputs
// weighted by frame, so any wrong input shows.
type recGame struct {
	frame int
	acc   uint64
	loads []int
}

func (g *recGame) SaveState(dst []byte) []byte {
	return append(dst, byte(g.frame), byte(g.frame>>8), byte(g.acc), byte(g.acc>>8), byte(g.acc>>16), byte(g.acc>>24), byte(g.acc>>32), byte(g.acc>>40))
}

func (g *recGame) LoadState(b []byte) error {
	g.frame = int(b[0]) | int(b[1])<<8
	g.acc = 0
	for i := 7; i >= 2; i-- {
		g.acc = g.acc<<8 | uint64(b[i])
	}
	g.loads = append(g.loads, g.frame)
	return nil
}

func (g *recGame) AdvanceFrame(in *Inputs) {
	for h := 0; h < in.Players(); h++ {
		g.acc = g.acc*31 + uint64(in.Input(h)[0])*uint64(h+1)*uint64(in.Frame+1)
	}
	g.frame++
}

func inputMsg(frame, start int, inputs ...byte) []byte {
	b, _ := appendInputMsg(nil, &wireInputMsg{Frame: frame, Ack: -1, Start: start, Count: len(inputs), Inputs: inputs}, 1, nil)
	return b
}

// TestRollbackFromEarliestWrongFrame: three players, the session sits at
// its prediction threshold; in one poll, C's inputs show a wrong
// prediction at frame 3 and B's at frame 1. The session must roll back to
// frame 1, the earliest over every peer (ggrs#75), and end in the state a
// simulation with the true inputs reaches.
func TestRollbackFromEarliestWrongFrame(t *testing.T) {
	tr := &scriptTransport{}
	g := &recGame{}
	s, err := New(tr, g, Config{Players: []Player{{}, {Peer: "b"}, {Peer: "c"}}, ChecksumInterval: -1, StartTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		_ = s.AddLocalInput(0, []byte{7})
		_ = s.AdvanceFrame()
	}
	if s.Frame() != 8 {
		t.Fatalf("frame %d, want 8 (at the threshold)", s.Frame())
	}
	cIn := []byte{0, 0, 0, 9, 9, 9}
	bIn := []byte{0, 4}
	tr.queue = append(tr.queue, scripted{"c", inputMsg(5, 0, cIn...)}, scripted{"b", inputMsg(1, 0, bIn...)})
	_ = s.AddLocalInput(0, []byte{7})
	if err := s.AdvanceFrame(); err != nil {
		t.Fatal(err)
	}
	if len(g.loads) != 1 || g.loads[0] != 1 {
		t.Fatalf("loaded frames %v, want one rollback to frame 1", g.loads)
	}
	// Reference: simulate frames 0..8 with the inputs the session knows
	// now: confirmed ones, and predictions (repeat the last) beyond.
	ref := &recGame{}
	var in Inputs
	in.size = 1
	in.data = make([]byte, 3)
	in.status = make([]InputStatus, 3)
	at := func(v []byte, f int) byte {
		if f < len(v) {
			return v[f]
		}
		return v[len(v)-1]
	}
	for f := 0; f < 9; f++ {
		in.Frame = f
		in.data[0], in.data[1], in.data[2] = 7, at(bIn, f), at(cIn, f)
		ref.AdvanceFrame(&in)
	}
	if ref.acc != g.acc || ref.frame != g.frame {
		t.Fatalf("state after rollback %d@%d, reference %d@%d", g.acc, g.frame, ref.acc, ref.frame)
	}
}

// FuzzSessionMessages feeds arbitrary messages from a player, a stranger
// and a spectator into a running session: it must never panic, and must
// keep advancing when the real peer's inputs arrive.
func FuzzSessionMessages(f *testing.F) {
	f.Add(inputMsg(3, 0, 1, 2, 3), uint8(0))
	f.Add(appendDropMsg(nil, &wireDropMsg{Handle: 1, Last: 5, Inputs: []byte{1, 2}}, 1), uint8(0))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlRejoin, Handles: []int{1}, Nonce: 3}), uint8(1))
	f.Add(appendCtlMsg(nil, &wireCtlMsg{Sub: ctlVote, Handle: 1, Frame: 9, Joiner: "b", Nonce: 3}), uint8(0))
	f.Add(appendFeedAck(nil, 4), uint8(2))
	f.Add(appendJoinMsg(nil), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, who uint8) {
		tr := &scriptTransport{}
		g := &recGame{}
		s, err := New(tr, g, Config{Players: []Player{{}, {Peer: "b"}, {Peer: "c"}},
			Spectators: []netcode.PeerID{"tv"}, ChecksumInterval: 5})
		if err != nil {
			t.Fatal(err)
		}
		from := []netcode.PeerID{"b", "stranger", "tv", "c"}[who%4]
		for k := 0; k < 30; k++ {
			if k%7 == 3 {
				tr.queue = append(tr.queue, scripted{from, data})
			}
			tr.queue = append(tr.queue, scripted{"b", inputMsg(k, max(0, k-2), make([]byte, k-max(0, k-2)+1)...)})
			tr.queue = append(tr.queue, scripted{"c", inputMsg(k, max(0, k-2), make([]byte, k-max(0, k-2)+1)...)})
			_ = s.AddLocalInput(0, []byte{byte(k)})
			if err := s.AdvanceFrame(); err != nil && err != ErrPredictionThreshold {
				var ge *GameError
				if errors.As(err, &ge) {
					t.Fatalf("tick %d: %v", k, err)
				}
			}
		}
		if s.Frame() < 10 {
			t.Fatalf("session stuck at frame %d after hostile input %x from %s", s.Frame(), data, from)
		}
	})
}
