package mesh

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode"
	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

// TestAnswererMatchesInBandChannelsByLabel plays a browser offering to a
// mesh with a bare pion PeerConnection: it opens its in-band channels in
// another order than the mesh does, plus one that is not the mesh's, so
// their ids (assigned by its stack, as a browser assigns them whatever the
// app asks) are not the mesh's own layout. The mesh answers, matches the
// channels by label, closes the stranger, and messages flow both ways on
// the reliable and unreliable channels; the offering side's pings get
// pongs. (web/meshjs tests the same with real Chromium.)
func TestAnswererMatchesInBandChannelsByLabel(t *testing.T) {
	checkLeaks(t)
	hub := &memsignal.Hub{}
	raw, err := hub.Join("a0") // smaller than the mesh's "p00": it offers
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Leave()
	ms := startMeshes(t, hub, 1, nil)
	m := ms[0]

	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	f, zero, two := false, uint16(0), uint16(2)
	negotiated, ordered := true, true
	opened := make(chan *webrtc.DataChannel, 8)
	stranger := make(chan struct{})
	open := func(label string, init *webrtc.DataChannelInit) *webrtc.DataChannel {
		dc, err := pc.CreateDataChannel(label, init)
		if err != nil {
			t.Fatal(err)
		}
		dc.OnOpen(func() { opened <- dc })
		return dc
	}
	// Reversed order, and a stranger first: ids differ from 1, 2, 3.
	other := open("not-ours", &webrtc.DataChannelInit{})
	other.OnClose(func() { close(stranger) })
	ctl := open("rp-control", &webrtc.DataChannelInit{Ordered: &f, MaxRetransmits: &zero})
	_ = open("rp-sequenced", &webrtc.DataChannelInit{Ordered: &f, MaxRetransmits: &two})
	unrel := open("rp-unreliable", &webrtc.DataChannelInit{Ordered: &f, MaxRetransmits: &two})
	rel := open("rp-reliable", &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &zero, Ordered: &ordered})

	got := make(chan []byte, 16)
	unrel.OnMessage(func(msg webrtc.DataChannelMessage) { got <- msg.Data })
	pongs := make(chan []byte, 16)
	ctl.OnMessage(func(msg webrtc.DataChannelMessage) {
		if len(msg.Data) > 0 && msg.Data[0] == framePing {
			pong := append([]byte(nil), msg.Data...)
			pong[0] = framePong
			_ = ctl.Send(pong)
		} else if len(msg.Data) > 0 && msg.Data[0] == framePong {
			pongs <- msg.Data
		}
	})

	answers := make(chan signal, 4)
	cancel := raw.SubscribeSignals(func(_ string, payload []byte) {
		if s, err := parseSignal(payload); err == nil && s.T == sigAnswer {
			answers <- s
		}
	}, nil)
	defer cancel()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	b, _ := json.Marshal(signal{V: signalVersion, T: sigOffer, G: 1, SDP: pc.LocalDescription().SDP})
	if err := raw.SendSignal(context.Background(), "p00", b); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-answers:
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: a.SDP}); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	waitEvent[EventConnected](t, m.Mesh, "a0", 15*time.Second)
	select {
	case <-stranger:
	case <-time.After(10 * time.Second):
		t.Fatal("the channel that is not the mesh's stayed open")
	}
	// The mesh's own offering side opens unreliable first and control
	// last (ids 1 and 5, or 2 and 6); here the stranger and the reversed
	// order move them.
	if ctl.ID() == nil || unrel.ID() == nil || *ctl.ID() > *unrel.ID() {
		t.Fatalf("ids control %v, unreliable %v: the test no longer shuffles ids", ctl.ID(), unrel.ID())
	}
	t.Logf("browser-like ids: control %d, unreliable %d", *ctl.ID(), *unrel.ID())
	if err := rel.Send(append([]byte{frameMessage}, "hello mesh"...)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var reliable string
	for reliable == "" && time.Now().Before(deadline) {
		m.Poll(func(from netcode.PeerID, ch netcode.Channel, data []byte) {
			if from == "a0" && ch == netcode.Reliable {
				reliable = string(data)
			}
		})
		time.Sleep(5 * time.Millisecond)
	}
	if reliable != "hello mesh" {
		t.Fatalf("reliable message from the browser-like peer: %q", reliable)
	}
	if err := m.Send("a0", netcode.Unreliable, []byte("hello browser")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if string(b) != "hello browser" {
			t.Fatalf("unreliable message: %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no unreliable message")
	}
	ping := appendPing(nil, framePing, 1, 12345, 0)
	if err := ctl.Send(ping); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-pongs:
		if pg, ok := parsePing(p); !ok || pg.seq != 1 || pg.sentAt != 12345 {
			t.Fatalf("pong %x", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pong")
	}
}
