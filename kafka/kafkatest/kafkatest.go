// Package kafkatest gives tests a real Kafka cluster: its address from
// TAGSTREAM_BROKERS, and a clean slate of tagstream's topics and groups.
package kafkatest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

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
func Groups() []string {
	return []string{string(processors.GroupExtractor), string(processors.GroupCounts), string(processors.GroupTop)}
}

// Reset deletes tagstream's topics and consumer groups so a test starts
// from nothing, and waits until Kafka no longer lists the topics. Tests
// sharing one cluster must therefore not run in parallel.
func Reset(t testing.TB, brokers []string) {
	t.Helper()
	c := kafka.Cluster{Brokers: brokers}
	cl, err := c.Client("kafkatest")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var names []string
	for _, s := range processors.Topics() {
		names = append(names, s.Name)
	}
	if _, err := adm.DeleteGroups(ctx, Groups()...); err != nil {
		t.Logf("delete groups: %v", err)
	}
	if _, err := adm.DeleteTopics(ctx, names...); err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	for ctx.Err() == nil {
		// ListTopics answers for every name asked, with an error for a
		// topic that does not exist: count only the ones that still do.
		left, err := adm.ListTopics(ctx, names...)
		still := 0
		for _, d := range left {
			if d.Err == nil {
				still++
			}
		}
		if err == nil && still == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("tagstream's topics still listed 60 s after deletion")
}
