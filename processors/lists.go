package processors

// The hashtag lists, built from post-changes alone.
//
// Invariants, checked by lists_test.go and the chaos run:
//   - A list never holds a post that left the hashtag (deleted, edited
//     out) once the change that says so was applied; a change is applied
//     once (ChangeWatermarks), whatever is re-read after a crash.
//   - A listed post's summary is the newest the list has heard of (Rev).
//   - recent: the posts are the newest RecentKept that carried the
//     hashtag, newest first, minus those that left since; so the first
//     RecentShown are exact while fewer than RecentKept-RecentShown of the
//     kept posts have left before newer ones replaced them.
//   - Every list value fits a Kafka record: summaries past ListBudget
//     bytes are dropped from the end.

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/topology"
)

// ListBudget bounds the summaries of one list value, in bytes of JSON
// (summaryBytes): a value must fit a changelog record (Kafka's default
// message.max.bytes is 1 MiB). 200 summaries of ordinary captions take
// about 80 KB; only captions of thousands of escaped characters reach it.
const ListBudget = 800 << 10

// ChangesReplayed counts post-changes records a list recognised as
// already applied: the input it re-reads after a crash or a rebalance.
var ChangesReplayed = metrics.Default.NewCounterVec("tagstream_changes_replayed_total",
	"Post-changes records skipped because the list already includes them (re-read after a crash or rebalance), by group.", "group")

// readChanges decodes a post-changes record and checks its source, or
// dead-letters it: ok is false then, and for a record already applied.
func readChanges(ctx goka.Context, dead goka.Stream, bound SourceBound, ns topology.Namespace, w events.ChangeWatermarks, msg any) (events.PostChanges, bool) {
	raw := rawBytes(msg)
	pc, err := events.DecodePostChanges(ctx.Key(), raw)
	if err != nil {
		deadLetter(ctx, dead, raw, err)
		return pc, false
	}
	ok, err := coversChange(ctx.Context(), bound, ns, pc.Source)
	if err != nil {
		failUnread(ctx, err)
	}
	if !ok {
		deadLetter(ctx, dead, raw, &events.DecodeError{Reason: events.ReasonInvalid,
			Detail: fmt.Sprintf("src %d/%d/%d: %v", pc.Source.Partition, pc.Source.Posts, pc.Source.Likes, errBeyondInput)})
		return pc, false
	}
	if w.Applied(pc.Source) {
		ChangesReplayed.Inc(string(ctx.Group()))
		return pc, false
	}
	return pc, true
}

// RecentPosts is the group of generation g whose table holds each
// hashtag's newest posts (events.Recent), from post-changes.
func RecentPosts(g topology.Gen, bound SourceBound) *goka.GroupGraph {
	dead := goka.Stream(g.NS.DeadLetters())
	return goka.DefineGroup(goka.Group(g.Recent()),
		input(goka.Stream(g.PostChanges()), new(codec.Bytes), func(ctx goka.Context, msg any) {
			prev, _ := ctx.Value().(events.Recent)
			pc, ok := readChanges(ctx, dead, bound, g.NS, prev.W, msg)
			if !ok {
				return
			}
			if next, changed := ApplyRecent(prev, pc, ctx.Timestamp()); changed {
				ctx.SetValue(next)
			}
		}),
		goka.Output(dead, deadLetterCodec),
		goka.Persist(events.NewCached[events.Recent]("recent", 0, events.Replaced).Shared()),
	)
}

// newer orders posts newest first, ties by key: the order of recent lists.
func newer(a, b events.PostSummary) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.Key(), b.Key())
}

// ApplyRecent applies one post-changes record to a recent list: a post
// that left goes, a listed post takes its newer summary, and a post that
// carries the hashtag goes in its place by creation time if the list has
// room for it or it is newer than the oldest kept. changed is false when
// the list stays as it was: the value need not be written (a record that
// changed nothing is harmless to re-read).
func ApplyRecent(r events.Recent, pc events.PostChanges, at time.Time) (next events.Recent, changed bool) {
	posts := slices.Clone(r.Posts)
	for _, ch := range pc.Changes {
		i := slices.IndexFunc(posts, func(s events.PostSummary) bool { return s.UserID == ch.Post.UserID && s.PostID == ch.Post.PostID })
		switch {
		case !ch.Live:
			if i >= 0 {
				posts, changed = slices.Delete(posts, i, i+1), true
			}
		case i >= 0:
			if ch.Post.Rev >= posts[i].Rev && ch.Post != posts[i] {
				posts[i], changed = ch.Post, true
			}
		default:
			j, _ := slices.BinarySearchFunc(posts, ch.Post, newer)
			if j < events.RecentKept {
				posts, changed = slices.Insert(posts, j, ch.Post), true
				posts = posts[:min(len(posts), events.RecentKept)]
			}
		}
	}
	if !changed {
		return r, false
	}
	r.Posts = fit(posts)
	r.W = r.W.Advance(pc.Source)
	r.UpdatedAt = at.UTC().Truncate(time.Millisecond)
	return r, true
}

// fit drops summaries from the end of a list until it fits ListBudget.
func fit(posts []events.PostSummary) []events.PostSummary {
	n := 0
	for i, s := range posts {
		if n += summaryBytes(s); n > ListBudget {
			return posts[:i]
		}
	}
	return posts
}
