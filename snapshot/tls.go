package snapshot

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
)

// allowedAuthenticators are the node authenticators a login answers:
// Cassandra's password authenticator and 5.0's mutual TLS one with a
// password fallback.
var allowedAuthenticators = []string{
	"org.apache.cassandra.auth.PasswordAuthenticator",
	"org.apache.cassandra.auth.MutualTlsWithPasswordFallbackAuthenticator",
}

// maxPEMBytes bounds a CA, certificate or key file: a path given by
// mistake (a log, a device) fails at once instead of filling memory.
const maxPEMBytes = 1 << 20

// loadTLS returns the client TLS configuration of the Cassandra
// connections, nil for plaintext: on when on or any file is named; ca
// replaces the system's roots, cert and key (both or neither) are the
// client certificate. Errors name the file and what is wrong with it.
func loadTLS(on bool, ca, cert, key string) (*tls.Config, error) {
	if !on && ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		b, err := readPEM("CA", ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("snapshot: Cassandra CA file %s holds no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if (cert == "") != (key == "") {
		return nil, errors.New("snapshot: a Cassandra client certificate needs both its certificate and its key file")
	}
	if cert != "" {
		cb, err := readPEM("client certificate", cert)
		if err != nil {
			return nil, err
		}
		kb, err := readPEM("client key", key)
		if err != nil {
			return nil, err
		}
		// X509KeyPair's errors quote no key material.
		pair, err := tls.X509KeyPair(cb, kb)
		if err != nil {
			return nil, fmt.Errorf("snapshot: Cassandra client certificate %s and key %s: %w", cert, key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// readPEM reads a file of at most maxPEMBytes.
func readPEM(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: Cassandra %s file: %w", what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("snapshot: Cassandra %s file: %w", what, err)
	}
	if len(b) > maxPEMBytes {
		return nil, fmt.Errorf("snapshot: Cassandra %s file %s is over %d bytes: not a PEM file", what, path, maxPEMBytes)
	}
	return b, nil
}
