package processors

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/topology"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func like(t *testing.T, typ events.LikeEventType, owner, id, liker string) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(events.LikeEvent{Type: typ, UserID: owner, PostID: id, LikerID: liker, TS: t0})
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Key: []byte(owner), Value: b}
}

// send runs one batch of posts and likes records (a likes record is one
// whose Topic is set to likes) and returns its output records by topic.
func (x *extractorRun) send(recs ...*kgo.Record) map[string][]*kgo.Record {
	b := newBatch(topology.Gen{})
	for _, r := range recs {
		if r.Topic == TopicLikes {
			r.Offset = x.likes
			x.likes++
			b.addLike(x.state, r, false)
			continue
		}
		r.Topic, r.Offset = string(TopicPosts), x.offset
		x.offset++
		b.add(x.state, r)
	}
	out := map[string][]*kgo.Record{}
	for _, r := range b.output(12) {
		out[r.Topic] = append(out[r.Topic], r)
	}
	return out
}

func asLike(r *kgo.Record) *kgo.Record { r.Topic = TopicLikes; return r }

// changesOf renders post-changes records as "tag:user/post live n likes caption".
func changesOf(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		pc, err := events.DecodePostChanges(string(r.Key), r.Value)
		if err != nil {
			t.Fatalf("extractor wrote undecodable post changes: %v", err)
		}
		for _, c := range pc.Changes {
			out = append(out, fmt.Sprintf("%s:%s %v %+d likes=%d %q", pc.Hashtag, c.Post.Key(), c.Live, c.N, c.Post.LikeCount, c.Post.Caption))
		}
	}
	slices.Sort(out)
	return out
}

