package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/kafkatest"
	"github.com/tagstream/tagstream/topology"
)

// TestBackupAndRestoreOnRealKafka copies a namespace's posts and likes
// from the real broker into files and back into an empty namespace: every
// committed record comes back to its partition in order with its key,
// value (null kept null), headers and time; a record of an aborted
// transaction is not copied; a second restore into the now full
// namespace, and one with another partition count, are refused.
func TestBackupAndRestoreOnRealKafka(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 3
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src, dst := kafkatest.Namespace(t), kafkatest.Namespace(t)
	o := Options{Cluster: c, Namespace: src}
	if err := createTopics(ctx, o); err != nil {
		t.Fatal(err)
	}

	cl, err := c.Client("backup-test", kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.TransactionalID(string(src)+"backup-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.UnixMilli(1_764_500_000_000)
	var want []*kgo.Record
	for i := range 60 {
		topic := src.Posts()
		if i%4 == 3 {
			topic = src.Likes()
		}
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: fmt.Appendf(nil, "u%d", i%7),
			Value: fmt.Appendf(nil, `{"n":%d}`, i), Timestamp: base.Add(time.Duration(i) * time.Second)}
		switch i % 10 {
		case 5:
			r.Value = nil
		case 6:
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("abc")}, {Key: "empty", Value: []byte{}}}
		}
		want = append(want, r)
	}
	produceTxn := func(recs []*kgo.Record, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			cp := *r
			if err := cl.ProduceSync(ctx, &cp).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	// Partition 2 of posts gets 4 MiB more, in records of 2 KiB: restore
	// writes one partition at a time, and its batches must still fit the
	// broker's 1 MiB max.message.bytes.
	for i := range 2048 {
		want = append(want, &kgo.Record{Topic: src.Posts(), Partition: 2, Key: []byte("big"),
			Value: append(fmt.Appendf(nil, "%06d", i), bytes.Repeat([]byte("x"), 2042)...), Timestamp: base.Add(time.Hour)})
	}
	produceTxn(want[:30], kgo.TryCommit)
	produceTxn([]*kgo.Record{{Topic: src.Posts(), Partition: 1, Key: []byte("aborted"), Value: []byte("never")}}, kgo.TryAbort)
	produceTxn(want[30:60], kgo.TryCommit)
	produceTxn(want[60:], kgo.TryCommit)

	dir := filepath.Join(t.TempDir(), "b")
	var progress bytes.Buffer
	o.Dir, o.Progress = dir, &progress
	res, err := Take(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Manifest.Records(); got != int64(len(want)) {
		t.Fatalf("the backup holds %d records, want the %d committed ones:\n%s", got, len(want), progress.String())
	}
	if _, err := Take(ctx, o); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("a second backup into the same folder: %v", err)
	}

	o.Namespace = dst
	if _, err := Restore(ctx, o); err != nil {
		t.Fatalf("restore: %v\n%s", err, progress.String())
	}
	got := readAll(ctx, t, c, dst)
	for i, w := range want {
		w.Topic = strings.Replace(w.Topic, string(src), string(dst), 1)
		key := fmt.Sprintf("%s/%d", w.Topic, w.Partition)
		if len(got[key]) == 0 {
			t.Fatalf("record %d (%s %s) was not restored", i, key, w.Value)
		}
		g := got[key][0]
		got[key] = got[key][1:]
		if !sameBytes(g.Key, w.Key) || !sameBytes(g.Value, w.Value) || !g.Timestamp.Equal(w.Timestamp) || len(g.Headers) != len(w.Headers) {
			t.Errorf("%s: restored key %q value %q at %v with %d headers; want %q %q at %v with %d",
				key, g.Key, g.Value, g.Timestamp, len(g.Headers), w.Key, w.Value, w.Timestamp, len(w.Headers))
		}
		for j := range w.Headers {
			if j < len(g.Headers) && (g.Headers[j].Key != w.Headers[j].Key || !sameBytes(g.Headers[j].Value, w.Headers[j].Value)) {
				t.Errorf("%s: header %d %+v, want %+v", key, j, g.Headers[j], w.Headers[j])
			}
		}
	}
	for key, rest := range got {
		if len(rest) > 0 {
			t.Errorf("%s: %d records restored that were not committed, first %q", key, len(rest), rest[0].Value)
		}
	}

	if _, err := Restore(ctx, o); err == nil || !strings.Contains(err.Error(), "already holds records") {
		t.Errorf("a second restore into the restored namespace: %v", err)
	}
	// A namespace where a worker has run already is refused: its tables
	// would count the restored posts on top of what they hold.
	used := kafkatest.Namespace(t)
	o.Namespace = used
	if err := c.EnsureTopics(ctx, []kafka.TopicSpec{{Name: used.Gen(0).CountsTable(), Compact: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(ctx, o); err == nil || !strings.Contains(err.Error(), used.Gen(0).CountsTable()+" exists") {
		t.Errorf("a restore into a namespace with a counts table: %v", err)
	}
	o.Namespace, o.Cluster.Partitions = kafkatest.Namespace(t), 4
	if _, err := Restore(ctx, o); err == nil || !strings.Contains(err.Error(), "run with --partitions 3") {
		t.Errorf("a restore with another partition count: %v", err)
	}
}

// TestBackupStuckBehindATransactionFails: a partition whose last stable
// offset sits on an open transaction, with only aborted records before it,
// gives the read nothing to see its end by; the backup must fail after
// Options.Stall with an error that says so, not wait forever.
func TestBackupStuckBehindATransactionFails(t *testing.T) {
	c := kafkatest.Cluster(t)
	c.Partitions = 1
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ns := kafkatest.Namespace(t)
	o := Options{Cluster: c, Namespace: ns}
	if err := createTopics(ctx, o); err != nil {
		t.Fatal(err)
	}
	txn := func(id string) *kgo.Client {
		cl, err := c.Client(id, kgo.TransactionalID(string(ns)+id), kgo.DefaultProduceTopic(ns.Posts()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	aborted, open := txn("aborted"), txn("open")
	if err := aborted.ProduceSync(ctx, &kgo.Record{Value: []byte("a1")}, &kgo.Record{Value: []byte("a2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := open.ProduceSync(ctx, &kgo.Record{Value: []byte("o1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := aborted.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	defer open.EndTransaction(ctx, kgo.TryAbort)

	o.Dir, o.Every, o.Stall = filepath.Join(t.TempDir(), "b"), 200*time.Millisecond, 3*time.Second
	started := time.Now()
	_, err := Take(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "no progress for 3s") {
		t.Fatalf("backup behind an open transaction: %v, want a stall error", err)
	}
	if took := time.Since(started); took > time.Minute {
		t.Errorf("the stall took %s to report", took)
	}
	if left, _ := os.ReadDir(o.Dir); len(left) != 0 {
		t.Errorf("the failed backup left %d files in its folder", len(left))
	}
}

// readAll returns every committed record of ns's posts and likes by
// topic/partition, in offset order.
func readAll(ctx context.Context, t *testing.T, c kafka.Cluster, ns topology.Namespace) map[string][]*kgo.Record {
	t.Helper()
	spans := kafka.Spans{}
	for _, topic := range []string{ns.Posts(), ns.Likes()} {
		whole, err := c.Whole(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range whole {
			spans[k] = v
		}
	}
	out := map[string][]*kgo.Record{}
	err := c.ReadSpans(ctx, spans, true, func(r *kgo.Record) {
		key := fmt.Sprintf("%s/%d", r.Topic, r.Partition)
		out[key] = append(out[key], r)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
