// Package views serves hashtag pages from local goka views of the two
// hashtag tables, joined by key at read time.
package views

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/topology"
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

// ErrNotFound reports a hashtag no post or ranking ever mentioned.
var ErrNotFound = errors.New("views: hashtag not found")

// Views are local replicas of hashtag-counts-table and hashtag-top-table.
type Views struct {
	counts *goka.View
	top    *goka.View
}

// New creates the views of generation g's tables; Run starts them.
func New(c kafka.Cluster, g topology.Gen) (*Views, error) {
	counts, err := goka.NewView(c.Brokers, goka.Table(g.CountsTable()), events.JSON[events.Count]{},
		gokaopts.View(c, g.CountsTable())...)
	if err != nil {
		return nil, fmt.Errorf("views: %s: %w", g.CountsTable(), err)
	}
	top, err := goka.NewView(c.Brokers, goka.Table(g.TopTable()), events.JSON[events.Top]{},
		gokaopts.View(c, g.TopTable())...)
	if err != nil {
		return nil, fmt.Errorf("views: %s: %w", g.TopTable(), err)
	}
	return &Views{counts: counts, top: top}, nil
}

// Run follows both tables until ctx is done.
func (v *Views) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return v.counts.Run(ctx) })
	g.Go(func() error { return v.top.Run(ctx) })
	return g.Wait()
}

// Recovered reports whether both views have caught up with their tables
// once; before that, a page could show a count that is far too low.
func (v *Views) Recovered() bool { return v.counts.Recovered() && v.top.Recovered() }

// errRecovering is Ready's answer until both views have recovered.
var errRecovering = errors.New("views: still recovering their tables")

// Ready returns nil once both views have recovered (Recovered), for
// /readyz. It takes a context to share the API's page-source interface
// with the Cassandra reader, which has to ask a server.
func (v *Views) Ready(context.Context) error {
	if !v.Recovered() {
		return errRecovering
	}
	return nil
}

// Page joins the two tables for the normalised key. The context is unused:
// a local view answers from memory.
func (v *Views) Page(_ context.Context, key string) (Page, error) {
	c, err := v.counts.Get(key)
	if err != nil {
		return Page{}, fmt.Errorf("views: get count %q: %w", key, err)
	}
	t, err := v.top.Get(key)
	if err != nil {
		return Page{}, fmt.Errorf("views: get top posts %q: %w", key, err)
	}
	if c == nil && t == nil {
		return Page{}, ErrNotFound
	}
	return Join(key, c, t), nil
}

// Join builds a page from a count and a top list, either of which may be
// nil (a tag the ranking job covers before any post counted, or the reverse).
func Join(key string, c, t any) Page {
	p := Page{Key: key, Display: key, TopPosts: []events.PostSummary{}}
	if cnt, ok := c.(events.Count); ok {
		p.PostCount = cnt.PostCount
		if cnt.Display != "" {
			p.Display = cnt.Display
		}
		p.UpdatedAt = cnt.UpdatedAt
	}
	if top, ok := t.(events.Top); ok {
		if top.TopPosts != nil {
			p.TopPosts = top.TopPosts
		}
		if top.ComputedAt.After(p.UpdatedAt) {
			p.UpdatedAt = top.ComputedAt
		}
	}
	return p
}
