package processors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// SourceBound tells whether a source named by a derived record is an
// input record the extractor could have read: an existing partition of
// posts or likes and an offset below its end. The counter and the lists
// dead-letter a record that fails it, so a forged or corrupt one (a
// source offset of 2^63-1 would make a consumer skip every later real
// record of that partition as a replay) cannot freeze a count or a list.
// An error means the bound could not be learned now (the broker is away):
// the consumer then stops rather than guess.
type SourceBound interface {
	Read(ctx context.Context, topic string, partition int32, offset int64) (bool, error)
}

// SourceBoundFunc adapts a function (tests, tools) to SourceBound.
type SourceBoundFunc func(topic string, partition int32, offset int64) bool

// Read implements SourceBound.
func (f SourceBoundFunc) Read(_ context.Context, topic string, partition int32, offset int64) (bool, error) {
	return f(topic, partition, offset), nil
}

// coversChange checks both offsets of a post-changes source (-1: none).
func coversChange(ctx context.Context, b SourceBound, ns topology.Namespace, src events.ChangeSource) (bool, error) {
	for _, in := range []struct {
		topic  string
		offset int64
	}{{ns.Posts(), src.Posts}, {ns.Likes(), src.Likes}} {
		if in.offset < 0 {
			continue
		}
		if ok, err := b.Read(ctx, in.topic, src.Partition, in.offset); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// inputEnds is the SourceBound of a running worker: the end offsets of
// posts and likes, read again whenever a record names an offset at or
// past the ends it knows. A real record's source was read, so it is below
// the end at any later time; the read costs one ListOffsets per batch of
// records that overtakes the cache, not one per record.
type inputEnds struct {
	adm        *kadm.Client
	partitions int32

	mu   sync.Mutex // serialises refreshes
	ends map[string]map[int32]int64
}

func newInputEnds(c kafka.Cluster, ns topology.Namespace) (*inputEnds, *kgo.Client, error) {
	cl, err := c.Client("input-bound")
	if err != nil {
		return nil, nil, err
	}
	return &inputEnds{adm: kadm.NewClient(cl), partitions: int32(c.PartitionCount()),
		ends: map[string]map[int32]int64{ns.Posts(): {}, ns.Likes(): {}}}, cl, nil
}

func (e *inputEnds) Read(ctx context.Context, topic string, partition int32, offset int64) (bool, error) {
	if partition < 0 || partition >= e.partitions || offset < 0 {
		return false, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ends, ok := e.ends[topic]
	if !ok {
		return false, nil
	}
	if offset < ends[partition] {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	listed, err := e.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return false, fmt.Errorf("processors: end offsets of %s: %w", topic, err)
	}
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	return offset < ends[partition], nil
}

// errBeyondInput is the dead-letter cause of a record that fails the bound.
var errBeyondInput = errors.New("source is not an input record the extractor could have read")

// failUnread stops the processor on err and leaves the record being
// processed unmarked, so that it is read again. goka's Fail panics only
// while the processor runs: once it is stopping (a rebalance, a shutdown,
// which is also when a bound's ListOffsets fails with "context canceled")
// Fail returns, and a callback that went on would dead-letter a real
// record or apply it half, and its offset would be committed. A panic
// goka recovers never marks the record.
func failUnread(ctx goka.Context, err error) {
	ctx.Fail(err)
	panic(err)
}
