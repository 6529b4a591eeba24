package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tagstream/tagstream/page"
)

// swapPages is a page source with the views' contract (page.SharedLists):
// a change is a new page with new lists, never an edit in place.
type swapPages struct{ cur atomic.Pointer[page.Page] }

func (s *swapPages) Page(_ context.Context, key string) (page.Page, error) {
	if p := s.cur.Load(); p != nil && p.Key == key {
		return *p, nil
	}
	return page.Page{}, page.ErrNotFound
}
func (s *swapPages) Trending(context.Context) (page.Trending, error) { return page.Trending{}, nil }
func (s *swapPages) Ready(context.Context) error                     { return nil }
func (s *swapPages) SharedLists() bool                               { return true }

func (s *swapPages) set(p page.Page) { s.cur.Store(&p) }

// withLikes is p with fresh lists, top_posts[0] having n likes.
func withLikes(p page.Page, n int64) page.Page {
	p.TopPosts, p.RecentPosts = slices.Clone(p.TopPosts), slices.Clone(p.RecentPosts)
	p.TopPosts[0].LikeCount = n
	return p
}

// lookups counts the page cache's hits and misses since the call.
func lookups() func() (hits, misses int64) {
	h0, m0 := pageCacheLookups.Cell("hit").Load(), pageCacheLookups.Cell("miss").Load()
	return func() (int64, int64) {
		return pageCacheLookups.Cell("hit").Load() - h0, pageCacheLookups.Cell("miss").Load() - m0
	}
}

