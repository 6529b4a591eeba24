package events

// A table codec that remembers what it decoded and encoded.
//
// Invariants, checked by cache_test.go:
//   - Decode returns a value equal to what the inner codec would decode
//     from the same bytes: an entry is found by a hash of the bytes and
//     used only if its bytes are the same, byte for byte.
//   - The entries' bytes total at most the budget; with Replaced, those
//     read go first, then the least recently used.
//   - With Shared, an entry is also found by the identity of the slice it
//     was decoded from or encoded to (its array and length), without
//     hashing: the storage never modifies a value slice (tablestore's
//     invariant), and the entry keeps that slice alive, so its array
//     cannot hold other bytes while the entry exists.
//
// Why: a list group reads a hashtag's whole list, decodes it, changes a
// post and writes it back, for every post-changes record. Profiled under
// the chaos load, decoding the values it had itself just encoded took
// half of a worker's CPU and half of the ranking's (JSON of 100 to 300
// summaries per hot hashtag). The value a callback reads is, nearly
// always, the one the previous callback of that key wrote: its bytes are
// what Encode returned, so the decoded value can be handed back without
// parsing. Callers must treat a decoded value as immutable (the Apply
// functions clone what they change), since it is shared.

import (
	"bytes"
	"container/list"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/tagstream/tagstream/metrics"
)

// DefaultCacheBytes is the budget of one Cached codec: the bytes of the
// encoded values it keeps (the decoded values take about as much again).
// 32 MiB holds the lists of the few hundred hottest hashtags, which get
// nearly all the rewrites: under the chaos load's steady phase about 500
// hashtags have full recent lists (80 KB each), and with 16 MiB a worker
// still spent 13 % of its CPU parsing recent lists.
const DefaultCacheBytes = 32 << 20

// CacheLookups counts Cached codec decodes, by table and whether the
// value was found.
var CacheLookups = metrics.Default.NewCounterVec("tagstream_table_cache_lookups_total",
	"Table value decodes, by table codec and result (hit: the decoded value was kept; miss: parsed).", "table", "result")

// Cached is the JSON codec of T with a cache of decoded values keyed by
// their bytes. Safe for concurrent use (goka shares a table's codec
// between its partitions).
type Cached[T any] struct {
	use          CacheUse
	budget       int
	seed         maphash.Seed
	hits, misses *atomic.Int64 // CacheLookups' cells of this table

	mu      sync.Mutex
	entries map[uint64]*list.Element
	// ident finds an entry by its data's array (Shared); nil: off.
	ident map[*byte]*list.Element
	lru   list.List // of *cacheEntry, most recent first
	size  int
}

type cacheEntry[T any] struct {
	sum   uint64
	data  []byte
	value T
}

// CacheUse says how a Cached codec's values are read, which decides what
// it evicts first.
type CacheUse int

const (
	// Replaced: a value read is nearly always replaced by the callback
	// that read it (a recent list: every new post goes in), so its entry
	// goes to the back, first to be evicted; under a steady load the
	// stale versions of hot lists (50 KB each, several a second) would
	// otherwise push the live ones out.
	Replaced CacheUse = iota
	// Reread: a value is read more often than written (a view; a top
	// list, which most changes leave alone). Least recently used first.
	Reread
)

// NewCached returns T's JSON codec with a cache of at most budget bytes
// of encoded values (DefaultCacheBytes if budget <= 0); name labels its
// metric.
func NewCached[T any](name string, budget int, use CacheUse) *Cached[T] {
	if budget <= 0 {
		budget = DefaultCacheBytes
	}
	return &Cached[T]{use: use, budget: budget, hits: CacheLookups.Cell(name, "hit"), misses: CacheLookups.Cell(name, "miss"), seed: maphash.MakeSeed(), entries: map[uint64]*list.Element{}}
}

