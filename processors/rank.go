package processors

// The ranking and the trending windows of `tagstream rank`.
//
// Invariants, checked by rank_test.go and the chaos run:
//   - A post's rank key (rankKey) changes only with a change of the post
//     (a like, an unlike): the score likes * 2^(-age/half-life) decays at
//     the same rate for every post, so two posts keep their order while
//     nothing happens to them. The candidates are therefore the best
//     RankKept posts among those the ranking has heard of, minus those
//     that left, in exact order; a dropped post comes back with its next
//     like. The shown top (the first MaxTopPosts) is exact while fewer
//     than RankKept-MaxTopPosts candidates have left (deleted, edited out,
//     unliked to 0) before better posts replaced them.
//   - A trend counts, per creation minute of the last TrendingWindow, the
//     posts that gained the hashtag minus those that lost it.

import (
	"cmp"
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/topology"
)

// RankOptions configures `tagstream rank`.
type RankOptions struct {
	// Gen is the namespace and generation to rank. Default: generation 0
	// of the default namespace.
	Gen topology.Gen
	// Interval is the least time between two documents of one hashtag,
	// and between two trending refreshes. Default 60s.
	Interval time.Duration
	// HalfLife is the time in which a post's score halves without new
	// likes. Default 6h. Changing it reorders the candidates kept: do it
	// with a replay (topology.md, Ranking).
	HalfLife time.Duration
	// InstanceID is the static member id, as a worker's (Options).
	InstanceID string

	partitions int // the cluster's, set by RunRank
}

// DefaultHalfLife is RankOptions.HalfLife's default.
const DefaultHalfLife = 6 * time.Hour

func (o RankOptions) withDefaults() RankOptions {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.HalfLife <= 0 {
		o.HalfLife = DefaultHalfLife
	}
	return o
}

// rankKey is log2 of a post's score at time 0: log2(likes) +
// created_at/half-life. The score at any time t is 2^(rankKey -
// t/half-life), so ordering by rankKey orders by the score at every t.
func rankKey(s events.PostSummary, halfLife time.Duration) float64 {
	return math.Log2(float64(s.LikeCount)) + float64(s.CreatedAt.UnixMilli())/float64(halfLife.Milliseconds())
}

// Score is a post's score at now: likes * 2^(-age/halfLife).
func Score(s events.PostSummary, halfLife time.Duration, now time.Time) float64 {
	return float64(s.LikeCount) * math.Exp2(-now.Sub(s.CreatedAt).Hours()/halfLife.Hours())
}

// Better orders posts best first by score with the given half-life (the
// same order at every time: rankKey), ties by key.
func Better(halfLife time.Duration) func(a, b events.PostSummary) int {
	return func(a, b events.PostSummary) int {
		if c := cmp.Compare(rankKey(b, halfLife), rankKey(a, halfLife)); c != 0 {
			return c
		}
		return cmp.Compare(a.Key(), b.Key())
	}
}

// ApplyRank applies one post-changes record to a hashtag's candidates: a
// post that left or has no like goes; a candidate takes its newer summary
// and moves to its new place; another post goes in if there is room or it
// beats the last candidate. Dirty is set when the shown top changed.
// changed is false when nothing changed.
func ApplyRank(r events.Ranked, pc events.PostChanges, halfLife time.Duration) (next events.Ranked, changed bool) {
	order := Better(halfLife)
	posts := slices.Clone(r.Posts)
	for _, ch := range pc.Changes {
		i := slices.IndexFunc(posts, func(s events.PostSummary) bool { return s.UserID == ch.Post.UserID && s.PostID == ch.Post.PostID })
		if i >= 0 {
			if ch.Post.Rev < posts[i].Rev {
				continue // an older summary than the one kept
			}
			posts, changed = slices.Delete(posts, i, i+1), true
		}
		if !ch.Live || ch.Post.LikeCount <= 0 {
			continue
		}
		j, _ := slices.BinarySearchFunc(posts, ch.Post, order)
		if j < events.RankKept {
			posts, changed = slices.Insert(posts, j, ch.Post), true
			posts = posts[:min(len(posts), events.RankKept)]
		}
	}
	if !changed {
		return r, false
	}
	posts = fit(posts)
	if !sameTop(r.Posts, posts) {
		r.Dirty = true
	}
	r.Posts = posts
	if r.Display == "" {
		r.Display = pc.Display
	}
	r.W = r.W.Advance(pc.Source)
	return r, true
}

