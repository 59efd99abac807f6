//go:build !js

package mesh

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/rallypoint/rallypoint/netcode/memsignal"
)

func hostCand(t *testing.T, addr string, port int, prio uint32) *ice.CandidateHost {
	t.Helper()
	c, err := ice.NewCandidateHost(&ice.CandidateHostConfig{Network: "udp", Address: addr, Port: port, Component: 1, Priority: prio})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bindingRequest(t *testing.T, nominate bool) *stun.Message {
	t.Helper()
	setters := []stun.Setter{stun.BindingRequest, stun.TransactionID}
	if nominate {
		setters = append(setters, ice.UseCandidate())
	}
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The early selection takes only the best pair of the signaled
// candidates, on the answering side at the first plain check, on the
// offering side only once the pair's own check was answered and the
// answer said the peer selects early too; and only once.
func TestEarlyPairSelectsTheBestPairOnce(t *testing.T) {
	// Local: a better and a worse candidate; remote: one.
	good := hostCand(t, "10.0.0.1", 1000, 2000)
	bad := hostCand(t, "10.0.0.2", 1001, 1000)
	remote := hostCand(t, "10.0.0.9", 2000, 1500)
	stranger := hostCand(t, "10.0.0.8", 2001, 9000) // never signaled
	setup := func(offerer bool) *earlyPair {
		e := &earlyPair{offerer: offerer}
		e.addLocal(&webrtc.ICECandidate{Address: "10.0.0.1", Port: 1000, Priority: 2000, Protocol: webrtc.ICEProtocolUDP})
		e.addLocal(&webrtc.ICECandidate{Address: "10.0.0.2", Port: 1001, Priority: 1000, Protocol: webrtc.ICEProtocolUDP})
		e.addRemote("candidate:1 1 udp 1500 10.0.0.9 2000 typ host")
		return e
	}
	pair := func(l, r ice.Candidate, answered bool) *ice.CandidatePair {
		p := &ice.CandidatePair{Local: l, Remote: r}
		if answered {
			p.UpdateRoundTripTime(time.Millisecond)
		}
		return p
	}
	plain, nomination := bindingRequest(t, false), bindingRequest(t, true)

	t.Run("answering", func(t *testing.T) {
		e := setup(false)
		if e.handle(plain, bad, remote, pair(bad, remote, true)) {
			t.Fatal("selected a pair that is not the best")
		}
		if e.handle(plain, good, stranger, pair(good, stranger, true)) {
			t.Fatal("selected a pair with a candidate that was never signaled")
		}
		if e.handle(nomination, good, remote, pair(good, remote, false)) {
			t.Fatal("took over a nomination, which pion handles")
		}
		if !e.handle(plain, good, remote, pair(good, remote, false)) {
			t.Fatal("did not select the best pair on its first check")
		}
		if e.handle(plain, good, remote, pair(good, remote, false)) {
			t.Fatal("selected twice")
		}
	})
	t.Run("answering after ICE selected", func(t *testing.T) {
		e := setup(false)
		e.connected()
		if e.handle(plain, good, remote, pair(good, remote, false)) {
			t.Fatal("selected after ICE had selected a pair")
		}
	})
	t.Run("offering", func(t *testing.T) {
		e := setup(true)
		if e.handle(plain, good, remote, pair(good, remote, true)) {
			t.Fatal("selected although the answer did not say early")
		}
		e.setPeerEarly(true)
		if e.handle(plain, good, remote, pair(good, remote, false)) {
			t.Fatal("selected a pair whose own check was not answered")
		}
		if e.handle(plain, bad, remote, pair(bad, remote, true)) {
			t.Fatal("selected a pair that is not the best")
		}
		if !e.handle(plain, good, remote, pair(good, remote, true)) {
			t.Fatal("did not select the best answered pair")
		}
	})
	// Behind a NAT the peer may know this side only as a peer-reflexive
	// candidate, on which it cannot select early: the offering side must
	// leave the pair to a nomination, which pion stops sending once a
	// pair is selected.
	t.Run("offering behind a NAT", func(t *testing.T) {
		e := setup(true)
		e.setPeerEarly(true)
		// Its own public address: not a NAT.
		e.addLocal(&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Address: "10.0.0.1", Port: 1000, Priority: 2000, Protocol: webrtc.ICEProtocolUDP})
		e.addLocal(&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "10.0.0.1", Port: 1000, Priority: 100, Protocol: webrtc.ICEProtocolUDP})
		if e.natted() {
			t.Fatal("a reflexive address equal to a host address counted as a NAT")
		}
		e.addLocal(&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "203.0.113.7", Port: 40000, Priority: 100, Protocol: webrtc.ICEProtocolUDP})
		if !e.natted() {
			t.Fatal("a reflexive address that is no host address did not count as a NAT")
		}
		if e.handle(plain, good, remote, pair(good, remote, true)) {
			t.Fatal("selected a host pair early behind a NAT")
		}
		a := setup(false)
		a.addLocal(&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Address: "10.0.0.1", Port: 1000, Priority: 2000, Protocol: webrtc.ICEProtocolUDP})
		a.addLocal(&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "203.0.113.7", Port: 40000, Priority: 100, Protocol: webrtc.ICEProtocolUDP})
		if !a.handle(plain, good, remote, pair(good, remote, false)) {
			t.Fatal("the answering side stopped selecting early behind a NAT")
		}
	})
}

