//go:build !js

package netcode

import (
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

// tuneEngine applies the mesh's fast-setup defaults to a connection's
// setting engine. relay is true for a TURN fallback attempt.
func tuneEngine(s *webrtc.SettingEngine, cfg *MeshConfig, relay bool) {
	s.DetachDataChannels()
	// mDNS candidates cost ~200 ms of name resolution; native peers do not
	// need them.
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// ICE's own liveness: the mesh's pings keep the pair busy, so ICE
	// declares it disconnected after two interrupt periods, which starts an
	// ICE restart well before the mesh's own disconnect timeout.
	s.SetICETimeouts(2*cfg.InterruptAfter, cfg.DisconnectAfter, cfg.PingInterval*4)
	s.SetPrflxAcceptanceMinWait(0)
	if relay {
		s.SetRelayAcceptanceMinWait(0)
	}
	s.SetDTLSInsecureSkipHelloVerify(true)
	s.EnableSCTPZeroChecksum(true)
	s.SetSCTPRTOMax(cfg.SCTPRTOMax)
	if cfg.Loopback || onlyLoopback() {
		s.SetIncludeLoopbackCandidate(true)
	}
}

// onlyLoopback reports whether the host has no usable interface but lo, in
// which case loopback candidates are the only way to connect.
func onlyLoopback() bool {
	ifaces, err := net.Interfaces()
	if err != nil {
		return false
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err == nil && len(addrs) > 0 {
			return false
		}
	}
	return true
}
