package snapshot

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/load"
)

func TestWriteTimestampOrdersGenerationsFirst(t *testing.T) {
	if WriteTimestamp(0, 0) <= 0 {
		t.Fatal("timestamp of the first record must be positive")
	}
	if !(WriteTimestamp(1, 0) > WriteTimestamp(0, MaxOffset)) {
		t.Fatal("generation 1 at offset 0 must beat generation 0 at any offset")
	}
	if WriteTimestamp(3, 10) <= WriteTimestamp(3, 9) {
		t.Fatal("a later offset must have a later timestamp")
	}
	if WriteTimestamp(MaxGeneration, MaxOffset) <= 0 {
		t.Fatal("the largest timestamp overflows")
	}
	if g := GenerationOf(WriteTimestamp(7, 12345)); g != 7 {
		t.Fatalf("GenerationOf = %d, want 7", g)
	}
}

func TestSchemaStatements(t *testing.T) {
	st := SchemaStatements("ks1", "{'class': 'SimpleStrategy', 'replication_factor': 1}")
	// keyspace, 2 types, 3 tables, and the 4 ALTERs of an upgrade.
	if len(st) != 10 {
		t.Fatalf("%d statements, want 10: %q", len(st), st)
	}
	for _, s := range st {
		if !strings.Contains(s, "ks1.") && !strings.HasPrefix(s, "CREATE KEYSPACE IF NOT EXISTS ks1") {
			t.Fatalf("statement without keyspace: %s", s)
		}
		// Run by every --init-schema, on new and old keyspaces alike.
		if !strings.Contains(s, "IF NOT EXISTS") {
			t.Fatalf("statement not idempotent: %s", s)
		}
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	for _, c := range []Config{
		{Keyspace: "drop table x"},
		{Generation: -1},
		{Generation: MaxGeneration + 1},
		{CountsTopic: "same", TopTopic: "same"},
		{TopTopic: "same", RecentTopic: "same"},
		{CountsTopic: "same", PartialsTopic: "same"},
		{Replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}; DROP KEYSPACE x"},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

var (
	pc = partition{"counts", 0}
	pt = partition{"top", 0}
	pr = partition{"recent", 0}
	pp = partition{"partials", 0}
)

func countChange(off int64, n int64) *change {
	return &change{ts: WriteTimestamp(0, off), src: pc, count: &countColumns{Display: "X", PostCount: n}}
}

func recentChange(off int64, ids ...string) *change {
	c := &change{ts: WriteTimestamp(0, off), src: pr, recent: &recentColumns{}}
	for _, id := range ids {
		c.recent.Posts = append(c.recent.Posts, events.PostSummary{PostID: id, UserID: "u"})
	}
	return c
}

func partialChange(off int64, posts int64) *change {
	return &change{ts: WriteTimestamp(0, off), src: pp,
		partial: &events.TrendingPartial{Hashtags: []events.Trending{{Key: "k", Posts: posts}}}}
}

func TestDirtySetKeepsLatestPerKeyAndGroup(t *testing.T) {
	d := newDirtySet()
	for _, p := range []partition{pc, pt, pr, pp} {
		d.assign(p, 0)
	}
	d.add("a", groupCount, countChange(0, 1), 0)
	d.add("a", groupCount, countChange(1, 2), 1)
	d.add("b", groupCount, countChange(2, 1), 2)
	d.add("a", groupTop, &change{ts: WriteTimestamp(0, 0), src: pt, top: &topColumns{}}, 0)
	d.add("a", groupCount, countChange(0, 1), 0) // a re-read of an older record
	d.add("c", groupRecent, recentChange(0, "r1"), 0)
	d.add("c", groupRecent, recentChange(1, "r2", "r1"), 1)
	d.addPartial(2, partialChange(0, 5), 0)
	d.addPartial(2, partialChange(1, 7), 1)
	d.addPartial(0, partialChange(2, 1), 2)
	if d.len() != 5 {
		t.Fatalf("%d keys pending, want 3 hashtags and 2 partials", d.len())
	}
	b := d.take()
	if got := b.rows["a"][groupCount].count.PostCount; got != 2 {
		t.Fatalf("a's count %d, want the latest, 2", got)
	}
	if b.rows["a"][groupTop] == nil || b.rows["b"][groupTop] != nil || b.rows["a"][groupRecent] != nil {
		t.Fatalf("groups wrong: a %v, b %v", b.rows["a"], b.rows["b"])
	}
	if got := b.rows["c"][groupRecent].recent.Posts; len(got) != 2 || b.rows["c"][groupCount] != nil {
		t.Fatalf("c's recent %v, want the latest, 2 posts, alone", got)
	}
	if got := b.partials[2].partial.Hashtags[0].Posts; got != 7 || len(b.partials) != 2 {
		t.Fatalf("partials %v: partition 2 has %d posts, want the latest, 7", b.partials, got)
	}
	// The metric label: one value per set of groups, so its sum is rows.
	if got := b.rows["a"].columns(); got != "count+top" {
		t.Fatalf("a's columns %q, want count+top", got)
	}
	if b.offsets[pc] != 3 || b.offsets[pt] != 1 || b.offsets[pr] != 2 || b.offsets[pp] != 3 {
		t.Fatalf("offsets %v, want counts 3, top 1, recent 2, partials 3", b.offsets)
	}
	if d.len() != 0 {
		t.Fatal("take left keys")
	}

	// A failed flush restores its rows and partials, but never over a
	// newer change.
	d.add("a", groupCount, countChange(5, 9), 5)
	d.addPartial(2, partialChange(4, 8), 4)
	d.restore(b.rows, b.partials)
	b2 := d.take()
	if got := b2.rows["a"][groupCount].count.PostCount; got != 9 {
		t.Fatalf("restore overwrote a newer count: %d", got)
	}
	if got := b2.partials[2].partial.Hashtags[0].Posts; got != 8 {
		t.Fatalf("restore overwrote a newer partial: %d posts", got)
	}
	if b2.rows["a"][groupTop] == nil || b2.rows["b"][groupCount] == nil || b2.rows["c"][groupRecent] == nil || b2.partials[0] == nil {
		t.Fatal("restore lost rows")
	}
	// Offsets not marked flushed are offered again.
	if b2.offsets[pc] != 6 {
		t.Fatalf("offsets %v, want counts 6", b2.offsets)
	}
	d.markFlushed(b2.offsets)
	if b3 := d.take(); len(b3.offsets) != 0 {
		t.Fatalf("flushed offsets offered again: %v", b3.offsets)
	}

	// Dropping a partition forgets its changes and position.
	d.add("a", groupCount, countChange(6, 10), 6)
	d.add("a", groupTop, &change{ts: WriteTimestamp(0, 1), src: pt, top: &topColumns{}}, 1)
	d.add("c", groupCount, countChange(7, 1), 7)
	d.addPartial(1, partialChange(5, 1), 5)
	d.drop(map[partition]bool{pc: true, pp: true})
	if d.len() != 1 || d.rows["a"][groupCount] != nil || d.rows["a"][groupTop] == nil {
		t.Fatalf("drop left %v, partials %v", d.rows, d.partials)
	}
	if _, ok := d.pos[pc]; ok {
		t.Fatal("drop kept the position")
	}
}

// BenchmarkWriteAmplification feeds a simulated stream of count-changelog
// records, one per (post, hashtag) as the counter writes them, through the
// dirty set and counts the rows a flush every interval writes. The naive
// baseline writes one row per record (naive-rows/post, about 8). Time is
// simulated: posts arrive evenly at the given rate over 30 s.
//
//	go test ./snapshot -run '^$' -bench WriteAmplification -benchtime 1x
func BenchmarkWriteAmplification(b *testing.B) {
	const window = 30 * time.Second
	for _, rate := range []int{58, 1160, 11600} {
		for _, interval := range []time.Duration{time.Second, 5 * time.Second} {
			b.Run(fmt.Sprintf("posts_per_s=%d/interval=%s", rate, interval), func(b *testing.B) {
				posts := int(float64(rate) * window.Seconds())
				perFlush := max(1, int(float64(rate)*interval.Seconds()))
				var rows, records, fed int
				for b.Loop() {
					// load's defaults: 50,000 hashtags, Zipf s=1.1, 8 per post.
					g := load.NewGenerator(load.Options{Seed: 1, Users: 100_000, Tags: 50_000, PerPost: 8, Zipf: 1.1})
					d := newDirtySet()
					var off int64
					for i := range posts {
						for _, k := range g.Next().Keys {
							d.add(k, groupCount, &change{ts: WriteTimestamp(0, off), src: pc, count: &countColumns{PostCount: off}}, off)
							off++
							records++
						}
						if (i+1)%perFlush == 0 {
							rows += len(d.take().rows)
						}
					}
					rows += len(d.take().rows)
					fed += posts
				}
				b.ReportMetric(float64(rows)/float64(fed), "rows/post")
				b.ReportMetric(float64(records)/float64(fed), "naive-rows/post")
				b.ReportMetric(float64(rows)/float64(records), "rows/record")
			})
		}
	}
}
