package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tagstream/tagstream/testenv"
)

// pemFiles writes a self-signed certificate and its key as PEM files of
// the test's, and returns their paths and the key's PEM.
func pemFiles(t *testing.T, name string) (cert, key string, keyPEM []byte) {
	t.Helper()
	cert, key = testenv.SelfSigned(t, name)
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, keyPEM
}

// kafkaTLS parses args and env as a command that talks to Kafka does,
// then loads its TLS.
func kafkaTLS(t *testing.T, args []string, env map[string]string) (TLS, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := Defaults()
	if err := Parse(FlagSet("worker", &c, "brokers"), args); err != nil {
		return c.KafkaTLS, err
	}
	err := c.KafkaTLS.Load("kafka")
	return c.KafkaTLS, err
}

// TLS is off unless asked for; --kafka-tls alone trusts the system's
// CAs; any file turns it on; the files come from flags or variables.
func TestKafkaTLSFlags(t *testing.T) {
	if got, err := kafkaTLS(t, nil, nil); err != nil || got.Enabled() || got.Config != nil {
		t.Fatalf("no flags: %+v, %v; want plaintext", got, err)
	}
	got, err := kafkaTLS(t, []string{"--kafka-tls"}, nil)
	if err != nil || got.Config == nil || got.Config.RootCAs != nil || got.Config.MinVersion != tls.VersionTLS12 || len(got.Config.Certificates) != 0 {
		t.Fatalf("--kafka-tls: %+v, %v; want TLS 1.2+, system CAs, no client certificate", got.Config, err)
	}
	ca, _, _ := pemFiles(t, "ca")
	if got, err := kafkaTLS(t, []string{"--kafka-ca", ca}, nil); err != nil || got.Config == nil || got.Config.RootCAs == nil {
		t.Fatalf("--kafka-ca alone: %+v, %v; want TLS with the CA", got.Config, err)
	}
	cert, key, _ := pemFiles(t, "client")
	got, err = kafkaTLS(t, nil, map[string]string{"TAGSTREAM_KAFKA_CA": ca, "TAGSTREAM_KAFKA_CERT": cert, "TAGSTREAM_KAFKA_KEY": key})
	if err != nil || got.Config == nil || got.Config.RootCAs == nil || len(got.Config.Certificates) != 1 {
		t.Fatalf("TAGSTREAM_KAFKA_CA, _CERT, _KEY: %+v, %v; want TLS with the CA and a client certificate", got.Config, err)
	}
	// TAGSTREAM_KAFKA_TLS=false with a file is still TLS: a file means nothing over plaintext.
	if got, err := kafkaTLS(t, []string{"--kafka-ca", ca}, map[string]string{"TAGSTREAM_KAFKA_TLS": "false"}); err != nil || got.Config == nil {
		t.Fatalf("--kafka-ca with TAGSTREAM_KAFKA_TLS=false: %+v, %v; want TLS", got.Config, err)
	}
	if _, err := kafkaTLS(t, nil, map[string]string{"TAGSTREAM_KAFKA_TLS": "yes please"}); err == nil || !strings.Contains(err.Error(), "TAGSTREAM_KAFKA_TLS") {
		t.Fatalf("TAGSTREAM_KAFKA_TLS=yes please: %v; want an error naming it", err)
	}
}

// Hostile or mistaken TLS files: what each gets at start. Every error
// names the flag; none quotes a key.
func TestKafkaTLSFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, _, _ := pemFiles(t, "ca")
	cert, key, keyPEM := pemFiles(t, "client")
	_, otherKey, _ := pemFiles(t, "other")
	keyBody := strings.Split(string(keyPEM), "\n")[1] // the base64 of the key
	big := write("big.pem", strings.Repeat("A", maxPEMFileBytes+1))
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want []string // each in the error
	}{
		{"missing CA", []string{"--kafka-ca", "/nonexistent/ca.pem"}, []string{"--kafka-ca", "/nonexistent/ca.pem", "no such file"}},
		{"CA a directory", []string{"--kafka-ca", dir}, []string{"--kafka-ca", dir, "not a regular file"}},
		{"CA a FIFO", []string{"--kafka-ca", fifo}, []string{"--kafka-ca", fifo, "not a regular file"}},
		{"CA a device", []string{"--kafka-ca", "/dev/zero"}, []string{"--kafka-ca", "/dev/zero", "not a regular file"}},
		{"CA not PEM", []string{"--kafka-ca", write("ca.txt", "not a certificate\n")}, []string{"--kafka-ca", "ca.txt", "no PEM certificate"}},
		{"CA empty", []string{"--kafka-ca", write("empty.pem", "")}, []string{"--kafka-ca", "no PEM certificate"}},
		{"key given as CA", []string{"--kafka-ca", key}, []string{"--kafka-ca", key, `"PRIVATE KEY", not a CERTIFICATE`}},
		{"CA block not DER", []string{"--kafka-ca", write("bad.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}, []string{"--kafka-ca", "certificate 1"}},
		{"CA over the cap", []string{"--kafka-ca", big}, []string{"--kafka-ca", "over 1048576 bytes"}},
		{"cert without key", []string{"--kafka-ca", ca, "--kafka-cert", cert}, []string{"--kafka-cert and --kafka-key go together"}},
		{"key without cert", []string{"--kafka-key", key}, []string{"--kafka-cert and --kafka-key go together"}},
		{"missing cert", []string{"--kafka-cert", "/nonexistent/c.pem", "--kafka-key", key}, []string{"--kafka-cert", "/nonexistent/c.pem"}},
		{"missing key", []string{"--kafka-cert", cert, "--kafka-key", "/nonexistent/k.pem"}, []string{"--kafka-key", "/nonexistent/k.pem"}},
		{"key of another cert", []string{"--kafka-cert", cert, "--kafka-key", otherKey}, []string{"--kafka-cert", "--kafka-key", "does not match"}},
		{"cert and key swapped", []string{"--kafka-cert", key, "--kafka-key", cert}, []string{"--kafka-cert", "--kafka-key"}},
		{"key over the cap", []string{"--kafka-cert", cert, "--kafka-key", big}, []string{"--kafka-key", "over 1048576 bytes"}},
		{"encrypted key", []string{"--kafka-cert", cert, "--kafka-key", write("enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")},
			[]string{"--kafka-key", "enc.pem", "private key"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := kafkaTLS(t, c.args, nil)
			if err == nil {
				t.Fatalf("%v: loaded %+v; want an error", c.args, got.Config)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: %v; want it to say %q", c.args, err, w)
				}
			}
			if strings.Contains(err.Error(), keyBody) || strings.Contains(err.Error(), "AAAAAAAA") {
				t.Errorf("%v: the error quotes a file's content: %v", c.args, err)
			}
			if got.Config != nil {
				t.Errorf("%v: a Config left after the error", c.args)
			}
		})
	}
}

// Every command that reaches Kafka gets the TLS flags with the others.
func TestBrokersBringTheTLSFlags(t *testing.T) {
	c := Defaults()
	fs := FlagSet("worker", &c, "brokers")
	for _, n := range []string{"kafka-tls", "kafka-ca", "kafka-cert", "kafka-key"} {
		if fs.Lookup(n) == nil {
			t.Errorf("--brokers without --%s", n)
		}
	}
	if FlagSet("hashtags", &c, "keys").Lookup("kafka-tls") != nil {
		t.Error("hashtags, which reaches no Kafka, has --kafka-tls")
	}
}
