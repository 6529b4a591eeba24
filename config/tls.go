package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
)

// TLS is how a client reaches one service over TLS: the flags
// --<service>-tls, --<service>-ca, --<service>-cert and --<service>-key,
// and what Load makes of them.
type TLS struct {
	// On is --<service>-tls. Default false (plaintext); any of the files
	// below turns TLS on as well.
	On bool
	// CA is --<service>-ca: a PEM file of the certificates of the CAs the
	// server's certificate must chain to (Kafka's ssl.truststore.location
	// with ssl.truststore.type=PEM). Default empty: the system's CAs.
	CA string
	// Cert and Key are --<service>-cert and --<service>-key: PEM files of
	// the client's certificate chain and its unencrypted private key, for
	// mutual TLS (Kafka's ssl.keystore.location with
	// ssl.keystore.type=PEM); both or neither. Default empty: no client
	// certificate.
	Cert, Key string
	// Config is the client configuration Load made of the files: nil
	// while TLS is off, and before Load.
	Config *tls.Config
}

// Enabled reports whether TLS is asked for, by --<service>-tls or by a
// file: a CA or a client certificate means nothing over plaintext, so
// giving one and getting plaintext in silence would be worse than either.
func (t TLS) Enabled() bool { return t.On || t.CA != "" || t.Cert != "" || t.Key != "" }

// maxPEMFileBytes bounds each TLS file. A CA bundle of every public CA is
// ~220 KB, a certificate chain a few KB; a path given by mistake (a log,
// a device) must not be read whole.
const maxPEMFileBytes = 1 << 20

// Load reads the files of service's TLS flags ("kafka": --kafka-ca, ...)
// into Config, TLS 1.2 at least; with TLS off it leaves Config nil. Every
// error names the flag and the file, never what the file holds (a key
// file's content is a secret; its path is not).
func (t *TLS) Load(service string) error {
	t.Config = nil
	if !t.Enabled() {
		return nil
	}
	flagName := func(f string) string { return "--" + service + "-" + f }
	if (t.Cert == "") != (t.Key == "") {
		return fmt.Errorf("config: %s and %s go together (a client certificate and its key): give both or neither",
			flagName("cert"), flagName("key"))
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pool, err := loadCAs(flagName("ca"), t.CA)
		if err != nil {
			return err
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" {
		certPEM, err := readPEMFile(flagName("cert"), t.Cert)
		if err != nil {
			return err
		}
		keyPEM, err := readPEMFile(flagName("key"), t.Key)
		if err != nil {
			return err
		}
		// crypto/tls's errors say what is wrong (no PEM data, a key
		// that does not match, an encrypted key) without the bytes.
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return fmt.Errorf("config: %s %s with %s %s: %w", flagName("cert"), t.Cert, flagName("key"), t.Key, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	t.Config = cfg
	return nil
}

// readPEMFile reads path, a file of flag, whole if it is at most
// maxPEMFileBytes. Only a regular file (or a link to one, as Kubernetes
// mounts secrets): opening a FIFO would block the start for good, and a
// device has no end.
func readPEMFile(flag, path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", flag, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config: %s: %s is not a regular file (%s)", flag, path, st.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", flag, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: %s: read %s: %w", flag, path, err)
	}
	if len(b) > maxPEMFileBytes {
		return nil, fmt.Errorf("config: %s: %s is over %d bytes: not a PEM file of certificates", flag, path, maxPEMFileBytes)
	}
	return b, nil
}

// loadCAs reads the certificates of a CA file. Unlike
// x509.CertPool.AppendCertsFromPEM, which skips what it cannot parse, any
// block that is not a certificate is an error: a key given as the CA, or
// a truncated bundle, must not leave a pool that trusts less than meant
// and fails later with an "unknown authority" nobody can trace back.
func loadCAs(flag, path string) (*x509.CertPool, error) {
	b, err := readPEMFile(flag, path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("config: %s: %s: PEM block %d is a %.40q, not a CERTIFICATE", flag, path, n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %s: certificate %d: %w", flag, path, n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, fmt.Errorf("config: %s: %s: %w", flag, path, errNoPEM)
	}
	return pool, nil
}

var errNoPEM = errors.New("no PEM certificate in it (want -----BEGIN CERTIFICATE-----)")
