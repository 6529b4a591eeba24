package events

import (
	"cmp"
	"time"
)

// Lengths of the hashtag lists. Each list is kept longer than it is shown,
// so that posts leaving it (deleted, edited out, unliked) are replaced by
// the next ones without reading anything but the list: a list is exact as
// long as fewer posts leave it than it keeps beyond what it shows
// (topology.md, Lists).
const (
	// RecentShown is the length of a page's recent_posts; RecentKept how
	// many of the newest posts hashtag-recent-table keeps.
	RecentShown = 100
	RecentKept  = 200
	// RankKept is how many candidates the ranking keeps per hashtag to
	// publish a top list of MaxTopPosts.
	RankKept = 300
	// MaxRemoved bounds the posts a hashtag's top table remembers as gone
	// from the hashtag, so that a ranking document naming one cannot
	// bring it back; RemovedFor is how long it remembers each.
	MaxRemoved = 1000
	RemovedFor = 7 * 24 * time.Hour
	// TrendingShown is the length of GET /v1/trending; TrendingWindow its
	// window.
	TrendingShown  = 50
	TrendingWindow = time.Hour
)

// Recent is the value of hashtag-recent-table: the newest posts carrying
// the hashtag, newest first (ties by key), at most RecentKept.
type Recent struct {
	Posts     []PostSummary    `json:"posts"`
	UpdatedAt time.Time        `json:"updated_at"`
	W         ChangeWatermarks `json:"w,omitempty"`
}

// Top is the value of hashtag-top-table: the ranking job's last document
// for the hashtag, kept true by post-changes (a post that left the hashtag
// leaves the list, an edited caption or a new like count replaces the
// summary) and guarded by Removed against documents that still name a
// post that left.
//
// It changes only when a document arrives or a listed post changes, so it
// lives apart from the count: a count change must not rewrite the list
// (topology.md, Internal records).
type Top struct {
	TopPosts   []PostSummary `json:"top_posts"`
	ComputedAt time.Time     `json:"computed_at"`
	// Removed are the posts that left the hashtag most recently (at most
	// MaxRemoved, none older than RemovedFor): a document that names one
	// is stale about it.
	Removed []Removal        `json:"removed,omitempty"`
	W       ChangeWatermarks `json:"w,omitempty"`
	// UpdatedAt is when the list last changed, by a document or a change.
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Removal is a post that left a hashtag, by key (PostKey), and when.
type Removal struct {
	Key string    `json:"k"`
	At  time.Time `json:"at"`
}

// Ranked is the value of hashtag-rank-table: the ranking's candidates for
// the hashtag's top list, best first, at most RankKept.
type Ranked struct {
	Display string        `json:"display"`
	Posts   []PostSummary `json:"posts"`
	// Floor is the best score of any post that was dropped from Posts or
	// refused by it: every post outside Posts scores at most Floor, so the
	// candidates above Floor are exactly the best posts of the hashtag.
	Floor float64 `json:"floor"`
	// Dirty says the shown list changed since PublishedAt.
	Dirty       bool             `json:"dirty,omitempty"`
	PublishedAt time.Time        `json:"published_at,omitzero"`
	W           ChangeWatermarks `json:"w,omitempty"`
}

// Trend is the value of hashtag-trending-table: the hashtag's new posts
// per creation minute (Minute) over the last TrendingWindow.
type Trend struct {
	Display string           `json:"display"`
	Minutes map[int64]int64  `json:"m,omitempty"`
	W       ChangeWatermarks `json:"w,omitempty"`
}

// Trending is one hashtag of GET /v1/trending: new posts in the window.
type Trending struct {
	Hashtag string `json:"hashtag"`
	Key     string `json:"key"`
	Posts   int64  `json:"posts"`
}

// MoreTrending orders hashtags by new posts, most first, ties by key.
func MoreTrending(a, b Trending) int {
	if c := cmp.Compare(b.Posts, a.Posts); c != 0 {
		return c
	}
	return cmp.Compare(a.Key, b.Key)
}

// TrendingPartial is a record of hashtag-trending-partials, keyed by the
// partition number: the best TrendingShown hashtags of one partition of
// hashtag-trending-table at ComputedAt. Every hashtag lives in one
// partition, so the global best are among the partials' and a reader
// merges them (topology.md, Trending).
type TrendingPartial struct {
	Partition  int32     `json:"partition"`
	Partitions int32     `json:"partitions"`
	ComputedAt time.Time `json:"computed_at"`
	// ExpiresAt is when a reader stops merging the partial: a partition
	// whose owner stopped publishing (the ranking is off, or moved the
	// partition) must not trend forever.
	ExpiresAt time.Time  `json:"expires_at"`
	Hashtags  []Trending `json:"hashtags"`
}
