package views

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/tagstream/tagstream/api"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/topology"
)

// runViews runs a generation's views on goka's in-memory tester: table
// values go through the views' real codecs and storage.
func runViews(t *testing.T) (*Views, *tester.Tester, topology.Gen) {
	t.Helper()
	return runViewsTelling(t, nil)
}

// runViewsTelling is runViews with views that tell changed what changed.
func runViewsTelling(t *testing.T, changed func(keys ...string)) (*Views, *tester.Tester, topology.Gen) {
	t.Helper()
	tt := tester.New(t)
	g := topology.Namespace("").Gen(1)
	v, err := newViews(nil, g, changed, func(string) []goka.ViewOption { return []goka.ViewOption{goka.WithViewTester(tt)} })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !v.Recovered(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("views did not recover on the tester")
		}
	}
	return v, tt, g
}

func summaries(prefix string, n int, likes int64) []events.PostSummary {
	out := make([]events.PostSummary, n)
	for i := range out {
		out[i] = events.PostSummary{PostID: fmt.Sprintf("%s%d", prefix, i), UserID: "alice", ImageID: "img1",
			Caption: "gold #sunset", CreatedAt: time.Date(2026, 11, 30, 3, 0, i, 0, time.UTC), LikeCount: likes, Rev: 1}
	}
	return out
}

var hitsRE = regexp.MustCompile(`(?m)^tagstream_page_cache_lookups_total\{result="hit"\} (\d+)$`)

// pageHits reads the API's page-cache hits from its /metrics.
func pageHits(t *testing.T, h http.Handler) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	m := hitsRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// The API keeps a page built from the views while their values stay the
// same, and a value changed in any of the three tables shows in the very
// next GET: the views' Cached codecs give a changed value new lists.
func TestAPIPageFollowsTableChanges(t *testing.T) {
	v, tt, g := runViews(t)
	at := time.Date(2026, 11, 30, 3, 30, 0, 0, time.UTC)
	tt.SetTableValue(goka.Table(g.CountsTable()), "sunset", events.Count{Display: "Sunset", PostCount: 3, UpdatedAt: at})
	tt.SetTableValue(goka.Table(g.TopTable()), "sunset", events.Top{TopPosts: summaries("t", 3, 5), ComputedAt: at, UpdatedAt: at})
	tt.SetTableValue(goka.Table(g.RecentTable()), "sunset", events.Recent{Posts: summaries("r", 3, 5), UpdatedAt: at})

	h := api.New(api.Config{Secret: []byte(strings.Repeat("k", 32)), Now: func() time.Time { return at }}, v, nil)
	get := func() string {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/hashtags/sunset", nil))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	first := get()
	hits := pageHits(t, h)
	if again := get(); again != first || pageHits(t, h) != hits+1 {
		t.Fatalf("an unchanged page was not served from the cache (hits %d → %d)", hits, pageHits(t, h))
	}

	steps := []struct {
		table, want string
		value       any
	}{
		{g.TopTable(), `"post_id":"t0","user_id":"alice","image_id":"img1","caption":"gold #sunset","created_at":"2026-11-30T03:00:00Z","like_count":6}`,
			events.Top{TopPosts: append(summaries("t", 1, 6), summaries("t", 3, 5)[1:]...), ComputedAt: at, UpdatedAt: at}},
		{g.CountsTable(), `"post_count":4`, events.Count{Display: "Sunset", PostCount: 4, UpdatedAt: at}},
		{g.CountsTable(), `"hashtag":"SUNSET"`, events.Count{Display: "SUNSET", PostCount: 4, UpdatedAt: at}},
		{g.RecentTable(), `"recent_posts":[{"post_id":"n0"`, events.Recent{Posts: append(summaries("n", 1, 0), summaries("r", 3, 5)...), UpdatedAt: at}},
		{g.TopTable(), `"top_posts":[]`, events.Top{ComputedAt: at, UpdatedAt: at}},
	}
	for _, s := range steps {
		tt.SetTableValue(goka.Table(s.table), "sunset", s.value)
		if body := get(); !strings.Contains(body, s.want) {
			t.Fatalf("after a change of %s, the next GET lacks %s:\n%s", s.table, s.want, body)
		}
	}
}

// BenchmarkAPIHotPage is a hot page read through the API from the views:
// 100 top and 100 recent posts, kept by the API between requests.
func BenchmarkAPIHotPage(b *testing.B) {
	tt := tester.New(b)
	g := topology.Namespace("").Gen(1)
	v, err := newViews(nil, g, nil, func(string) []goka.ViewOption { return []goka.ViewOption{goka.WithViewTester(tt)} })
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); v.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for !v.Recovered() {
		time.Sleep(10 * time.Millisecond)
	}
	at := time.Date(2026, 11, 30, 3, 30, 0, 0, time.UTC)
	tt.SetTableValue(goka.Table(g.CountsTable()), "sunset", events.Count{Display: "Sunset", PostCount: 3, UpdatedAt: at})
	tt.SetTableValue(goka.Table(g.TopTable()), "sunset", events.Top{TopPosts: summaries("t", 100, 5), ComputedAt: at, UpdatedAt: at})
	tt.SetTableValue(goka.Table(g.RecentTable()), "sunset", events.Recent{Posts: summaries("r", 100, 5), UpdatedAt: at})
	h := api.New(api.Config{Secret: []byte(strings.Repeat("k", 32))}, v, nil)
	req := httptest.NewRequest("GET", "/v1/hashtags/sunset", nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
