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

	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// startBroker starts an embedded broker with tagstream's topics.
// producerOf returns a client of c that the test closes, and a context
// bounding the test's calls.
func producerOf(t *testing.T, c kafka.Cluster) (context.Context, *kgo.Client) {
	t.Helper()
	cl, err := c.Client("test-produce")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx, cl
}

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
	if err := c.EnsureTopics(ctx, topology.Gen{}.Topics()); err != nil {
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

// A record the broker refuses must not be left out of a transaction that
// commits: its batch's offsets would commit without it. Here dead-letters
// takes records of at most 300 bytes, so the dead letter of a poison
// record is refused; the transaction holding it, and the valid post read
// in the same batch, must abort, and the extractor stop with the cause.
func TestExtractorAbortsATransactionWithARefusedRecord(t *testing.T) {
	c := startBroker(t, 3)
	cl, err := c.Client("test-produce")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(cl)
	resp, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("300")}}, string(TopicDeadLetters))
	if err == nil {
		_, err = resp.On(string(TopicDeadLetters), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Topic: string(TopicPosts), Key: []byte("mallory"), Value: []byte(`{"type":"created","post_id":"x","user_id":"mallory","caption":"` + strings.Repeat("#a ", 100))},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	producePosts(t, cl, events.PostEvent{Type: events.PostCreated, PostID: "p1", UserID: "alice", Caption: "#ok"})

	xctx, xcancel := context.WithTimeout(ctx, 20*time.Second)
	defer xcancel()
	xerr := runExtractor(xctx, c, Options{InstanceID: "t1"})
	offsets, err := adm.FetchOffsets(ctx, string(GroupExtractor))
	if err != nil {
		t.Fatal(err)
	}
	offsets.Each(func(o kadm.OffsetResponse) {
		if o.At > 0 {
			t.Errorf("posts/%d committed at %d although its transaction lost a record", o.Partition, o.At)
		}
	})
	rc, err := c.Client("test-read", kgo.ConsumeTopics(string(TopicPostHashtags)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	defer pcancel()
	if recs := rc.PollFetches(pctx).Records(); len(recs) > 0 {
		t.Errorf("%d deltas of the aborted transaction are visible: %s", len(recs), recs[0].Value)
	}
	if xerr == nil || !strings.Contains(xerr.Error(), "aborted") {
		t.Errorf("extractor returned %v, want the aborted transaction's cause", xerr)
	}
}

// The worker's bound reads the input's ends again when a record overtakes
// what it knows, so a delta of a post produced after its last read is
// accepted, and one past the real end is not.
func TestInputEndsFollowThePostsLog(t *testing.T) {
	c := startBroker(t, 2)
	bound, cl, err := newInputEnds(c, "")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(p int32, o int64, want bool) {
		t.Helper()
		got, err := bound.Read(ctx, string(TopicPosts), p, o)
		if err != nil || got != want {
			t.Fatalf("Read(posts %d/%d) = %v, %v; want %v", p, o, got, err, want)
		}
	}
	check(0, 0, false) // empty log
	pc, err := c.Client("test-produce", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for i := range 3 {
		if err := pc.ProduceSync(ctx, &kgo.Record{Topic: string(TopicPosts), Partition: 0, Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		check(0, int64(i), true)
	}
	check(0, 3, false)
	check(1, 0, false)
	check(2, 0, false) // no such partition
	check(0, -1, false)
}

// A post state that does not decode stops the extractor at the first
// event of that post, naming it, and is counted: dropping it would make
// every later edit or delete of that post count nothing, with no trace.
// (States are decoded on first use, so the restore itself goes through.)
func TestAStateThatDoesNotDecodeStopsTheExtractorAtItsPost(t *testing.T) {
	c := startBroker(t, 1)
	ctx, cl := producerOf(t, c)
	table := topology.Gen{}.ExtractorTable()
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Topic: table, Key: []byte("alice/p1"), Value: []byte(`{"keys":["a"],"display":["a"]}`)},
		&kgo.Record{Topic: table, Key: []byte("alice/p2"), Value: []byte(`{"keys":`)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	states, _, err := restore(ctx, c, table, []int32{0}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before := BadStates.Value()
	b := newBatch(topology.Gen{})
	edit := func(post string) {
		b.add(states[0], &kgo.Record{Topic: string(TopicPosts), Key: []byte("alice"),
			Value: fmt.Appendf(nil, `{"type":"edited","user_id":"alice","post_id":%q,"caption":"#b"}`, post)})
	}
	edit("p1")
	if b.err != nil {
		t.Fatalf("an edit of a post whose state decodes: %v", b.err)
	}
	edit("p2")
	if b.err == nil || !strings.Contains(b.err.Error(), `"alice/p2"`) {
		t.Fatalf("batch error = %v, want one naming alice/p2", b.err)
	}
	if BadStates.Value() != before+1 {
		t.Errorf("tagstream_extractor_bad_states_total moved by %d, want 1", BadStates.Value()-before)
	}
}

// A commit interval the transaction timeout cannot hold (likes' waits
// included) is refused before anything starts, not aborted by the broker
// at every transaction.
func TestExtractorRefusesACommitIntervalItsTransactionsCannotHold(t *testing.T) {
	err := runExtractor(context.Background(), kafka.Cluster{}, Options{CommitInterval: 3 * time.Second, TxnTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "above 2.5s") {
		t.Fatalf("runExtractor with a 3s interval and a 10s timeout: %v", err)
	}
}
