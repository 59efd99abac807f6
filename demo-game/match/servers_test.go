package match

import (
	"errors"
	"slices"
	"testing"
)

func TestParseServers(t *testing.T) {
	s, err := parseServers(" ws://10.0.0.1:7000/ws, ws://127.0.0.1:7001/ws ,,wss://c.example/ws")
	if err != nil {
		t.Fatal(err)
	}
	if s.first != "ws://10.0.0.1:7000/ws" || !slices.Equal(s.more, []string{"ws://127.0.0.1:7001/ws", "wss://c.example/ws"}) || !s.loop {
		t.Fatalf("parsed %+v", s)
	}
	if c := s.client(); c == nil || !slices.Equal(c.URLs, s.more) {
		t.Fatalf("client config %+v", c)
	}
	one, err := parseServers("ws://10.0.0.1:7000/ws")
	if err != nil || one.loop || one.client() != nil {
		t.Fatalf("one server: %+v, %v", one, err)
	}
	for _, bad := range []string{"", " , ", "ws://a/ws,http://b/ws", "a:7000"} {
		if _, err := parseServers(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("parseServers(%q) = %v, want ErrBadConfig", bad, err)
		}
	}
	if f, m := SplitServers("ws://a/ws, ws://b/ws"); f != "ws://a/ws" || !slices.Equal(m, []string{"ws://b/ws"}) {
		t.Fatalf("SplitServers: %q %q", f, m)
	}
}
