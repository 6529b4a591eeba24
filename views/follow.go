package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/topology"
)

// Following serves pages from the views of the generation the cluster
// currently serves (topology.CurrentGen). When `tagstream replay`
// moves the generation, it builds the new generation's views beside the
// old ones and switches only once they have recovered, so pages never go
// from complete to partial.
type Following struct {
	c     kafka.Cluster
	ns    topology.Namespace
	every time.Duration
	cur   atomic.Pointer[generation]
	// changed: see OnChange.
	changed func(keys ...string)
}

type generation struct {
	gen   topology.Gen
	views *Views
}

// Follow returns pages that follow the current generation of ns, checked
// every interval (5s if zero). Run starts it.
func Follow(c kafka.Cluster, ns topology.Namespace, every time.Duration) *Following {
	if every <= 0 {
		every = 5 * time.Second
	}
	return &Following{c: c, ns: ns, every: every}
}

// OnChange makes the views tell fn the surrogate keys (package edge) of
// what changed, once they have recovered (New), and, when the served
// generation moves, every page and the trending list. fn is called from
// the views' goroutines and must not block (edge.Queue.Add). Call it
// before Run.
func (f *Following) OnChange(fn func(keys ...string)) { f.changed = fn }

// Generation is the generation pages are served from (N -1 before the
// first views exist).
func (f *Following) Generation() topology.Gen {
	if g := f.cur.Load(); g != nil {
		return g.gen
	}
	return f.ns.Gen(-1)
}

// Run follows the generation until ctx is done.
func (f *Following) Run(ctx context.Context) error {
	g, err := topology.CurrentGen(ctx, f.c, f.ns)
	if err != nil {
		return err
	}
	stop, errs, err := f.start(ctx, g)
	if err != nil {
		return err
	}
	defer func() { stop() }()
	t := time.NewTicker(f.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			return err
		case <-t.C:
		}
		next, err := topology.CurrentGen(ctx, f.c, f.ns)
		if err != nil || next == f.Generation() {
			continue
		}
		slog.Info("views: switching generation", "from", f.Generation(), "to", next)
		oldStop := stop
		if stop, errs, err = f.start(ctx, next); err != nil {
			return err
		}
		oldStop()
	}
}

// start runs the views of g and makes them current once recovered.
func (f *Following) start(ctx context.Context, g topology.Gen) (stop func(), errs <-chan error, err error) {
	v, err := New(f.c, g, f.changed)
	if err != nil {
		return nil, nil, err
	}
	vctx, cancel := context.WithCancel(ctx)
	ch := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := v.Run(vctx); err != nil && vctx.Err() == nil {
			ch <- fmt.Errorf("views: generation %d: %w", g.N, err)
		}
	}()
	stop = func() { cancel(); <-done }
	if f.cur.Load() != nil {
		// Keep serving the old generation until the new one is complete.
		for !v.Recovered() {
			select {
			case <-ctx.Done():
				stop()
				return nil, nil, ctx.Err()
			case err := <-ch:
				stop()
				return nil, nil, err
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	if f.cur.Swap(&generation{gen: g, views: v}) != nil && f.changed != nil {
		f.changed(edge.PagesKey, edge.TrendingKey)
	}
	return stop, ch, nil
}

var errNoGeneration = errors.New("views: no generation started yet")

// Ready is the current generation's Ready.
func (f *Following) Ready(ctx context.Context) error {
	g := f.cur.Load()
	if g == nil {
		return errNoGeneration
	}
	return g.views.Ready(ctx)
}

// Page is the current generation's Page.
func (f *Following) Page(ctx context.Context, key string) (page.Page, error) {
	g := f.cur.Load()
	if g == nil {
		return page.Page{}, errNoGeneration
	}
	return g.views.Page(ctx, key)
}

// SharedLists implements page.SharedLists, as every generation's Views
// does. A new generation decodes its own values: new arrays.
func (f *Following) SharedLists() bool { return true }

// Trending is the current generation's Trending.
func (f *Following) Trending(ctx context.Context) (page.Trending, error) {
	g := f.cur.Load()
	if g == nil {
		return page.Trending{}, errNoGeneration
	}
	return g.views.Trending(ctx)
}
