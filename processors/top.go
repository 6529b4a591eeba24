package processors

import (
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/topology"
)

// TopPosts is the group of generation g whose table holds each hashtag's denormalised top
// posts, as published by the ranking job.
func TopPosts(g topology.Gen) *goka.GroupGraph {
	dead := goka.Stream(g.NS.DeadLetters())
	return goka.DefineGroup(goka.Group(g.Top()),
		goka.Input(goka.Stream(g.NS.TopPosts()), new(codec.Bytes), storeTop(dead)),
		goka.Output(dead, deadLetterCodec),
		goka.Persist(events.JSON[events.Top]{}),
	)
}

func storeTop(dead goka.Stream) goka.ProcessCallback {
	return func(ctx goka.Context, msg any) {
		raw := rawBytes(msg)
		doc, err := events.DecodeTopPosts(ctx.Key(), raw, hashtag.Normalize)
		if err == nil {
			err = events.CheckComputedAt(doc, time.Now())
		}
		if err != nil {
			deadLetter(ctx, dead, raw, err)
			return
		}
		prev, _ := ctx.Value().(events.Top)
		if next, ok := ApplyTop(prev, doc); ok {
			ctx.SetValue(next)
		} else {
			Ignored.Inc("stale_top_posts")
		}
	}
}

// ApplyTop replaces the list unless doc was computed before the stored one:
// the ranking job may be re-run or its records replayed out of order.
func ApplyTop(prev events.Top, doc events.TopPosts) (events.Top, bool) {
	if doc.ComputedAt.Before(prev.ComputedAt) {
		return prev, false
	}
	posts := doc.Posts
	if posts == nil {
		posts = []events.PostSummary{}
	}
	return events.Top{TopPosts: posts, ComputedAt: doc.ComputedAt.UTC()}, true
}
