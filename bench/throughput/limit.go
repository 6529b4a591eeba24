package throughput

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/kafka"
)

// Limit is the stateless limit: a bare franz-go consumer of in that
// decodes each post as tagstream does and produces one record per hashtag
// of its caption to out (key the hashtag, value "1"), with no state, no
// diff and no transaction, at least once (idempotent producer, offsets
// committed every 5 s, franz-go's defaults). What the broker and one
// process of this machine can carry with tagstream's per-record work and
// none of its bookkeeping: the bound the pipeline is measured against.
// It runs until ctx ends.
func Limit(ctx context.Context, c kafka.Cluster, group, in, out string) error {
	cl, err := c.Client("bench-limit",
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DefaultProduceTopic(out),
	)
	if err != nil {
		return err
	}
	defer cl.Close()
	one := []byte("1")
	produced := make(chan error, 1) // the first failed produce
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		select {
		case err := <-produced:
			return fmt.Errorf("throughput: limit: produce: %w", err)
		default:
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = errors.Join(ferr, fmt.Errorf("%s/%d: %w", t, p, err)) })
		if ferr != nil {
			return fmt.Errorf("throughput: limit: %w", ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			e, err := events.DecodePostEvent(string(r.Key), r.Value)
			if err != nil || e.Type == events.PostDeleted {
				return
			}
			for _, k := range hashtag.Keys(e.Caption) {
				cl.Produce(ctx, &kgo.Record{Key: []byte(k), Value: one}, func(_ *kgo.Record, err error) {
					if err != nil && ctx.Err() == nil {
						select {
						case produced <- err:
						default:
						}
					}
				})
			}
		})
	}
}
