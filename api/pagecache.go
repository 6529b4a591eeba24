package api

// The encoded hashtag pages kept between requests.
//
// Invariant, checked by pagecache_test.go and views' tests: an entry is
// served only for a page whose inputs are the very values it was built
// from (the count's fields equal, the lists the same backing arrays of
// the same lengths) and the same image-expiry bucket, so a body served
// from here is byte for byte the body a rebuild would give.
//
// Why: a hot page (100 top and 100 recent posts, ~65 KB of JSON with 200
// signed image URLs) was rebuilt on every request, although its body
// stays the same until a table value of its hashtag changes or the
// expiry bucket moves (an hour by default): under bench-read.sh the
// handler took 69 % of the API's CPU, and served 0.16× nginx's requests.

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/page"
)

// Defaults of Config.PageCacheBytes and Config.PageCacheEntries: some
// thousand hot pages of ~65 KB. A page outside is rebuilt as before.
const (
	DefaultPageCacheBytes   = 64 << 20
	DefaultPageCacheEntries = 4096
)

// pageEntryOverhead is what an entry costs beside its body and key: the
// list element, the entry and its headers.
const pageEntryOverhead = 256

var pageCacheLookups = metrics.Default.NewCounterVec("tagstream_page_cache_lookups_total",
	"Hashtag page requests by whether the encoded page was kept (hit) or built (miss).", "result")

// encoded is a response body with the headers derived from it, shared by
// every response that serves it: never modified once made.
type encoded struct {
	body []byte
	// etag and length are header values, ready to be put in a header map
	// as they are (see writeEncoded); keys too, the surrogate keys of a
	// page (nil for others).
	etag, length, keys []string
}

// newEncoded derives the ETag, a hash of the body, and the length.
func newEncoded(body []byte) *encoded {
	sum := sha256.Sum256(body)
	return &encoded{body: body, etag: []string{`"` + hex.EncodeToString(sum[:16]) + `"`}, length: []string{strconv.Itoa(len(body))}}
}

// pageInputs is everything a page's body derives from, besides the
// server's configuration (fixed).
type pageInputs struct {
	pg  page.Page
	exp time.Time // the image URLs' exp: the expiry bucket
}

// same reports whether a and b give the same body: equal scalars, and
// lists that are the same arrays. The entry holding a keeps its arrays
// alive, so b's cannot be new ones at the same address. UpdatedAt is
// compared with ==, not Equal: the same instant in another zone is
// written differently.
func (a *pageInputs) same(b *pageInputs) bool {
	return a.exp.Equal(b.exp) && a.pg.Key == b.pg.Key && a.pg.Display == b.pg.Display &&
		a.pg.PostCount == b.pg.PostCount && a.pg.UpdatedAt == b.pg.UpdatedAt &&
		sameList(a.pg.TopPosts, b.pg.TopPosts) && sameList(a.pg.RecentPosts, b.pg.RecentPosts)
}

// sameList reports whether a and b are the same elements of the same
// array; two empty lists are the same whatever their arrays.
func sameList(a, b []events.PostSummary) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b))
}

// pageCache keeps encoded pages by hashtag key, one per key, least
// recently used evicted first. It holds at most maxEntries entries and
// maxBytes of bodies and keys (plus pageEntryOverhead each); an entry
// also keeps alive the decoded lists it was built from, which the views'
// own cache mostly holds anyway, about as much again at most. Safe for
// concurrent use.
type pageCache struct {
	maxEntries, maxBytes int
	hits, misses         *atomic.Int64

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   list.List // of *pageEntry, most recent first
	size  int
}

type pageEntry struct {
	in  pageInputs
	enc *encoded
}

func (e *pageEntry) size() int { return len(e.enc.body) + len(e.in.pg.Key) + pageEntryOverhead }

func newPageCache(maxEntries, maxBytes int) *pageCache {
	return &pageCache{maxEntries: maxEntries, maxBytes: maxBytes, byKey: map[string]*list.Element{},
		hits: pageCacheLookups.Cell("hit"), misses: pageCacheLookups.Cell("miss")}
}

// get returns the page kept for in.pg.Key if it was built from in, or nil.
func (c *pageCache) get(in *pageInputs) *encoded {
	c.mu.Lock()
	el, ok := c.byKey[in.pg.Key]
	if ok && el.Value.(*pageEntry).in.same(in) {
		c.lru.MoveToFront(el)
		enc := el.Value.(*pageEntry).enc
		c.mu.Unlock()
		c.hits.Add(1)
		return enc
	}
	c.mu.Unlock()
	c.misses.Add(1)
	return nil
}

// put keeps enc, built from in, replacing what was kept for its key,
// unless it alone exceeds a quarter of the byte budget. Two requests that
// built the same key concurrently each put theirs: whichever is kept, a
// get still serves it only for its own inputs.
func (c *pageCache) put(in pageInputs, enc *encoded) {
	e := &pageEntry{in: in, enc: enc}
	if e.size() > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[in.pg.Key]; ok {
		c.remove(el)
	}
	c.byKey[in.pg.Key] = c.lru.PushFront(e)
	c.size += e.size()
	for c.size > c.maxBytes || c.lru.Len() > c.maxEntries {
		c.remove(c.lru.Back())
	}
}

func (c *pageCache) remove(el *list.Element) {
	e := el.Value.(*pageEntry)
	c.lru.Remove(el)
	delete(c.byKey, e.in.pg.Key)
	c.size -= e.size()
}

// len reports the entries kept and their accounted bytes.
func (c *pageCache) len() (entries, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.size
}
