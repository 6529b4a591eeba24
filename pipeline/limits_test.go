package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/events"
)

// padded returns the JSON object prefix+`"pad":"xx…"}` of exactly size
// bytes: a valid record of that size, since every decoder ignores unknown
// fields.
func padded(t *testing.T, prefix string, size int) []byte {
	t.Helper()
	b := []byte(prefix + `,"pad":"`)
	n := size - len(b) - len(`"}`)
	if n < 0 {
		t.Fatalf("size %d too small for %s", size, prefix)
	}
	b = append(b, bytes.Repeat([]byte("x"), n)...)
	return append(b, `"}`...)
}

// Every input topic has a size limit, checked before decoding, that fits
// what brokers and producers take: a record at the limit is processed, one
// just over it and one near the broker's maximum (about 1 MB) are
// dead-lettered with their size and digest in a dead letter of a few KiB,
// and processing goes on. The dead letter of a record that large was once
// a copy of it, too large to produce: the processors crash-looped.
func TestInputLimits(t *testing.T) { eachBackend(t, testInputLimits) }

func testInputLimits(t *testing.T, be backend) {
	n := be.start(t, t.TempDir(), 2, be.namespace(t))
	cl, err := n.cluster.Client("test", kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const nearMax = 1_000_000
	produce := func(topic, key string, value []byte) {
		t.Helper()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte(key), Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce %d bytes to %s: %v", len(value), topic, err)
		}
	}
	post := func(id, caption string) string {
		return fmt.Sprintf(`{"type":"created","post_id":%q,"user_id":"erin","caption":%q`, id, caption)
	}
	type big struct {
		topic string
		size  int
	}
	var over []big

	// posts
	posts := n.ns.Posts()
	produce(posts, "erin", padded(t, post("atlimit", "#atlimit"), events.MaxPostEventBytes))
	for _, size := range []int{events.MaxPostEventBytes + 1, nearMax} {
		produce(posts, "erin", padded(t, post("over", "#overlimit"), size))
		over = append(over, big{posts, size})
	}
	produce(posts, "erin", []byte(post("after", "#atlimit #afterposts")+"}"))
	awaitCount(t, n.http, "atlimit", 2)
	awaitCount(t, n.http, "afterposts", 1)

	// post-hashtags: deltas must name a posts record, and erin's records
	// are there (the first one, in erin's partition).
	pc, err := n.cluster.Client("test", kgo.ConsumeTopics(posts),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	first := pc.PollRecords(ctx, 1).Records()
	pc.Close()
	if len(first) == 0 {
		t.Fatal("no posts record to name as a delta's source")
	}
	src := first[0]
	delta := func(tag string) string {
		return fmt.Sprintf(`{"hashtag":%q,"display":%q,"delta":1,"src":{"p":%d,"o":%d}`, tag, tag, src.Partition, src.Offset)
	}
	deltas := n.ns.Gen(0).PostHashtags()
	produce(deltas, "deltalimit", padded(t, delta("deltalimit"), events.MaxDeltaBytes))
	for _, size := range []int{events.MaxDeltaBytes + 1, nearMax} {
		produce(deltas, "deltaover", padded(t, delta("deltaover"), size))
		over = append(over, big{deltas, size})
	}
	awaitCount(t, n.http, "deltalimit", 1)

	// hashtag-top-posts
	tops := n.ns.TopPosts()
	doc := func(id string) string {
		return fmt.Sprintf(`{"hashtag":"atlimit","computed_at":%q,"posts":[{"post_id":%q,"user_id":"erin"}]`,
			time.Now().UTC().Format(time.RFC3339Nano), id)
	}
	produce(tops, "atlimit", padded(t, doc("atlimit"), events.MaxTopPostsBytes))
	awaitTop(t, n.http, "atlimit", "atlimit")
	for _, size := range []int{events.MaxTopPostsBytes + 1, nearMax} {
		produce(tops, "atlimit", padded(t, doc("over"), size))
		over = append(over, big{tops, size})
	}
	produce(tops, "atlimit", []byte(doc("after")+"}"))
	awaitTop(t, n.http, "atlimit", "after")

	// The six dead letters, each of a few KiB, say what was refused.
	dc, err := n.cluster.Client("test", kgo.ConsumeTopics(n.ns.DeadLetters()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	seen := map[big]bool{}
	for len(seen) < len(over) {
		fs := dc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("dead letters found: %v, want %v", seen, over)
		}
		fs.EachRecord(func(r *kgo.Record) {
			var dl events.DeadLetter
			if err := json.Unmarshal(r.Value, &dl); err != nil {
				t.Fatalf("dead letter: %v", err)
			}
			if len(r.Value) > 16<<10 || len(dl.Value) > events.MaxDeadLetterValue || !dl.Truncated || dl.Reason != events.ReasonTooLarge {
				t.Errorf("dead letter of %d bytes for a %d-byte record of %s: reason %s, truncated %v", len(r.Value), dl.Size, dl.Topic, dl.Reason, dl.Truncated)
			}
			seen[big{dl.Topic, dl.Size}] = true
		})
	}
	for _, b := range over {
		if !seen[b] {
			t.Errorf("no dead letter for the %d-byte record of %s", b.size, b.topic)
		}
	}
}

// awaitTop polls tag's page until its first top post is id.
func awaitTop(t *testing.T, addr, tag, id string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, b := do(t, http.MethodGet, "http://"+addr+"/v1/hashtags/"+tag, "", "")
		last = fmt.Sprintf("%d %.200s", resp.StatusCode, b)
		var p pageBody
		if resp.StatusCode == http.StatusOK && json.Unmarshal(b, &p) == nil && len(p.TopPosts) > 0 && p.TopPosts[0].PostID == id {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("top post of %s never became %s; last answer %s", tag, id, last)
}
