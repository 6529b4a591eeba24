// Package page is what the read API serves, before image URLs are
// derived: a hashtag page and the trending list. Both read backends build
// them, the local goka views (package views) and the Cassandra snapshot
// (package snapshot), from the same table values, so the API answers
// alike whichever it reads, and neither backend owns the model.
package page

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/tagstream/tagstream/events"
)

// Page is everything a hashtag page shows.
type Page struct {
	Key       string
	Display   string
	PostCount int64
	TopPosts  []events.PostSummary
	// RecentPosts are the newest posts, newest first, at most
	// events.RecentShown.
	RecentPosts []events.PostSummary
	// UpdatedAt is the latest of the count's and the lists' times.
	UpdatedAt time.Time
}

// Trending is the body of GET /v1/trending: the hashtags with the most
// new posts in the last hour.
type Trending struct {
	Hashtags []events.Trending
	// ComputedAt is the oldest of the merged partials' times: every count
	// is at least this fresh.
	ComputedAt time.Time
}

// ErrNotFound reports a hashtag no post or ranking ever mentioned. Every
// Source's error for one matches it (errors.Is).
var ErrNotFound = errors.New("page: hashtag not found")

// Source serves pages: the views, the Cassandra snapshot.
type Source interface {
	// Page returns the page of the normalised key, or an error matching
	// ErrNotFound.
	Page(ctx context.Context, key string) (Page, error)
	// Trending returns the trending hashtags.
	Trending(ctx context.Context) (Trending, error)
	// Ready returns nil when pages can be served: /readyz.
	Ready(ctx context.Context) error
}

// SharedLists is implemented by a Source whose pages are built from
// shared, immutable values: the count's fields are copied, and a page's
// TopPosts and RecentPosts are (slices of) values the source returns again
// for as long as the table values they came from are unchanged, and never
// modifies (the views' decoded-value cache, events.Cached). For such a
// source, lists with the same backing array and length are the same
// lists, and a changed table value is a new array; a reader may keep what
// it derived from a page keyed by that identity (the API keeps the
// encoded page). A source that builds fresh lists for every page (the
// Cassandra snapshot) does not implement it, or returns false.
type SharedLists interface {
	SharedLists() bool
}

// Join builds a page from a count and the lists, any of which may be nil
// (a tag the ranking job covers before any post counted, or the reverse).
func Join(key string, c *events.Count, t *events.Top, r *events.Recent) Page {
	p := Page{Key: key, Display: key, TopPosts: []events.PostSummary{}, RecentPosts: []events.PostSummary{}}
	later := func(t time.Time) {
		if t.After(p.UpdatedAt) {
			p.UpdatedAt = t
		}
	}
	if c != nil {
		p.PostCount = c.PostCount
		if c.Display != "" {
			p.Display = c.Display
		}
		later(c.UpdatedAt)
	}
	if t != nil {
		if t.TopPosts != nil {
			p.TopPosts = t.TopPosts
		}
		later(t.ComputedAt)
		later(t.UpdatedAt)
	}
	if r != nil && r.Posts != nil {
		p.RecentPosts = r.Posts[:min(len(r.Posts), events.RecentShown)]
		later(r.UpdatedAt)
	}
	return p
}

// MergeTrending merges per-partition partials into the trending list at
// now: partials past their ExpiresAt are left out (their owner stopped
// publishing), and of the rest the events.TrendingShown best hashtags
// are kept, most new posts first, ties by key.
func MergeTrending(partials []events.TrendingPartial, now time.Time) Trending {
	out := Trending{Hashtags: []events.Trending{}}
	for _, p := range partials {
		if now.After(p.ExpiresAt) {
			continue
		}
		out.Hashtags = append(out.Hashtags, p.Hashtags...)
		if out.ComputedAt.IsZero() || p.ComputedAt.Before(out.ComputedAt) {
			out.ComputedAt = p.ComputedAt
		}
	}
	slices.SortFunc(out.Hashtags, events.MoreTrending)
	out.Hashtags = out.Hashtags[:min(len(out.Hashtags), events.TrendingShown)]
	return out
}
