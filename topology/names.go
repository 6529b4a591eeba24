// Package topology names tagstream's topics, consumer groups and
// transactional ids, says what each topic needs (partitions, retention,
// compaction), keeps the pointer to the generation being served, and says
// which principal may do what to each (grants.go). It is the contract with
// other programs that topology.md documents; the processors, views,
// emitters, the snapshotter and every tool take their names from here.
//
// A deployment's names live in a Namespace: the empty one gives the plain
// names of topology.md ("posts"); another prefixes every name ("t42.posts"),
// so that several deployments, or tests, share one cluster without seeing
// each other. Within a namespace, the derived state comes in generations
// (Gen): generation 0 has the plain derived names, generation n > 0
// appends ".g<n>" to them, so `tagstream replay` can build a new
// generation beside the one serving.
package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagstream/tagstream/kafka"
)

// Namespace prefixes every topic, group and transactional id of a
// deployment. "" is the default: the names of topology.md.
type Namespace string

// Valid reports a namespace Kafka can carry in every name: letters,
// digits, '.', '_' and '-', ending in '.' or '-' so names stay readable.
func (ns Namespace) Valid() error {
	if ns == "" {
		return nil
	}
	if len(ns) > 100 || strings.Trim(string(ns), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		return fmt.Errorf("topology: namespace %q: at most 100 of a-z A-Z 0-9 . _ -", ns)
	}
	if !strings.HasSuffix(string(ns), ".") && !strings.HasSuffix(string(ns), "-") {
		return fmt.Errorf("topology: namespace %q must end in '.' or '-'", ns)
	}
	return nil
}

func (ns Namespace) name(s string) string { return string(ns) + s }

// Base names, before namespace and generation. They are the contract with
// other programs (topology.md).
const (
	posts        = "posts"
	likes        = "likes"
	topPosts     = "hashtag-top-posts"
	deadLetters  = "dead-letters"
	pointer      = "tagstream-generation"
	postHashtags = "post-hashtags"
	postChanges  = "post-changes"
	partials     = "hashtag-trending-partials"
	extractor    = "extractor"
	counts       = "hashtag-counts"
	top          = "hashtag-top"
	recent       = "hashtag-recent"
	rank         = "hashtag-rank"
	trending     = "hashtag-trending"
	// txnPrefix starts every extractor transactional id.
	txnPrefix = "tagstream-extractor-"
)

// Posts is the event log of posts, keyed by user_id: the source of truth.
func (ns Namespace) Posts() string { return ns.name(posts) }

// Likes is the event log of likes, keyed by the post owner's user_id and
// co-partitioned with Posts.
func (ns Namespace) Likes() string { return ns.name(likes) }

// TopPosts carries the ranking job's top lists, keyed by hashtag.
func (ns Namespace) TopPosts() string { return ns.name(topPosts) }

// DeadLetters receives every input record a processor rejected.
func (ns Namespace) DeadLetters() string { return ns.name(deadLetters) }

// Pointer holds the generation every process serves: one record under key
// "current" whose value is {"generation": n}.
func (ns Namespace) Pointer() string { return ns.name(pointer) }

// SnapshotGroup is the consumer group the snapshotters of ns share (its
// generations append ".g<n>").
func (ns Namespace) SnapshotGroup() string { return ns.name("tagstream-snapshot") }

// TransactionalIDPrefix starts the transactional id of every extractor.
func (ns Namespace) TransactionalIDPrefix() string { return ns.name(txnPrefix) }

// Gen is generation n of the namespace.
func (ns Namespace) Gen(n int) Gen { return Gen{NS: ns, N: n} }

// Gen is a generation of the derived state: the topics and groups that
// posts is turned into. posts, hashtag-top-posts and dead-letters are
// inputs or side outputs, shared by every generation. The zero Gen is
// generation 0 of the default namespace.
type Gen struct {
	NS Namespace
	N  int
}

func (g Gen) String() string { return strconv.Itoa(g.N) }

func (g Gen) name(s string) string {
	if g.N == 0 {
		return g.NS.name(s)
	}
	return g.NS.name(s) + ".g" + strconv.Itoa(g.N)
}

// Next is the generation after g.
func (g Gen) Next() Gen { return Gen{NS: g.NS, N: g.N + 1} }

// PostHashtags is the generation's re-keyed stream, written in the
// extractor's transactions: one Delta per (hashtag, posts partition,
// transaction), keyed by the normalised hashtag.
func (g Gen) PostHashtags() string { return g.name(postHashtags) }

// PostChanges is the generation's stream of what changed of each
// hashtag's posts, written in the extractor's transactions: one
// PostChanges per (hashtag, partition, transaction, chunk), keyed by the
// normalised hashtag. The lists are built from it.
func (g Gen) PostChanges() string { return g.name(postChanges) }

// TrendingPartials holds, per partition of the trending table, its best
// hashtags (events.TrendingPartial), keyed by the partition number.
func (g Gen) TrendingPartials() string { return g.name(partials) }

// Group is the generation's name of the group of a base name
// (processors.WorkerGroups: "extractor", "hashtag-counts", ...).
func (g Gen) Group(base string) string { return g.name(base) }

