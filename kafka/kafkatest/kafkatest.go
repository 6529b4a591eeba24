// Package kafkatest gives tests a real Kafka cluster: its address and
// credentials from the environment services/all.sh env prints, and a clean
// slate of tagstream's topics and groups.
package kafkatest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
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

// As returns Cluster as the test principal of role (processors.Roles):
// what a process of that role runs as.
func As(t testing.TB, role processors.Role) kafka.Cluster {
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

// Groups are tagstream's consumer groups.
func Groups() []string { return processors.Groups() }

// Reset deletes tagstream's topics and consumer groups so a test starts
// from nothing, and waits until Kafka no longer lists the topics. Tests
// sharing one cluster must therefore not run in parallel.
func Reset(t testing.TB, c kafka.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Delete(ctx, processors.TopicNames(), Groups()); err != nil {
		t.Fatal(err)
	}
}
