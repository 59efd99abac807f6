//go:build js && wasm

package mesh

import (
	"context"

	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
)

// tuneEngine applies what the browser backend supports: the browser owns
// ICE, DTLS and SCTP settings.
func tuneEngine(s *webrtc.SettingEngine, _ *Config, _ bool, _ *attemptSockets) {
	s.DetachDataChannels()
}

// tuneTURN does nothing in a browser, whose own stack dials TURN servers.
func tuneTURN(*webrtc.SettingEngine, *Config, context.Context, []netcode.ICEServer, *turnReport, func() bool) {
}

// attemptSockets has nothing to track in a browser.
type attemptSockets struct{}

func (*attemptSockets) closeAll() {}
