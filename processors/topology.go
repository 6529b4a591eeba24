// Package processors defines tagstream's stages: the extractor that re-keys
// posts by hashtag in Kafka transactions (franz-go), and the goka groups of
// the counter and the top-posts table. Each goka group is a small
// DefineGroup with named edges; callbacks decode, apply a pure function of
// (table value, record) and act only through the goka context.
package processors

import (
	"github.com/lovoo/goka"

	"github.com/tagstream/tagstream/kafka"
)

// Topic names. They are the contract with other programs (topology.md).
const (
	// TopicPosts is the event log of posts, keyed by user_id.
	TopicPosts goka.Stream = "posts"
	// TopicPostHashtags is the re-keyed stream, written in the extractor's
	// transactions: one Delta per (hashtag, posts partition, transaction),
	// keyed by the normalised hashtag.
	TopicPostHashtags goka.Stream = "post-hashtags"
	// TopicTopPosts carries the ranking job's top lists, keyed by hashtag.
	TopicTopPosts goka.Stream = "hashtag-top-posts"
	// TopicDeadLetters receives every input record a processor rejected.
	TopicDeadLetters goka.Stream = "dead-letters"
)

// Group names. Each group's table is "<group>-table" (goka.GroupTable).
const (
	GroupExtractor goka.Group = "extractor"
	GroupCounts    goka.Group = "hashtag-counts"
	GroupTop       goka.Group = "hashtag-top"
)

// Groups lists every consumer group of generation 0.
func Groups() []string { return Gen(0).Groups() }

// TopicNames lists the names of Topics.
func TopicNames() []string {
	var names []string
	for _, s := range Topics() {
		names = append(names, s.Name)
	}
	return names
}

// Tables read by views and, later, the snapshotter.
var (
	TableCounts = goka.GroupTable(GroupCounts)
	TableTop    = goka.GroupTable(GroupTop)
)

// Topics lists every topic generation 0 needs (Gen.Topics).
func Topics() []kafka.TopicSpec { return Gen(0).Topics() }

// APITopics lists the topics an API process uses: posts, which it writes,
// the tables it serves and the generation pointer. It reads no other and,
// under ACLs, may not even describe the others (Grants).
func APITopics() []kafka.TopicSpec {
	var out []kafka.TopicSpec
	for _, s := range Topics() {
		switch s.Name {
		case string(TopicPosts), string(TableCounts), string(TableTop), TopicGeneration:
			out = append(out, s)
		}
	}
	return out
}