// sameTop reports whether two candidate lists show the same top: the same
// posts in the same order, with the same summaries.
func sameTop(a, b []events.PostSummary) bool {
	a, b = a[:min(len(a), events.MaxTopPosts)], b[:min(len(b), events.MaxTopPosts)]
	return slices.EqualFunc(a, b, func(x, y events.PostSummary) bool { return x.Key() == y.Key() && x.Rev == y.Rev })
}

// TopDocument is the hashtag-top-posts document of a hashtag's
// candidates at now, for the top table of generation gen.
func TopDocument(r events.Ranked, now time.Time, gen int) events.TopPosts {
	posts := slices.Clone(r.Posts[:min(len(r.Posts), events.MaxTopPosts)])
	return events.TopPosts{Hashtag: r.Display, Posts: posts, ComputedAt: now.UTC().Truncate(time.Millisecond), Generation: &gen}
}

// dirtyKeys are the hashtags whose top changed and waits for its interval
// to pass: the publishing sweep visits these rather than decode every
// candidate list of the table. The table's Dirty flags are the truth;
// after a rebalance (the set is of this process only) the next sweep
// visits every key.
type dirtyKeys struct {
	mu        sync.Mutex
	keys      map[string]struct{}
	all       bool
	republish time.Time // see gained
}

// RepublishWindow is how far back a (re)start republishes tops: a
// document and the table write that marks it published are two writes
// of an at-least-once processor, and a SIGKILL between them loses the
// document for good (the table says published, the input that caused
// it is marked applied). What a dead process published in its last
// minute may be lost that way; a producer gives up within its timeout,
// far less.
const RepublishWindow = time.Minute

// gained notes that partitions came to this process at t: the next sweep
// visits every key, and republishes the tops published since
// t - RepublishWindow.
func (d *dirtyKeys) gained(t time.Time) {
	d.mu.Lock()
	d.all, d.republish = true, t.Add(-RepublishWindow)
	d.mu.Unlock()
}

func (d *dirtyKeys) add(k string) {
	d.mu.Lock()
	d.keys[k] = struct{}{}
	d.mu.Unlock()
}

// take returns the next sweep and starts a new set.
func (d *dirtyKeys) take(now time.Time) *publishSweep {
	d.mu.Lock()
	defer d.mu.Unlock()
	sw := &publishSweep{now: now, keys: d.keys, all: d.all, republish: d.republish}
	d.keys, d.all, d.republish = map[string]struct{}{}, false, time.Time{}
	return sw
}

// failed puts back what a sweep that failed did not finish: every key
// waits for the next, the republishing too.
func (d *dirtyKeys) failed(sw *publishSweep) {
	d.mu.Lock()
	d.all = true
	if !sw.republish.IsZero() && (d.republish.IsZero() || sw.republish.Before(d.republish)) {
		d.republish = sw.republish
	}
	d.mu.Unlock()
}

// publishSweep is the meta of a publishing visit.
type publishSweep struct {
	now  time.Time
	keys map[string]struct{}
	all  bool
	// republish, if set, also publishes again the tops published since
	// (dirtyKeys.gained).
	republish time.Time
}

// empty reports whether the sweep has nothing to visit.
func (sw *publishSweep) empty() bool { return len(sw.keys) == 0 && !sw.all }

// sweepAction is what a sweep does with a hashtag's candidates.
type sweepAction int

