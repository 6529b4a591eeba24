package harness

import (
	"context"
	"fmt"
	"iter"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Produce sends every record of recs through cl without waiting for each
// (franz-go batches them; cl's buffer bounds what is in flight), then
// waits for every acknowledgement. It fails with how many records were
// refused and the first reason, or with next's error, which stops it.
func Produce(ctx context.Context, cl *kgo.Client, recs iter.Seq2[*kgo.Record, error]) error {
	var failed atomic.Int64
	var first atomic.Value
	for r, err := range recs {
		if err != nil {
			return err
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil && failed.Add(1) == 1 {
				first.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("harness: flush: %w", err)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("harness: %d records not produced, first: %v", n, first.Load())
	}
	return nil
}

// All yields the records of a slice, for Produce.
func All(recs []*kgo.Record) iter.Seq2[*kgo.Record, error] {
	return func(yield func(*kgo.Record, error) bool) {
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}
