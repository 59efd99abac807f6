//go:build js && wasm

package mesh

import "github.com/pion/webrtc/v4"

// tuneEngine applies what the browser backend supports: the browser owns
// ICE, DTLS and SCTP settings.
func tuneEngine(s *webrtc.SettingEngine, _ *Config, _ bool) {
	s.DetachDataChannels()
}
