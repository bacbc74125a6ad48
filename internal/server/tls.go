package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/shoal-db/shoal/internal/config"
)

// certReloader serves the certificate of tls.cert/tls.key and re-reads the
// files once per tls.cert_ttl seconds (as Qdrant does for HTTPS), so a
// renewed certificate is picked up without a restart. A failed reload keeps
// the previous certificate.
type certReloader struct {
	certFile, keyFile string
	ttl               time.Duration
	log               *slog.Logger

	mu     sync.Mutex // guards the fields below
	cert   *tls.Certificate
	loaded time.Time
}

func (r *certReloader) load() error {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("cannot load TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.loaded = &cert, time.Now()
	r.mu.Unlock()
	return nil
}

// get implements tls.Config.GetCertificate.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	stale := r.ttl > 0 && time.Since(r.loaded) > r.ttl
	cert := r.cert
	if stale {
		r.loaded = time.Now() // one reload attempt per TTL, even on failure
	}
	r.mu.Unlock()
	if stale {
		if err := r.load(); err != nil {
			r.log.Warn("keeping the previous TLS certificate", "err", err)
		} else {
			r.mu.Lock()
			cert = r.cert
			r.mu.Unlock()
		}
	}
	return cert, nil
}

// newTLSConfig builds the server TLS configuration shared by REST and gRPC:
// the reloading certificate, TLS 1.2 or later, and client certificate
// verification against tls.ca_cert with
// service.verify_https_client_certificate.
func newTLSConfig(cfg config.Config, log *slog.Logger) (*tls.Config, error) {
	r := &certReloader{
		certFile: cfg.TLS.Cert,
		keyFile:  cfg.TLS.Key,
		ttl:      time.Duration(cfg.TLS.CertTTL) * time.Second,
		log:      log,
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	tc := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if cfg.Service.VerifyHTTPSClientCertificate {
		pem, err := os.ReadFile(cfg.TLS.CACert)
		if err != nil {
			return nil, fmt.Errorf("cannot read tls.ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("cannot use tls.ca_cert: no PEM certificate found in " + cfg.TLS.CACert)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
