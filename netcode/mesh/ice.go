package mesh

import (
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// iceServers returns the pion servers for one connection attempt: STUN
// servers for a direct attempt (none when hostOnly), and every server,
// TURN included, for a relayed one.
func iceServers(list []netcode.ICEServer, relay, hostOnly bool) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, s := range list {
		if s.IsRelay() {
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
func hasRelay(list []netcode.ICEServer) bool {
	for _, s := range list {
		if s.IsRelay() {
			return true
		}
	}
	return false
}
