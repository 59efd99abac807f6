package netcode

import "strings"

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