// A liker counts once per post however often they like it, an unlike
// takes it back, likes of unknown or deleted posts count nothing, and
// each counted change reaches every hashtag of the post with the new
// like count.
func TestExtractorLikes(t *testing.T) {
	x := newExtractorRun(t)
	x.send(post(t, events.PostCreated, "alice", "p1", "#a #b"))
	check := func(name string, out map[string][]*kgo.Record, want ...string) {
		t.Helper()
		if got := changesOf(t, out[TopicPostChanges]); !slices.Equal(got, want) {
			t.Errorf("%s: changes\n%v\nwant\n%v", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if strings.Contains(name, "like") && len(out[string(TopicPostHashtags)]) != 0 {
			t.Errorf("%s: a like changed a count", name)
		}
	}
	out := x.send(asLike(like(t, events.Liked, "alice", "p1", "bob")), asLike(like(t, events.Liked, "alice", "p1", "bob")))
	check("like twice", out, `a:alice/p1 true +0 likes=1 "#a #b"`, `b:alice/p1 true +0 likes=1 "#a #b"`)
	out = x.send(asLike(like(t, events.Liked, "alice", "p1", "carol")))
	check("second liker", out, `a:alice/p1 true +0 likes=2 "#a #b"`, `b:alice/p1 true +0 likes=2 "#a #b"`)
	out = x.send(asLike(like(t, events.Unliked, "alice", "p1", "bob")), asLike(like(t, events.Unliked, "alice", "p1", "bob")))
	check("unlike twice", out, `a:alice/p1 true +0 likes=1 "#a #b"`, `b:alice/p1 true +0 likes=1 "#a #b"`)
	out = x.send(asLike(like(t, events.Liked, "alice", "nope", "bob")))
	check("unknown post", out)
	if len(out[TableExtractor]) != 0 {
		t.Errorf("a like of an unknown post wrote %d table records; it must cost no state", len(out[TableExtractor]))
	}
	out = x.send(post(t, events.PostEdited, "alice", "p1", "#b #c"))
	check("edit", out, `a:alice/p1 false -1 likes=0 ""`, `b:alice/p1 true +0 likes=1 "#b #c"`, `c:alice/p1 true +1 likes=1 "#b #c"`)
	out = x.send(post(t, events.PostDeleted, "alice", "p1", ""))
	check("delete", out, `b:alice/p1 false -1 likes=0 ""`, `c:alice/p1 false -1 likes=0 ""`)
	var tombstones int
	for _, r := range out[TableExtractor] {
		if _, _, ok := events.SplitLikerKey(string(r.Key)); ok && r.Value == nil {
			tombstones++
		}
	}
	if tombstones != 1 || len(x.state.likers) != 0 {
		t.Errorf("delete left %d likers in memory and wrote %d like tombstones, want 0 and 1 (carol's)", len(x.state.likers), tombstones)
	}
	out = x.send(asLike(like(t, events.Liked, "alice", "p1", "dave")))
	check("like of a deleted post", out)
}

// An aborted batch leaves the likes as the changelog has them.
func TestExtractorRollsBackLikes(t *testing.T) {
	x := newExtractorRun(t)
	x.send(post(t, events.PostCreated, "alice", "p1", "#a"), asLike(like(t, events.Liked, "alice", "p1", "bob")))
	b := newBatch(topology.Gen{})
	for i, r := range []*kgo.Record{like(t, events.Unliked, "alice", "p1", "bob"), like(t, events.Liked, "alice", "p1", "carol")} {
		r.Topic, r.Offset = TopicLikes, int64(10+i)
		b.addLike(x.state, r, false)
	}
	b.rollback(map[int32]*partState{0: x.state})
	if !x.state.likes("alice/p1", "bob") || x.state.likes("alice/p1", "carol") || x.state.posts["alice/p1"].Likes != 1 {
		t.Fatalf("after rollback: bob %v carol %v likes %d; want bob's like alone",
			x.state.likes("alice/p1", "bob"), x.state.likes("alice/p1", "carol"), x.state.posts["alice/p1"].Likes)
	}
}

// A hot hashtag's changes in one transaction are cut into records that
// fit the topic, each ending at a later input record than the one before,
// so a consumer's watermark applies each once.
func TestExtractorCutsChangesIntoRecordsThatFit(t *testing.T) {
	x := newExtractorRun(t)
	caption := "#hot " + strings.Repeat("<", 2000) // escaped to 6 bytes each
	var recs []*kgo.Record
	for i := range 400 {
		recs = append(recs, post(t, events.PostCreated, "u", fmt.Sprintf("p%d", i), caption))
		if i%3 == 0 {
			recs = append(recs, asLike(like(t, events.Liked, "u", fmt.Sprintf("p%d", i/2), "fan")))
		}
	}
	out := x.send(recs...)[TopicPostChanges]
	if len(out) < 4 {
		t.Fatalf("%d post-changes records for 400 posts of 12 KB of JSON each, want it cut into several", len(out))
	}
	w := events.ChangeWatermarks{}
	seen, likes := map[string]int{}, map[string]int64{}
	for i, r := range out {
		if len(r.Value) > events.MaxPostChangesBytes {
			t.Fatalf("record %d is %d bytes, over the topic's limit %d", i, len(r.Value), events.MaxPostChangesBytes)
		}
		pc, err := events.DecodePostChanges(string(r.Key), r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if w.Applied(pc.Source) {
			t.Fatalf("record %d (src %+v) looks applied after %+v: it would be skipped", i, pc.Source, w)
		}
		w = w.Advance(pc.Source)
		for _, c := range pc.Changes {
			seen[c.Post.Key()]++
			likes[c.Post.Key()] = c.Post.LikeCount
		}
	}
	if len(seen) != 400 {
		t.Errorf("%d posts in the changes, want 400", len(seen))
	}
	for k, n := range seen {
		// A post liked in the batch was touched twice (created, liked):
		// its change is coalesced, listed once.
		if n != 1 {
			t.Errorf("post %s listed %d times, want once", k, n)
		}
	}
	for i := 0; i < 400; i += 3 {
		if k := events.PostKey("u", fmt.Sprintf("p%d", i/2)); likes[k] != 1 {
			t.Errorf("post %s listed with %d likes, want its last state, 1", k, likes[k])
		}
	}
}

// model is the ground truth of the lists: every post's state, computed
// the simple way from the events in order.
type model struct {
	posts  map[string]*mpost
	likers map[string]map[string]bool
}

type mpost struct {
	user, id, caption string
	tags              []string
	created           time.Time
	deleted           bool
}

func (m *model) apply(e any) {
	switch e := e.(type) {
	case events.PostEvent:
		k := events.PostKey(e.UserID, e.PostID)
		p := m.posts[k]
		switch {
		case e.Type == events.PostCreated && p == nil:
			m.posts[k] = &mpost{user: e.UserID, id: e.PostID, caption: e.Caption, tags: tagsOf(e.Caption), created: e.TS}
		case e.Type == events.PostEdited && p != nil && !p.deleted:
			p.caption, p.tags = e.Caption, tagsOf(e.Caption)
		case e.Type == events.PostDeleted && p != nil && !p.deleted:
			p.deleted = true
			delete(m.likers, k)
		}
	case events.LikeEvent:
		k := events.PostKey(e.UserID, e.PostID)
		if p := m.posts[k]; p == nil || p.deleted {
			return
		}
		if m.likers[k] == nil {
			m.likers[k] = map[string]bool{}
		}
		if e.Type == events.Liked {
			m.likers[k][e.LikerID] = true
		} else {
			delete(m.likers[k], e.LikerID)
		}
	}
}

func tagsOf(caption string) []string {
	var out []string
	for _, w := range strings.Fields(caption) {
		if t, ok := strings.CutPrefix(w, "#"); ok && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// live returns the summaries of the live posts with tag.
func (m *model) live(tag string) []events.PostSummary {
	var out []events.PostSummary
	for k, p := range m.posts {
		if !p.deleted && slices.Contains(p.tags, tag) {
			out = append(out, events.PostSummary{PostID: p.id, UserID: p.user, Caption: p.caption, CreatedAt: p.created, LikeCount: int64(len(m.likers[k]))})
		}
	}
	return out
}

// The lists built from post-changes equal the ground truth computed
// from the events, for random histories of creates, edits, deletes,
// likes and unlikes, cut into random transactions, some aborted and
// retried, and with every record delivered again at random (a consumer
// re-reading its input after a crash).
func TestListsEqualTheGroundTruth(t *testing.T) {
	const halfLife = time.Hour
	for seed := range 40 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 7))
			tags := []string{"a", "b", "c"}
			var evs []any
			nPosts := 30 + rng.IntN(300)
			for i := range nPosts * 4 {
				user := fmt.Sprintf("u%d", rng.IntN(3))
				id := fmt.Sprintf("p%d", rng.IntN(nPosts))
				caption := ""
				for _, tg := range tags {
					if rng.IntN(2) == 0 {
						caption += " #" + tg
					}
				}
				ts := t0.Add(time.Duration(i) * time.Second)
				switch r := rng.IntN(10); {
				case r < 4:
					evs = append(evs, events.PostEvent{Type: events.PostCreated, UserID: user, PostID: id, Caption: caption, TS: ts})
				case r < 5:
					evs = append(evs, events.PostEvent{Type: events.PostEdited, UserID: user, PostID: id, Caption: caption, TS: ts})
				case r < 6:
					evs = append(evs, events.PostEvent{Type: events.PostDeleted, UserID: user, PostID: id, TS: ts})
				case r < 9:
					evs = append(evs, events.LikeEvent{Type: events.Liked, UserID: user, PostID: id, LikerID: fmt.Sprintf("f%d", rng.IntN(5)), TS: ts})
				default:
					evs = append(evs, events.LikeEvent{Type: events.Unliked, UserID: user, PostID: id, LikerID: fmt.Sprintf("f%d", rng.IntN(5)), TS: ts})
				}
			}
			m := &model{posts: map[string]*mpost{}, likers: map[string]map[string]bool{}}
			for _, e := range evs {
				m.apply(e)
			}

			states := map[int32]*partState{0: newPartState()}
			recent, top, ranked, trend := map[string]events.Recent{}, map[string]events.Top{}, map[string]events.Ranked{}, map[string]events.Trend{}
			var delivered []events.PostChanges
			deliver := func(pc events.PostChanges) {
				at := t0.Add(time.Duration(len(evs)) * time.Second)
				if !recent[pc.Hashtag].W.Applied(pc.Source) {
					recent[pc.Hashtag], _ = ApplyRecent(recent[pc.Hashtag], pc, at)
				}
				if !top[pc.Hashtag].W.Applied(pc.Source) {
					top[pc.Hashtag], _ = ApplyTopChanges(top[pc.Hashtag], pc, at)
				}
				if !ranked[pc.Hashtag].W.Applied(pc.Source) {
					ranked[pc.Hashtag], _ = ApplyRank(ranked[pc.Hashtag], pc, halfLife)
				}
				if !trend[pc.Hashtag].W.Applied(pc.Source) {
					trend[pc.Hashtag], _ = ApplyTrend(trend[pc.Hashtag], pc, at)
				}
			}
			var posts, likes int64
			for i := 0; i < len(evs); {
				n := min(1+rng.IntN(20), len(evs)-i)
				for attempt := 0; ; attempt++ {
					b := newBatch(topology.Gen{})
					p0, l0 := posts, likes
					for _, e := range evs[i : i+n] {
						v, _ := json.Marshal(e)
						switch e := e.(type) {
						case events.PostEvent:
							b.add(states[0], &kgo.Record{Topic: string(TopicPosts), Key: []byte(e.UserID), Value: v, Offset: posts})
							posts++
						case events.LikeEvent:
							b.addLike(states[0], &kgo.Record{Topic: TopicLikes, Key: []byte(e.UserID), Value: v, Offset: likes}, false)
							likes++
						}
					}
					if attempt == 0 && rng.IntN(5) == 0 {
						b.rollback(states)
						posts, likes = p0, l0
						continue
					}
					for _, r := range b.output(12) {
						if r.Topic != TopicPostChanges {
							continue
						}
						pc, err := events.DecodePostChanges(string(r.Key), r.Value)
						if err != nil {
							t.Fatal(err)
						}
						delivered = append(delivered, pc)
						deliver(pc)
					}
					break
				}
				// A consumer crashes now and then and reads its input
				// again from an earlier offset.
				if rng.IntN(4) == 0 && len(delivered) > 0 {
					for _, pc := range delivered[rng.IntN(len(delivered)):] {
						deliver(pc)
					}
				}
				i += n
			}

			for _, tag := range tags {
				truth := m.live(tag)
				byNewest := slices.Clone(truth)
				slices.SortFunc(byNewest, newer)
				want := keysAndLikes(byNewest[:min(len(byNewest), events.RecentShown)])
				got := keysAndLikes(recent[tag].Posts[:min(len(recent[tag].Posts), events.RecentShown)])
				if !slices.Equal(got, want) {
					t.Errorf("#%s recent:\n got %v\nwant %v", tag, got, want)
				}
				for _, s := range recent[tag].Posts {
					if p := m.posts[s.Key()]; s.Caption != p.caption {
						t.Errorf("#%s recent: %s has caption %q, the post %q", tag, s.Key(), s.Caption, p.caption)
					}
				}
				var liked []events.PostSummary
				for _, s := range truth {
					if s.LikeCount > 0 {
						liked = append(liked, s)
					}
				}
				slices.SortFunc(liked, Better(halfLife))
				want = keysAndLikes(liked[:min(len(liked), events.MaxTopPosts)])
				got = keysAndLikes(TopDocument(ranked[tag], t0, 0).Posts)
				if !slices.Equal(got, want) {
					t.Errorf("#%s top:\n got %v\nwant %v", tag, got, want)
				}
				// The top table, given the ranking's document, then
				// every change again (late), shows the same.
				tp, _ := ApplyTop(top[tag], TopDocument(ranked[tag], t0, 0))
				if got := keysAndLikes(tp.TopPosts); !slices.Equal(got, want) {
					t.Errorf("#%s top table:\n got %v\nwant %v", tag, got, want)
				}
				if n, _ := InWindow(trend[tag], t0.Add(time.Duration(len(evs))*time.Second)); n != int64(len(truth)) {
					t.Errorf("#%s trending: %d new posts in the window, truth %d", tag, n, len(truth))
				}
			}
		})
	}
}