// Candidates of equal priority (pion gives every host candidate the
// same) make pairs of equal priority: both sides must still pick the same
// one, the smallest offering-side address first.
func TestEarlyPairBreaksTiesAlike(t *testing.T) {
	const prio = 2130706431
	offerer := &earlyPair{offerer: true}
	answerer := &earlyPair{}
	offerAddrs := []string{"192.0.2.2", "127.0.0.1"}
	answerAddrs := []string{"192.0.2.3", "127.0.0.1"}
	for _, a := range offerAddrs {
		offerer.addLocal(&webrtc.ICECandidate{Address: a, Port: 1000, Priority: prio, Protocol: webrtc.ICEProtocolUDP})
		answerer.addRemote("candidate:1 1 udp 2130706431 " + a + " 1000 typ host")
	}
	for _, a := range answerAddrs {
		answerer.addLocal(&webrtc.ICECandidate{Address: a, Port: 2000, Priority: prio, Protocol: webrtc.ICEProtocolUDP})
		offerer.addRemote("candidate:1 1 udp 2130706431 " + a + " 2000 typ host")
	}
	var offBest, ansBest []string
	for _, o := range offerAddrs {
		for _, a := range answerAddrs {
			oc := earlyCand{addr: o, port: 1000, prio: prio}
			ac := earlyCand{addr: a, port: 2000, prio: prio}
			if offerer.isBest(oc, ac) {
				offBest = append(offBest, o+"-"+a)
			}
			if answerer.isBest(ac, oc) {
				ansBest = append(ansBest, o+"-"+a)
			}
		}
	}
	if len(offBest) != 1 || len(ansBest) != 1 || offBest[0] != ansBest[0] || offBest[0] != "127.0.0.1-127.0.0.1" {
		t.Fatalf("best pairs: offering side %v, answering side %v; want both [127.0.0.1-127.0.0.1]", offBest, ansBest)
	}
}

func TestPairPriority(t *testing.T) {
	// RFC 8445 §6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0).
	if got, want := pairPriority(7, 5), uint64(5)<<32+14+1; got != want {
		t.Fatalf("pairPriority(7, 5) = %d, want %d", got, want)
	}
	if got, want := pairPriority(5, 7), uint64(5)<<32+14; got != want {
		t.Fatalf("pairPriority(5, 7) = %d, want %d", got, want)
	}
}

// An offer carries the candidates gathered with it (offerHold), so the
// answering side can rank the first connectivity check even when the
// offering side's candidate signals come late or not at all. Before, a
// check that overtook them was peer-reflexive to the answering side, which
// then never selected early, while the offering side had selected and
// checked again only after pion's 2 s keepalive: a pair on a loaded LAN
// took 2 s to connect. Here the offering side's candidate signals are
// dropped altogether: the pair must connect through the candidates the
// offer carries.
func TestOfferCarriesItsCandidates(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	firstOffer := map[uint32]int{} // attempt -> candidates in its first offer
	candsDropped := 0
	hub := &memsignal.Hub{Filter: func(from, to string, payload []byte) bool {
		s, err := parseSignal(payload)
		if err != nil || from > to { // p00 offers to p01
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case s.T == sigCand:
			candsDropped++
			return false
		case s.T == sigOffer && !s.Restart:
			if _, ok := firstOffer[s.G]; !ok {
				firstOffer[s.G] = len(sdpCandidates(s.SDP))
			}
		}
		return true
	}}
	ms := startMeshes(t, hub, 2, nil)
	waitAll(t, ms, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(firstOffer) == 0 {
		t.Fatal("connected without an offer")
	}
	for g, n := range firstOffer {
		if n == 0 {
			t.Errorf("the first offer of attempt %d carried no candidate", g)
		}
	}
	t.Logf("candidates in each attempt's first offer: %v; candidate signals dropped: %d", firstOffer, candsDropped)
}
