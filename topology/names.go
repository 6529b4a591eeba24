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
	topPosts     = "hashtag-top-posts"
	deadLetters  = "dead-letters"
	pointer      = "tagstream-generation"
	postHashtags = "post-hashtags"
	extractor    = "extractor"
	counts       = "hashtag-counts"
	top          = "hashtag-top"
	// txnPrefix starts every extractor transactional id.
	txnPrefix = "tagstream-extractor-"
)

// Posts is the event log of posts, keyed by user_id: the source of truth.
func (ns Namespace) Posts() string { return ns.name(posts) }

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

// Extractor, Counts and Top are the generation's consumer groups; each
// group's table is "<group>-table".
func (g Gen) Extractor() string { return g.name(extractor) }

// Counts is the group of the counter.
func (g Gen) Counts() string { return g.name(counts) }

// Top is the group of the top-posts table.
func (g Gen) Top() string { return g.name(top) }

// ExtractorTable is the changelog of the extractor's post states.
func (g Gen) ExtractorTable() string { return g.Extractor() + "-table" }

// CountsTable is the changelog of the counts.
func (g Gen) CountsTable() string { return g.Counts() + "-table" }

// TopTable is the changelog of the top posts.
func (g Gen) TopTable() string { return g.Top() + "-table" }

// Groups lists the generation's consumer groups.
func (g Gen) Groups() []string { return []string{g.Extractor(), g.Counts(), g.Top()} }

// Derived lists the topics only this generation uses.
func (g Gen) Derived() []string {
	return []string{g.PostHashtags(), g.ExtractorTable(), g.CountsTable(), g.TopTable()}
}

// Topics lists every topic the generation needs, with its retention. posts
// is the source of truth and is kept forever: the whole state can be
// rebuilt by replaying it.
func (g Gen) Topics() []kafka.TopicSpec {
	week := 7 * 24 * time.Hour
	ns := g.NS
	return []kafka.TopicSpec{
		{Name: ns.Posts(), Retention: -1},
		{Name: ns.TopPosts(), Retention: week},
		{Name: ns.DeadLetters(), Retention: 4 * week},
		{Name: ns.Pointer(), Compact: true, Partitions: 1},
		{Name: g.PostHashtags(), Retention: week},
		{Name: g.ExtractorTable(), Compact: true},
		{Name: g.CountsTable(), Compact: true},
		{Name: g.TopTable(), Compact: true},
	}
}

// TopicNames lists the names of Topics.
func (g Gen) TopicNames() []string {
	var out []string
	for _, t := range g.Topics() {
		out = append(out, t.Name)
	}
	return out
}

// APITopics lists the topics an API process uses: posts, which it writes,
// the tables it serves and the generation pointer. It reads no other and,
// under ACLs, may not even describe the others (Grants).
func (g Gen) APITopics() []kafka.TopicSpec {
	var out []kafka.TopicSpec
	for _, s := range g.Topics() {
		switch s.Name {
		case g.NS.Posts(), g.CountsTable(), g.TopTable(), g.NS.Pointer():
			out = append(out, s)
		}
	}
	return out
}
