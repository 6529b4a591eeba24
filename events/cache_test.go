package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func recentOf(n int, caption string) Recent {
	r := Recent{UpdatedAt: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)}
	for i := range n {
		r.Posts = append(r.Posts, PostSummary{PostID: fmt.Sprint("p", i), UserID: "u", Caption: caption, LikeCount: int64(i), Rev: 1})
	}
	return r
}

// The value Encode was given comes back from a Decode of its bytes
// without parsing (a hit), and equals what JSON would have decoded.
func TestCachedDecodeOfEncodedBytesIsAHit(t *testing.T) {
	c := NewCached[Recent]("test_hit", 0, Replaced)
	want := recentOf(200, "#sunset over the bay")
	b, err := c.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	hits := CacheLookups.Value("test_hit", "hit")
	got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if CacheLookups.Value("test_hit", "hit") != hits+1 {
		t.Fatalf("decode of the bytes just encoded was not a hit")
	}
	parsed, _ := JSON[Recent]{}.Decode(b)
	if !reflect.DeepEqual(got, parsed) {
		t.Fatalf("cached value differs from the parsed one:\n%+v\n%+v", got, parsed)
	}
	// A pointer encodes as its value, and decodes as a T (never a *T).
	b2, _ := c.Encode(&want)
	if v, _ := c.Decode(b2); reflect.TypeOf(v) != reflect.TypeOf(Recent{}) {
		t.Fatalf("decoded %T, want events.Recent", v)
	}
	if _, err := c.Encode(Top{}); err == nil {
		t.Fatalf("encoding another type succeeded")
	}
}

// Bytes that differ from a kept entry in one byte are parsed, not taken
// for it: the entry is used only if its bytes are equal.
func TestCachedDecodeOfOtherBytesParses(t *testing.T) {
	c := NewCached[Recent]("test_other", 0, Reread)
	b, _ := c.Encode(recentOf(3, "aaaa"))
	other := []byte(strings.Replace(string(b), "aaaa", "aaab", 1))
	v, err := c.Decode(other)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(Recent).Posts[0].Caption; got != "aaab" {
		t.Fatalf("caption %q, want the one of the bytes decoded", got)
	}
	// The caller's slice may be reused after Decode: the cache kept a copy.
	copy(other, strings.Repeat(" ", len(other)))
	if v2, _ := c.Decode([]byte(strings.Replace(string(b), "aaaa", "aaab", 1))); v2.(Recent).Posts[0].Caption != "aaab" {
		t.Fatalf("a reused input slice changed a kept entry")
	}
	if _, err := c.Decode([]byte(`{"posts": [`)); err == nil {
		t.Fatalf("bad JSON decoded")
	}
}

// The kept bytes never pass the budget, the least recently used leave
// first, and a value larger than a quarter of the budget is not kept.
func TestCachedStaysWithinItsBudget(t *testing.T) {
	one, _ := json.Marshal(recentOf(10, "x"))
	budget := 10 * len(one)
	c := NewCached[Recent]("test_budget", budget, Reread)
	first, _ := c.Encode(recentOf(10, "x"))
	for i := range 100 {
		if _, err := c.Encode(recentOf(10, fmt.Sprintf("%c", 'a'+i%26)+fmt.Sprint(i%10))); err != nil {
			t.Fatal(err)
		}
		c.Decode(first) // keeps it the most recently used
		if _, size := c.Len(); size > budget {
			t.Fatalf("after %d values the cache holds %d bytes, budget %d", i+1, size, budget)
		}
	}
	hits := CacheLookups.Value("test_budget", "hit")
	c.Decode(first)
	if CacheLookups.Value("test_budget", "hit") != hits+1 {
		t.Fatalf("the most recently used entry was evicted")
	}
	n, _ := c.Len()
	big := recentOf(10, strings.Repeat("y", budget/4))
	b, _ := c.Encode(big)
	if m, _ := c.Len(); m != n {
		t.Fatalf("a value of %d bytes (budget %d) was kept", len(b), budget)
	}
}

