// Package kafkatest gives tests a real Kafka cluster: its address from
// TAGSTREAM_BROKERS, and a clean slate of tagstream's topics and groups.
package kafkatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/testenv"
)

// Env names the variable holding the brokers of a real Kafka cluster.
const Env = "TAGSTREAM_BROKERS"

// Brokers returns the real cluster's brokers, or skips the test (fails it
// under make test) when Env is unset.
func Brokers(t testing.TB) []string {
	t.Helper()
	return strings.Split(testenv.Get(t, Env, "a real Kafka cluster (make services-up starts one on 127.0.0.1:19092)"), ",")
}

// Groups are tagstream's consumer groups.
func Groups() []string { return processors.Groups() }

// Reset deletes tagstream's topics and consumer groups so a test starts
// from nothing, and waits until Kafka no longer lists the topics. Tests
// sharing one cluster must therefore not run in parallel.
func Reset(t testing.TB, brokers []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := (kafka.Cluster{Brokers: brokers}).Delete(ctx, processors.TopicNames(), Groups()); err != nil {
		t.Fatal(err)
	}
}
