// Package kafkatest gives tests a real Kafka cluster: its address and
// credentials from the environment services/all.sh env prints, and a
// namespace of each test's own.
package kafkatest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/config"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/testenv"
	"github.com/tagstream/tagstream/topology"
)

// Env names the variable holding the brokers of a real Kafka cluster.
const Env = "TAGSTREAM_BROKERS"

// RolesEnv names the variable listing the test principals of every role,
// "role:password ..." (services/all.sh env prints it).
const RolesEnv = "TAGSTREAM_TEST_KAFKA_ROLES"

// Brokers returns the real cluster's brokers, or skips the test (fails it
// under make test) when Env is unset.
func Brokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(testenv.Get(t, Env, "a real Kafka cluster (make services-up starts one on 127.0.0.1:19092)"), ",")
}

// Cluster returns the real cluster with the principal of the environment
// (TAGSTREAM_KAFKA_USER, _PASSWORD, _SASL_MECHANISM; the admin under make
// test), as tagstream's commands read them.
func Cluster(t testing.TB) kafka.Cluster {
	t.Helper()
	return kafka.Cluster{Brokers: Brokers(t), SASL: kafka.SASL{
		User:      os.Getenv("TAGSTREAM_KAFKA_USER"),
		Password:  os.Getenv("TAGSTREAM_KAFKA_PASSWORD"),
		Mechanism: os.Getenv("TAGSTREAM_KAFKA_SASL_MECHANISM"),
	}}
}

// As returns Cluster as the test principal of role (topology.Roles): what
// a process of that role runs as.
func As(t testing.TB, role topology.Role) kafka.Cluster {
	t.Helper()
	c := Cluster(t)
	for _, rp := range strings.Fields(testenv.Get(t, RolesEnv, "the test principals of services/kafka.sh (services/all.sh env)")) {
		if r, pw, _ := strings.Cut(rp, ":"); r == string(role) {
			c.SASL.User, c.SASL.Password = r, pw
			return c
		}
	}
	t.Fatalf("%s lists no principal for role %s", RolesEnv, role)
	return c
}

// EnvOf returns the TAGSTREAM_KAFKA_* settings of c's principal, for a
// tagstream process a test starts.
func EnvOf(c kafka.Cluster) []string {
	return []string{"TAGSTREAM_KAFKA_USER=" + c.SASL.User, "TAGSTREAM_KAFKA_PASSWORD=" + c.SASL.Password,
		"TAGSTREAM_KAFKA_SASL_MECHANISM=" + c.SASL.Mechanism}
}

// TLSBrokersEnv names the variable holding the real cluster's SASL_SSL
// listener, the same brokers as Env's over TLS (services/all.sh env:
// 127.0.0.1:19094).
const TLSBrokersEnv = "TAGSTREAM_TEST_KAFKA_TLS_BROKERS"

// TLSFiles returns the test certificates (services/tls.sh env) as
// --kafka-ca and, with clientCert, --kafka-cert and --kafka-key would
// name them; it skips the test (fails it under make test) when they are
// not set.
func TLSFiles(t testing.TB, clientCert bool) config.TLS {
	t.Helper()
	f := config.TLS{On: true, CA: testenv.Get(t, "TAGSTREAM_TEST_TLS_CA", "the test CA (services/tls.sh up; services/all.sh env)")}
	if clientCert {
		f.Cert = testenv.Get(t, "TAGSTREAM_TEST_TLS_CLIENT_CERT", "the test client certificate (services/tls.sh up)")
		f.Key = testenv.Get(t, "TAGSTREAM_TEST_TLS_CLIENT_KEY", "the test client key (services/tls.sh up)")
	}
	return f
}

// TLS returns Cluster on its SASL_SSL listener, with the TLS that
// tagstream's --kafka-ca (and with clientCert --kafka-cert and
// --kafka-key) make of the test certificates: SASL_SSL, as a deployment
// with TLS runs. It skips the test (fails it under make test) when the
// listener or the certificates are not set.
func TLS(t testing.TB, clientCert bool) kafka.Cluster {
	t.Helper()
	c := Cluster(t)
	c.Brokers = strings.Split(testenv.Get(t, TLSBrokersEnv, "the real cluster's SASL_SSL listener (services/kafka.sh serves it on 127.0.0.1:19094)"), ",")
	f := TLSFiles(t, clientCert)
	if err := f.Load("kafka"); err != nil {
		t.Fatal(err)
	}
	c.TLS = f.Config
	return c
}

// TLSEnvOf returns the TAGSTREAM_* settings that make a tagstream process
// reach brokers over f's TLS, beside EnvOf's principal.
func TLSEnvOf(brokers []string, f config.TLS) []string {
	return []string{"TAGSTREAM_BROKERS=" + strings.Join(brokers, ","), fmt.Sprintf("TAGSTREAM_KAFKA_TLS=%t", f.On),
		"TAGSTREAM_KAFKA_CA=" + f.CA, "TAGSTREAM_KAFKA_CERT=" + f.Cert, "TAGSTREAM_KAFKA_KEY=" + f.Key}
}

// Namespace returns a namespace of the test's own on the real cluster
// (topology.Namespace), so that tests share the cluster without seeing
// each other and can run in parallel. Each test principal gets its role's
// grants in it; the namespace's topics, groups and ACLs are deleted when
// the test ends.
func Namespace(t testing.TB) topology.Namespace {
	t.Helper()
	return NamespaceOn(t, Cluster(t))
}

// NamespaceOn is Namespace on the cluster admin reaches, as its admin.
func NamespaceOn(t testing.TB, admin kafka.Cluster) topology.Namespace {
	t.Helper()
	ns := topology.Namespace(fmt.Sprintf("t%x.", rand.Uint64()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	roles := strings.Fields(os.Getenv(RolesEnv))
	for _, rp := range roles {
		r, _, _ := strings.Cut(rp, ":")
		if err := admin.Allow(ctx, r, ns.Grants(topology.Role(r))); err != nil {
			t.Fatalf("grants of %s in %s: %v", r, ns, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := admin.DeletePrefixed(ctx, string(ns)); err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
		for _, rp := range roles {
			r, _, _ := strings.Cut(rp, ":")
			if err := admin.Disallow(ctx, r, ns.Grants(topology.Role(r))); err != nil {
				t.Errorf("ACLs of %s in %s: %v", r, ns, err)
			}
		}
	})
	return ns
}
