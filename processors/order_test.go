package processors

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// produceAt writes posts and likes records to partition 0, keyed by
// their user, stamped at.
func produceAt(t *testing.T, cl *kgo.Client, at time.Time, topic string, values ...any) {
	t.Helper()
	var recs []*kgo.Record
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var key string
		switch e := v.(type) {
		case events.PostEvent:
			key = e.UserID
		case events.LikeEvent:
			key = e.UserID
		}
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(key), Value: b, Timestamp: at})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// awaitConsumed waits until the extractor group has committed the ends of
// posts and likes, and returns the post states of the extractor's table.
func awaitConsumed(t *testing.T, c kafka.Cluster, cl *kgo.Client) map[string]events.PostState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for {
		ends, err := adm.ListEndOffsets(ctx, string(TopicPosts), string(TopicLikes))
		if err != nil {
			t.Fatal(err)
		}
		done := err == nil
		offs, err := adm.FetchOffsets(ctx, string(GroupExtractor))
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(e.Topic, e.Partition)
			if err != nil || e.Offset > 0 && (!ok || o.At < e.Offset) {
				done = false
			}
		})
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the extractor did not commit the ends of posts and likes %v within 60s", ends)
		case <-time.After(50 * time.Millisecond):
		}
	}
	rc, err := c.Client("test-read", kgo.ConsumeTopics(topology.Gen{}.ExtractorTable()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords()) // the end offset counts the last commit marker
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	ends, err := kadm.NewClient(rc).ListCommittedOffsets(ctx, topology.Gen{}.ExtractorTable())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]events.PostState{}
	for read := map[int32]int64{}; ; {
		missing := false
		ends.Each(func(e kadm.ListedOffset) { missing = missing || read[e.Partition] < e.Offset })
		if !missing {
			return states
		}
		f := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("extractor-table not read to its end %v within 60s (read %v)", ends, read)
		}
		f.EachRecord(func(r *kgo.Record) {
			read[r.Partition] = r.Offset + 1
			var s events.PostState
			if !r.Attrs.IsControl() && strings.Count(string(r.Key), "/") == 1 && json.Unmarshal(r.Value, &s) == nil {
				states[string(r.Key)] = s
			}
		})
	}
}

// A replay, or a worker catching up, reads posts and likes from far
// behind, and a fetch can bring a like before the create of its post.
// Here the create sits behind 2 MiB of other posts, past the first fetch
// of posts, and the like is the first likes record: the like must still
// count, as it did when the two were read in the order they were written
// (order.go, invariant 1b). Without the wait it counts nothing.
func TestALikeReadBeforeItsPostsCreateCounts(t *testing.T) {
	c := startBroker(t, 1)
	cl, err := c.Client("test-produce", kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the filler must weigh what it says
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var filler []any
	for i := range 8000 {
		filler = append(filler, events.PostEvent{Type: events.PostCreated, UserID: "filler", PostID: fmt.Sprint(i),
			Caption: "#filler " + strings.Repeat("x", 250)})
	}
	produceAt(t, cl, at, string(TopicPosts), filler...)
	produceAt(t, cl, at, string(TopicPosts), events.PostEvent{Type: events.PostCreated, UserID: "alice", PostID: "p1", Caption: "#late"})
	produceAt(t, cl, at, string(TopicLikes),
		events.LikeEvent{Type: events.Liked, UserID: "alice", PostID: "p1", LikerID: "bob", TS: at},
		events.LikeEvent{Type: events.Liked, UserID: "alice", PostID: "p1", LikerID: "carol", TS: at},
		events.LikeEvent{Type: events.Unliked, UserID: "alice", PostID: "p1", LikerID: "bob", TS: at},
	)
	waits, timeouts := LikeWaits.Value("posts"), LikeWaits.Value("timeout")
	startExtractor(t, c, Options{InstanceID: "t1"})
	states := awaitConsumed(t, c, cl)
	if s, ok := states["alice/p1"]; !ok || s.Likes != 1 {
		t.Errorf("alice/p1's state is %+v (known: %v), want 1 like (carol's; bob unliked): the likes were applied before the create", s, ok)
	}
	if LikeWaits.Value("posts") == waits {
		t.Errorf("no likes waited for their posts; the test no longer brings a like before its post's create")
	}
	if n := LikeWaits.Value("timeout") - timeouts; n != 0 {
		t.Errorf("%d waits timed out; they should end once the posts are read to their end", n)
	}
}

// A like of a post that never comes, stamped a year ahead so that no
// posts record ever passes it, waits only until the posts are read to
// their end: it counts nothing, and the partition's next likes apply
// without the wait's timeout.
func TestALikeOfAPostThatNeverComesWaitsOnlyForThePostsEnd(t *testing.T) {
	c := startBroker(t, 1)
	cl, err := c.Client("test-produce", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().Truncate(time.Millisecond)
	produceAt(t, cl, now, string(TopicPosts), events.PostEvent{Type: events.PostCreated, UserID: "alice", PostID: "p1", Caption: "#a"})
	waits, timeouts := LikeWaits.Value("posts"), LikeWaits.Value("timeout")
	ignored := Ignored.Value("like_unknown_post")
	startExtractor(t, c, Options{InstanceID: "t1"})
	awaitConsumed(t, c, cl)
	start := time.Now()
	produceAt(t, cl, now.AddDate(1, 0, 0), string(TopicLikes),
		events.LikeEvent{Type: events.Liked, UserID: "mallory", PostID: "never", LikerID: "mallory", TS: now})
	produceAt(t, cl, now, string(TopicLikes),
		events.LikeEvent{Type: events.Liked, UserID: "alice", PostID: "p1", LikerID: "bob", TS: now})
	states := awaitConsumed(t, c, cl)
	if s := states["alice/p1"]; s.Likes != 1 {
		t.Errorf("alice/p1 has %d likes, want bob's", s.Likes)
	}
	if _, ok := states["mallory/never"]; ok {
		t.Errorf("a like of a post never created left a state: %+v", states["mallory/never"])
	}
	if n := Ignored.Value("like_unknown_post") - ignored; n != 1 {
		t.Errorf("tagstream_extractor_ignored_total{kind=like_unknown_post} moved by %d, want 1", n)
	}
	if LikeWaits.Value("posts") == waits {
		t.Errorf("the like of an unknown post did not wait for the posts")
	}
	if n := LikeWaits.Value("timeout") - timeouts; n != 0 {
		t.Errorf("%d waits timed out after %v; the posts were at their end", n, time.Since(start))
	}
}
