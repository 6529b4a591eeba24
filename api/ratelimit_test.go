package api

import (
	"fmt"
	"testing"
	"time"
)

// One user writing as fast as the API answers (5,000 posts of 30 new
// hashtags each grew a worker by 300 MB) gets 429 with Retry-After once
// their burst is spent, for posts, edits, deletes and upload reservations
// alike; another user's writes go through meanwhile, and the first user's
// come back at the rate.
func TestWritesAreLimitedPerUser(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	h, _, pub := newServerWith(Config{Now: c.now, WriteRate: 0.5, WriteBurst: 5})
	alice, bob := mustToken(t, "alice"), mustToken(t, "bob")
	writes := []struct{ method, path, body string }{
		{"POST", "/v1/posts", `{"caption":"#a"}`},
		{"PATCH", "/v1/posts/p1", `{"caption":"#b"}`},
		{"DELETE", "/v1/posts/p1", ``},
		{"POST", "/v1/uploads", `{"content_type":"image/jpeg","size":1000}`},
		{"POST", "/v1/posts", `{"caption":"#c"}`},
	}
	for _, wr := range writes {
		if w := call(h, wr.method, wr.path, alice, wr.body); w.Code >= 300 {
			t.Fatalf("%s %s within the burst: %d %s", wr.method, wr.path, w.Code, w.Body)
		}
	}
	for _, wr := range writes {
		w := call(h, wr.method, wr.path, alice, wr.body)
		if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
			t.Fatalf("%s %s past the burst: %d Retry-After %q %s", wr.method, wr.path, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
		errorOf(t, w)
	}
	sent := len(pub.sent)
	if w := call(h, "POST", "/v1/posts", bob, `{"caption":"#bob"}`); w.Code != 202 {
		t.Fatalf("bob while alice is limited: %d %s", w.Code, w.Body)
	}
	if len(pub.sent) != sent+1 {
		t.Fatalf("bob's post was not published")
	}
	c.t = c.t.Add(2 * time.Second)
	if w := call(h, "POST", "/v1/posts", alice, `{"caption":"#again"}`); w.Code != 202 {
		t.Fatalf("alice after Retry-After: %d %s", w.Code, w.Body)
	}
	if w := call(h, "POST", "/v1/posts", alice, `{"caption":"#again"}`); w.Code != 429 {
		t.Fatalf("alice's second write after 2 s: %d, want 429", w.Code)
	}
	// Reads are never limited.
	for range 20 {
		if w := call(h, "GET", "/v1/hashtags/sunset", alice, ""); w.Code != 200 {
			t.Fatalf("read while limited: %d", w.Code)
		}
	}
}

// The limiter's state stays bounded however many users write.
func TestWriteLimiterStateIsBounded(t *testing.T) {
	l := newWriteLimiter(0.5, 30, 1000)
	now := time.Now()
	for i := range 20_000 {
		now = now.Add(time.Millisecond)
		if ok, _ := l.take(fmt.Sprintf("u%d", i), now); !ok {
			t.Fatalf("user %d's first write refused", i)
		}
		if len(l.users) > 1000 {
			t.Fatalf("%d buckets after %d users, bound 1000", len(l.users), i+1)
		}
	}
	// A user who just wrote keeps their bucket: eviction takes the least
	// recently used half, and 300 newer users later "hot" is not in it.
	for range 30 {
		l.take("hot", now)
	}
	for i := range 300 {
		now = now.Add(time.Millisecond)
		l.take(fmt.Sprintf("v%d", i), now)
	}
	if ok, _ := l.take("hot", now); ok {
		t.Fatal("eviction reset a user who had just spent their burst")
	}
}
