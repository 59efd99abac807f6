package piggyback

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/transport/v4/stdnet"
)

// TestRealDTLSReadsBundledRecords runs a pion DTLS client whose socket
// bundles against a plain pion DTLS server over loopback UDP: every record
// arrives, in order, though small ones travel inside the next datagram.
func TestRealDTLSReadsBundledRecords(t *testing.T) {
	for _, suite := range []dtls.CipherSuiteID{
		dtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		dtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	} {
		t.Run(suite.String(), func(t *testing.T) { runDTLS(t, suite) })
	}
}

func runDTLS(t *testing.T, suite dtls.CipherSuiteID) {
	std, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	pn := New(std, Config{Hold: 50 * time.Millisecond})
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	cs, err := pn.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	cfg := func() *dtls.Config {
		return &dtls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true,
			CipherSuites: []dtls.CipherSuiteID{suite}, ExtendedMasterSecret: dtls.RequireExtendedMasterSecret}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   *dtls.Conn
		err error
	}
	srv := make(chan res, 1)
	go func() {
		c, err := dtls.Server(ss, cs.LocalAddr(), cfg())
		if err == nil {
			err = c.HandshakeContext(ctx)
		}
		srv <- res{c, err}
	}()
	client, err := dtls.Client(cs, ss.LocalAddr(), cfg())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.HandshakeContext(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-srv
	if r.err != nil {
		t.Fatal(r.err)
	}
	server := r.c
	defer server.Close()
	if got, ok := client.ConnectionState(); !ok || got.CipherSuiteID != suite {
		t.Fatalf("negotiated %v, want %v", got.CipherSuiteID, suite)
	}

	// Alternate carriers (60 bytes) and control-sized records (10 bytes).
	const n = 200
	msg := func(i int) []byte {
		size := 60
		if i%2 == 1 {
			size = 10
		}
		b := bytes.Repeat([]byte{byte(i)}, size)
		copy(b, fmt.Sprint(i))
		return b
	}
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 1500)
		for i := 0; i < n; i++ {
			_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := server.Read(buf)
			if err != nil {
				done <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if !bytes.Equal(buf[:k], msg(i)) {
				done <- fmt.Errorf("message %d is %q, want %q", i, buf[:k], msg(i))
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < n; i++ {
		if _, err := client.Write(msg(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := pn.Stats()
	if st.Bundled < n/4 {
		t.Fatalf("stats %+v: fewer than %d records bundled", st, n/4)
	}
	if st.Held != st.Bundled+st.Alone {
		t.Fatalf("stats %+v: held records unaccounted for", st)
	}
	t.Logf("%v: %+v", suite, st)
}
