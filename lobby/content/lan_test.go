package content_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/internal/netns"
	"github.com/rallypoint/rallypoint/lobby"
	"github.com/rallypoint/rallypoint/lobby/content"
	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/mesh"
)

func TestMain(m *testing.M) {
	if role, args, ok := netns.ChildRole(); ok {
		if err := runLANChild(role, args); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type lanArgs struct {
	Host    bool
	Corrupt bool
	Players int
}

// runLANChild is one player of TestLANHostToSevenMembers, in a namespace
// of its own: it finds (or hosts) the LAN lobby with lobby.MatchLAN,
// connects the match's mesh through the host's own signaling, and runs a
// swarm over it. The host seeds the content and prints "ref <ref>"; a
// member fetches what "fetch <ref>" on its stdin names and prints
// "complete <sha256> <avoided peers>", then serves the others until its
// stdin closes.
func runLANChild(role string, args []string) error {
	var a lanArgs
	if len(args) > 0 {
		_ = json.Unmarshal([]byte(args[0]), &a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	m, err := lobby.MatchLAN(ctx, lobby.LANMatchConfig{Host: a.Host, Game: "content-lan", Players: a.Players})
	if err != nil {
		return err
	}
	defer m.Close()
	var sw atomic.Pointer[content.Swarm]
	msh, err := mesh.Connect(ctx, m.Signaling(), m.Roster, &mesh.Config{
		InterruptAfter: 2 * time.Second, DisconnectAfter: 15 * time.Second,
		OnMessage: func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			if s := sw.Load(); s != nil {
				s.Handle(from, ch, data)
			}
		}})
	if err != nil {
		return err
	}
	defer msh.Close()
	var snd content.Sender = msh
	if a.Corrupt {
		snd = corrupter{msh}
	}
	s := content.New(snd, content.Config{PieceSize: content.MinPieceSize})
	defer s.Close()
	sw.Store(s)
	go s.Run(ctx)
	go func() {
		for ev := range msh.Events() {
			switch ev := ev.(type) {
			case mesh.EventConnected:
				s.PeerUp(ev.Peer)
			case mesh.EventDisconnected:
				s.PeerDown(ev.Peer)
			}
		}
	}()
	for _, p := range msh.Connected() {
		s.PeerUp(p)
	}
	stdin := bufio.NewScanner(os.Stdin)
	if a.Host {
		ref, err := s.Seed(lanContent())
		if err != nil {
			return err
		}
		fmt.Println("ref", ref)
		for stdin.Scan() {
		}
		return nil
	}
	fmt.Println("ready")
	if !stdin.Scan() {
		return errors.New("no reference")
	}
	ref, err := content.ParseRef(strings.TrimPrefix(stdin.Text(), "fetch "))
	if err != nil {
		return err
	}
	if err := s.Fetch(ref); err != nil {
		return err
	}
	for ev := range s.Events() {
		if _, ok := ev.(content.EventComplete); ok {
			break
		}
		if f, ok := ev.(content.EventFailed); ok {
			return f.Err
		}
	}
	data, _ := s.Content(ref.ID)
	sum := sha256.Sum256(data)
	fmt.Println("complete", hex.EncodeToString(sum[:]), len(s.Avoided()))
	for stdin.Scan() {
	}
	return nil
}

// lanContent is the host's content: 512 KiB and a bit (33 pieces of
// 16 KiB), light enough for eight -race processes on a loaded machine.
func lanContent() []byte {
	r := rand.New(rand.NewPCG(11, 11))
	b := make([]byte, 512<<10+333)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestLANHostToSevenMembers: eight players on one Ethernet segment (a
// bridge between network namespaces), no server: the host's process serves
// the lobby, found over DNS-SD, and the match's signaling. The host offers
// 512 KiB to seven members, one of which serves corrupt pieces; every member
// ends with content that hashes to the id, and the corrupt member is
// avoided.
func TestLANHostToSevenMembers(t *testing.T) {
	lab := netns.New(t) // skips without root and ip
	const players = 8
	spaces := make([]*netns.NS, players)
	for i := range spaces {
		spaces[i] = lab.NS(fmt.Sprintf("c%d", i))
	}
	lab.Bridge(netns.LinkOptions{}, spaces...)
	start := time.Now()
	kids := make([]*netns.Child, players)
	for i, ns := range spaces {
		b, _ := json.Marshal(lanArgs{Host: i == 0, Corrupt: i == players-1, Players: players})
		kids[i] = ns.StartChild("lan", string(b))
	}
	wait := func(c *netns.Child, prefix string) string {
		t.Helper()
		l, err := c.WaitFor(120*time.Second, func(s string) bool {
			return strings.HasPrefix(s, prefix) || strings.HasPrefix(s, "error ")
		})
		if err != nil || strings.HasPrefix(l.Text, "error ") {
			t.Fatalf("%v %s\n%s", err, l.Text, c.Stderr())
		}
		return strings.TrimPrefix(l.Text, prefix)
	}
	ref := wait(kids[0], "ref ")
	for _, c := range kids[1:] {
		wait(c, "ready")
	}
	t.Logf("lobby found, match started and mesh connected after %v", time.Since(start).Round(time.Millisecond))
	r, err := content.ParseRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	fetch := time.Now()
	for _, c := range kids[1:] {
		if err := c.Send("fetch " + ref); err != nil {
			t.Fatal(err)
		}
	}
	avoided := 0
	for _, c := range kids[1:] {
		f := strings.Fields(wait(c, "complete "))
		if len(f) != 2 || f[0] != r.ID.String() {
			t.Fatalf("member has %v, want %s", f, r.ID)
		}
		if f[1] != "0" {
			avoided++
		}
	}
	t.Logf("%d bytes to %d members in %v; %d members avoided the corrupt one", r.Size, players-1, time.Since(fetch).Round(time.Millisecond), avoided)
	if avoided == 0 {
		t.Fatal("no member avoided the corrupt one")
	}
}
