// Package page is the hashtag page both read backends serve: the local
// goka views (package views) and the Cassandra snapshot (package
// snapshot) build the same Page from the same two values, so the API
// answers alike whichever it reads, and neither backend owns the model.
package page

import (
	"context"
	"errors"
	"time"

	"github.com/tagstream/tagstream/events"
)

// Page is everything a hashtag page shows, before image URLs are derived.
type Page struct {
	Key       string
	Display   string
	PostCount int64
	TopPosts  []events.PostSummary
	// UpdatedAt is the later of the count's and the top list's times.
	UpdatedAt time.Time
}

// ErrNotFound reports a hashtag no post or ranking ever mentioned. Every
// Source's error for one matches it (errors.Is).
var ErrNotFound = errors.New("page: hashtag not found")

// Source serves pages: the views, the Cassandra snapshot.
type Source interface {
	// Page returns the page of the normalised key, or an error matching
	// ErrNotFound.
	Page(ctx context.Context, key string) (Page, error)
	// Ready returns nil when pages can be served: /readyz.
	Ready(ctx context.Context) error
}

// Join builds a page from a count and a top list, either of which may be
// nil (a tag the ranking job covers before any post counted, or the
// reverse).
func Join(key string, c *events.Count, t *events.Top) Page {
	p := Page{Key: key, Display: key, TopPosts: []events.PostSummary{}}
	if c != nil {
		p.PostCount = c.PostCount
		if c.Display != "" {
			p.Display = c.Display
		}
		p.UpdatedAt = c.UpdatedAt
	}
	if t != nil {
		if t.TopPosts != nil {
			p.TopPosts = t.TopPosts
		}
		if t.ComputedAt.After(p.UpdatedAt) {
			p.UpdatedAt = t.ComputedAt
		}
	}
	return p
}
