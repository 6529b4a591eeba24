package processors

import (
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/topology"
)

// TopPosts is the group of generation g whose table holds each hashtag's
// denormalised top posts: the ranking job's last document, kept true by
// post-changes (a post that left the hashtag leaves the list, a listed
// post's new caption or like count replaces its summary).
func TopPosts(g topology.Gen, bound SourceBound) *goka.GroupGraph {
	dead := goka.Stream(g.NS.DeadLetters())
	return goka.DefineGroup(goka.Group(g.Top()),
		input(goka.Stream(g.NS.TopPosts()), new(codec.Bytes), storeTop(g, dead)),
		input(goka.Stream(g.PostChanges()), new(codec.Bytes), func(ctx goka.Context, msg any) {
			prev, _ := ctx.Value().(events.Top)
			pc, ok := readChanges(ctx, dead, bound, g.NS, prev.W, msg)
			if !ok {
				return
			}
			if next, changed := ApplyTopChanges(prev, pc, ctx.Timestamp()); changed {
				ctx.SetValue(next)
			}
		}),
		goka.Output(dead, deadLetterCodec),
		goka.Persist(events.NewCached[events.Top]("top", 0, events.Reread).Shared()),
	)
}

func storeTop(g topology.Gen, dead goka.Stream) goka.ProcessCallback {
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
		if doc.Generation != nil && *doc.Generation != g.N {
			return // another generation's ranking: not this table's to apply
		}
		prev, _ := ctx.Value().(events.Top)
		if next, ok := ApplyTop(prev, doc); ok {
			ctx.SetValue(next)
		} else {
			Ignored.Inc("stale_top_posts")
		}
	}
}

// ApplyTop replaces the list unless doc was computed before the stored one
// (the ranking job may be re-run or its records replayed out of order).
// The post's state, not the document, decides what is shown: a post the
// hashtag knows has left (Removed) stays out, and a listed post keeps its
// summary where the one it has is newer (a document computed before the
// post's last edit or like).
func ApplyTop(prev events.Top, doc events.TopPosts) (events.Top, bool) {
	if doc.ComputedAt.Before(prev.ComputedAt) {
		return prev, false
	}
	// Sets, not scans: a document of 100 posts against 1,000 removals
	// is otherwise 100,000 key comparisons.
	removed := make(map[string]struct{}, len(prev.Removed))
	for _, r := range prev.Removed {
		removed[r.Key] = struct{}{}
	}
	listed := make(map[string]int, len(prev.TopPosts))
	for i, s := range prev.TopPosts {
		listed[s.Key()] = i
	}
	posts := make([]events.PostSummary, 0, len(doc.Posts))
	for _, p := range doc.Posts {
		key := p.Key()
		if _, gone := removed[key]; gone {
			continue
		}
		if i, ok := listed[key]; ok && prev.TopPosts[i].Rev > p.Rev {
			p = prev.TopPosts[i]
		}
		posts = append(posts, p)
	}
	next := prev
	next.TopPosts = fit(posts)
	next.ComputedAt = doc.ComputedAt.UTC()
	next.UpdatedAt = next.ComputedAt
	return next, true
}

// ApplyTopChanges applies one post-changes record to a top list: a post
// that left the hashtag leaves the list and is remembered in Removed (so a
// later document naming it cannot bring it back); one that came back is
// forgotten there; a listed post takes its newer summary. changed is
// false when nothing changed.
func ApplyTopChanges(t events.Top, pc events.PostChanges, at time.Time) (next events.Top, changed bool) {
	posts, removed := slices.Clone(t.TopPosts), slices.Clone(t.Removed)
	at = at.UTC().Truncate(time.Millisecond)
	for _, ch := range pc.Changes {
		key := ch.Post.Key()
		i := slices.IndexFunc(posts, func(s events.PostSummary) bool { return s.UserID == ch.Post.UserID && s.PostID == ch.Post.PostID })
		r := slices.IndexFunc(removed, func(r events.Removal) bool { return r.Key == key })
		switch {
		case !ch.Live:
			if i >= 0 {
				posts = slices.Delete(posts, i, i+1)
			}
			if r >= 0 {
				removed = slices.Delete(removed, r, r+1)
			}
			removed, changed = append(removed, events.Removal{Key: key, At: at}), true
		case r >= 0:
			removed, changed = slices.Delete(removed, r, r+1), true
			fallthrough
		case i >= 0 && ch.Post.Rev >= posts[i].Rev && ch.Post != posts[i]:
			if i >= 0 {
				posts[i], changed = ch.Post, true
			}
		}
	}
	if !changed {
		return t, false
	}
	// Forget the oldest removals: those past RemovedFor, and beyond
	// MaxRemoved (the list is in order of removal).
	old := slices.IndexFunc(removed, func(r events.Removal) bool { return at.Sub(r.At) < events.RemovedFor })
	if old < 0 {
		old = len(removed)
	}
	removed = removed[max(old, len(removed)-events.MaxRemoved):]
	t.TopPosts, t.Removed = posts, removed
	if len(t.Removed) == 0 {
		t.Removed = nil
	}
	t.W = t.W.Advance(pc.Source)
	t.UpdatedAt = at
	return t, true
}
