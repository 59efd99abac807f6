package rollback_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/netsim"
	"github.com/rallypoint/rallypoint/netcode/rollback"
)

// pad is a game's own input type.
type pad struct{ Left, Right, Jump bool }

// padCodec encodes a pad into the session's one input byte.
type padCodec struct{}

func (padCodec) AppendInput(dst []byte, p pad) []byte {
	var b byte
	if p.Left {
		b |= 1
	}
	if p.Right {
		b |= 2
	}
	if p.Jump {
		b |= 4
	}
	return append(dst, b)
}

func (padCodec) DecodeInput(src []byte) pad {
	return pad{Left: src[0]&1 != 0, Right: src[0]&2 != 0, Jump: src[0]&4 != 0}
}

// runner is a tiny deterministic game: each player has a position.
type runner struct{ x [2]int32 }

func (g *runner) SaveState(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.x[0]))
	return binary.LittleEndian.AppendUint32(dst, uint32(g.x[1]))
}

func (g *runner) LoadState(b []byte) error {
	if len(b) != 8 {
		return errors.New("runner: bad state")
	}
	g.x[0] = int32(binary.LittleEndian.Uint32(b))
	g.x[1] = int32(binary.LittleEndian.Uint32(b[4:]))
	return nil
}

func (g *runner) AdvanceFrame(in *rollback.Inputs) {
	for h := range g.x {
		p := rollback.InputOf[pad](in, padCodec{}, h)
		if p.Left {
			g.x[h]--
		}
		if p.Right {
			g.x[h] += 2
		}
	}
}

// Example runs two players' game loops against each other over the network
// simulator (80 ms ± 20 ms, 20% loss, virtual time): each tick adds the
// local input and advances; the session saves, loads and advances the game
// as rollbacks need.
func Example() {
	net := netsim.New(netsim.Config{Seed: 1, Default: netsim.Conditions{
		Latency: 80 * time.Millisecond, Jitter: 20 * time.Millisecond, Loss: 0.2}})
	var sessions [2]*rollback.Session
	var games [2]*runner
	for i, id := range []netcode.PeerID{"alice", "bob"} {
		players := []rollback.Player{{}, {Peer: "bob"}}
		if id == "bob" {
			players = []rollback.Player{{Peer: "alice"}, {}}
		}
		games[i] = &runner{}
		s, err := rollback.New(net.Endpoint(id), games[i], rollback.Config{
			Players: players, InputDelay: 2, Clock: net.Now})
		if err != nil {
			panic(err)
		}
		sessions[i] = s
	}
	// The fixed-tick game loop, for both processes.
	for tick := 0; tick < 600; tick++ {
		for i, s := range sessions {
			in := pad{Right: tick < 300, Left: i == 1 && tick < 300 && tick%3 == 0}
			if err := rollback.AddLocalInputOf(s, padCodec{}, i, in); err != nil {
				panic(err)
			}
			err := s.AdvanceFrame()
			if err != nil && !errors.Is(err, rollback.ErrPredictionThreshold) {
				panic(err) // a stall is fine: try again next tick
			}
			for len(s.Events()) > 0 {
				if d, ok := (<-s.Events()).(rollback.EventDesync); ok {
					fmt.Println("desync:", d)
				}
			}
		}
		net.Advance(time.Second / 60)
	}
	for i, s := range sessions {
		st := s.Stats()
		fmt.Printf("%s: confirmed frame ≥ 500: %v, positions %v, rolled back: %v\n",
			[]string{"alice", "bob"}[i], st.ConfirmedFrame >= 500, games[i].x, st.Rollbacks > 0)
	}
	// Output:
	// alice: confirmed frame ≥ 500: true, positions [578 480], rolled back: true
	// bob: confirmed frame ≥ 500: true, positions [578 480], rolled back: true
}
