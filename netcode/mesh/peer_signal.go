package mesh

import (
	"encoding/json"
	"fmt"
)

// Signals are the JSON values the mesh exchanges through the Signaler. The
// rendezvous point relays them without looking inside.
//
//	{"v":2,"t":"offer","g":1,"sdp":"v=0..."}          offering side, attempt g
//	{"v":2,"t":"offer","g":1,"sdp":"...","restart":true}  ICE restart of attempt g
//	{"v":2,"t":"offer","g":2,"sdp":"...","relay":true}    TURN fallback attempt
//	{"v":2,"t":"answer","g":1,"sdp":"v=0..."}
//	{"v":2,"t":"answer","g":1,"sdp":"v=0...","early":true}  the answering side selects a pair before nomination
//	{"v":2,"t":"cand","g":1,"cands":[{"candidate":"candidate:...","sdpMid":"0","sdpMLineIndex":0}]}
//	{"v":2,"t":"bye","reason":"kicked"}
//	{"v":2,"t":"hello"}   answering side: "I am subscribed, offer now"
//
// g, the attempt number, starts at 1 and only grows; a signal of an older
// attempt is ignored. Unknown fields are ignored so that later versions may
// add some. A signal whose v is not signalVersion, or whose type is
// unknown, is rejected: counted (BadSignals) and reported as
// EventSignalRejected (ErrSignalVersion for a version mismatch).
// docs/mesh-wire.md is the full description.
const signalVersion = 2

// maxSignalSize bounds a signal payload; larger ones are rejected before
// decoding.
const maxSignalSize = 64 << 10

// maxSignalCands bounds the candidates of one signal.
const maxSignalCands = 64

// Signal types.
const (
	sigOffer  = "offer"
	sigAnswer = "answer"
	sigCand   = "cand"
	sigBye    = "bye"
	sigHello  = "hello"
)

type signalCandidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

type signal struct {
	V       int               `json:"v"`
	T       string            `json:"t"`
	G       uint32            `json:"g,omitempty"`
	SDP     string            `json:"sdp,omitempty"`
	Restart bool              `json:"restart,omitempty"`
	Relay   bool              `json:"relay,omitempty"`
	Early   bool              `json:"early,omitempty"`
	Cands   []signalCandidate `json:"cands,omitempty"`
	Reason  string            `json:"reason,omitempty"`
}

func (s *signal) marshal() []byte {
	s.V = signalVersion
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // only strings, numbers and booleans: cannot fail
	}
	return b
}

// parseSignal decodes and validates a signal.
func parseSignal(b []byte) (signal, error) {
	var s signal
	if len(b) > maxSignalSize {
		return s, fmt.Errorf("%w: %d bytes (limit %d)", ErrBadSignal, len(b), maxSignalSize)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%w: %v", ErrBadSignal, err)
	}
	if s.V != signalVersion {
		return s, fmt.Errorf("%w: %w: version %d, want %d", ErrBadSignal, ErrSignalVersion, s.V, signalVersion)
	}
	switch s.T {
	case sigOffer, sigAnswer:
		if s.G == 0 || s.SDP == "" {
			return s, fmt.Errorf("%w: %s without attempt or sdp", ErrBadSignal, s.T)
		}
	case sigCand:
		if s.G == 0 || len(s.Cands) == 0 || len(s.Cands) > maxSignalCands {
			return s, fmt.Errorf("%w: cand with no attempt or with %d candidates", ErrBadSignal, len(s.Cands))
		}
	case sigHello:
	case sigBye:
		if s.Reason != byeLeft && s.Reason != byeKicked {
			return s, fmt.Errorf("%w: bye reason %q", ErrBadSignal, s.Reason)
		}
	default:
		return s, fmt.Errorf("%w: type %q", ErrBadSignal, s.T)
	}
	return s, nil
}

const (
	byeLeft   = "left"
	byeKicked = "kicked"
)
