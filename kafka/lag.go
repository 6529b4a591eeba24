package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Lag returns the records the groups have not committed yet, summed over
// their partitions. Zero means every input record is processed and its
// offset committed, so a crash now replays nothing.
//
// A transactional topic ends each transaction with a marker that takes an
// offset but is never delivered, so a consumer that commits "last record +
// 1" (goka, sarama) stays one offset short of the end for good, or more
// after an aborted transaction. Lag therefore reads the few records of a
// partition that seems behind by at most maxVerify and counts only the
// committed data records among them.
func (c Cluster) Lag(ctx context.Context, groups ...string) (int64, error) {
	cl, err := c.Client("admin")
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	lags, err := kadm.NewClient(cl).Lag(ctx, groups...)
	if err != nil {
		return 0, fmt.Errorf("kafka: lag of %v: %w", groups, err)
	}
	var total int64
	verify := Spans{}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok {
			return 0, fmt.Errorf("kafka: lag of %s: group not described", g)
		}
		if err := l.Error(); err != nil {
			return 0, fmt.Errorf("kafka: lag of %s: %w", g, err)
		}
		for _, pl := range l.Lag.Sorted() {
			switch {
			case pl.Lag <= 0:
			case pl.Lag <= maxVerify:
				if verify[pl.Topic] == nil {
					verify[pl.Topic] = map[int32]Span{}
				}
				verify[pl.Topic][pl.Partition] = Span{From: pl.End.Offset - pl.Lag, To: pl.End.Offset}
			default:
				total += pl.Lag
			}
		}
	}
	return total + c.dataRecords(ctx, verify), nil
}

// maxVerify bounds the records Lag reads to tell markers from data.
const maxVerify = 1000

// dataRecords counts the committed data records in the spans. Where it
// cannot tell (an open transaction holds the records back, or the read
// fails) it counts a span whole: not caught up.
func (c Cluster) dataRecords(ctx context.Context, spans Spans) int64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var data int64
	if err := c.ReadSpans(ctx, spans, true, func(*kgo.Record) { data++ }); err != nil {
		var n int64
		for _, ps := range spans {
			for _, s := range ps {
				n += s.To - s.From
			}
		}
		return n
	}
	return data
}
