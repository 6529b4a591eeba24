package media

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
)

// maxCAFileBytes bounds a CA file: a bundle of every public CA is about
// 220 KiB, and a path given by mistake (a log, a device) must not be read
// whole.
const maxCAFileBytes = 1 << 20

// TLSConfig is the TLS configuration of --s3-ca: it trusts only the CAs
// of the PEM file path (nil for an empty path: the system's CAs, as
// minio-go's default). TLS 1.2 at least, as AWS S3 requires since 2024. Every CERTIFICATE
// block must parse, and at least one must be there, so that a key file or
// a truncated bundle given by mistake stops the start instead of failing
// every request later with "certificate signed by unknown authority".
func TLSConfig(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: s3 CA file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCAFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("media: s3 CA file %s: %w", path, err)
	}
	if len(b) > maxCAFileBytes {
		return nil, fmt.Errorf("media: s3 CA file %s is over %d bytes: not a PEM bundle of CA certificates", path, maxCAFileBytes)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue // e.g. a key beside the certificate; a key alone is caught below
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("media: s3 CA file %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("media: s3 CA file %s holds no PEM CERTIFICATE block (want the CA's certificate, not a key or a DER file)", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
