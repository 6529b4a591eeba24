package kafka_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
)

// A span of a transactional topic ends with a commit marker, never
// delivered as data: ReadSpans returns at its end in both isolation
// levels instead of waiting for a record that never comes.
func TestReadSpansEndsAtATransactionMarker(t *testing.T) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	c := kafka.Cluster{Brokers: fake.ListenAddrs(), Partitions: 1}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := c.Client("txn", kgo.TransactionalID("read-test"), kgo.DefaultProduceTopic("t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	ends, err := c.Ends(ctx, "t")
	if err != nil || ends[0] != 3 {
		t.Fatalf("end offset %v (%v), want 3: two records and the commit marker", ends, err)
	}
	if starts, bends, err := c.Bounds(ctx, "t"); err != nil || starts[0] != 0 || bends[0] != 3 {
		t.Fatalf("Bounds = %v, %v (%v), want start 0 and end 3", starts, bends, err)
	}
	for _, committed := range []bool{false, true} {
		n := 0
		if err := c.ReadSpans(ctx, kafka.Spans{"t": {0: {From: 0, To: ends[0]}}}, committed, func(*kgo.Record) { n++ }); err != nil || n != 2 {
			t.Errorf("committed=%v: read %d records (%v), want 2", committed, n, err)
		}
	}
}
