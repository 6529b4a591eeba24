package deadletters

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// requestTimeout bounds each one-shot request: listing offsets, producing
// a batch. stallTimeout bounds how long a read that has an end may go
// without a record before it gives up.
const (
	requestTimeout = 30 * time.Second
	stallTimeout   = 30 * time.Second
)

// ListOptions configures List.
type ListOptions struct {
	Cluster   kafka.Cluster
	Namespace topology.Namespace
	Selection Selection
	// Follow keeps reading new dead letters until ctx ends.
	Follow bool
	// JSON prints JSON Lines (Entry.JSON) instead of Entry.Line.
	JSON bool
	Out  io.Writer
}

// List prints the selected dead letters of the namespace, one a line, in
// each partition's order (in time order across partitions with
// From.Last), then, with Follow, new ones as they come until ctx ends. It
// reads read_committed: the extractor writes its dead letters in its
// transactions, and those of an aborted one were never final.
func List(ctx context.Context, o ListOptions) error {
	print := func(e Entry) error {
		var err error
		if o.JSON {
			_, err = fmt.Fprintf(o.Out, "%s\n", e.JSON())
		} else {
			_, err = fmt.Fprintln(o.Out, e.Line())
		}
		if err != nil {
			return fmt.Errorf("deadletters: write: %w", err)
		}
		return nil
	}
	return read(ctx, o.Cluster, o.Namespace, o.Selection, o.Follow, print)
}

// read calls fn with each dead letter s selects, oldest first, and with
// follow goes on with new ones until ctx ends.
func read(ctx context.Context, c kafka.Cluster, ns topology.Namespace, s Selection, follow bool, fn func(Entry) error) error {
	topic := ns.DeadLetters()
	b, err := bounds(ctx, c, topic, s.From.Time)
	if err != nil {
		return err
	}
	each := func(r *kgo.Record) error {
		if e := Decode(r); s.matches(ns, e) {
			return fn(e)
		}
		return nil
	}
	from, to := b.from, b.ends
	switch {
	case len(s.Positions) > 0:
		from, to = map[int32]int64{}, map[int32]int64{}
		for _, p := range s.Positions {
			if _, ok := b.ends[p.Partition]; !ok {
				continue
			}
			if f, ok := from[p.Partition]; !ok || p.Offset < f {
				from[p.Partition] = max(p.Offset, b.starts[p.Partition])
			}
			to[p.Partition] = min(max(to[p.Partition], p.Offset+1), b.ends[p.Partition])
		}
	case s.From.Last > 0:
		es, err := last(ctx, c, topic, b, s.From.Last, func(e Entry) bool { return s.matches(ns, e) })
		if err != nil {
			return err
		}
		for _, e := range es {
			if err := fn(e); err != nil {
				return err
			}
		}
		from = b.ends
		if !follow {
			return nil
		}
	}
	if follow {
		to = nil
	}
	return scan(ctx, c, topic, from, to, each)
}

// offsets are a read's limits per partition: the topic's first offsets,
// its last stable offsets (the end a read_committed reader reaches without
// waiting for an open transaction), and where the read starts.
type offsets struct{ starts, ends, from map[int32]int64 }

// bounds lists the offsets of topic, starting at the first record at or
// after after if it is set, else at the start.
func bounds(ctx context.Context, c kafka.Cluster, topic string, after time.Time) (offsets, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	cl, err := c.Client("dead-letters")
	if err != nil {
		return offsets{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var o offsets
	o.starts, err = kafka.Listed(adm.ListStartOffsets(ctx, topic))
	if err == nil {
		o.ends, err = kafka.Listed(adm.ListCommittedOffsets(ctx, topic))
	}
	o.from = o.starts
	if err == nil && !after.IsZero() {
		o.from, err = kafka.Listed(adm.ListOffsetsAfterMilli(ctx, after.UnixMilli(), topic))
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return offsets{}, fmt.Errorf("deadletters: no topic %s: no processor has run in this namespace (is --namespace right?): %w", topic, err)
	}
	if err != nil {
		return offsets{}, fmt.Errorf("deadletters: offsets of %s: %w", topic, err)
	}
	return o, nil
}

// last returns the last n entries keep selects, oldest first. A
// partition's last n offsets may hold fewer than n: transaction markers
// take offsets, aborted records are skipped, keep leaves some out. So each
// partition short of n is read again over twice the offsets, until it has
// n or has been read from its start.
func last(ctx context.Context, c kafka.Cluster, topic string, b offsets, n int, keep func(Entry) bool) ([]Entry, error) {
	window, got := map[int32]int64{}, map[int32][]Entry{}
	for p, end := range b.ends {
		if end > b.starts[p] {
			window[p] = int64(n)
		}
	}
	for len(window) > 0 {
		from, to := map[int32]int64{}, map[int32]int64{}
		for p, w := range window {
			from[p], to[p] = max(b.starts[p], b.ends[p]-w), b.ends[p]
			got[p] = nil
		}
		err := scan(ctx, c, topic, from, to, func(r *kgo.Record) error {
			if e := Decode(r); keep(e) {
				es := append(got[r.Partition], e)
				if len(es) > 2*n {
					es = slices.Clone(es[len(es)-n:])
				}
				got[r.Partition] = es
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for p := range window {
			if len(got[p]) >= n || from[p] <= b.starts[p] {
				delete(window, p)
			} else {
				window[p] *= 2
			}
		}
	}
	var all []Entry
	for _, es := range got {
		all = append(all, es...)
	}
	slices.SortFunc(all, func(a, b Entry) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Partition, b.Partition); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	return all[max(0, len(all)-n):], nil
}

// scan reads topic read_committed from the offsets of from and calls fn
// with each record, in each partition's order. With to, it returns once
// every partition has reached its offset in to; with to nil, it follows
// the topic until ctx ends. The transaction markers are kept, never
// passed to fn, so that a partition whose last offsets are markers is
// known to be done.
func scan(ctx context.Context, c kafka.Cluster, topic string, from, to map[int32]int64, fn func(*kgo.Record) error) error {
	start, left := map[int32]kgo.Offset{}, map[int32]int64{}
	for p, o := range from {
		if to != nil {
			if o >= to[p] {
				continue
			}
			left[p] = to[p]
		}
		start[p] = kgo.NewOffset().At(o)
	}
	if len(start) == 0 && to != nil {
		return nil
	}
	cl, err := c.Client("dead-letters", kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	if err != nil {
		return err
	}
	defer cl.Close()
	for to == nil || len(left) > 0 {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if to != nil {
			pctx, cancel = context.WithTimeout(ctx, stallTimeout)
		}
		f := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deadletters: read %s: %w", topic, err)
		}
		if f.NumRecords() == 0 && pctx.Err() != nil {
			return fmt.Errorf("deadletters: read %s: no record for %s with %d partition(s) short of their end", topic, stallTimeout, len(left))
		}
		var ferr error
		f.EachError(func(t string, p int32, e error) {
			if !errors.Is(e, context.DeadlineExceeded) {
				ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, e))
			}
		})
		if ferr != nil {
			return fmt.Errorf("deadletters: read: %w", ferr)
		}
		for _, r := range f.Records() {
			end, ok := left[r.Partition]
			if to != nil && (!ok || r.Offset >= end) {
				continue
			}
			if !r.Attrs.IsControl() {
				if err := fn(r); err != nil {
					return err
				}
			}
			if to != nil && r.Offset >= end-1 {
				delete(left, r.Partition)
			}
		}
	}
	return nil
}
