package p2p

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a leaf certificate for 127.0.0.1 usable by servers and
// clients.
func (ca *testCA) issue(t *testing.T, name string, serial int64) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func selfSignedServer(t *testing.T) *tls.Config {
	ca := newCA(t, "ca")
	return &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "server", 2)}, ClientCAs: ca.pool}
}

func TestMutualTLS(t *testing.T) {
	ca, other := newCA(t, "cluster ca"), newCA(t, "other ca")
	// ClientAuth is left at its zero value: NewServer must still require
	// client certificates.
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "server", 2)}, ClientCAs: ca.pool}
	addr, ts := startServer(t, Options{ServerTLS: serverTLS})
	const echo = "/shoal.test.Echo/Echo"

	good := conn(t, newPool(t, Options{PeerID: 21, ClientTLS: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "node", 3)}}}), addr)
	resp, err := Call[echoReq, echoResp](ctxT(t), good, echo, &echoReq{Text: "tls"})
	if err != nil || resp.Text != "tls" || resp.Caller != 21 {
		t.Fatalf("good mTLS call: %+v %v", resp, err)
	}
	recv, err := OpenServerStream[echoReq, echoResp](ctxT(t), good, "/shoal.test.Echo/Count", &echoReq{Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := recv(); err != nil || m.Caller != 21 {
		t.Fatalf("good mTLS stream: %+v %v", m, err)
	}

	refused := map[string]*tls.Config{
		"cert from another CA": {RootCAs: ca.pool, Certificates: []tls.Certificate{other.issue(t, "intruder", 4)}},
		"no client cert":       {RootCAs: ca.pool},
	}
	for name, cfg := range refused {
		cc := conn(t, newPool(t, Options{PeerID: 22, ClientTLS: cfg, DialTimeout: 2 * time.Second}), addr)
		if _, err := Call[echoReq, echoResp](ctxT(t), cc, echo, &echoReq{}); err == nil {
			t.Fatalf("%s: call accepted", name)
		} else if c := status.Code(err); c != codes.Unavailable && c != codes.Unauthenticated {
			t.Fatalf("%s: unexpected code %v (%v)", name, c, err)
		}
		recv, err := OpenServerStream[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Count", &echoReq{Count: 1})
		if err == nil {
			_, err = recv()
		}
		if err == nil {
			t.Fatalf("%s: stream accepted", name)
		}
	}
	// A plaintext client cannot talk to the TLS server either.
	plain := conn(t, newPool(t, Options{PeerID: 23, Insecure: true}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), plain, echo, &echoReq{}); err == nil {
		t.Fatal("plaintext call accepted")
	}
	if n := ts.calls.Load(); n != 2 {
		t.Fatalf("handlers ran %d times, want 2 (only the good calls)", n)
	}
}

func TestServerTLSNeedsClientCAs(t *testing.T) {
	ca := newCA(t, "cluster ca")
	cert := ca.issue(t, "server", 2)
	if _, err := NewServer(Options{ServerTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}); !errors.Is(err, errNoClientCAs) {
		t.Fatalf("server TLS without ClientCAs: %v", err)
	}
	// A reloading configuration is checked, and forced to verify clients,
	// per handshake.
	var served atomic.Int64
	reloading := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		served.Add(1)
		return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: ca.pool, ClientAuth: tls.NoClientCert}, nil
	}}
	addr, ts := startServer(t, Options{ServerTLS: reloading})
	noCert := conn(t, newPool(t, Options{PeerID: 1, ClientTLS: &tls.Config{RootCAs: ca.pool}}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), noCert, "/shoal.test.Echo/Echo", &echoReq{}); err == nil {
		t.Fatal("a client without a certificate passed a reloading configuration")
	}
	good := conn(t, newPool(t, Options{PeerID: 1, ClientTLS: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "node", 3)}}}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), good, "/shoal.test.Echo/Echo", &echoReq{}); err != nil {
		t.Fatal(err)
	}
	if served.Load() == 0 || ts.calls.Load() != 1 {
		t.Fatalf("reloader used %d times, handler ran %d times", served.Load(), ts.calls.Load())
	}
	broken := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
	}}
	addr, ts = startServer(t, Options{ServerTLS: broken})
	cc := conn(t, newPool(t, Options{PeerID: 1, ClientTLS: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "node", 4)}}}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), cc, "/shoal.test.Echo/Echo", &echoReq{}); err == nil || ts.calls.Load() != 0 {
		t.Fatalf("a reloaded configuration without ClientCAs accepted a call: %v", err)
	}
}

func TestTLSAndSecretCombined(t *testing.T) {
	ca := newCA(t, "cluster ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "server", 2)}, ClientCAs: ca.pool}
	addr, ts := startServer(t, Options{ServerTLS: serverTLS, Secret: secretA})
	clientTLS := &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{ca.issue(t, "node", 3)}}
	wrong := conn(t, newPool(t, Options{PeerID: 1, ClientTLS: clientTLS, Secret: secretB}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), wrong, "/shoal.test.Echo/Echo", &echoReq{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("good cert, wrong secret: %v", err)
	}
	right := conn(t, newPool(t, Options{PeerID: 1, ClientTLS: clientTLS, Secret: secretA}), addr)
	if _, err := Call[echoReq, echoResp](ctxT(t), right, "/shoal.test.Echo/Echo", &echoReq{}); err != nil {
		t.Fatal(err)
	}
	if ts.calls.Load() != 1 {
		t.Fatalf("handler ran %d times", ts.calls.Load())
	}
}
