package kafka_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
)

// A static member (group.instance.id) of a process that stopped stays in
// its group until its session times out, and Kafka refuses to delete a
// group with members. Delete used to ignore that refusal, so the "clean
// slate" it promises kept a group whose dead member still held its
// partitions: the next test's consumers joined it and waited out the dead
// member's session before they got them. (Kafka itself drops the committed
// offsets of a deleted topic, so the group's offsets did not survive; the
// test checks that too.) This test commits as a static member, stops,
// Deletes, and checks that the group is gone and a new member of it reads
// the recreated topic from offset 0.
func TestDeleteLeavesNoGroupOfStoppedStaticMembers(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	suffix := fmt.Sprintf("%x", rand.Uint64())
	topic, group := "delete-test-"+suffix, "delete-test-"+suffix
	spec := []kafka.TopicSpec{{Name: topic}}
	produce := func(n int) {
		t.Helper()
		cl, err := c.Client("test")
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.EnsureTopics(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), []string{topic}, []string{group}) })
	produce(60)

	static, err := c.Client("test", kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.InstanceID("static-"+suffix),
		kgo.SessionTimeout(10*time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 60; {
		f := static.PollFetches(ctx)
		if err := f.Err(); err != nil {
			t.Fatal(err)
		}
		n += len(f.Records())
	}
	if err := static.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	static.Close() // a static member does not leave its group when it stops

	start := time.Now()
	if err := c.Delete(ctx, []string{topic}, []string{group}); err != nil {
		t.Fatal(err)
	}
	t.Logf("Delete took %s (it waits for the stopped static member's session to time out)", time.Since(start).Round(100*time.Millisecond))
	if err := c.EnsureTopics(ctx, spec); err != nil {
		t.Fatal(err)
	}
	produce(100)

	admin, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	described, err := kadm.NewClient(admin).DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if d := described[group]; d.State != "Dead" || len(d.Members) != 0 {
		t.Errorf("after Delete the group is %s with %d members, want Dead with none", d.State, len(d.Members))
	}
	offsets, err := kadm.NewClient(admin).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offsets.Lookup(topic, 0); ok && o.At >= 0 {
		t.Errorf("after Delete the group still commits %s/0 at %d: a new member would skip %d records", topic, o.At, o.At)
	}
	fresh, err := c.Client("test", kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	f := fresh.PollFetches(ctx)
	if err := f.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := f.Records(); len(recs) == 0 || recs[0].Offset != 0 {
		first := int64(-1)
		if len(recs) > 0 {
			first = recs[0].Offset
		}
		t.Fatalf("a new member of the deleted group started at offset %d, not 0", first)
	}
}

// Deleting a namespace that never got a topic (a test that failed before
// creating one) must end at once: Kafka answers a metadata request for no
// topic names with every topic of the cluster, and Delete used to wait,
// until its context ended, for all of them to go.
func TestDeleteOfNoTopicsEnds(t *testing.T) {
	c := kafkatest.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx, []kafka.TopicSpec{{Name: fmt.Sprintf("delete-none-%d", rand.Uint64()), Retention: time.Hour}}); err != nil {
		t.Fatal(err) // so that the cluster holds at least one topic
	}
	if err := c.Delete(ctx, nil, nil); err != nil {
		t.Fatalf("Delete of no topics and no groups: %v", err)
	}
	if err := c.DeletePrefixed(ctx, fmt.Sprintf("no-such-namespace-%d.", rand.Uint64())); err != nil {
		t.Fatalf("DeletePrefixed of a prefix no topic has: %v", err)
	}
}
