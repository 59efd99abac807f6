package signaling

import (
	"strings"
	"testing"
	"time"

	"github.com/rallypoint/rallypoint/netcode"
)

func TestICERefreshGivesFreshCredentials(t *testing.T) {
	ts := newTestServer(t, Config{
		ICEServers: []ICEServer{{URLs: []string{"stun:192.0.2.1:3478"}}},
		TURNURLs:   []string{"turn:192.0.2.1:3478?transport=udp"},
		TURNSecret: "s3cret",
		TURNTTL:    2 * time.Second,
	})
	c := dialT(t, ts.URL, nil)
	first := c.ICEServers()
	if len(first) != 2 {
		t.Fatalf("welcome servers: %+v", first)
	}
	// TURN REST usernames carry their expiry in seconds: wait for the next
	// second so the refreshed one differs.
	exp0, ok := netcode.TURNExpiry(first[1].Username)
	if !ok {
		t.Fatalf("welcome username %q carries no expiry", first[1].Username)
	}
	for time.Now().Add(2*time.Second).Unix() <= exp0.Unix() {
		time.Sleep(20 * time.Millisecond)
	}
	got, err := c.RefreshICEServers(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].URLs[0] != "stun:192.0.2.1:3478" || !got[1].IsRelay() {
		t.Fatalf("refreshed servers: %+v", got)
	}
	exp1, ok := netcode.TURNExpiry(got[1].Username)
	if !ok || !exp1.After(exp0) || !strings.HasSuffix(got[1].Username, ":"+c.ID()) {
		t.Fatalf("refreshed username %q, welcome's %q", got[1].Username, first[1].Username)
	}
	wantUser, wantPass := TURNCredentials("s3cret", c.ID(), 2*time.Second, exp1.Add(-2*time.Second))
	if got[1].Username != wantUser || got[1].Credential != wantPass {
		t.Fatalf("credential %q/%q, want %q/%q", got[1].Username, got[1].Credential, wantUser, wantPass)
	}
	if now := c.ICEServers(); now[1].Username != got[1].Username {
		t.Fatalf("ICEServers after refresh: %+v", now)
	}
	// The TTL rides along, raw.
	raw, err := c.Request(testCtx(t), TypeICE, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseICEData(raw)
	if err != nil || d.TTLMs != 2000 {
		t.Fatalf("ice reply %s: %+v %v", raw, d, err)
	}
}

func TestICERefreshWithoutServers(t *testing.T) {
	ts := newTestServer(t, Config{})
	c := dialT(t, ts.URL, nil)
	got, err := c.RefreshICEServers(testCtx(t))
	if err != nil || len(got) != 0 {
		t.Fatalf("RefreshICEServers: %+v %v", got, err)
	}
}

func FuzzParseICEData(f *testing.F) {
	f.Add([]byte(`{"ice_servers":[{"urls":["turn:h:3478"],"username":"1:a","credential":"x"}],"ttl_ms":3600000}`))
	f.Add([]byte(`{"ice_servers":[]}`))
	f.Add([]byte(`{"ice_servers":[{"urls":[]}]}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseICEData(b)
		if err != nil {
			var e *Error
			if !errorsAs(err, &e) || e.Code != CodeBadRequest {
				t.Fatalf("error %v is not a coded bad_request", err)
			}
			return
		}
		for _, s := range d.ICEServers {
			if len(s.URLs) == 0 {
				t.Fatal("accepted a server without urls")
			}
		}
	})
}
