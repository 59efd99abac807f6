package netcode

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ICEServer is one STUN or TURN server with its own credentials, as the
// signaling server's welcome lists them (its JSON names are the signaling
// wire's) and as a mesh takes them. A mesh may use several, for example the
// signaling server's list plus a fallback relay of the game's own.
type ICEServer struct {
	// URLs of the server: "stun:host:port", "turn:host:port?transport=udp",
	// "turns:host:port". A server whose URLs all start with "turn:" or
	// "turns:" is a relay; the mesh offers it to a pair only once that pair
	// falls back to TURN.
	URLs []string `json:"urls"`
	// Username and Credential authenticate to a TURN server (long-term or
	// TURN REST credentials). Empty for STUN.
	Username   string `json:"username,omitempty"`
	Credential string `json:"credential,omitempty"`
}

// IsRelay reports whether every URL of s names a TURN server.
func (s ICEServer) IsRelay() bool {
	if len(s.URLs) == 0 {
		return false
	}
	for _, u := range s.URLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return false
		}
	}
	return true
}

// ICERefresher is an optional interface of a Signaler: a rendezvous point
// that can hand out fresh ICE servers and TURN credentials on request
// (signaling.Client satisfies it; see the "ice" request in
// docs/protocol.md). A mesh whose TURN credentials are near the end of
// their lifetime asks for new ones before it uses TURN; with a Signaler
// that lacks the method it keeps the servers it was given.
type ICERefresher interface {
	// RefreshICEServers returns the ICE servers, with fresh TURN
	// credentials, that the rendezvous point would give this peer now.
	RefreshICEServers(ctx context.Context) ([]ICEServer, error)
}

// TURNExpiry returns the expiry time a TURN REST username carries
// ("<unix seconds>:<user>", as coturn's use-auth-secret and
// signaling.TURNCredentials make them), and false for a username of any
// other form (long-term credentials, which do not expire).
func TURNExpiry(username string) (time.Time, bool) {
	ts, _, ok := strings.Cut(username, ":")
	if !ok || ts == "" || len(ts) > 12 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}
