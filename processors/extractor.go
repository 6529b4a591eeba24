package processors

import (
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/metrics"
)

// Ignored counts post events that were valid but changed nothing, by kind.
var Ignored = metrics.Default.NewCounterVec("tagstream_extractor_ignored_total",
	"Post events the extractor applied as no-ops (duplicate create, edit or delete of an unknown post).", "kind")

// Extractor is the group that re-keys posts by hashtag.
//
// posts is keyed by user_id, but the extractor must remember each post's
// hashtags to turn edits and deletes into exact deltas. Keeping that per user
// would rewrite a value that grows with every post of the user into the
// changelog at each post, so the posts edge only validates and loops the
// event back keyed by "user_id/post_id"; the loop edge owns one small value
// per post. All events of a post come from one posts partition in order and
// go to one loop partition in order, so per-post ordering holds.
func Extractor() *goka.GroupGraph {
	return goka.DefineGroup(GroupExtractor,
		goka.Input(TopicPosts, new(codec.Bytes), routePost),
		goka.Loop(events.JSON[events.Routed]{}, applyPost),
		goka.Output(TopicPostHashtags, events.JSON[events.Delta]{}),
		goka.Output(TopicDeadLetters, deadLetterCodec),
		goka.Persist(events.JSON[events.PostState]{}),
	)
}

func routePost(ctx goka.Context, msg any) {
	raw := rawBytes(msg)
	e, err := events.DecodePostEvent(ctx.Key(), raw)
	if err == nil && e.Type != events.PostDeleted {
		_, err = hashtag.Validate(e.Caption)
	}
	if err != nil {
		deadLetter(ctx, raw, err)
		return
	}
	if e.TS.IsZero() {
		e.TS = ctx.Timestamp().UTC()
	}
	ctx.Loopback(events.PostKey(e.UserID, e.PostID), events.Routed{
		Event:  e,
		Source: events.Source{Partition: ctx.Partition(), Offset: ctx.Offset()},
	})
}

func applyPost(ctx goka.Context, msg any) {
	r := msg.(events.Routed)
	var prev *events.PostState
	if v, ok := ctx.Value().(events.PostState); ok {
		prev = &v
	}
	next, deltas, kind := Apply(prev, r)
	if kind != "" {
		Ignored.Inc(kind)
		return
	}
	for _, d := range deltas {
		ctx.Emit(TopicPostHashtags, d.Hashtag, d)
	}
	ctx.SetValue(next)
}

// Apply is the extractor's rule: given what is known of a post (nil if
// nothing) and its next event, it returns the post's new state and the
// deltas to emit, or a non-empty ignore kind when the event changes nothing.
//
//   - created: +1 per distinct key. A second create of a known (or deleted)
//     post is a duplicate and counts nothing.
//   - edited: -1 per key the new caption lost, +1 per key it gained.
//   - deleted: -1 per key; the post becomes a tombstone.
func Apply(prev *events.PostState, r events.Routed) (events.PostState, []events.Delta, string) {
	e := r.Event
	switch e.Type {
	case events.PostCreated:
		if prev != nil {
			return events.PostState{}, nil, "duplicate_create"
		}
		keys, display := hashtag.KeysAndDisplay(e.Caption)
		next := events.PostState{Keys: keys, Display: display, ImageID: e.ImageID, Created: e.TS}
		return next, deltas(+1, keys, display, summary(e, next), r.Source), ""
	case events.PostEdited:
		if prev == nil || prev.Deleted {
			return events.PostState{}, nil, "edit_unknown"
		}
		keys, display := hashtag.KeysAndDisplay(e.Caption)
		next := events.PostState{Keys: keys, Display: display, ImageID: prev.ImageID, Created: prev.Created}
		if e.ImageID != "" {
			next.ImageID = e.ImageID
		}
		gone, gdisp := minus(prev.Keys, prev.Display, keys)
		added, adisp := minus(keys, display, prev.Keys)
		s := summary(e, next)
		out := append(deltas(-1, gone, gdisp, s, r.Source), deltas(+1, added, adisp, s, r.Source)...)
		return next, out, ""
	case events.PostDeleted:
		if prev == nil || prev.Deleted {
			return events.PostState{}, nil, "delete_unknown"
		}
		s := events.PostSummary{PostID: e.PostID, UserID: e.UserID, ImageID: prev.ImageID, CreatedAt: prev.Created}
		return events.PostState{Deleted: true}, deltas(-1, prev.Keys, prev.Display, s, r.Source), ""
	}
	return events.PostState{}, nil, "unknown_type"
}

func minus(keys, display, drop []string) (k, d []string) {
	for i, key := range keys {
		if !slices.Contains(drop, key) {
			k = append(k, key)
			d = append(d, display[i])
		}
	}
	return k, d
}

func summary(e events.PostEvent, s events.PostState) events.PostSummary {
	created := s.Created
	if created.IsZero() {
		created = e.TS
	}
	return events.PostSummary{PostID: e.PostID, UserID: e.UserID, ImageID: s.ImageID,
		Caption: e.Caption, CreatedAt: created.UTC().Truncate(time.Millisecond)}
}

func deltas(sign int, keys, display []string, s events.PostSummary, src events.Source) []events.Delta {
	out := make([]events.Delta, len(keys))
	for i, k := range keys {
		out[i] = events.Delta{Hashtag: k, Display: display[i], Delta: sign, Post: s, Source: src}
	}
	return out
}
