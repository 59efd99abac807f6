package nearby

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

func fixedIdentity(t testing.TB) *Identity {
	id, err := IdentityFromSeed(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestPacketRoundTripAndGolden(t *testing.T) {
	id := fixedIdentity(t)
	p := Packet{Kind: KindData, To: "abcdefghijklmnop", Epoch: 1, Seq: 2, Base: 1, Type: PayloadText, Payload: []byte("hi")}
	b, err := p.AppendSigned(nil, id)
	if err != nil {
		t.Fatal(err)
	}
	// Pinned header: magic, version, kind, key, id length, id, epoch, seq,
	// base, type, length, payload (then 64 bytes of signature).
	want := "52504e4201" + "01" + hex.EncodeToString(id.Public()) + "10" + hex.EncodeToString([]byte("abcdefghijklmnop")) +
		"0000000000000001" + "0000000000000002" + "0000000000000001" + "01" + "0002" + "6869"
	if got := hex.EncodeToString(b[:len(b)-64]); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	q, err := ParsePacket(b)
	if err != nil {
		t.Fatal(err)
	}
	if q.Kind != p.Kind || q.To != p.To || q.Epoch != 1 || q.Seq != 2 || q.Base != 1 || string(q.Payload) != "hi" || !q.Key.Equal(id.Public()) {
		t.Fatalf("round trip %+v", q)
	}
	b[len(b)-65] ^= 1 // a payload bit
	if _, err := ParsePacket(b); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered packet: %v", err)
	}
	if KeyID(id.Public()) != id.ID() || !validID(id.ID()) {
		t.Fatal("id")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	id := fixedIdentity(t)
	txt := recordTXT(id, Profile{Name: "Alice", Status: InLobby, Game: "arena"})
	ap := netip.MustParseAddrPort("10.1.1.1:999")
	p, err := ParseRecord(txt, []netip.AddrPort{ap})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != id.ID() || p.Name != "Alice" || p.Status != InLobby || p.Game != "arena" || p.Addr != ap {
		t.Fatalf("%+v", p)
	}
	other, _ := NewIdentity()
	forged := slices.Clone(txt)
	forged[1] = TXTID + "=" + other.ID() // an id that is not the key's
	if _, err := ParseRecord(forged, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("forged id: %v", err)
	}
	forged = slices.Clone(txt)
	forged[3] = TXTName + "=Mallory" // another name under Alice's key
	if _, err := ParseRecord(forged, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("forged name: %v", err)
	}
	if got := instanceName(id.ID(), "A very long name that goes on and on and on and on and on é"); len(got) > 63 {
		t.Fatalf("instance %q too long", got)
	}
}

func FuzzParsePacket(f *testing.F) {
	id := fixedIdentity(f)
	for _, p := range []Packet{
		{Kind: KindData, To: "abcdefghijklmnop", Epoch: 9, Seq: 3, Base: 2, Type: PayloadText, Payload: []byte("hello")},
		{Kind: KindData, To: "x", Epoch: 9, Seq: 1, Base: 1, Type: PayloadInvite, Payload: []byte(`{"id":1,"lobby":"l"}`)},
		{Kind: KindAck, To: "abcdefghijklmnop", Epoch: 9, Seq: 7, SACK: 5},
	} {
		b, _ := p.AppendSigned(nil, id)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if !ed25519.Verify(p.Key, b[:len(b)-64], b[len(b)-64:]) || p.To == "" {
			t.Fatal("accepted an unsigned packet")
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	id := fixedIdentity(f)
	f.Add([]byte(joinTXT(recordTXT(id, Profile{Name: "Bob", Status: Idle}))))
	f.Add([]byte("v=1\x00id=x\x00pk=y\x00name=\x00st=match"))
	f.Fuzz(func(t *testing.T, b []byte) {
		txt := bytes.Split(b, []byte{0})
		s := make([]string, len(txt))
		for i, x := range txt {
			s[i] = string(x)
		}
		p, err := ParseRecord(s, nil)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if p.ID != KeyID(p.Key) || p.Profile.check() != nil {
			t.Fatalf("accepted %+v", p)
		}
	})
}

func joinTXT(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(x)
	}
	return b.String()
}

func FuzzParseInvitation(f *testing.F) {
	f.Add([]byte(`{"id":3,"lobby":"l1","name":"Fun","game":"arena","port":7000}`))
	f.Add([]byte(`{"id":1,"accept":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := ParseInvitation(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if inv.check() != nil {
			t.Fatalf("accepted %+v", inv)
		}
		if _, err := parseInviteReply(b); err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("uncoded error %v", err)
		}
	})
}

// FuzzServerWire feeds the decoders of the nearby.* JSON family: the
// server's (show, send) and the client's (watch reply, presence, packet).
func FuzzServerWire(f *testing.F) {
	for _, s := range []string{
		`{"name":"Ann","status":"lobby","game":"arena"}`,
		`{"to":"bob","pkt":"UlBOQgE="}`,
		`{"id":"alice","players":[{"id":"bob","name":"Bob","status":"idle","at":1}]}`,
		`{"player":{"id":"bob","name":"Bob","status":"match","at":2},"gone":true}`,
		`{"from":"bob","pkt":"AAAA"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		coded := func(err error) {
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Fatalf("uncoded error %v", err)
			}
		}
		p, err := parseShow(b)
		coded(err)
		if err == nil && p.check() != nil {
			t.Fatalf("show accepted %+v", p)
		}
		d, err := parseSend(b)
		coded(err)
		if err == nil && (len(d.Pkt) > MaxPacket || len(d.To) > MaxPeerIDLen) {
			t.Fatalf("send accepted %d bytes", len(d.Pkt))
		}
		_, err = parseWatchReply(b)
		coded(err)
		id, pl, err := parsePresence(b)
		coded(err)
		if err == nil && (id == "" || pl != nil && pl.Profile.check() != nil) {
			t.Fatalf("presence accepted %q %+v", id, pl)
		}
		_, err = parsePacketPush(b)
		coded(err)
	})
}
