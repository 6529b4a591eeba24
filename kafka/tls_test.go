package kafka_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/testenv"
)

// Records go in and come out over SASL_SSL, through the clients tagstream
// makes of its TLS flags, with and without a client certificate; every
// connection the producer opens is TLS 1.2 or later, verified against the
// test CA.
func TestSASLSSLProduceConsume(t *testing.T) {
	for _, clientCert := range []bool{false, true} {
		t.Run(fmt.Sprintf("client certificate %v", clientCert), func(t *testing.T) {
			c := kafkatest.TLS(t, clientCert)
			c.Partitions = 1
			var asked atomic.Int32
			if clientCert {
				// What Go does with tls.Config.Certificates, counted:
				// the broker asks, and the certificate of --kafka-cert
				// is one it accepts.
				pair := c.TLS.Certificates[0]
				c.TLS = c.TLS.Clone()
				c.TLS.Certificates = nil
				c.TLS.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
					if err := cri.SupportsCertificate(&pair); err != nil {
						t.Errorf("the broker asks for a certificate --kafka-cert's is not: %v", err)
					}
					asked.Add(1)
					return &pair, nil
				}
			}
			if got := c.Protocol(); got != "SASL_SSL" {
				t.Fatalf("protocol %s, want SASL_SSL", got)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			topic := fmt.Sprintf("tls-test-%x", rand.Uint64())
			if err := c.EnsureTopics(ctx, []kafka.TopicSpec{{Name: topic}}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Delete(context.Background(), []string{topic}, nil) })

			var conns []tls.ConnectionState
			seen := kgo.WithHooks(connHook(func(st tls.ConnectionState) { conns = append(conns, st) }))
			cl, err := c.Client("test", seen)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			const n = 20
			for i := range n {
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
					t.Fatalf("produce over SASL_SSL: %v", err)
				}
			}
			got := 0
			err = c.ReadSpans(ctx, kafka.Spans{topic: {0: {From: 0, To: n}}}, false, func(r *kgo.Record) {
				if string(r.Value) != fmt.Sprintf("r%d", got) {
					t.Errorf("record %d is %q", got, r.Value)
				}
				got++
			})
			if err != nil || got != n {
				t.Fatalf("consumed %d of %d over SASL_SSL: %v", got, n, err)
			}
			if len(conns) == 0 {
				t.Fatal("no connection seen")
			}
			if clientCert && asked.Load() == 0 {
				t.Error("the broker never asked for the client certificate")
			}
			for _, st := range conns {
				if st.Version < tls.VersionTLS12 || !st.HandshakeComplete || len(st.VerifiedChains) == 0 {
					t.Errorf("a connection of version %x, handshake %v, %d verified chains: want TLS 1.2+, verified",
						st.Version, st.HandshakeComplete, len(st.VerifiedChains))
				}
			}
		})
	}
}

// AuthOpts alone, what the snapshotter adds to a client of its own
// options, carry the TLS as well as the principal.
func TestAuthOptsCarryTLS(t *testing.T) {
	c := kafkatest.TLS(t, false)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Brokers...)}, c.AuthOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatalf("a client of AuthOpts on the SASL_SSL listener: %v", err)
	}
}

// connHook calls fn with the TLS state of every connection a client opens.
type connHook func(tls.ConnectionState)

func (h connHook) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, conn net.Conn, err error) {
	if tc, ok := conn.(*tls.Conn); ok && err == nil {
		h(tc.ConnectionState())
	} else if err == nil {
		h(tls.ConnectionState{})
	}
}

// failsWithin asks c for a topic's offsets, which needs a connection,
// and returns the error, failing the test if there is none or if it took
// longer than the deadline allows (a hang, not a clear failure).
func failsWithin(t *testing.T, c kafka.Cluster, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	_, err := c.Ends(ctx, "tls-test-none")
	took := time.Since(start)
	if err == nil {
		t.Fatalf("connected; want a failure")
	}
	if took > d+5*time.Second {
		t.Fatalf("failed after %s, beyond the %s deadline: %v", took, d, err)
	}
	t.Logf("failed after %s: %v", took.Round(time.Millisecond), err)
	return err
}

// A broker whose certificate does not chain to --kafka-ca is refused,
// and the error says the certificate was not trusted.
func TestSASLSSLWrongCAIsRefused(t *testing.T) {
	c := kafkatest.TLS(t, false)
	ca, _ := testenv.SelfSigned(t, "not-the-test-ca")
	f := config.TLS{CA: ca}
	if err := f.Load("kafka"); err != nil {
		t.Fatal(err)
	}
	c.TLS = f.Config
	err := failsWithin(t, c, 20*time.Second)
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("%v: want it to say the broker's certificate is signed by an unknown authority", err)
	}
}

// A client certificate the broker's CA did not sign is refused by the
// broker, though it only requests one: what it is shown must be good.
// (Go sends only a certificate of a CA the broker names, so this one is
// forced on it.)
func TestSASLSSLUntrustedClientCertificateIsRefused(t *testing.T) {
	c := kafkatest.TLS(t, false)
	f := config.TLS{}
	f.Cert, f.Key = testenv.SelfSigned(t, "not-of-the-test-ca")
	if err := f.Load("kafka"); err != nil {
		t.Fatal(err)
	}
	untrusted := f.Config.Certificates[0]
	c.TLS = c.TLS.Clone()
	c.TLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &untrusted, nil }
	if err := failsWithin(t, c, 20*time.Second); !strings.Contains(err.Error(), "certificate") {
		t.Errorf("%v: want it to say the certificate was refused", err)
	}
}

// TLS against the plaintext listener, and plaintext against the TLS
// one, fail within a deadline with an error that points at TLS.
func TestTLSMismatchFailsClearly(t *testing.T) {
	tlsC := kafkatest.TLS(t, false)
	plain := kafkatest.Cluster(t)
	t.Run("TLS client, plaintext listener", func(t *testing.T) {
		c := tlsC
		c.Brokers = plain.Brokers
		err := failsWithin(t, c, 20*time.Second)
		if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%v: want it to point at TLS", err)
		}
	})
	t.Run("plaintext client, TLS listener", func(t *testing.T) {
		c := plain
		c.Brokers = tlsC.Brokers
		err := failsWithin(t, c, 20*time.Second)
		if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%v: want it to point at TLS", err)
		}
	})
}
