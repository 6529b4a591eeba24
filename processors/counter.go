package processors

import (
	"fmt"
	"maps"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/topology"
)

// Replayed counts deltas the counter recognised as already applied: the
// input it re-reads after a crash or a rebalance.
var Replayed = metrics.Default.NewCounterVec("tagstream_counter_replayed_total",
	"Deltas skipped because the count already includes them (re-read after a crash or rebalance).")

// Counter is the group of generation g whose small table holds each hashtag's post count.
// It never holds the top posts: every increment rewrites the value into the
// changelog, and that value must stay small. bound checks each delta's
// source (SourceBound).
func Counter(g topology.Gen, bound SourceBound) *goka.GroupGraph {
	dead := goka.Stream(g.NS.DeadLetters())
	return goka.DefineGroup(goka.Group(g.Counts()),
		input(goka.Stream(g.PostHashtags()), new(codec.Bytes), countDelta(dead, bound, g.NS.Posts())),
		goka.Output(dead, deadLetterCodec),
		// Each delta reads the count the previous one wrote: kept decoded.
		goka.Persist(events.NewCached[events.Count]("counts", 0, events.Replaced).Shared()),
	)
}

func countDelta(dead goka.Stream, bound SourceBound, posts string) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		raw := rawBytes(msg)
		d, err := events.DecodeDelta(ctx.Key(), raw)
		if err != nil {
			deadLetter(ctx, dead, raw, err)
			return
		}
		ok, err := bound.Read(ctx.Context(), posts, d.Source.Partition, d.Source.Offset)
		if err != nil {
			failUnread(ctx, err)
		}
		if !ok {
			deadLetter(ctx, dead, raw, &events.DecodeError{Reason: events.ReasonInvalid,
				Detail: fmt.Sprintf("src %d/%d: %v", d.Source.Partition, d.Source.Offset, errBeyondInput)})
			return
		}
		prev, _ := ctx.Value().(events.Count)
		next, ok := ApplyDelta(prev, d, ctx.Timestamp())
		if !ok {
			Replayed.Inc()
			return
		}
		ctx.SetValue(next)
	}
}

// ApplyDelta adds d to the count unless the count already includes it,
// which it tells by d's source offset against the watermark of d's posts
// partition; ok is false for such a replayed delta. The display form is the
// first one seen, so a page keeps its title as later posts spell the tag
// differently. updated_at is the delta's record time, so a replay rebuilds
// it exactly.
func ApplyDelta(c events.Count, d events.Delta, at time.Time) (next events.Count, ok bool) {
	if w, seen := c.Watermarks[d.Source.Partition]; seen && d.Source.Offset <= w {
		return c, false
	}
	c.Watermarks = maps.Clone(c.Watermarks)
	if c.Watermarks == nil {
		c.Watermarks = map[int32]int64{}
	}
	c.Watermarks[d.Source.Partition] = d.Source.Offset
	c.PostCount += d.Delta
	if c.Display == "" {
		c.Display = d.Display
	}
	c.UpdatedAt = at.UTC().Truncate(time.Millisecond)
	return c, true
}
