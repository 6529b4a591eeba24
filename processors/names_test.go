package processors

import (
	"github.com/lovoo/goka"

	"github.com/tagstream/tagstream/topology"
)

// The names of generation 0 of the default namespace, as the tests below
// feed and read them.
var (
	TopicPosts        = topology.Gen{}.NS.Posts()
	TopicTopPosts     = topology.Gen{}.NS.TopPosts()
	TopicDeadLetters  = topology.Gen{}.NS.DeadLetters()
	TopicPostHashtags = topology.Gen{}.PostHashtags()
	TopicLikes        = topology.Gen{}.NS.Likes()
	TopicPostChanges  = topology.Gen{}.PostChanges()
	TableExtractor    = topology.Gen{}.ExtractorTable()
	TableCounts       = goka.Table(topology.Gen{}.CountsTable())
	TableTop          = goka.Table(topology.Gen{}.TopTable())
	GroupExtractor    = topology.Gen{}.Extractor()
)
