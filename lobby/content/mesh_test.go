package content_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// node is one peer: a signaling client, its mesh and a swarm over it.
type node struct {
	id    netcode.PeerID
	mesh  *mesh.Mesh
	swarm *content.Swarm
	wg    sync.WaitGroup
	stop  context.CancelFunc
}

// corrupter alters the last byte of every piece its peer serves.
type corrupter struct{ t netcode.Transport }

func (c corrupter) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	if len(data) > 40 && data[0] == content.Magic && data[2] == 6 { // a piece
		data = bytes.Clone(data)
		data[len(data)-1] ^= 0x5a
	}
	return c.t.Send(to, ch, data)
}

// startNode starts a mesh over sig whose reliable content messages go to a
// swarm; mesh events tell the swarm who is up.
func startNode(t *testing.T, sig netcode.Signaler, corrupt bool, cfg content.Config) *node {
	t.Helper()
	n := &node{id: netcode.PeerID(sig.LocalID())}
	var sw atomic.Pointer[content.Swarm]
	mc := mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second,
		// A loaded machine (-race, other packages' tests) may starve a
		// pair's pings for seconds; the test is about content, not
		// liveness.
		InterruptAfter: 2 * time.Second, DisconnectAfter: 15 * time.Second,
		OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			if s := sw.Load(); s == nil || !s.Handle(from, ch, data) {
				t.Errorf("%s: message from %s not for the swarm", n.id, from)
			}
		}}
	m, err := mesh.New(sig, mc)
	if err != nil {
		t.Fatal(err)
	}
	var snd content.Sender = m
	if corrupt {
		snd = corrupter{m}
	}
	n.mesh, n.swarm = m, content.New(snd, cfg)
	sw.Store(n.swarm)
	ctx, cancel := context.WithCancel(context.Background())
	n.stop = cancel
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		n.swarm.Run(ctx)
	}()
	go func() {
		defer n.wg.Done()
		for ev := range m.Events() {
			switch ev := ev.(type) {
			case mesh.EventConnected:
				n.swarm.PeerUp(ev.Peer)
			case mesh.EventDisconnected:
				n.swarm.PeerDown(ev.Peer)
			}
		}
	}()
	return n
}

func (n *node) close() {
	n.stop()
	n.mesh.Close() // ends the events goroutine
	n.wg.Wait()
	n.swarm.Close()
}

// waitComplete waits for the swarm's EventComplete of id.
func waitComplete(t *testing.T, n *node, id content.ID, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev := <-n.swarm.Events():
			if c, ok := ev.(content.EventComplete); ok && c.ID == id {
				return
			}
			if f, ok := ev.(content.EventFailed); ok {
				t.Fatalf("%s: %v", n.id, f)
			}
		case <-deadline:
			t.Fatalf("%s: not complete after %v: %s %+v", n.id, timeout, n.swarm.Debug(id), n.swarm.Stats())
		}
	}
}

// TestMeshHostToSevenMembers: over real pion data channels, a host offers
// 1 MiB to seven members, one of which serves corrupt pieces. Every member
// ends with the exact content; the members the corrupt one served avoid it;
// the host uploads far fewer than the seven copies of a star.
func TestMeshHostToSevenMembers(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	const peers = 8
	const evil = peers - 1
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	nodes := make([]*node, peers)
	t0 := time.Now()
	for i := range nodes {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Join(ctx, "content"); err != nil {
			t.Fatal(err)
		}
		nodes[i] = startNode(t, c, i == evil, content.Config{PieceSize: content.MinPieceSize, Seed: uint64(i + 1)})
		defer nodes[i].close()
	}
	for _, n := range nodes {
		if err := n.mesh.WaitConnected(ctx, peers-1); err != nil {
			t.Fatalf("%s: %v", n.id, err)
		}
	}
	t.Logf("%d peers connected after %v", peers, time.Since(t0).Round(time.Millisecond))
	r := rand.New(rand.NewPCG(7, 7))
	// 1 MiB and a bit in 16 KiB pieces: 65 pieces, enough for the swarm to
	// spread, small enough for eight pion peers under -race on a loaded
	// machine.
	data := make([]byte, 1<<20+777)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	start := time.Now()
	ref, err := nodes[0].swarm.Seed(data)
	if err != nil {
		t.Fatal(err)
	}
	// The members learn the reference as a lobby would publish it.
	text := ref.String()
	for _, n := range nodes[1:] {
		ref, err := content.ParseRef(text)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.swarm.Fetch(ref); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[1:] {
		waitComplete(t, n, ref.ID, 60*time.Second)
		t.Logf("%s complete after %v", n.id, time.Since(start))
		got, ok := n.swarm.Content(ref.ID)
		if !ok || !bytes.Equal(got, data) {
			t.Fatalf("%s: content differs", n.id)
		}
	}
	elapsed := time.Since(start)
	avoided := 0
	for _, n := range nodes[1:evil] {
		for p, err := range n.swarm.Avoided() {
			if p != nodes[evil].id || !errors.Is(err, content.ErrCorruptPiece) {
				t.Fatalf("%s avoids %s: %v", n.id, p, err)
			}
			avoided++
		}
	}
	for _, n := range nodes[1:] {
		t.Logf("%s: %+v", n.id, n.swarm.Stats())
	}
	served := nodes[evil].swarm.Stats().Uploaded
	if served > 0 && avoided == 0 {
		t.Fatalf("the corrupt peer served %d bytes and nobody noticed", served)
	}
	if served == 0 {
		t.Fatal("the corrupt peer was never asked for a piece")
	}
	up := float64(nodes[0].swarm.Stats().Uploaded) / float64(ref.Size)
	t.Logf("%d bytes to %d members in %v; host uploaded %.2f copies; %d members avoided the corrupt peer",
		ref.Size, peers-1, elapsed.Round(time.Millisecond), up, avoided)
	// About one copy when the machine is idle (the in-process tests pin
	// the figure); fetching from the host alone would take seven.
	if up > 4 {
		t.Fatalf("host uploaded %.2f copies", up)
	}
}