const (
	sweepSkip      sweepAction = iota
	sweepPublish               // publish the top now
	sweepLater                 // it changed, but its last document is too recent: the next sweep
	sweepRepublish             // send the last document again, as it was (same computed_at)
)

// visits reports whether sw looks at key's candidates at all: goka's
// visit goes over every key of the table, and decoding each one's list
// every sweep took 40 % of the ranking's CPU under the chaos load.
func (sw *publishSweep) visits(key string) bool {
	_, listed := sw.keys[key]
	return listed || sw.all
}

// action decides what sw does with r, given the least time between two
// documents.
func (sw *publishSweep) action(key string, r events.Ranked, interval time.Duration) sweepAction {
	if !sw.visits(key) {
		return sweepSkip
	}
	switch {
	case !r.Dirty:
		if !sw.republish.IsZero() && !r.PublishedAt.IsZero() && !r.PublishedAt.Before(sw.republish) {
			return sweepRepublish
		}
		return sweepSkip
	case sw.now.Sub(r.PublishedAt) < interval:
		return sweepLater
	}
	return sweepPublish
}

// Ranking is the group of generation g that keeps each hashtag's
// candidates (events.Ranked) from post-changes and publishes its top to
// hashtag-top-posts at most every o.Interval, when it changed: at once
// if the last document is older than that, else at the first sweep
// after it (the visitor "publish").
func Ranking(g topology.Gen, bound SourceBound, o RankOptions, dirty *dirtyKeys) *goka.GroupGraph {
	o = o.withDefaults()
	dead := goka.Stream(g.NS.DeadLetters())
	docs := goka.Stream(g.NS.TopPosts())
	publish := func(ctx goka.Context, r events.Ranked, now time.Time) {
		ctx.Emit(docs, ctx.Key(), TopDocument(r, now, g.N))
		Published.Inc("top_posts")
		r.Dirty, r.PublishedAt = false, now.UTC().Truncate(time.Millisecond)
		ctx.SetValue(r)
	}
	return goka.DefineGroup(goka.Group(g.Rank()),
		input(goka.Stream(g.PostChanges()), new(codec.Bytes), func(ctx goka.Context, msg any) {
			prev, _ := ctx.Value().(events.Ranked)
			pc, ok := readChanges(ctx, dead, bound, g.NS, prev.W, msg)
			if !ok {
				return
			}
			next, changed := ApplyRank(prev, pc, o.HalfLife)
			switch now := time.Now(); {
			case !changed:
			case next.Dirty && now.Sub(next.PublishedAt) >= o.Interval:
				publish(ctx, next, now)
			default:
				ctx.SetValue(next)
				if next.Dirty {
					dirty.add(ctx.Key())
				}
			}
		}),
		goka.Visitor("publish", func(ctx goka.Context, meta any) {
			sw := meta.(*publishSweep)
			if !sw.visits(ctx.Key()) {
				return // before ctx.Value: a visit decodes nothing it skips
			}
			r, ok := ctx.Value().(events.Ranked)
			if !ok {
				return
			}
			switch sw.action(ctx.Key(), r, o.Interval) {
			case sweepPublish:
				publish(ctx, r, sw.now)
			case sweepRepublish:
				// The same document, computed_at included (the order
				// of the candidates does not change with time): a
				// newer one, an outside job's say, still wins.
				ctx.Emit(docs, ctx.Key(), TopDocument(r, r.PublishedAt, g.N))
				Published.Inc("top_posts_again")
			case sweepLater:
				dirty.add(ctx.Key())
			}
		}),
		goka.Output(docs, events.JSON[events.TopPosts]{}),
		goka.Output(dead, deadLetterCodec),
		goka.Persist(events.NewCached[events.Ranked]("rank", 0, events.Reread).Shared()),
	)
}

