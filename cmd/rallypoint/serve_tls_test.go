package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rallypoint/rallypoint/signaling"
)

// TestServeTLSAndAuth runs serve with a self-signed certificate and an auth
// secret: clients need the certificate and a signed token.
func TestServeTLSAndAuth(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	cfg := serveConfig{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, AuthSecret: "s3cret",
		TURNSecret: "turnsecret", TURNURLs: []string{"turn:127.0.0.1:3478"}}
	go func() { done <- serve(ctx, cfg, func(a net.Addr) { ready <- a }) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	url := "wss://" + addr.String() + "/ws"
	tlsCfg := &tls.Config{RootCAs: pool}
	dctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := signaling.Dial(dctx, url, &signaling.ClientConfig{TLSConfig: tlsCfg}); !errorsIsCode(err, signaling.CodeUnauthorized) {
		t.Fatalf("dial without token: %v", err)
	}
	if _, err := signaling.Dial(dctx, url, nil); err == nil {
		t.Fatal("dial trusted an unknown certificate")
	}
	tok, _ := signaling.HMACAuth{Secret: []byte("s3cret")}.Issue(signaling.Identity{Subject: "ana"}, time.Hour)
	a, err := signaling.Dial(dctx, url, &signaling.ClientConfig{TLSConfig: tlsCfg, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := signaling.Dial(dctx, url, &signaling.ClientConfig{TLSConfig: tlsCfg, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ice := a.ICEServers(); len(ice) != 1 || ice[0].Username == "" || ice[0].Credential == "" {
		t.Fatalf("ICE servers %+v", ice)
	}
	a.JoinNext(dctx, "tls", 2)
	b.JoinNext(dctx, "tls", 2)
	if err := b.Signal(dctx, a.ID(), json.RawMessage(`"over tls"`)); err != nil {
		t.Fatal(err)
	}
}

func errorsIsCode(err error, code string) bool {
	var he *signaling.HTTPError
	return errors.As(err, &he) && he.Err != nil && he.Err.Code == code
}

func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rallypoint test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
