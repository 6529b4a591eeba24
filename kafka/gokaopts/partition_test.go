package gokaopts_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/murmur2"
)

func keys() []string {
	out := []string{"", "a", "sunset", "Sunset", "straße", "日本", "🌅", "user-42", "x/y"}
	for i := range 500 {
		out = append(out, fmt.Sprintf("user%d", i), fmt.Sprintf("tag-%x", i*7919))
	}
	return out
}

// partitionsOf reads back every record of topic and returns key -> partition.
func partitionsOf(t *testing.T, brokers []string, topic string, want int) map[string]int32 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string]int32{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume %s after %d records: %v", topic, len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Key)] = r.Partition })
	}
	return got
}

// franz-go's default partitioner (what any Kafka client uses) and goka's
// emitter with tagstream's hasher must put every key in the same partition;
// otherwise a post produced by another client is counted by a goka instance
// that does not own the hashtag's table partition.
func TestFranzGoAndGokaAgreeOnEveryKey(t *testing.T) {
	b, err := broker.Start(t.TempDir(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const parts = 12
	c := kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: parts}
	ks := keys()
	if err := c.EnsureTopics(context.Background(), []kafka.TopicSpec{{Name: "by-franz"}, {Name: "by-goka"}}); err != nil {
		t.Fatal(err)
	}

	cl, err := c.Client("test")
	if err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for _, k := range ks {
		recs = append(recs, &kgo.Record{Topic: "by-franz", Key: []byte(k), Value: []byte("v")})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()

	em, err := goka.NewEmitter(c.Brokers, "by-goka", new(codec.String), gokaopts.Emitter(c, "by-goka")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if _, err := em.Emit(k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	if err := em.Finish(); err != nil {
		t.Fatal(err)
	}

	franz := partitionsOf(t, c.Brokers, "by-franz", len(ks))
	gk := partitionsOf(t, c.Brokers, "by-goka", len(ks))
	used := map[int32]bool{}
	for _, k := range ks {
		if franz[k] != gk[k] {
			t.Errorf("key %q: franz-go partition %d, goka partition %d", k, franz[k], gk[k])
		}
		if want := murmur2.Partition([]byte(k), parts); franz[k] != want {
			t.Errorf("key %q: franz-go partition %d, Java formula %d", k, franz[k], want)
		}
		used[franz[k]] = true
	}
	if len(used) != parts {
		t.Errorf("keys used %d of %d partitions: the test would not see a disagreement", len(used), parts)
	}

	// The control: goka's default FNV-32a hasher disagrees, which is what
	// this test exists to catch.
	disagree := 0
	for _, k := range ks {
		h := fnv.New32a()
		h.Write([]byte(k))
		p := int32(h.Sum32()) % parts
		if p < 0 {
			p = -p
		}
		if p != franz[k] {
			disagree++
		}
	}
	if disagree < len(ks)/2 {
		t.Errorf("goka's default hasher agreed on %d of %d keys; expected most to differ", len(ks)-disagree, len(ks))
	}
}
