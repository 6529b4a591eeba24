// Package views serves hashtag pages from local goka views of the two
// hashtag tables, joined by key at read time.
package views

import (
	"context"
	"errors"
	"fmt"

	"github.com/lovoo/goka"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/topology"
)

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
func (v *Views) Page(_ context.Context, key string) (page.Page, error) {
	cv, err := v.counts.Get(key)
	if err != nil {
		return page.Page{}, fmt.Errorf("views: get count %q: %w", key, err)
	}
	tv, err := v.top.Get(key)
	if err != nil {
		return page.Page{}, fmt.Errorf("views: get top posts %q: %w", key, err)
	}
	if cv == nil && tv == nil {
		return page.Page{}, fmt.Errorf("views: %q: %w", key, page.ErrNotFound)
	}
	var c *events.Count
	var t *events.Top
	if cnt, ok := cv.(events.Count); ok {
		c = &cnt
	}
	if top, ok := tv.(events.Top); ok {
		t = &top
	}
	return page.Join(key, c, t), nil
}
