package processors

import (
	"errors"
	"log/slog"
	"time"

	"github.com/lovoo/goka"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/metrics"
)

// DeadLetters counts rejected input records by group and reason.
var DeadLetters = metrics.Default.NewCounterVec("tagstream_dead_letters_total",
	"Input records a processor could not use and copied to the dead-letters topic.", "group", "reason")

var deadLetterCodec = events.JSON[events.DeadLetter]{}

// deadLetter copies the current record to the dead-letters topic with the
// reason, so a poison record costs one record, not the processor.
func deadLetter(ctx goka.Context, dead goka.Stream, raw []byte, err error) {
	reason := events.Reason(err)
	var limit *hashtag.LimitError
	if errors.As(err, &limit) {
		reason = "limit"
	}
	group := string(ctx.Group())
	DeadLetters.Inc(group, reason)
	slog.Warn("dead-lettering record", "group", group, "topic", ctx.Topic(),
		"partition", ctx.Partition(), "offset", ctx.Offset(), "size", len(raw), "reason", reason, "err", err)
	// The key is cut too: goka partitions the dead letter by it, and a
	// record's key may be as large as its value.
	ctx.Emit(dead, string(events.DeadLetterKey([]byte(ctx.Key()))), events.NewDeadLetter(group, string(ctx.Topic()),
		ctx.Partition(), ctx.Offset(), []byte(ctx.Key()), raw, reason, err, time.Now()))
}

func rawBytes(msg any) []byte {
	b, _ := msg.([]byte)
	return b
}
