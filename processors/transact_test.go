package processors

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
)

// startBroker starts an embedded broker with tagstream's topics.
func startBroker(t *testing.T, partitions int) kafka.Cluster {
	t.Helper()
	b, err := broker.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	c := kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: partitions}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.EnsureTopics(ctx, Topics()); err != nil {
		t.Fatal(err)
	}
	return c
}

// startExtractor runs the extractor until the test ends or stop is called.
func startExtractor(t *testing.T, c kafka.Cluster, o Options) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := runExtractor(ctx, c, o)
		if ctx.Err() == nil {
			t.Errorf("extractor stopped on its own: %v", err)
		}
		done <- err
	}()
	var stopped bool
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("extractor did not stop within 30s")
			}
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func producePosts(t *testing.T, cl *kgo.Client, es ...events.PostEvent) {
	t.Helper()
	var recs []*kgo.Record
	for _, e := range es {
		v, _ := json.Marshal(e)
		recs = append(recs, &kgo.Record{Topic: string(TopicPosts), Key: []byte(e.UserID), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// readSums reads post-hashtags with read_committed until the sums per
// hashtag equal want, or fails after 30s with what it saw.
func readSums(t *testing.T, c kafka.Cluster, want map[string]int64) {
	t.Helper()
	cl, err := c.Client("test-read", kgo.ConsumeTopics(string(TopicPostHashtags)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]int64{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("committed deltas sum to %v, want %v", got, want)
		}
		f.EachRecord(func(r *kgo.Record) {
			d, err := events.DecodeDelta(string(r.Key), r.Value)
			if err != nil {
				t.Fatalf("bad delta: %v", err)
			}
			got[d.Hashtag] += d.Delta
		})
		if equalSums(got, want) {
			return
		}
	}
}

func equalSums(a, b map[string]int64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

func TestTransactionalExtractorOnKfake(t *testing.T) {
	c := startBroker(t, 3)
	cl, err := c.Client("test-produce")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stop := startExtractor(t, c, Options{InstanceID: "t1"})
	producePosts(t, cl,
		events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "alice", Caption: "#a #b"},
		events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "bob", Caption: "#a"},
	)
	readSums(t, c, map[string]int64{"a": 2, "b": 1})
	if err := stop(); err != nil {
		t.Fatalf("extractor stopped with %v", err)
	}

	// A new instance restores the post states from the changelog: the
	// edit and the delete are diffed against what the first one stored,
	// and the duplicate create counts nothing.
	startExtractor(t, c, Options{InstanceID: "t1"})
	producePosts(t, cl,
		events.PostEvent{Type: events.PostEdited, PostID: "p1", UserID: "alice", Caption: "#b #c"},
		events.PostEvent{Type: events.PostDeleted, PostID: "p1", UserID: "bob"},
		events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "bob", Caption: "#a"},
		events.PostEvent{Type: events.PostCreated, PostID: "p2", UserID: "carol", Caption: "#c"},
	)
	readSums(t, c, map[string]int64{"a": 0, "b": 1, "c": 2})
}