// ApplyTrend applies one post-changes record to a hashtag's trend: each
// post that gained (+1) or lost (-1) the hashtag counts in the minute it
// was created, if that minute is in the window at the record's time (a
// post of the future, or of more than a window ago, can never count).
// Minutes that left the window are dropped.
func ApplyTrend(t events.Trend, pc events.PostChanges, at time.Time) (next events.Trend, changed bool) {
	now := events.Minute(at)
	window := int64(events.TrendingWindow / time.Minute)
	minutes := make(map[int64]int64, len(t.Minutes)+1)
	for m, n := range t.Minutes {
		if m > now-window {
			minutes[m] = n
		} else {
			changed = true
		}
	}
	for _, ch := range pc.Changes {
		m := events.Minute(ch.Post.CreatedAt)
		if ch.N == 0 || m <= now-window || m > now+int64(events.MaxFutureSkew/time.Minute) {
			continue
		}
		if minutes[m] += ch.N; minutes[m] == 0 {
			delete(minutes, m)
		}
		changed = true
	}
	if !changed {
		return t, false
	}
	t.Minutes = minutes
	if t.Display == "" {
		t.Display = pc.Display
	}
	t.W = t.W.Advance(pc.Source)
	return t, true
}

// InWindow is a trend's new posts in the window ending at now's minute;
// live is false once every minute it holds has left the window.
func InWindow(t events.Trend, now time.Time) (posts int64, live bool) {
	cur := events.Minute(now)
	window := int64(events.TrendingWindow / time.Minute)
	for m, n := range t.Minutes {
		if m > cur-window {
			live = true
			if m <= cur {
				posts += n
			}
		}
	}
	return max(posts, 0), live
}

// trendSweep is the meta of a trending visit: it collects each
// partition's best hashtags.
type trendSweep struct {
	now  time.Time
	mu   sync.Mutex
	best map[int32][]events.Trending
}

// offer keeps h if it is among its partition's TrendingShown best.
func (s *trendSweep) offer(p int32, h events.Trending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := s.best[p]
	i, _ := slices.BinarySearchFunc(best, h, events.MoreTrending)
	if i < events.TrendingShown {
		best = slices.Insert(best, i, h)
		s.best[p] = best[:min(len(best), events.TrendingShown)]
	}
}

// Trends is the group of generation g that keeps each hashtag's new posts
// per minute of the trending window (events.Trend). The visitor "sweep"
// offers every hashtag's count at the sweep's time to its partition's
// best, and deletes the trends that left the window.
func Trends(g topology.Gen, bound SourceBound) *goka.GroupGraph {
	dead := goka.Stream(g.NS.DeadLetters())
	return goka.DefineGroup(goka.Group(g.Trending()),
		input(goka.Stream(g.PostChanges()), new(codec.Bytes), func(ctx goka.Context, msg any) {
			prev, _ := ctx.Value().(events.Trend)
			pc, ok := readChanges(ctx, dead, bound, g.NS, prev.W, msg)
			if !ok {
				return
			}
			if next, changed := ApplyTrend(prev, pc, ctx.Timestamp()); changed {
				ctx.SetValue(next)
			}
		}),
		goka.Visitor("sweep", func(ctx goka.Context, meta any) {
			sw := meta.(*trendSweep)
			t, ok := ctx.Value().(events.Trend)
			if !ok {
				return
			}
			posts, live := InWindow(t, sw.now)
			if !live {
				ctx.Delete()
				return
			}
			if posts > 0 {
				sw.offer(ctx.Partition(), events.Trending{Hashtag: t.Display, Key: ctx.Key(), Posts: posts})
			}
		}),
		goka.Output(dead, deadLetterCodec),
		goka.Persist(events.NewCached[events.Trend]("trend", 0, events.Replaced).Shared()),
	)
}

// errNoVisit is ignored from a sweep: the processor is rebalancing, and
// the next sweep visits again.
func sweepErr(err error) error {
	if err == nil || err == goka.ErrVisitAborted || err == context.Canceled {
		return nil
	}
	return err
}
