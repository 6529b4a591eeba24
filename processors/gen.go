package processors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/kafka"
)

// Gen is a generation of the derived state: the topics and groups that
// `posts` is turned into. Generation 0 has the plain names; generation n > 0
// appends ".g<n>" to every derived topic and group, so `tagstream replay`
// can build a new generation from the posts log beside the one serving,
// and switch to it once it has caught up. posts, hashtag-top-posts and
// dead-letters are inputs or side outputs, shared by every generation.
type Gen int

func (g Gen) name(s string) string {
	if g == 0 {
		return s
	}
	return s + ".g" + strconv.Itoa(int(g))
}

// PostHashtags is the generation's re-keyed stream.
func (g Gen) PostHashtags() goka.Stream { return goka.Stream(g.name(string(TopicPostHashtags))) }

// Extractor, Counts and Top are the generation's group names.
func (g Gen) Extractor() goka.Group { return goka.Group(g.name(string(GroupExtractor))) }

// Counts is the generation's counter group.
func (g Gen) Counts() goka.Group { return goka.Group(g.name(string(GroupCounts))) }

// Top is the generation's top-posts group.
func (g Gen) Top() goka.Group { return goka.Group(g.name(string(GroupTop))) }

// ExtractorTable, CountsTable and TopTable are the generation's tables.
func (g Gen) ExtractorTable() string { return string(g.Extractor()) + "-table" }

// CountsTable is the changelog of the generation's counts.
func (g Gen) CountsTable() goka.Table { return goka.GroupTable(g.Counts()) }

// TopTable is the changelog of the generation's top posts.
func (g Gen) TopTable() goka.Table { return goka.GroupTable(g.Top()) }

// Groups lists the generation's consumer groups.
func (g Gen) Groups() []string {
	return []string{string(g.Extractor()), string(g.Counts()), string(g.Top())}
}

// Topics lists every topic the generation needs, with its retention. posts
// is the source of truth and is kept forever: the whole state can be
// rebuilt by replaying it.
func (g Gen) Topics() []kafka.TopicSpec {
	week := 7 * 24 * time.Hour
	return []kafka.TopicSpec{
		{Name: string(TopicPosts), Retention: -1},
		{Name: string(TopicTopPosts), Retention: week},
		{Name: string(TopicDeadLetters), Retention: 4 * week},
		{Name: TopicGeneration, Compact: true, Partitions: 1},
		{Name: string(g.PostHashtags()), Retention: week},
		{Name: g.ExtractorTable(), Compact: true},
		{Name: string(g.CountsTable()), Compact: true},
		{Name: string(g.TopTable()), Compact: true},
	}
}

// Derived lists the topics only this generation uses.
func (g Gen) Derived() []string {
	return []string{string(g.PostHashtags()), g.ExtractorTable(), string(g.CountsTable()), string(g.TopTable())}
}

// TopicGeneration holds the generation every process serves: one record
// under key "current" whose value is {"generation": n}. Workers, API
// processes and snapshotters follow it; `tagstream replay` moves it.
const TopicGeneration = "tagstream-generation"

type genRecord struct {
	Generation Gen       `json:"generation"`
	At         time.Time `json:"at"`
}

// CurrentGen returns the generation in TopicGeneration; 0 if the topic is
// empty or does not exist yet.
func CurrentGen(ctx context.Context, c kafka.Cluster) (Gen, error) {
	cl, err := c.Client("generation")
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, TopicGeneration)
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("processors: end of %s: %w", TopicGeneration, err)
	}
	end, ok := ends.Lookup(TopicGeneration, 0)
	if !ok || end.Offset == 0 {
		return 0, nil
	}
	// The last record is the current generation: read just that one.
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{TopicGeneration: {0: kgo.NewOffset().At(end.Offset - 1)}})
	for {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("processors: read %s: %w", TopicGeneration, err)
		}
		var rec genRecord
		var got bool
		f.EachRecord(func(r *kgo.Record) {
			if json.Unmarshal(r.Value, &rec) == nil {
				got = true
			}
		})
		if got {
			return rec.Generation, nil
		}
	}
}

// SetGen makes g the generation every process serves.
func SetGen(ctx context.Context, c kafka.Cluster, g Gen) error {
	cl, err := c.Client("generation")
	if err != nil {
		return err
	}
	defer cl.Close()
	v, _ := json.Marshal(genRecord{Generation: g, At: time.Now().UTC()})
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: TopicGeneration, Key: []byte("current"), Value: v}).FirstErr(); err != nil {
		return fmt.Errorf("processors: set generation %d: %w", g, err)
	}
	return nil
}

// UntilGenChanges returns a context that is cancelled when the current
// generation is no longer g (checked every interval), and a stop function.
func UntilGenChanges(ctx context.Context, c kafka.Cluster, g Gen, interval time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if cur, err := CurrentGen(ctx, c); err == nil && cur != g {
				cancel()
				return
			}
		}
	}()
	return ctx, cancel
}
