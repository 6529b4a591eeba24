package processors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// SourceBound tells whether a delta's source is a posts record the
// extractor could have read: an existing posts partition and an offset
// below its end. The counter dead-letters a delta that fails it, so a
// forged or corrupt delta (a source offset of 2^63-1 would make the
// counter skip every later real delta of that partition as a replay)
// cannot freeze a count. An error means the bound could not be learned
// now (the broker is away): the counter then stops rather than guess.
type SourceBound interface {
	Covers(ctx context.Context, src events.Source) (bool, error)
}

// SourceBoundFunc adapts a function (tests, tools) to SourceBound.
type SourceBoundFunc func(events.Source) bool

// Covers implements SourceBound.
func (f SourceBoundFunc) Covers(_ context.Context, src events.Source) (bool, error) {
	return f(src), nil
}

// postsEnds is the SourceBound of a running worker: the end offsets of
// posts, read again whenever a delta names an offset at or past the ends
// it knows. A real delta's source was read, so it is below the end at any
// later time; the read costs one ListOffsets per batch of deltas that
// overtakes the cache, not one per delta.
type postsEnds struct {
	adm        *kadm.Client
	topic      string
	partitions int32

	mu   sync.Mutex // serialises refreshes
	ends map[int32]int64
}

func newPostsEnds(c kafka.Cluster, ns topology.Namespace) (*postsEnds, *kgo.Client, error) {
	cl, err := c.Client("counter-bound")
	if err != nil {
		return nil, nil, err
	}
	return &postsEnds{adm: kadm.NewClient(cl), topic: ns.Posts(), partitions: int32(c.PartitionCount()), ends: map[int32]int64{}}, cl, nil
}

func (p *postsEnds) Covers(ctx context.Context, src events.Source) (bool, error) {
	if src.Partition < 0 || src.Partition >= p.partitions || src.Offset < 0 {
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if src.Offset < p.ends[src.Partition] {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ends, err := p.adm.ListEndOffsets(ctx, p.topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return false, fmt.Errorf("processors: end offsets of %s: %w", p.topic, err)
	}
	ends.Each(func(o kadm.ListedOffset) { p.ends[o.Partition] = o.Offset })
	return src.Offset < p.ends[src.Partition], nil
}

// errBeyondPosts is the dead-letter cause of a delta that fails the bound.
var errBeyondPosts = errors.New("source is not a posts record the extractor could have read")