// Partitions share a table's codec: concurrent encodes and decodes give
// each the value of its own bytes (run with -race).
func TestCachedConcurrentUse(t *testing.T) {
	c := NewCached[Recent]("test_concurrent", 64<<10, Replaced)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				caption := fmt.Sprint("g", g, "-", i%7)
				b, err := c.Encode(recentOf(3, caption))
				if err != nil {
					t.Error(err)
					return
				}
				v, err := c.Decode(b)
				if err != nil || v.(Recent).Posts[2].Caption != caption {
					t.Errorf("decoded %v, %v; want caption %q", v, err, caption)
					return
				}
			}
		})
	}
	wg.Wait()
}

// With Replaced, an entry read goes first: a processor replaces what it
// read, so the stale version leaves before a live one never read since.
func TestCachedReplacedEvictsWhatWasRead(t *testing.T) {
	one, _ := json.Marshal(recentOf(10, "x0"))
	c := NewCached[Recent]("test_replaced", 4*len(one), Replaced)
	read, _ := c.Encode(recentOf(10, "x1"))
	live, _ := c.Encode(recentOf(10, "x2"))
	c.Encode(recentOf(10, "x3"))
	c.Decode(read) // read, then (as a callback would) replaced:
	c.Encode(recentOf(10, "x4"))
	c.Encode(recentOf(10, "x5")) // over the budget: one entry leaves
	hits := CacheLookups.Value("test_replaced", "hit")
	c.Decode(live)
	if CacheLookups.Value("test_replaced", "hit") != hits+1 {
		t.Fatalf("a live entry left before the one read")
	}
	c.Decode(read)
	if CacheLookups.Value("test_replaced", "hit") != hits+1 {
		t.Fatalf("the entry read stayed: the stale versions of hot lists would crowd out live ones")
	}
}

// With Shared, the slice a value was encoded to or decoded from finds it
// by identity: a storage that keeps its slices as they are (tablestore)
// is read without hashing them. The test breaks the storage's promise on
// purpose, to see which path answered: a shared codec answers from the
// slice's identity, a codec that is not shared looks at the bytes.
func TestCachedSharedFindsASliceByIdentity(t *testing.T) {
	for _, shared := range []bool{true, false} {
		c := NewCached[Count](fmt.Sprintf("test_ident_%v", shared), 0, Reread)
		if shared {
			c.Shared()
		}
		b, err := c.Encode(Count{Display: "Sunset", PostCount: 7})
		if err != nil {
			t.Fatal(err)
		}
		stored := []byte(`{"display":"Sunset","post_count":8}`) // as recovered from the changelog
		if _, err := c.Decode(stored); err != nil {
			t.Fatal(err)
		}
		// Same length, other bytes: post_count 9.
		b[bytes.Index(b, []byte(`:7`))+1] = '9'
		stored[bytes.Index(stored, []byte(`:8`))+1] = '9'
		fromEncoded, _ := c.Decode(b)
		fromStored, _ := c.Decode(stored)
		want := map[bool][2]int64{true: {7, 8}, false: {9, 9}}[shared]
		if fromEncoded.(Count).PostCount != want[0] || fromStored.(Count).PostCount != want[1] {
			t.Errorf("shared=%v: decoded %d and %d, want %v", shared, fromEncoded.(Count).PostCount, fromStored.(Count).PostCount, want)
		}
	}
}

// An entry evicted is no longer found by its slice: the identity index
// follows the list (budget of one small entry at a time).
func TestCachedSharedForgetsEvictedSlices(t *testing.T) {
	c := NewCached[Count]("test_ident_evict", 160, Reread).Shared()
	a, _ := c.Encode(Count{Display: "a", PostCount: 1})
	for i := range 10 {
		c.Encode(Count{Display: fmt.Sprint("other", i), PostCount: 2})
	}
	c.mu.Lock()
	_, found := c.ident[&a[0]]
	n := len(c.ident)
	entries := c.lru.Len()
	c.mu.Unlock()
	if found || n != entries {
		t.Fatalf("evicted slice still indexed (%v), %d indexed for %d entries", found, n, entries)
	}
}
