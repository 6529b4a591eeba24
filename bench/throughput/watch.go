package throughput

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
)

// Output says how a system's output topic is read.
type Output int

const (
	// CountJSON: a goka table of events.Count, the latest record per
	// hashtag is its count (tagstream's hashtag-counts-table).
	CountJSON Output = iota
	// CountDecimal: the latest record per hashtag is its count as a
	// decimal string (the Kafka Streams application's output).
	CountDecimal
	// Records: the output is complete when it holds Log.LimitRecords
	// records (the stateless limit).
	Records
)

// watcher reads an output topic from its start, read_committed, until it
// holds what the log must give. It is the one reader of every system, so
// its cost weighs on all alike.
type watcher struct {
	kind  Output
	want  map[string]int64
	total int
	have  map[string]int64
	// wrong counts the hashtags whose latest value differs from want,
	// over want's keys and every key seen.
	wrong   int
	records atomic.Int64
}

func newWatcher(kind Output, l *Log) *watcher {
	w := &watcher{kind: kind, want: l.Counts, total: l.LimitRecords, have: map[string]int64{}}
	for _, n := range l.Counts {
		if n != 0 {
			w.wrong++
		}
	}
	return w
}

func (w *watcher) done() bool {
	if w.kind == Records {
		return w.records.Load() >= int64(w.total)
	}
	return w.wrong == 0
}

// apply takes one output record; a value that does not decode is an error
// (the system wrote something the benchmark does not understand).
func (w *watcher) apply(r *kgo.Record) error {
	w.records.Add(1)
	if w.kind == Records {
		return nil
	}
	var n int64
	switch {
	case r.Value == nil: // a tombstone: the hashtag has no count
	case w.kind == CountJSON:
		var c struct {
			PostCount int64 `json:"post_count"`
		}
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return fmt.Errorf("throughput: count of %q: %w", r.Key, err)
		}
		n = c.PostCount
	default:
		v, err := strconv.ParseInt(string(r.Value), 10, 64)
		if err != nil {
			return fmt.Errorf("throughput: count of %q: %w", r.Key, err)
		}
		n = v
	}
	k := string(r.Key)
	before := w.have[k] != w.want[k]
	w.have[k] = n
	after := n != w.want[k]
	switch {
	case before && !after:
		w.wrong--
	case !before && after:
		w.wrong++
	}
	return nil
}

// run consumes topic until the output is complete or ctx ends.
func (w *watcher) run(ctx context.Context, c kafka.Cluster, topic string) error {
	cl, err := c.Client("bench-watch",
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	for !w.done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("throughput: %s incomplete (%d records read, %d counts differ): %w", topic, w.records.Load(), w.wrong, err)
		}
		var applyErr error
		fs.EachError(func(t string, p int32, err error) {
			if applyErr == nil {
				applyErr = fmt.Errorf("throughput: read %s/%d: %w", t, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			if err := w.apply(r); err != nil && applyErr == nil {
				applyErr = err
			}
		})
		if applyErr != nil {
			return applyErr
		}
	}
	return nil
}
