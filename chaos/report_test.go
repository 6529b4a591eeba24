package chaos

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// The report must name the stage that lost a change. On the embedded
// broker: #a's deltas from posts partition 1 sum to one less than the
// truth (the extractor lost one), #b's deltas are right but its count is
// one short (the counter lost one), #c's count in the table is right but
// the API served an old one (the view is behind).
func TestReportNamesTheStageThatLostAChange(t *testing.T) {
	b, err := broker.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: 2}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.EnsureTopics(ctx, topology.Namespace("").Gen(0).Topics()); err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	delta := func(tag string, part int32, off, n int64) {
		v, _ := json.Marshal(events.Delta{Hashtag: tag, Display: tag, Delta: n, Source: events.Source{Partition: part, Offset: off}})
		recs = append(recs, &kgo.Record{Topic: topology.Gen{}.PostHashtags(), Key: []byte(tag), Value: v})
	}
	count := func(tag string, n int64, w map[int32]int64) {
		v, _ := json.Marshal(events.Count{Display: tag, PostCount: n, Watermarks: w})
		recs = append(recs, &kgo.Record{Topic: topology.Gen{}.CountsTable(), Key: []byte(tag), Value: v})
	}
	delta("a", 0, 10, 2)
	delta("a", 1, 7, 1) // the truth of partition 1 is 2
	count("a", 3, map[int32]int64{0: 10, 1: 7})
	delta("b", 0, 11, 2)
	count("b", 1, map[int32]int64{0: 11})
	delta("c", 1, 12, 1)
	count("c", 0, nil)
	count("c", 1, map[int32]int64{1: 12})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	r := &report{
		o: Options{Cluster: c},
		truth: &truth{
			total: map[string]int64{"a": 4, "b": 2, "c": 1, "d": 5},
			parts: map[string]map[int32]int64{"a": {0: 2, 1: 2}, "b": {0: 2}, "c": {1: 1}, "d": {0: 5}},
		},
		served: map[string]int64{"a": 3, "b": 1, "c": 0, "d": 5},
	}
	stale, err := r.staleView(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stale {
		t.Error("staleView: true, but #a and #b are wrong in the table itself")
	}
	out, err := r.forensics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(out)
	for _, want := range []string{
		"#a truth 4 served 3\n  stage: extractor (its committed deltas differ from the truth on posts/1)",
		"#b truth 2 served 1\n  stage: counter (the deltas sum to the truth, the table's count is 1)",
		"#c truth 1 served 0\n  stage: view (the table holds the truth, the API served 0)",
		"posts/1: truth 2, committed deltas sum 1 in 1 records (last src offset 7), count's watermark 7  <- deltas differ from the truth",
		"#b truth 2 served 1",
		"posts/0: truth 2, committed deltas sum 2 in 1 records (last src offset 11), count's watermark 11\n",
		"count 1 w map[0:11]",
		"#c truth 1 served 0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("forensics lacks %q", want)
		}
	}
	if strings.Contains(out, "#d") {
		t.Error("forensics lists #d, which was served right")
	}

	// Only #c wrong, and right in its table: the view is behind.
	r = &report{o: r.o, truth: r.truth, served: map[string]int64{"a": 4, "b": 2, "c": 0, "d": 5}}
	if stale, err := r.staleView(ctx); err != nil || !stale {
		t.Errorf("staleView with only #c served behind its table = %v, %v; want true", stale, err)
	}
}
