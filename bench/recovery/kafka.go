package recovery

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/bench/harness"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/load"
	"github.com/tagstream/tagstream/topology"
)

// BareRead is the baseline every measurement is set against: one franz-go
// client (the cluster's options, so the same SASL and fetch defaults as
// tagstream's own clients), no group, every partition of topics from its
// first offset to the end offset listed when it starts. It returns the
// data records read and how long listing and reading took.
func BareRead(ctx context.Context, c kafka.Cluster, topics ...string) (int64, time.Duration, error) {
	start := time.Now()
	spans := kafka.Spans{}
	for _, t := range topics {
		s, err := c.Whole(ctx, t)
		if err != nil {
			return 0, 0, fmt.Errorf("recovery: bare read of %s: %w", t, err)
		}
		spans[t] = s[t]
	}
	var n int64
	// Uncommitted, as a view reads a changelog: the tables are written
	// by goka's producers outside transactions.
	if err := c.ReadSpans(ctx, spans, false, func(*kgo.Record) { n++ }); err != nil {
		return n, 0, fmt.Errorf("recovery: bare read of %v: %w", topics, err)
	}
	return n, time.Since(start), nil
}

// TableKey is the key of synthetic row i: load's vocabulary keys, so every
// one is a valid, normalised hashtag whose page the API serves.
func TableKey(i int) string { return load.TagKey(uint64(i)) }

// CountValue is the synthetic value of row i: an events.Count like the
// counter writes, one watermark included as a counter's value has.
func CountValue(i int, at time.Time) ([]byte, error) {
	v, err := json.Marshal(events.Count{Display: TableKey(i), PostCount: int64(i%1000 + 1), UpdatedAt: at,
		Watermarks: map[int32]int64{int32(i % 12): int64(i)}})
	if err != nil {
		return nil, fmt.Errorf("recovery: count %d: %w", i, err)
	}
	return v, nil
}

// produceCounts writes n distinct rows onto the counts table's changelog
// of ns with franz-go's default (murmur2) partitioner, as goka's would
// place them, LZ4 as every tagstream client, and waits for every ack.
func produceCounts(ctx context.Context, c kafka.Cluster, ns topology.Namespace, n int) error {
	cl, err := c.Client("bench-recovery-preload", kgo.DefaultProduceTopic(ns.Gen(0).CountsTable()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(200_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	at := time.Now().UTC()
	return harness.Produce(ctx, cl, func(yield func(*kgo.Record, error) bool) {
		for i := range n {
			v, err := CountValue(i, at)
			if !yield(&kgo.Record{Key: []byte(TableKey(i)), Value: v}, err) {
				return
			}
		}
	})
}

// loadOptions is `tagstream load`'s default workload (README, Performance):
// Zipf s = 1.1 over 50,000 hashtags, mean 8 per post, 100,000 users.
func loadOptions(ns topology.Namespace, posts int, seed int64) load.Options {
	return load.Options{Namespace: ns, Posts: posts, Seed: seed, Users: 100_000, Tags: 50_000, PerPost: 8, Zipf: 1.1}
}

// producePosts produces the first n posts of the load generator onto ns's
// posts topic, keyed by user as `tagstream load --via kafka` does.
func producePosts(ctx context.Context, c kafka.Cluster, ns topology.Namespace, n int, seed int64) error {
	cl, err := c.Client("bench-recovery-load", kgo.DefaultProduceTopic(ns.Posts()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return err
	}
	defer cl.Close()
	g := load.NewGenerator(loadOptions(ns, n, seed))
	now := time.Now().UTC()
	return harness.Produce(ctx, cl, func(yield func(*kgo.Record, error) bool) {
		for range n {
			p := g.Next()
			v, err := json.Marshal(events.PostEvent{Type: events.PostCreated, PostID: p.ID, UserID: p.User, Caption: p.Caption, TS: now})
			if !yield(&kgo.Record{Key: []byte(p.User), Value: v}, err) {
				return
			}
		}
	})
}

// probe is one post whose only hashtag no other post has: its count
// appearing says the worker processes again.
type probe struct {
	key  string
	post events.PostEvent
}

func newProbe(tag string) probe {
	return probe{key: tag, post: events.PostEvent{Type: events.PostCreated, PostID: "probe-" + tag, UserID: "probe",
		Caption: "recovery probe #" + tag, TS: time.Now().UTC()}}
}

func produceProbe(ctx context.Context, c kafka.Cluster, ns topology.Namespace, p probe) error {
	cl, err := c.Client("bench-recovery-probe")
	if err != nil {
		return err
	}
	defer cl.Close()
	v, err := json.Marshal(p.post)
	if err != nil {
		return fmt.Errorf("recovery: probe: %w", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: ns.Posts(), Key: []byte(p.post.UserID), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("recovery: produce probe: %w", err)
	}
	return nil
}

// awaitKey reads topic from the offsets from on (read_committed: what a
// reader of the table may see) until a record under key arrives, and
// returns when it did.
func awaitKey(ctx context.Context, c kafka.Cluster, topic string, from map[int32]int64, key string) (time.Time, error) {
	offs := map[string]map[int32]kgo.Offset{topic: {}}
	for p, o := range from {
		offs[topic][p] = kgo.NewOffset().At(o)
	}
	cl, err := c.Client("bench-recovery-watch", kgo.ConsumePartitions(offs), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return time.Time{}, err
	}
	defer cl.Close()
	for {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return time.Time{}, fmt.Errorf("recovery: no record of %q in %s: %w", key, topic, err)
		}
		if errs := f.Errors(); len(errs) > 0 {
			return time.Time{}, fmt.Errorf("recovery: watch %s/%d: %w", errs[0].Topic, errs[0].Partition, errs[0].Err)
		}
		found := false
		f.EachRecord(func(r *kgo.Record) { found = found || string(r.Key) == key })
		if found {
			return time.Now(), nil
		}
	}
}
