package match

import (
	"net/netip"
	"testing"

	"github.com/rallypoint/rallypoint/lobby/dnssd"
)

func TestParseLobby(t *testing.T) {
	good := []string{"v=1", "game=arena", "players=3", "seed=42"}
	addrs := []netip.Addr{netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("10.99.1.1")}
	l, ok := parseLobby(dnssd.Event{Kind: dnssd.Added, Instance: "Arena on x", Port: 4000, Addrs: addrs, TXT: good})
	if !ok || l.URL != "ws://10.99.1.1:4000/ws" || l.Players != 3 || l.Seed != 42 || l.Name != "Arena on x" {
		t.Fatalf("good lobby: %+v %v", l, ok)
	}
	l, ok = parseLobby(dnssd.Event{Kind: dnssd.Added, Instance: "v6", Port: 4000, Addrs: addrs[:1], TXT: good})
	if !ok || l.URL != "ws://[fe80::1%25eth0]:4000/ws" {
		t.Fatalf("link-local lobby: %+v %v", l, ok)
	}
	if _, ok := parseLobby(dnssd.Event{Kind: dnssd.Removed, Instance: "gone", TXT: good}); !ok {
		t.Fatal("a removal without addresses is still reported")
	}
	for _, txt := range [][]string{
		nil,
		{"v=1", "game=chess", "players=2", "seed=1"},
		{"v=2", "game=arena", "players=2", "seed=1"},
		{"v=1", "game=arena", "players=9", "seed=1"},
		{"v=1", "game=arena", "players=two", "seed=1"},
		{"v=1", "game=arena", "players=2", "seed=-1"},
		{"v=1", "game=arena", "players=2"},
	} {
		if l, ok := parseLobby(dnssd.Event{Kind: dnssd.Added, Port: 1, Addrs: addrs, TXT: txt}); ok {
			t.Errorf("TXT %q accepted: %+v", txt, l)
		}
	}
	if _, ok := parseLobby(dnssd.Event{Kind: dnssd.Added, Port: 1, TXT: good}); ok {
		t.Error("a lobby without addresses accepted")
	}
}