// Shared says that every slice this codec decodes comes from a storage
// that never modifies a value slice it holds or returns (tablestore), so
// Decode may find a value by the slice's identity, without hashing its
// bytes: a list of 200 summaries is 30 KB to hash for every read, 40 % of
// a view's time serving a hot page. It returns c.
func (c *Cached[T]) Shared() *Cached[T] {
	c.mu.Lock()
	c.ident = map[*byte]*list.Element{}
	c.mu.Unlock()
	return c
}

// Encode implements goka.Codec (a T or a *T, as JSON[T]), and keeps the
// value for a Decode of its bytes.
func (c *Cached[T]) Encode(value any) ([]byte, error) {
	v, err := valueOf[T](value)
	if err != nil {
		return nil, err
	}
	// The bytes returned are kept without a copy: they are fresh, and
	// goka only reads them (its storage keeps or copies them, the
	// producer sends them).
	if a, ok := any(v).(jsonAppender); ok {
		if b, ok := a.appendJSON(make([]byte, 0, a.jsonSize())); ok {
			c.put(maphash.Bytes(c.seed, b), b, v)
			return b, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("events: encode %T: %w", v, err)
	}
	c.put(maphash.Bytes(c.seed, b), b, v)
	return b, nil
}

// Decode implements goka.Codec. A value it returns may be returned again
// and may be the one given to Encode: the caller must not modify it.
func (c *Cached[T]) Decode(data []byte) (any, error) {
	c.mu.Lock()
	if c.ident != nil && len(data) > 0 {
		if el, ok := c.ident[unsafe.SliceData(data)]; ok && len(el.Value.(*cacheEntry[T]).data) == len(data) {
			return c.hit(el), nil
		}
	}
	c.mu.Unlock()
	sum := maphash.Bytes(c.seed, data)
	c.mu.Lock()
	if el, ok := c.entries[sum]; ok && bytes.Equal(el.Value.(*cacheEntry[T]).data, data) {
		return c.hit(el), nil
	}
	shared := c.ident != nil
	c.mu.Unlock()
	c.misses.Add(1)
	v, err := JSON[T]{}.Decode(data)
	if err == nil {
		if !shared {
			// A copy: a storage's iterator may reuse its buffer.
			data = bytes.Clone(data)
		}
		c.put(sum, data, v.(T))
	}
	return v, err
}

// hit counts a found entry, moves it, unlocks c and returns its value.
func (c *Cached[T]) hit(el *list.Element) T {
	if c.use == Replaced {
		c.lru.MoveToBack(el)
	} else {
		c.lru.MoveToFront(el)
	}
	v := el.Value.(*cacheEntry[T]).value
	c.mu.Unlock()
	c.hits.Add(1)
	return v
}

// put keeps data (whose hash is sum), which no one may modify any more,
// with its value, unless it alone exceeds a quarter of the budget.
func (c *Cached[T]) put(sum uint64, data []byte, value T) {
	if len(data) > c.budget/4 {
		return
	}
	e := &cacheEntry[T]{sum: sum, data: data, value: value}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[sum]; ok {
		c.remove(el)
	}
	el := c.lru.PushFront(e)
	c.entries[sum] = el
	if c.ident != nil && len(data) > 0 {
		if old, ok := c.ident[unsafe.SliceData(data)]; ok {
			c.remove(old)
		}
		c.ident[unsafe.SliceData(data)] = el
	}
	c.size += len(e.data)
	for c.size > c.budget {
		c.remove(c.lru.Back())
	}
}

// remove drops an entry from the list and both indexes; c.mu is held.
func (c *Cached[T]) remove(el *list.Element) {
	e := el.Value.(*cacheEntry[T])
	c.lru.Remove(el)
	if c.entries[e.sum] == el {
		delete(c.entries, e.sum)
	}
	if c.ident != nil && len(e.data) > 0 && c.ident[unsafe.SliceData(e.data)] == el {
		delete(c.ident, unsafe.SliceData(e.data))
	}
	c.size -= len(e.data)
}

// Len reports the entries kept and their bytes.
func (c *Cached[T]) Len() (entries, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.size
}
