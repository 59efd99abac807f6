//go:build js && wasm

package mesh

import (
	"context"
	"sync/atomic"

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

// earlySelection is false in a browser, whose stack runs ICE itself.
const earlySelection = false

// earlyPair has nothing to do in a browser.
type earlyPair struct{ offerer bool }

func (*earlyPair) connected()                     {}
func (*earlyPair) addLocal(*webrtc.ICECandidate)  {}
func (*earlyPair) addRemote(string)               {}
func (*earlyPair) setPeerEarly(bool)              {}
func tuneEarly(*webrtc.SettingEngine, *earlyPair) {}

// tuneHandshake does nothing in a browser, whose stack runs DTLS itself.
func tuneHandshake(*webrtc.SettingEngine, *atomic.Bool) {}
