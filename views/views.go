// Package views serves hashtag pages and the trending list from local
// goka views of the served tables, joined by key at read time.
package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"golang.org/x/sync/errgroup"

	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/kafka/gokaopts"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/topology"
)

// Views are local replicas of a generation's served topics: the counts,
// the top and recent lists, and the trending partials.
type Views struct {
	counts   *goka.View
	top      *goka.View
	recent   *goka.View
	partials *goka.View
	now      func() time.Time
	// changed, if set, is told the surrogate keys of what changed
	// (Following.OnChange).
	changed func(keys ...string)
}

// New creates the views of generation g's served topics; Run starts them.
// changed, if not nil, is told the surrogate keys (package edge) of every
// hashtag page and trending list whose table value a view applied once
// that view has recovered: it is called from the views' goroutines and
// must not block.
func New(c kafka.Cluster, g topology.Gen, changed func(keys ...string)) (*Views, error) {
	return newViews(c.Brokers, g, changed, func(topic string) []goka.ViewOption { return gokaopts.View(c, topic) })
}

// newViews is New with the views' options given per topic (the tests
// run them on goka's tester).
func newViews(brokers []string, g topology.Gen, changed func(keys ...string), opts func(topic string) []goka.ViewOption) (*Views, error) {
	v := &Views{now: time.Now, changed: changed}
	for _, t := range []struct {
		view  **goka.View
		topic string
		codec goka.Codec
	}{
		// Every page reads a count: decoded once per value, not per request
		// (json.Unmarshal of it showed in the read path's profile).
		{&v.counts, g.CountsTable(), events.NewCached[events.Count]("view_counts", 0, events.Reread).Shared()},
		{&v.top, g.TopTable(), events.NewCached[events.Top]("view_top", 0, events.Reread).Shared()},
		{&v.recent, g.RecentTable(), events.NewCached[events.Recent]("view_recent", 0, events.Reread).Shared()},
		{&v.partials, g.TrendingPartials(), events.JSON[events.TrendingPartial]{}},
	} {
		o := opts(t.topic)
		if changed != nil {
			o = append(o, goka.WithViewCallback(v.notify(t.view)))
		}
		view, err := goka.NewView(brokers, goka.Table(t.topic), t.codec, o...)
		if err != nil {
			return nil, fmt.Errorf("views: %s: %w", t.topic, err)
		}
		*t.view = view
	}
	return v, nil
}

// notify returns the update callback of *view: it applies the change as
// goka would, then tells v.changed what it changed. Not before the view
// has first recovered: replaying a table is no news to an edge, and would
// purge every page at every start (Run purges them all once, when every
// view has recovered). After that, always: goka's Recovered is false again
// while any one partition reconnects, and the others' changes must not be
// lost meanwhile.
func (v *Views) notify(view **goka.View) goka.UpdateCallback {
	var recovered atomic.Bool
	return func(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
		if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
			return err
		}
		if !recovered.Load() {
			if !(*view).Recovered() {
				return nil
			}
			recovered.Store(true)
		}
		if *view == v.partials {
			v.changed(edge.TrendingKey)
		} else {
			v.changed(edge.HashtagKey(key))
		}
		return nil
	}
}

func (v *Views) all() []*goka.View { return []*goka.View{v.counts, v.top, v.recent, v.partials} }

// Run follows every table until ctx is done.
func (v *Views) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, view := range v.all() {
		g.Go(func() error { return view.Run(ctx) })
	}
	g.Go(func() error { v.watchRecovery(ctx, 5*time.Second); return nil })
	return g.Wait()
}

// watchRecovery says, every interval until every view has recovered,
// which tables are still being read, then how long recovery took (an API
// that answers 503 on /readyz for a minute must say why in its log), and
// then, with a change hook, purges every page (notify). It checks five
// times a second, so that purge comes soon after.
func (v *Views) watchRecovery(ctx context.Context, every time.Duration) {
	start, logged := time.Now(), time.Now()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		var waiting []string
		for _, view := range v.all() {
			if !view.Recovered() {
				waiting = append(waiting, string(view.Topic()))
			}
		}
		if len(waiting) == 0 {
			slog.Info("views recovered", "took", time.Since(start).Round(time.Millisecond))
			// Pages served while the views recovered (goka answers Get
			// meanwhile), and changes made while this API was down, were
			// never purged: purge them all once.
			if v.changed != nil {
				v.changed(edge.PagesKey, edge.TrendingKey)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if time.Since(logged) >= every {
			logged = time.Now()
			slog.Info("views recovering", "waiting_for", waiting, "recovered", len(v.all())-len(waiting), "of", len(v.all()),
				"for", time.Since(start).Round(time.Second))
		}
	}
}

// Recovered reports whether every view has caught up with its table once;
// before that, a page could show a count that is far too low.
func (v *Views) Recovered() bool {
	for _, view := range v.all() {
		if !view.Recovered() {
			return false
		}
	}
	return true
}

// errRecovering is Ready's answer until every view has recovered.
var errRecovering = errors.New("views: still recovering their tables")

// Ready returns nil once every view has recovered (Recovered), for
// /readyz. It takes a context to share the API's page-source interface
// with the Cassandra reader, which has to ask a server.
func (v *Views) Ready(context.Context) error {
	if !v.Recovered() {
		return errRecovering
	}
	return nil
}

// get returns the value of key in view as a T, nil if there is none.
func get[T any](view *goka.View, key string) (*T, error) {
	raw, err := view.Get(key)
	if err != nil {
		return nil, fmt.Errorf("views: get %q from %s: %w", key, view.Topic(), err)
	}
	if t, ok := raw.(T); ok {
		return &t, nil
	}
	return nil, nil
}

// Page joins the tables for the normalised key. The context is unused: a
// local view answers from memory.
func (v *Views) Page(_ context.Context, key string) (page.Page, error) {
	c, err := get[events.Count](v.counts, key)
	if err != nil {
		return page.Page{}, err
	}
	t, err := get[events.Top](v.top, key)
	if err != nil {
		return page.Page{}, err
	}
	r, err := get[events.Recent](v.recent, key)
	if err != nil {
		return page.Page{}, err
	}
	if c == nil && t == nil && r == nil {
		return page.Page{}, fmt.Errorf("views: %q: %w", key, page.ErrNotFound)
	}
	return page.Join(key, c, t, r), nil
}

// SharedLists implements page.SharedLists: the lists of a page are the
// values the top and recent views' Cached codecs decoded, returned again
// for the same bytes and never modified.
func (v *Views) SharedLists() bool { return true }

// Trending merges the partials of every partition.
func (v *Views) Trending(context.Context) (page.Trending, error) {
	it, err := v.partials.Iterator()
	if err != nil {
		return page.Trending{}, fmt.Errorf("views: trending partials: %w", err)
	}
	defer it.Release()
	var partials []events.TrendingPartial
	for it.Next() {
		raw, err := it.Value()
		if err != nil {
			return page.Trending{}, fmt.Errorf("views: trending partial %q: %w", it.Key(), err)
		}
		if p, ok := raw.(events.TrendingPartial); ok {
			partials = append(partials, p)
		}
	}
	return page.MergeTrending(partials, v.now()), nil
}
