package content_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
	"github.com/rallypoint/rallypoint/signaling"
)

// swappable is a Sender whose transport a test replaces.
type swappable struct{ m atomic.Pointer[mesh.Mesh] }

func (s *swappable) Send(to netcode.PeerID, ch netcode.Channel, data []byte) error {
	return s.m.Load().Send(to, ch, data)
}

// TestMeshResumeAfterDisconnect: over real pion, a member's connection
// (its signaling client and its mesh) goes away halfway through a fetch;
// it comes back with a new connection, and its swarm finishes from where
// it stopped: no piece is fetched twice.
func TestMeshResumeAfterDisconnect(t *testing.T) {
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) })
	srv := signaling.NewServer(signaling.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	join := func() *signaling.Client {
		c, err := signaling.Dial(ctx, url, &signaling.ClientConfig{DisableReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, "resume"); err != nil {
			t.Fatal(err)
		}
		return c
	}
	hc := join()
	defer hc.Close()
	host := startNode(t, hc, false, content.Config{PieceSize: content.MinPieceSize})
	defer host.close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: 64 pieces
	ref, _ := host.swarm.Seed(data)

	// The member's swarm outlives its connections.
	var snd swappable
	var cur atomic.Pointer[mesh.Mesh]
	sw := content.New(&snd, content.Config{MaxRequestsPerPeer: 1})
	defer sw.Close()
	connect := func() (*signaling.Client, *mesh.Mesh, chan struct{}) {
		c := join()
		m, err := mesh.New(c, mesh.Config{Loopback: true, ConnectTimeout: 20 * time.Second,
			OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
				if cur.Load() != nil {
					sw.Handle(from, ch, data)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		snd.m.Store(m)
		cur.Store(m)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range m.Events() {
				switch ev := ev.(type) {
				case mesh.EventConnected:
					sw.PeerUp(ev.Peer)
				case mesh.EventDisconnected:
					sw.PeerDown(ev.Peer)
				}
			}
		}()
		return c, m, done
	}
	c1, m1, done1 := connect()
	if err := sw.Fetch(ref); err != nil {
		t.Fatal(err)
	}
	for {
		p, _ := sw.Progress(ref.ID)
		if p.Have >= 20 {
			break
		}
		select {
		case <-sw.Events():
		case <-ctx.Done():
			t.Fatalf("no progress: %+v", p)
		}
	}
	// The connection goes: the mesh and the signaling client close.
	cur.Store(nil)
	m1.Close()
	<-done1
	c1.Close()
	sw.PeerDown(netcode.PeerID(hc.LocalID()))
	half, _ := sw.Progress(ref.ID)
	if half.Complete {
		t.Fatal("complete before the disconnect")
	}
	c2, m2, done2 := connect()
	defer func() { m2.Close(); <-done2; c2.Close() }()
	deadline := time.After(40 * time.Second)
	for {
		if _, ok := sw.Content(ref.ID); ok {
			break
		}
		select {
		case <-sw.Events():
		case <-deadline:
			p, _ := sw.Progress(ref.ID)
			t.Fatalf("not complete after reconnecting: %+v", p)
		}
	}
	got, _ := sw.Content(ref.ID)
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if st := sw.Stats(); st.Downloaded != ref.Size {
		t.Fatalf("downloaded %d verified bytes for %d: pieces fetched twice", st.Downloaded, ref.Size)
	}
	t.Logf("%d of %d pieces before the disconnect, the rest after", half.Have, ref.Pieces())
}