// reference is the body a server without a page cache gives for p at now.
func reference(t *testing.T, p page.Page, now time.Time) string {
	t.Helper()
	src := &swapPages{}
	src.set(p)
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com", PageCacheBytes: -1, Now: func() time.Time { return now }}, src, &publisher{})
	w := call(h, "GET", "/v1/hashtags/"+p.Key, "", "")
	if w.Code != 200 {
		t.Fatalf("reference: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

// A kept page is served while the source returns the same values, with
// the body and headers a rebuild gives; any changed input (a list, the
// count, the display form) is a miss that shows the change at once; the
// same content in new arrays is a miss too, with the same body and ETag.
func TestPageCacheServesOnlyUnchangedPages(t *testing.T) {
	clk := &clock{time.Date(2026, 11, 30, 4, 20, 0, 0, time.UTC)}
	src := &swapPages{}
	src.set(hotPage())
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com", Now: clk.now}, src, &publisher{})
	get := func() (body, etag string) {
		t.Helper()
		w := call(h, "GET", "/v1/hashtags/sunset", "", "")
		if w.Code != 200 || w.Header().Get("Content-Length") != fmt.Sprint(w.Body.Len()) ||
			w.Header().Get("Content-Type") != "application/json; charset=utf-8" || w.Header().Get("Cache-Control") != "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400" {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
		return w.Body.String(), w.Header().Get("ETag")
	}
	n := lookups()
	b1, e1 := get()
	b2, e2 := get()
	if hits, misses := n(); hits != 1 || misses != 1 || b1 != b2 || e1 != e2 {
		t.Fatalf("two GETs of an unchanged page: %d hits, %d misses, same body %v, ETags %s %s", hits, misses, b1 == b2, e1, e2)
	}
	if want := reference(t, hotPage(), clk.t); b1 != want {
		t.Fatalf("kept body differs from a rebuilt one:\n%s\n%s", b1, want)
	}
	if w := call(h, "GET", "/v1/hashtags/sunset", "", "", "If-None-Match", e1); w.Code != http.StatusNotModified || w.Header().Get("ETag") != e1 {
		t.Errorf("revalidating a kept page: %d %v", w.Code, w.Header())
	}

	changes := []struct {
		name string
		edit func(page.Page) page.Page
		want string
	}{
		{"a like in top_posts", func(p page.Page) page.Page { return withLikes(p, 777777) }, `"like_count":777777`},
		{"the count", func(p page.Page) page.Page { p.PostCount = 999999; return p }, `"post_count":999999`},
		{"the display form", func(p page.Page) page.Page { p.Display = "SunSet"; return p }, `"hashtag":"SunSet"`},
		{"recent_posts shortened", func(p page.Page) page.Page { p.RecentPosts = p.RecentPosts[:99]; return p }, `"post_id":"r000000000000000098"`},
		{"updated_at", func(p page.Page) page.Page { p.UpdatedAt = p.UpdatedAt.Add(time.Second); return p }, `"updated_at":"2026-11-30T03:04:06.123456789Z"`},
	}
	cur := hotPage()
	for _, c := range changes {
		cur = c.edit(cur)
		src.set(cur)
		n := lookups()
		body, _ := get()
		if hits, _ := n(); hits != 0 || !strings.Contains(body, c.want) || c.name == "recent_posts shortened" && strings.Contains(body, `"r000000000000000099"`) || body != reference(t, cur, clk.t) {
			t.Fatalf("after a change of %s: %d hits, body has %s: %v, equals a rebuilt one: %v", c.name, hits, c.want, strings.Contains(body, c.want), body == reference(t, cur, clk.t))
		}
		if again, _ := get(); again != body {
			t.Fatalf("after a change of %s, the next GET differs", c.name)
		}
	}
	// The same content decoded anew (a view value evicted from the views'
	// cache and parsed again) is a miss: the arrays are what is compared.
	b3, e3 := get()
	src.set(withLikes(cur, cur.TopPosts[0].LikeCount))
	n = lookups()
	b4, e4 := get()
	if hits, misses := n(); hits != 0 || misses != 1 || b3 != b4 || e3 != e4 {
		t.Errorf("same content, new arrays: %d hits %d misses, same body %v", hits, misses, b3 == b4)
	}
}

// The page is rebuilt when the image-expiry bucket moves, and only then:
// at the last instant of a bucket the kept page is served, one second
// later the URLs carry the next exp.
func TestPageCacheFollowsTheExpiryBucket(t *testing.T) {
	// DefaultExpiry: exp is now + 10m35s rounded up to the hour, so the
	// bucket moves when now passes the hour minus 10m35s.
	hour := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	last := hour.Add(-(10*time.Minute + 35*time.Second))
	clk := &clock{last.Add(-30 * time.Minute)}
	src := &swapPages{}
	src.set(hotPage())
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com", Now: clk.now}, src, &publisher{})
	get := func() (string, string) {
		w := call(h, "GET", "/v1/hashtags/sunset", "", "")
		return w.Body.String(), w.Header().Get("ETag")
	}
	b1, e1 := get()
	clk.t = last
	n := lookups()
	b2, e2 := get()
	if hits, _ := n(); hits != 1 || b1 != b2 || e1 != e2 || !strings.Contains(b2, fmt.Sprintf("&exp=%d&", hour.Unix())) {
		t.Fatalf("last instant of the bucket: %d hits, same body %v", hits, b1 == b2)
	}
	clk.t = last.Add(time.Second)
	n = lookups()
	b3, e3 := get()
	next := fmt.Sprintf("&exp=%d&", hour.Add(time.Hour).Unix())
	if hits, _ := n(); hits != 0 || e3 == e2 || !strings.Contains(b3, next) || strings.Contains(b3, fmt.Sprintf("&exp=%d&", hour.Unix())) {
		t.Fatalf("next bucket: %d hits, ETag %s (was %s), has %s: %v", hits, e3, e2, next, strings.Contains(b3, next))
	}
	if b3 != reference(t, hotPage(), clk.t) {
		t.Fatal("next bucket's body differs from a rebuilt one")
	}
	// A revalidation with the old bucket's ETag gets the new page.
	if w := call(h, "GET", "/v1/hashtags/sunset", "", "", "If-None-Match", e2); w.Code != 200 || w.Header().Get("ETag") != e3 {
		t.Errorf("old ETag after the bucket moved: %d %s", w.Code, w.Header().Get("ETag"))
	}
}

// A source without page.SharedLists (the Cassandra snapshot, the test
// source here, which edits its pages in place) gets no page kept.
func TestPageCacheOnlyForSharedLists(t *testing.T) {
	h, pg, _ := newServer()
	n := lookups()
	call(h, "GET", "/v1/hashtags/sunset", "", "")
	pg.byKey["sunset"].TopPosts[0].LikeCount = 31337 // in place: same array
	w := call(h, "GET", "/v1/hashtags/sunset", "", "")
	if hits, misses := n(); hits+misses != 0 || !strings.Contains(w.Body.String(), `"like_count":31337`) {
		t.Fatalf("%d hits %d misses, body %s", hits, misses, w.Body)
	}
}

// The cache holds at most its entries and bytes, least recently used
// evicted first, and keeps no page over a quarter of its bytes.
func TestPageCacheIsBounded(t *testing.T) {
	c := newPageCache(3, 1<<20)
	in := func(key string) pageInputs { return pageInputs{pg: page.Page{Key: key}} }
	for i := range 5 {
		c.put(in(fmt.Sprint("k", i)), newEncoded(make([]byte, 100)))
	}
	if entries, _ := c.len(); entries != 3 {
		t.Fatalf("%d entries, want at most 3", entries)
	}
	for _, k := range []string{"k2", "k3", "k4"} {
		i := in(k)
		if c.get(&i) == nil {
			t.Errorf("%s evicted, want the three most recent kept", k)
		}
	}
	k2 := in("k2")
	c.get(&k2) // k3 is now the least recently used
	c.put(in("k5"), newEncoded(make([]byte, 100)))
	if i := in("k3"); c.get(&i) != nil {
		t.Error("the least recently used entry survived")
	}
	if c.get(&k2) == nil {
		t.Error("a recently read entry was evicted")
	}

	// 1,000-byte bodies with 4-byte keys: four fit the bytes.
	c = newPageCache(100, 4*(1000+4+pageEntryOverhead))
	for i := range 10 {
		c.put(in(fmt.Sprint("big", i)), newEncoded(make([]byte, 1000)))
	}
	if entries, size := c.len(); size > c.maxBytes || entries != 4 {
		t.Fatalf("%d entries of %d bytes, want 4 within %d", entries, size, c.maxBytes)
	}
	c.put(in("huge"), newEncoded(make([]byte, c.maxBytes/4)))
	if i := in("huge"); c.get(&i) != nil {
		t.Error("kept a page over a quarter of the budget")
	}
}

// Under concurrent GETs while the page changes, every body is one of
// the versions the source ever returned (no torn or mixed page), and once
// the changes stop the next GET shows the last one.
func TestPageCacheConcurrent(t *testing.T) {
	src := &swapPages{}
	versions := make([]page.Page, 20)
	valid := map[string]bool{}
	now := time.Date(2026, 11, 30, 4, 20, 0, 0, time.UTC)
	for i := range versions {
		versions[i] = withLikes(hotPage(), int64(i))
		valid[reference(t, versions[i], now)] = true
	}
	src.set(versions[0])
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com", Now: func() time.Time { return now }}, src, &publisher{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var bad atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w := call(h, "GET", "/v1/hashtags/sunset", "", ""); !valid[w.Body.String()] {
					bad.Add(1)
				}
			}
		})
	}
	for _, v := range versions[1:] {
		time.Sleep(2 * time.Millisecond)
		src.set(v)
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d bodies were no version of the page", bad.Load())
	}
	if w := call(h, "GET", "/v1/hashtags/sunset", "", ""); !bytes.Equal(w.Body.Bytes(), []byte(reference(t, versions[len(versions)-1], now))) {
		t.Fatal("the last version is not what the next GET shows")
	}
}

var _ page.SharedLists = (*swapPages)(nil)
