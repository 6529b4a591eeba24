package services_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tagstream/tagstream/testenv"
)

// TestTLSScript runs services/tls.sh up in a temporary services folder and
// checks what the TLS tests build on: a server certificate Go verifies for
// 127.0.0.1 and localhost against the CA alone, a client certificate a
// server asking for one accepts, private files no one else can read, and
// a second run that keeps the certificates rather than making new ones.
func TestTLSScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Skip(t, "openssl (Debian: openssl) is needed by services/tls.sh")
	}
	dir := t.TempDir()
	run := func() {
		t.Helper()
		cmd := exec.Command("bash", "tls.sh", "up")
		cmd.Env = append(os.Environ(), "TAGSTREAM_SERVICES_DIR="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tls.sh up: %v\n%s", err, out)
		}
	}
	run()
	tlsDir := filepath.Join(dir, "tls")
	first, err := os.ReadFile(filepath.Join(tlsDir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		".": 0o700, "ca-key.pem": 0o600, "server-key.pem": 0o600, "client-key.pem": 0o600,
		"server.p12": 0o600, "p12-password": 0o600, "ca.pem": 0o644, "server.pem": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(tlsDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", name, got, want)
		}
	}

	pool := caPool(t, tlsDir)
	server, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "client.pem"), filepath.Join(tlsDir, "client-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{server}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		// Two good handshakes, then one the client gives up on.
		for i := range 3 {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			err = c.(*tls.Conn).Handshake()
			c.Close()
			if err != nil && i < 2 {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for _, name := range []string{"127.0.0.1", "localhost"} {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
			RootCAs: pool, ServerName: name, Certificates: []tls.Certificate{client},
		}}
		c, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("handshake as %s: %v", name, err)
		}
		c.Close()
	}
	// A name the certificate does not carry is refused.
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: "kafka.example", Certificates: []tls.Certificate{client}}}
	if c, err := d.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the server certificate verified for a name it does not carry")
	}
	if err := <-done; err != nil {
		t.Fatalf("server side: %v", err)
	}

	run()
	second, err := os.ReadFile(filepath.Join(tlsDir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Error("a second tls.sh up made the server certificate again; it should keep a current one")
	}
}

// Runs of tls.sh up at once (services/all.sh up starts every TLS service
// in parallel, and each runs it) all succeed and leave one CA that signed
// both certificates: without its lock, 14 of 20 such runs failed, each
// reading a key or certificate another run was writing.
func TestTLSScriptRunsAtOnce(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		testenv.Skip(t, "openssl (Debian: openssl) is needed by services/tls.sh")
	}
	dir := t.TempDir()
	errs := make(chan error, 4)
	for range cap(errs) {
		go func() {
			cmd := exec.Command("bash", "tls.sh", "up")
			cmd.Env = append(os.Environ(), "TAGSTREAM_SERVICES_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, out)
			}
			errs <- err
		}()
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Errorf("tls.sh up beside others: %v", err)
		}
	}
	tlsDir := filepath.Join(dir, "tls")
	pool := caPool(t, tlsDir)
	for _, name := range []string{"server", "client"} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, name+".pem"), filepath.Join(tlsDir, name+"-key.pem"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s.pem does not chain to ca.pem: %v", name, err)
		}
	}
}

// caPool is the CA of tls.sh's folder dir.
func caPool(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	return pool
}
