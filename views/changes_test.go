package views

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/lovoo/goka/tester"

	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/topology"
)

type changes struct {
	mu   sync.Mutex
	keys []string
}

func (c *changes) add(keys ...string) {
	c.mu.Lock()
	c.keys = append(c.keys, keys...)
	c.mu.Unlock()
}

func (c *changes) has(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.keys, k)
}

// The views tell the edge what changed: every page once when they have
// recovered (what was served meanwhile, and what changed while the API was
// down), then each hashtag as its count or lists change and the trending
// list as a partial does; views still recovering tell nothing.
func TestViewsTellTheEdgeWhatChanged(t *testing.T) {
	var c changes
	v, _, _ := runViewsTelling(t, c.add)
	await := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the views told %q", what, c.keys)
			}
		}
	}
	await("every page purged once recovered", func() bool { return c.has(edge.PagesKey) && c.has(edge.TrendingKey) })
	// Each table's update callback, as goka calls it for a changelog
	// record (goka's tester writes its table values past it).
	for _, c2 := range []struct {
		view **goka.View
		key  string
		want string
	}{
		{&v.counts, "sunset", edge.HashtagKey("sunset")},
		{&v.recent, "日本", edge.HashtagKey("日本")},
		{&v.top, "beach", edge.HashtagKey("beach")},
		{&v.partials, "3", edge.TrendingKey},
	} {
		st := storage.NewMemory()
		if err := v.notify(c2.view)(nil, st, c2.key, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Get(c2.key); string(got) != "{}" {
			t.Errorf("%s: the callback did not store the value: %q", (*c2.view).Topic(), got)
		}
		await("a change of "+c2.key, func() bool { return c.has(c2.want) })
	}
	// Views that have not recovered tell nothing: a replay is no news.
	var quiet changes
	w, err := newViews(nil, topology.Namespace("").Gen(2), quiet.add, func(string) []goka.ViewOption {
		return []goka.ViewOption{goka.WithViewTester(tester.New(t))}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.notify(&w.counts)(nil, storage.NewMemory(), "sunset", []byte(`{}`)); err != nil || len(quiet.keys) != 0 {
		t.Errorf("a view still recovering told %q (%v)", quiet.keys, err)
	}
}