func keysAndLikes(s []events.PostSummary) []string {
	out := make([]string, len(s))
	for i, p := range s {
		out[i] = fmt.Sprintf("%s:%d", p.Key(), p.LikeCount)
	}
	return out
}

// A post-changes record anyone with the grant could write: one that names
// an input offset the extractor never read (which would freeze the list's
// watermark and make it skip every later real record), one that is not
// JSON, and one under another hashtag's key are dead-lettered; the list
// goes on with the real records around them.
func TestRecentRefusesForgedAndMalformedChanges(t *testing.T) {
	tt := run(t, RecentPosts(topology.Gen{}, SourceBoundFunc(func(_ string, p int32, o int64) bool { return p == 0 && o < 100 })))
	dead := tt.NewQueueTracker(TopicDeadLetters)
	change := func(key, id string, posts int64) []byte {
		b, err := json.Marshal(events.PostChanges{Hashtag: key, Changes: []events.PostChange{{Post: events.PostSummary{PostID: id, UserID: "u", CreatedAt: t0}, Live: true, N: 1}},
			Source: events.ChangeSource{Partition: 0, Posts: posts, Likes: -1}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tt.Consume(TopicPostChanges, "sunset", change("sunset", "p1", 5))
	tt.Consume(TopicPostChanges, "sunset", change("sunset", "forged", math.MaxInt64))
	tt.Consume(TopicPostChanges, "sunset", []byte(`{"hashtag":"sunset","changes":[`))
	tt.Consume(TopicPostChanges, "sunset", change("beach", "other", 7))
	tt.Consume(TopicPostChanges, "sunset", change("sunset", "p2", 6))
	r := tt.TableValue(goka.Table(topology.Gen{}.RecentTable()), "sunset").(events.Recent)
	var ids []string
	for _, p := range r.Posts {
		ids = append(ids, p.PostID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"p1", "p2"}) || r.W[0].Posts != 6 {
		t.Fatalf("recent list %v with watermark %+v, want p1 and p2 with watermark 6", ids, r.W)
	}
	n := 0
	for _, _, ok := dead.Next(); ok; _, _, ok = dead.Next() {
		n++
	}
	if n != 3 {
		t.Fatalf("%d dead letters, want 3 (forged source, not JSON, wrong key)", n)
	}
}
