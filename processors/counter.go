package processors

import (
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
)

// Counter is the group whose small table holds each hashtag's post count.
// It never holds the top posts: every increment rewrites the value into the
// changelog, and that value must stay a few dozen bytes.
func Counter() *goka.GroupGraph {
	return goka.DefineGroup(GroupCounts,
		goka.Input(TopicPostHashtags, new(codec.Bytes), countDelta),
		goka.Output(TopicDeadLetters, deadLetterCodec),
		goka.Persist(events.JSON[events.Count]{}),
	)
}

func countDelta(ctx goka.Context, msg any) {
	raw := rawBytes(msg)
	d, err := events.DecodeDelta(ctx.Key(), raw)
	if err != nil {
		deadLetter(ctx, raw, err)
		return
	}
	prev, _ := ctx.Value().(events.Count)
	ctx.SetValue(ApplyDelta(prev, d, ctx.Timestamp()))
}

// ApplyDelta adds d to the count. The display form is the first one seen,
// so a page keeps its title as later posts spell the tag differently.
// updated_at is the delta's record time, so a replay rebuilds it exactly.
func ApplyDelta(c events.Count, d events.Delta, at time.Time) events.Count {
	c.PostCount += int64(d.Delta)
	if c.Display == "" {
		c.Display = d.Display
	}
	c.UpdatedAt = at.UTC().Truncate(time.Millisecond)
	return c
}
