package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Span is a range [From, To) of offsets of one partition.
type Span struct{ From, To int64 }

// Spans are the spans to read, by topic and partition.
type Spans map[string]map[int32]Span

// ReadSpans reads every span and calls fn with each data record in it,
// in offset order per partition, returning once every partition has
// reached the end of its span.
//
// With committed, it reads read_committed: records of aborted
// transactions are skipped, and a span must not end past the last stable
// offset, or the read would wait for a transaction to end (until ctx
// does). Either way it keeps the transaction markers so that it knows
// when a partition is done even when its last offsets are markers, never
// delivered as data.
func (c Cluster) ReadSpans(ctx context.Context, spans Spans, committed bool, fn func(*kgo.Record)) error {
	from := map[string]map[int32]kgo.Offset{}
	remaining := map[string]map[int32]int64{}
	left := 0
	for t, ps := range spans {
		for p, s := range ps {
			if s.To <= s.From {
				continue
			}
			if from[t] == nil {
				from[t], remaining[t] = map[int32]kgo.Offset{}, map[int32]int64{}
			}
			from[t][p], remaining[t][p] = kgo.NewOffset().At(s.From), s.To
			left++
		}
	}
	if left == 0 {
		return nil
	}
	opts := []kgo.Opt{kgo.ConsumePartitions(from), kgo.KeepControlRecords()}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := c.Client("read", opts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	for left > 0 {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("kafka: read: %d partitions short of their end: %w", left, err)
		}
		var ferr error
		f.EachError(func(t string, p int32, e error) { ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, e)) })
		if ferr != nil {
			return fmt.Errorf("kafka: read: %w", ferr)
		}
		f.EachRecord(func(r *kgo.Record) {
			end, ok := remaining[r.Topic][r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset >= end-1 {
				delete(remaining[r.Topic], r.Partition)
				left--
			}
		})
	}
	return nil
}

// Ends returns the end offset (high watermark) of every partition of topic.
func (c Cluster) Ends(ctx context.Context, topic string) (map[int32]int64, error) {
	return c.offsets(ctx, topic, func(adm *kadm.Client) (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topic) })
}

// Bounds returns the first and the end offset of every partition of topic,
// with one client.
func (c Cluster) Bounds(ctx context.Context, topic string) (starts, ends map[int32]int64, err error) {
	cl, err := c.Client("offsets")
	if err != nil {
		return nil, nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if starts, err = Listed(adm.ListStartOffsets(ctx, topic)); err == nil {
		ends, err = Listed(adm.ListEndOffsets(ctx, topic))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("kafka: offsets of %s: %w", topic, err)
	}
	return starts, ends, nil
}

// Listed turns what a kadm offset listing returned into each partition's
// offset, or the listing's error (its own, or the first partition's).
func Listed(l kadm.ListedOffsets, err error) (map[int32]int64, error) {
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// Starts returns the first offset of every partition of topic.
func (c Cluster) Starts(ctx context.Context, topic string) (map[int32]int64, error) {
	return c.offsets(ctx, topic, func(adm *kadm.Client) (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topic) })
}

func (c Cluster) offsets(ctx context.Context, topic string, list func(*kadm.Client) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	cl, err := c.Client("offsets")
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	out, err := Listed(list(kadm.NewClient(cl)))
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets of %s: %w", topic, err)
	}
	return out, nil
}

// Whole returns the spans covering every partition of topic from its first
// to its current end offset.
func (c Cluster) Whole(ctx context.Context, topic string) (Spans, error) {
	starts, err := c.Starts(ctx, topic)
	if err != nil {
		return nil, err
	}
	ends, err := c.Ends(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := Spans{topic: {}}
	for p, end := range ends {
		out[topic][p] = Span{From: starts[p], To: end}
	}
	return out, nil
}