// Extractor, Counts, Top, Recent, Rank and Trending are the generation's
// consumer groups; each group's table is "<group>-table".
func (g Gen) Extractor() string { return g.name(extractor) }

// Counts is the group of the counter.
func (g Gen) Counts() string { return g.name(counts) }

// Top is the group of the top-posts table.
func (g Gen) Top() string { return g.name(top) }

// Recent is the group of the recent-posts lists.
func (g Gen) Recent() string { return g.name(recent) }

// Rank is the group of the ranking (`tagstream rank`).
func (g Gen) Rank() string { return g.name(rank) }

// Trending is the group of the trending windows (`tagstream rank`).
func (g Gen) Trending() string { return g.name(trending) }

// ExtractorTable is the changelog of the extractor's post states.
func (g Gen) ExtractorTable() string { return g.Extractor() + "-table" }

// CountsTable is the changelog of the counts.
func (g Gen) CountsTable() string { return g.Counts() + "-table" }

// TopTable is the changelog of the top posts.
func (g Gen) TopTable() string { return g.Top() + "-table" }

// RecentTable is the changelog of the recent-posts lists.
func (g Gen) RecentTable() string { return g.Recent() + "-table" }

// RankTable is the changelog of the ranking's candidates.
func (g Gen) RankTable() string { return g.Rank() + "-table" }

// TrendingTable is the changelog of the trending windows.
func (g Gen) TrendingTable() string { return g.Trending() + "-table" }

// WorkerGroups lists the groups a worker runs; RankGroups those of
// `tagstream rank`.
func (g Gen) WorkerGroups() []string {
	return []string{g.Extractor(), g.Counts(), g.Top(), g.Recent()}
}

// RankGroups lists the groups of `tagstream rank`.
func (g Gen) RankGroups() []string { return []string{g.Rank(), g.Trending()} }

// Groups lists the generation's consumer groups.
func (g Gen) Groups() []string { return append(g.WorkerGroups(), g.RankGroups()...) }

// WorkerDerived lists the topics of the generation that workers write;
// RankDerived those `tagstream rank` writes.
func (g Gen) WorkerDerived() []string {
	return []string{g.PostHashtags(), g.PostChanges(), g.ExtractorTable(), g.CountsTable(), g.TopTable(), g.RecentTable()}
}

// RankDerived lists the topics of the generation that `tagstream rank` writes.
func (g Gen) RankDerived() []string {
	return []string{g.RankTable(), g.TrendingTable(), g.TrendingPartials()}
}

// Derived lists the topics only this generation uses.
func (g Gen) Derived() []string { return append(g.WorkerDerived(), g.RankDerived()...) }

// Topics lists every topic the generation needs, with its retention. posts
// is the source of truth and is kept forever: the whole state can be
// rebuilt by replaying it.
func (g Gen) Topics() []kafka.TopicSpec {
	week := 7 * 24 * time.Hour
	ns := g.NS
	return []kafka.TopicSpec{
		{Name: ns.Posts(), Retention: -1},
		{Name: ns.Likes(), Retention: -1},
		{Name: ns.TopPosts(), Retention: week},
		{Name: ns.DeadLetters(), Retention: 4 * week},
		{Name: ns.Pointer(), Compact: true, Partitions: 1},
		{Name: g.PostHashtags(), Retention: week},
		{Name: g.PostChanges(), Retention: week},
		{Name: g.ExtractorTable(), Compact: true},
		{Name: g.CountsTable(), Compact: true},
		{Name: g.TopTable(), Compact: true},
		{Name: g.RecentTable(), Compact: true},
		{Name: g.RankTable(), Compact: true},
		{Name: g.TrendingTable(), Compact: true},
		// One partition: readers merge every partial, and a handful
		// of small records needs no parallelism.
		{Name: g.TrendingPartials(), Compact: true, Partitions: 1},
	}
}

// RankTopics lists the topics `tagstream rank` uses: post-changes, which
// it reads (a worker creates it), its own, and those it writes.
func (g Gen) RankTopics() []kafka.TopicSpec {
	want := append([]string{g.PostChanges(), g.NS.TopPosts(), g.NS.DeadLetters(), g.NS.Pointer()}, g.RankDerived()...)
	var out []kafka.TopicSpec
	for _, s := range g.Topics() {
		if slices.Contains(want, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// TopicNames lists the names of Topics.
func (g Gen) TopicNames() []string {
	var out []string
	for _, t := range g.Topics() {
		out = append(out, t.Name)
	}
	return out
}

// Served lists the topics hashtag pages and GET /v1/trending are read
// from: the API's views and the snapshotter follow these.
func (g Gen) Served() []string {
	return []string{g.CountsTable(), g.TopTable(), g.RecentTable(), g.TrendingPartials()}
}

// APITopics lists the topics an API process uses: posts and likes, which
// it writes, the topics it serves and the generation pointer. It reads no
// other and, under ACLs, may not even describe the others (Grants).
func (g Gen) APITopics() []kafka.TopicSpec {
	want := append([]string{g.NS.Posts(), g.NS.Likes(), g.NS.Pointer()}, g.Served()...)
	var out []kafka.TopicSpec
	for _, s := range g.Topics() {
		if slices.Contains(want, s.Name) {
			out = append(out, s)
		}
	}
	return out
}
