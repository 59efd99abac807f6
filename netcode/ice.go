package netcode

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// ICEServer is one STUN or TURN server with its own credentials. A mesh may
// use several, for example the signaling server's list plus a fallback
// relay of the game's own.
type ICEServer struct {
	// URLs of the server: "stun:host:port", "turn:host:port?transport=udp",
	// "turns:host:port". Servers whose URLs all start with "turn:" or
	// "turns:" are relays and are offered to a pair only once it falls back
	// to TURN (see MeshConfig.TURNFallbackAfter).
	URLs []string `json:"urls"`
	// Username and Credential authenticate to a TURN server (long-term or
	// TURN REST credentials). Empty for STUN.
	Username   string `json:"username,omitempty"`
	Credential string `json:"credential,omitempty"`
}

// isRelay reports whether every URL of s names a TURN server.
func (s ICEServer) isRelay() bool {
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

// iceServers returns the pion servers for one connection attempt: STUN
// servers for a direct attempt (none when hostOnly), and every server,
// TURN included, for a relayed one.
func iceServers(list []ICEServer, relay, hostOnly bool) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range list {
		if s.isRelay() {
			if !relay {
				continue
			}
		} else if hostOnly {
			continue
		}
		ps := webrtc.ICEServer{URLs: append([]string(nil), s.URLs...)}
		if s.Username != "" || s.Credential != "" {
			ps.Username = s.Username
			ps.Credential = s.Credential
		}
		out = append(out, ps)
	}
	return out
}

// hasRelay reports whether list holds at least one TURN server.
func hasRelay(list []ICEServer) bool {
	for _, s := range list {
		if s.isRelay() {
			return true
		}
	}
	return false
}
