package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/murmur2"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/topology"
)

// listsTruth is what the posts and likes logs define for the lists: every
// live post with its latest caption, creation time and likers, by hashtag.
// Like the counts' truth it is computed here, from the logs, independently
// of the extractor: a post is live from its first valid create until its
// first valid delete and carries the hashtags of its latest valid
// caption; its like count is the number of likers whose last like event
// is a like. The load likes only posts the extractor has committed
// (committedPosts), so that is also what the pipeline must count.
type listsTruth struct {
	byTag map[string][]events.PostSummary
}

func listsGroundTruth(ctx context.Context, c kafka.Cluster, ns topology.Namespace) (*listsTruth, error) {
	type post struct {
		events.PostSummary
		keys    []string
		deleted bool
	}
	posts := map[string]*post{}
	err := readAll(ctx, c, ns.Posts(), false, func(r *kgo.Record) {
		e, ok := truthEvent(r)
		if !ok {
			return
		}
		if e.TS.IsZero() {
			e.TS = r.Timestamp.UTC()
		}
		key := events.PostKey(e.UserID, e.PostID)
		p := posts[key]
		switch {
		case e.Type == events.PostCreated && p == nil:
			posts[key] = &post{PostSummary: events.PostSummary{PostID: e.PostID, UserID: e.UserID, ImageID: e.ImageID,
				Caption: e.Caption, CreatedAt: e.TS}, keys: hashtag.Keys(e.Caption)}
		case e.Type == events.PostEdited && p != nil && !p.deleted:
			p.Caption, p.keys = e.Caption, hashtag.Keys(e.Caption)
			if e.ImageID != "" {
				p.ImageID = e.ImageID
			}
		case e.Type == events.PostDeleted && p != nil && !p.deleted:
			p.deleted = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: reading posts: %w", err)
	}
	likers := map[string]map[string]bool{}
	err = readAll(ctx, c, ns.Likes(), false, func(r *kgo.Record) {
		e, err := events.DecodeLikeEvent(string(r.Key), r.Value)
		if err != nil {
			return
		}
		key := events.PostKey(e.UserID, e.PostID)
		if likers[key] == nil {
			likers[key] = map[string]bool{}
		}
		likers[key][e.LikerID] = e.Type == events.Liked
	})
	if err != nil {
		return nil, fmt.Errorf("chaos: reading likes: %w", err)
	}
	t := &listsTruth{byTag: map[string][]events.PostSummary{}}
	for key, p := range posts {
		if p.deleted {
			continue
		}
		for _, liked := range likers[key] {
			if liked {
				p.LikeCount++
			}
		}
		for _, k := range p.keys {
			t.byTag[k] = append(t.byTag[k], p.PostSummary)
		}
	}
	return t, nil
}

// newestFirst orders recent lists: by creation time, newest first, ties
// by key (topology.md, Lists).
func newestFirst(a, b events.PostSummary) int {
	if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.Key(), b.Key())
}

// want returns the lists a page of tag must show.
func (t *listsTruth) want(tag string) (recent, top []string) {
	live := slices.Clone(t.byTag[tag])
	slices.SortFunc(live, newestFirst)
	for _, p := range live[:min(len(live), events.RecentShown)] {
		recent = append(recent, entry(p.UserID, p.PostID, p.LikeCount, p.Caption))
	}
	var liked []events.PostSummary
	for _, p := range live {
		if p.LikeCount > 0 {
			liked = append(liked, p)
		}
	}
	slices.SortFunc(liked, processors.Better(processors.DefaultHalfLife))
	for _, p := range liked[:min(len(liked), events.MaxTopPosts)] {
		top = append(top, entry(p.UserID, p.PostID, p.LikeCount, p.Caption))
	}
	return recent, top
}

// trending is GET /v1/trending's truth: every post of the run is in the
// window, so the hashtags with the most live posts.
func (t *listsTruth) trending() []string {
	var all []events.Trending
	for k, posts := range t.byTag {
		if len(posts) > 0 {
			all = append(all, events.Trending{Key: k, Posts: int64(len(posts))})
		}
	}
	slices.SortFunc(all, events.MoreTrending)
	var out []string
	for _, h := range all[:min(len(all), events.TrendingShown)] {
		out = append(out, fmt.Sprintf("%s:%d", h.Key, h.Posts))
	}
	return out
}

// entry renders a listed post for comparison: the caption by its hash.
func entry(user, post string, likes int64, caption string) string {
	sum := sha256.Sum256([]byte(caption))
	return fmt.Sprintf("%s/%s:%d:%s", user, post, likes, hex.EncodeToString(sum[:4]))
}

// servedPage is what the chaos run reads of a page.
type servedPage struct {
	TopPosts    []servedPost `json:"top_posts"`
	RecentPosts []servedPost `json:"recent_posts"`
}

type servedPost struct {
	PostID    string `json:"post_id"`
	UserID    string `json:"user_id"`
	Caption   string `json:"caption"`
	LikeCount int64  `json:"like_count"`
}

func entries(posts []servedPost) []string {
	var out []string
	for _, p := range posts {
		out = append(out, entry(p.UserID, p.PostID, p.LikeCount, p.Caption))
	}
	return out
}

func getJSON(ctx context.Context, u string, v any) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

func pageURL(base, tag string) string { return base + "/v1/hashtags/" + url.PathEscape(tag) }

// listDiff is one list served away from the truth.
type listDiff struct {
	tag, list string
	want, got []string
	note      string // what else the answer said
}

func (d listDiff) String() string {
	i := 0
	for i < len(d.want) && i < len(d.got) && d.want[i] == d.got[i] {
		i++
	}
	at := func(s []string) string {
		if i < len(s) {
			return s[i]
		}
		return "(end)"
	}
	return fmt.Sprintf("#%s %s: %d served, %d true; first difference at %d: served %s, truth %s%s", d.tag, d.list, len(d.got), len(d.want), i, at(d.got), at(d.want), d.note)
}

// checkLists compares the recent and top lists of every hashtag of the
// truth, and the trending list, with what the API serves, until they all
// match or ctx ends; it returns the differences left, re-reading only the
// pages that differed at each round.
func checkLists(ctx context.Context, base string, t *listsTruth, out func(string, ...any)) ([]listDiff, int, error) {
	tags := make([]string, 0, len(t.byTag))
	for k := range t.byTag {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	checked := len(tags)
	for round := 1; ; round++ {
		var mu sync.Mutex
		var diffs []listDiff
		var firstErr error
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for _, tag := range tags {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var p servedPage
				// Each read has its own deadline: ctx bounds the rounds,
				// and its last round is read whole.
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				code, err := getJSON(rctx, pageURL(base, tag), &p)
				rcancel()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				recent, top := t.want(tag)
				if code != http.StatusOK {
					p = servedPage{}
				}
				if got := entries(p.RecentPosts); !slices.Equal(got, recent) {
					diffs = append(diffs, listDiff{tag: tag, list: "recent_posts", want: recent, got: got})
				}
				if got := entries(p.TopPosts); !slices.Equal(got, top) {
					diffs = append(diffs, listDiff{tag: tag, list: "top_posts", want: top, got: got})
				}
			}()
		}
		wg.Wait()
		var tr struct {
			Hashtags   []events.Trending `json:"hashtags"`
			ComputedAt time.Time         `json:"computed_at"`
		}
		// Its own deadline: the last round runs when ctx has expired, and
		// a read that cannot be made must not look like an empty list.
		read := time.Now()
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		code, err := getJSON(tctx, base+"/v1/trending", &tr)
		tcancel()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		var served []string
		for _, h := range tr.Hashtags {
			served = append(served, fmt.Sprintf("%s:%d", h.Key, h.Posts))
		}
		if want := t.trending(); !slices.Equal(served, want) {
			// The age of the partials served tells a ranking that stopped
			// publishing (or a view that stopped following) from a wrong
			// merge: none left unexpired shows a zero computed_at.
			diffs = append(diffs, listDiff{tag: "(trending)", list: "hashtags", want: want, got: served,
				note: fmt.Sprintf(" (HTTP %d, computed_at %s, read at %s)", code, tr.ComputedAt.UTC().Format(time.RFC3339Nano), read.UTC().Format(time.RFC3339Nano))})
		}
		if ctx.Err() != nil || (len(diffs) == 0 && firstErr == nil) {
			sort.Slice(diffs, func(i, j int) bool { return diffs[i].tag < diffs[j].tag })
			return diffs, checked, firstErr
		}
		out("lists: round %d: %d lists differ (of %d pages read), e.g. %v; reading them again", round, len(diffs), len(tags), diffs[0])
		tags = tags[:0]
		for _, d := range diffs {
			if d.tag != "(trending)" && (len(tags) == 0 || tags[len(tags)-1] != d.tag) {
				tags = append(tags, d.tag)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// boundWatch measures, for deletes of live posts, how long after the
// broker acknowledged the delete the post is still shown in a list of
// one of its hashtags (topology.md's bound: 10 s). It follows at most
// eight deletes at a time; the others are counted as not followed.
//
// The bound holds while the broker is up: nothing moves while it is down.
// A delete whose bound overlaps the broker's restart (acknowledged before
// the broker is back, less than the bound before it went down) is
// reported apart, with how long after the broker was back the post went.
type boundWatch struct {
	ctx   context.Context
	base  string
	bound time.Duration

	mu       sync.Mutex
	steadyAt time.Time // the steady phase's start: deletes from then on are held to the bound
	inFlight int
	deletes  []followedDelete
	skipped  int
	restarts [][2]time.Time
	wg       sync.WaitGroup
}

type followedDelete struct {
	post   postRef
	at     time.Time
	took   time.Duration
	gone   bool
	listed bool   // still listed at the first read
	why    string // what the last read that found it not gone saw
}

// restarted records that the broker was away from start to end.
func (w *boundWatch) restarted(start, end time.Time) {
	w.mu.Lock()
	w.restarts = append(w.restarts, [2]time.Time{start, end})
	w.mu.Unlock()
}

// duringRestart returns the end of the restart a delete at t overlaps.
func (w *boundWatch) duringRestart(t time.Time) (time.Time, bool) {
	for _, r := range w.restarts {
		if t.Before(r[1]) && t.Add(w.bound).After(r[0]) {
			return r[1], true
		}
	}
	return time.Time{}, false
}

// steady marks the start of the steady phase.
func (w *boundWatch) steady(at time.Time) {
	w.mu.Lock()
	w.steadyAt = at
	w.mu.Unlock()
}

func newBoundWatch(ctx context.Context, base string, bound time.Duration) *boundWatch {
	return &boundWatch{ctx: ctx, base: base, bound: bound}
}

func (w *boundWatch) deleted(p postRef, tags []string, at time.Time) {
	w.mu.Lock()
	if w.inFlight >= 8 || len(tags) == 0 {
		w.skipped++
		w.mu.Unlock()
		return
	}
	w.inFlight++
	w.mu.Unlock()
	w.wg.Go(func() {
		first, listed, why := true, false, ""
		// A list the post has left is not read again: the watch must
		// not load the API it measures (the lists check at the end
		// finds a post that came back).
		tags := slices.Clone(tags)
		for {
			gone := true
			for len(tags) > 0 {
				tag := tags[0]
				var pg servedPage
				code, err := getJSON(w.ctx, pageURL(w.base, tag), &pg)
				if err != nil || (code != http.StatusOK && code != http.StatusNotFound) {
					gone, why = false, fmt.Sprintf("#%s: HTTP %d %v", tag, code, err) // unknown: read again
					break
				}
				is := func(s servedPost) bool { return s.UserID == p.user && s.PostID == p.id }
				in := func(name string, l []servedPost) {
					if slices.ContainsFunc(l, is) {
						gone, why = false, fmt.Sprintf("#%s %s (%d listed)", tag, name, len(l))
					}
				}
				in("recent_posts", pg.RecentPosts)
				in("top_posts", pg.TopPosts)
				if !gone {
					break
				}
				tags = tags[1:]
			}
			if first && !gone {
				listed = true
			}
			first = false
			took := time.Since(at)
			if gone || took > 2*time.Minute || w.ctx.Err() != nil {
				w.mu.Lock()
				w.inFlight--
				w.deletes = append(w.deletes, followedDelete{post: p, at: at, took: took, gone: gone, listed: listed, why: why})
				w.mu.Unlock()
				return
			}
			select {
			case <-w.ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
}

// summary waits for the deletes followed and says what they showed, in
// the load (behind the pipeline's lag, reported) and in the steady phase
// (held to the bound); late lists those of the steady phase that broke it.
func (w *boundWatch) summary() (summary string, late []string) {
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	var loaded, steady []time.Duration
	var restart []string
	seen := 0
	for _, d := range w.deletes {
		if d.listed {
			seen++
		}
		desc := fmt.Sprintf("%s deleted at %s, listed for %s (gone %v; last seen: %s)", d.post.key(), d.at.UTC().Format("15:04:05.000"), d.took.Round(time.Millisecond), d.gone, d.why)
		switch end, ok := w.duringRestart(d.at); {
		case ok:
			restart = append(restart, fmt.Sprintf("%s: %s after the broker was back", desc, d.at.Add(d.took).Sub(end).Round(time.Millisecond)))
		case w.steadyAt.IsZero() || d.at.Before(w.steadyAt):
			loaded = append(loaded, d.took)
		default:
			steady = append(steady, d.took)
			if !d.gone || d.took > w.bound {
				late = append(late, desc)
			}
		}
	}
	stats := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "none followed"
		}
		slices.Sort(ds)
		q := func(f float64) time.Duration { return ds[int(f*float64(len(ds)-1))].Round(time.Millisecond) }
		return fmt.Sprintf("%d followed, gone from every list after p50 %s, p99 %s, max %s", len(ds), q(0.5), q(0.99), ds[len(ds)-1].Round(time.Millisecond))
	}
	summary = fmt.Sprintf("steady phase (held to %s): %s\nduring the load (behind the pipeline's lag): %s\n"+
		"(%d of them still listed at the first read; %d more during the broker's restart; %d deletes not followed)",
		w.bound, stats(steady), stats(loaded), seen, len(restart), w.skipped)
	if len(steady) == 0 {
		late = append(late, "no delete of the steady phase was followed")
	}
	if len(restart) > 0 {
		summary += "\nduring the broker's restart:\n  " + strings.Join(restart, "\n  ")
	}
	return summary, late
}

// sentinelUser is the user, and the key, of awaitViews's sentinel posts:
// posts the load did not make (checkLogged leaves them out).
const sentinelUser = "chaos-sentinel"

// awaitViews posts one sentinel post in each partition's hashtag (a tag
// that murmur2 puts in that partition) and waits until the API lists
// each: then every partition's recent-table view has caught up with the
// group, not only the group with its input. After a long catch-up the
// views follow the list tables' changelogs minutes behind the groups.
func awaitViews(ctx context.Context, o Options, base string) error {
	cl, err := o.Cluster.Client("chaos-sentinel")
	if err != nil {
		return err
	}
	defer cl.Close()
	parts := int32(o.Cluster.Partitions)
	tags := make([]string, parts)
	for n, left := 0, parts; left > 0; n++ {
		tag := fmt.Sprintf("chaossentinel%d", n)
		if p := murmur2.Partition([]byte(tag), parts); tags[p] == "" {
			tags[p], left = tag, left-1
		}
	}
	stamp := time.Now().UnixNano()
	for p, tag := range tags {
		v, _ := json.Marshal(events.PostEvent{Type: events.PostCreated, UserID: sentinelUser, PostID: fmt.Sprintf("s%d-%d", stamp, p), Caption: "#" + tag})
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: o.Namespace.Posts(), Key: []byte(sentinelUser), Value: v}).FirstErr(); err != nil {
			return fmt.Errorf("chaos: sentinel post: %w", err)
		}
	}
	for p, tag := range tags {
		id := fmt.Sprintf("s%d-%d", stamp, p)
		for {
			var pg servedPage
			if code, err := getJSON(ctx, pageURL(base, tag), &pg); err == nil && code == http.StatusOK &&
				slices.ContainsFunc(pg.RecentPosts, func(s servedPost) bool { return s.PostID == id }) {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("chaos: the API never listed the sentinel post of #%s: %w", tag, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}
