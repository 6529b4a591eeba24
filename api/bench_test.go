package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/page"
)

// sharedPages serves one page whose lists are shared and never modified,
// as the views do (their decoded-value cache returns the same slices).
type sharedPages struct{ pg page.Page }

func (s *sharedPages) Page(context.Context, string) (page.Page, error) { return s.pg, nil }
func (s *sharedPages) Trending(context.Context) (page.Trending, error) { return page.Trending{}, nil }
func (s *sharedPages) Ready(context.Context) error                     { return nil }
func (s *sharedPages) SharedLists() bool                               { return true }

// hotPage is a page as bench-read.sh's hot hashtags have: 100 top and 100
// recent posts, each with an image.
func hotPage() page.Page {
	at := time.Date(2026, 11, 30, 3, 4, 5, 123456789, time.UTC)
	list := func(prefix string) []events.PostSummary {
		out := make([]events.PostSummary, 100)
		for i := range out {
			out[i] = events.PostSummary{PostID: fmt.Sprintf("%s%018d", prefix, i), UserID: fmt.Sprintf("user%06d", i*7),
				ImageID: fmt.Sprintf("img%020d", i), Caption: fmt.Sprintf("a caption of post %d with #sunset & <friends> \"quoted\" on a long summer evening by the sea", i),
				CreatedAt: at.Add(-time.Duration(i) * time.Minute), LikeCount: int64(1000 - i), Rev: int64(i + 1)}
		}
		return out
	}
	return page.Page{Key: "sunset", Display: "Sunset", PostCount: 123456, TopPosts: list("t"), RecentPosts: list("r"), UpdatedAt: at}
}

func BenchmarkGetHashtagHot(b *testing.B) {
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com"}, &sharedPages{hotPage()}, &publisher{})
	req := httptest.NewRequest("GET", "/v1/hashtags/sunset", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkGetHashtagHotUncached builds the page every time: what a
// change of the hashtag's tables costs.
func BenchmarkGetHashtagHotUncached(b *testing.B) {
	h := New(Config{Secret: secret, Signer: keyring, CDNBase: "https://cdn.example.com", PageCacheBytes: -1}, &sharedPages{hotPage()}, &publisher{})
	req := httptest.NewRequest("GET", "/v1/hashtags/sunset", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
