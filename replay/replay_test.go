package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/pipeline"
	"github.com/tagstream/tagstream/processors"
	"github.com/tagstream/tagstream/topology"
	"github.com/tagstream/tagstream/views"
)

func TestParseFrom(t *testing.T) {
	for in, ok := range map[string]bool{
		"": true, "earliest": true, "2026-11-27T10:00:00Z": true, "0=5,2=7": true,
		"yesterday": false, "0=x": false, "-1=3": false, "2026-11-27": false,
	} {
		if _, err := ParseFrom(in); (err == nil) != ok {
			t.Errorf("ParseFrom(%q): err %v, want ok=%v", in, err, ok)
		}
	}
}

// The replay tests run a worker on the embedded broker, as `tagstream run`
// does, and replay its posts log into new generations beside it.
func setup(t *testing.T) (kafka.Cluster, *kgo.Client) {
	t.Helper()
	b, err := broker.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c := kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: 3}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pipeline.Worker(ctx, c, processors.Options{InstanceID: "w1"}) }()
	t.Cleanup(func() { cancel(); <-done })
	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl
}

func produce(t *testing.T, cl *kgo.Client, at time.Time, es ...events.PostEvent) {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range es {
		v, _ := json.Marshal(e)
		recs = append(recs, &kgo.Record{Topic: topology.Namespace("").Posts(), Key: []byte(e.UserID), Value: v, Timestamp: at})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func like(t *testing.T, cl *kgo.Client, at time.Time, es ...events.LikeEvent) {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range es {
		e.TS = at
		v, _ := json.Marshal(e)
		recs = append(recs, &kgo.Record{Topic: topology.Namespace("").Likes(), Key: []byte(e.UserID), Value: v, Timestamp: at})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// awaitPage waits up to 30 s for the page of #common to satisfy ok.
func awaitPage(t *testing.T, pages *views.Following, what string, ok func(page.Page) bool) {
	t.Helper()
	var last page.Page
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if last, err = pages.Page(context.Background(), "common"); err == nil && ok(last) {
			return
		}
		if time.Now().After(deadline) {
			var likes []string
			for _, s := range last.RecentPosts {
				if s.LikeCount > 0 {
					likes = append(likes, fmt.Sprintf("%s/%s:%d", s.UserID, s.PostID, s.LikeCount))
				}
			}
			t.Fatalf("no %s after 30 s: generation %v, %d recent posts, liked %v (%v)", what, pages.Generation(), len(last.RecentPosts), likes, err)
		}
	}
}

// counts reads a generation's non-zero counts from its table's changelog,
// once the generation has processed everything.
func counts(t *testing.T, c kafka.Cluster, g topology.Gen) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		lag, err := c.Lag(ctx, g.Groups()[:2]...)
		if err == nil && lag == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("generation %v still lags by %d (%v)", g, lag, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cl, err := c.Client("test-read", kgo.ConsumeTopics(string(g.CountsTable())), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]int64{}
	for {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("reading counts: ", ctx.Err())
		}
		f.EachRecord(func(r *kgo.Record) {
			var v events.Count
			if json.Unmarshal(r.Value, &v) == nil {
				out[string(r.Key)] = v.PostCount
			}
		})
		// A short poll with nothing new means the end (the table is written
		// by a goka group that has no lag left).
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		f = cl.PollFetches(pctx)
		pcancel()
		n := 0
		f.EachRecord(func(r *kgo.Record) {
			n++
			var v events.Count
			if json.Unmarshal(r.Value, &v) == nil {
				out[string(r.Key)] = v.PostCount
			}
		})
		if n == 0 {
			break
		}
	}
	maps.DeleteFunc(out, func(_ string, n int64) bool { return n == 0 })
	return out
}

func TestReplayRebuildsEveryCount(t *testing.T) {
	c, cl := setup(t)
	old := time.Now().Add(-time.Hour)
	var es []events.PostEvent
	for i := range 60 {
		es = append(es, events.PostEvent{Type: events.PostCreated, UserID: fmt.Sprintf("u%d", i%7), PostID: fmt.Sprintf("p%d", i),
			Caption: fmt.Sprintf("#t%d #t%d #common", i%5, i%11)})
	}
	for i := range 20 {
		es = append(es, events.PostEvent{Type: events.PostEdited, UserID: fmt.Sprintf("u%d", i%7), PostID: fmt.Sprintf("p%d", i), Caption: "#edited #common"})
	}
	for i := 20; i < 30; i++ {
		es = append(es, events.PostEvent{Type: events.PostDeleted, UserID: fmt.Sprintf("u%d", i%7), PostID: fmt.Sprintf("p%d", i)})
	}
	produce(t, cl, old, es...)
	// Likes once the posts are counted (a like of a post the extractor
	// has not seen is one of an unknown post): p0 liked by three, once
	// twice over; p1 by two, one of whom takes it back; the deleted p25
	// by one, which counts nothing.
	want := counts(t, c, topology.Gen{})
	if want["common"] != 50 || want["edited"] != 20 {
		t.Fatalf("generation 0 counts %v: the setup is wrong", want)
	}
	like(t, cl, old,
		events.LikeEvent{Type: events.Liked, UserID: "u0", PostID: "p0", LikerID: "a"},
		events.LikeEvent{Type: events.Liked, UserID: "u0", PostID: "p0", LikerID: "b"},
		events.LikeEvent{Type: events.Liked, UserID: "u0", PostID: "p0", LikerID: "a"},
		events.LikeEvent{Type: events.Liked, UserID: "u0", PostID: "p0", LikerID: "c"},
		events.LikeEvent{Type: events.Liked, UserID: "u1", PostID: "p1", LikerID: "a"},
		events.LikeEvent{Type: events.Liked, UserID: "u1", PostID: "p1", LikerID: "b"},
		events.LikeEvent{Type: events.Unliked, UserID: "u1", PostID: "p1", LikerID: "a"},
		events.LikeEvent{Type: events.Liked, UserID: "u4", PostID: "p25", LikerID: "a"},
	)

	// An API's pages follow the generation pointer.
	pages := views.Follow(c, "", 200*time.Millisecond)
	vctx, vcancel := context.WithCancel(context.Background())
	vdone := make(chan error, 1)
	go func() { vdone <- pages.Run(vctx) }()
	defer func() { vcancel(); <-vdone }()

	// Generation 0's recent list of #common, likes counted: what the
	// replay must rebuild.
	var recent0 []byte
	likesOf := map[string]int64{}
	awaitPage(t, pages, "generation 0's recent #common with p0's 3 likes and p1's 1", func(p page.Page) bool {
		clear(likesOf)
		for _, s := range p.RecentPosts {
			likesOf[s.PostID] = s.LikeCount
		}
		recent0, _ = json.Marshal(p.RecentPosts)
		return len(p.RecentPosts) == 50 && likesOf["p0"] == 3 && likesOf["p1"] == 1
	})
	if _, ok := likesOf["p25"]; ok {
		t.Fatalf("deleted post p25 is in generation 0's recent list: %s", recent0)
	}

	var progress bytes.Buffer
	res, err := Run(context.Background(), Options{Cluster: c, Progress: &progress, Every: 500 * time.Millisecond})
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	if res.To.N != 1 || res.Records != int64(len(es)+8) {
		t.Errorf("replay built generation %d from %d records, want 1 from %d posts and likes", res.To.N, res.Records, len(es)+8)
	}
	if g, err := topology.CurrentGen(context.Background(), c, ""); err != nil || g.N != 1 {
		t.Fatalf("current generation %d (%v) after the replay, want 1", g.N, err)
	}
	if !bytes.Contains(progress.Bytes(), []byte("ETA")) {
		t.Errorf("no progress with an ETA was shown:\n%s", progress.String())
	}
	if got := counts(t, c, topology.Gen{N: 1}); !maps.Equal(got, want) {
		t.Fatalf("replayed counts differ:\n got %v\nwant %v", got, want)
	}
	var recent1 []byte
	awaitPage(t, pages, "generation 1's recent #common, likes included, equal to generation 0's", func(p page.Page) bool {
		recent1, _ = json.Marshal(p.RecentPosts)
		return pages.Generation().N == 1 && bytes.Equal(recent1, recent0)
	})

	// The worker followed the pointer: new posts count in generation 1,
	// and the pages serve it.
	produce(t, cl, time.Now(), events.PostEvent{Type: events.PostCreated, UserID: "late", PostID: "p", Caption: "#common"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := pages.Page(context.Background(), "common")
		if err == nil && p.PostCount == 51 && pages.Generation().N == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the switch the page serves generation %v, count %d (%v); want generation 1, 51", pages.Generation(), p.PostCount, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestReplayFromATimeCountsOnlyLaterPosts(t *testing.T) {
	c, cl := setup(t)
	t0 := time.Now().Add(-2 * time.Hour)
	from := t0.Add(time.Hour)
	produce(t, cl, t0,
		events.PostEvent{Type: events.PostCreated, UserID: "a", PostID: "1", Caption: "#early #both"},
		events.PostEvent{Type: events.PostCreated, UserID: "b", PostID: "1", Caption: "#early"},
	)
	produce(t, cl, from.Add(time.Minute),
		events.PostEvent{Type: events.PostCreated, UserID: "c", PostID: "1", Caption: "#late #both"},
		// An edit of a post created before the replay's start is an edit of
		// an unknown post in the new generation: it counts nothing.
		events.PostEvent{Type: events.PostEdited, UserID: "a", PostID: "1", Caption: "#late"},
	)
	if got := counts(t, c, topology.Gen{}); got["early"] != 1 || got["both"] != 1 || got["late"] != 2 {
		t.Fatalf("generation 0 counts %v: the setup is wrong", got)
	}
	f, err := ParseFrom(from.Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if _, err := Run(context.Background(), Options{Cluster: c, From: f, Progress: &progress, Every: 500 * time.Millisecond}); err != nil {
		t.Fatalf("replay: %v\n%s", err, progress.String())
	}
	if got, want := counts(t, c, topology.Gen{N: 1}), map[string]int64{"late": 1, "both": 1}; !maps.Equal(got, want) {
		t.Fatalf("counts from %s: %v, want %v (only the later post counts)", from.Format(time.RFC3339), got, want)
	}
}
