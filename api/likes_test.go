package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/page"
)

// A like names the post by owner and id and is given by the token's
// subject; anyone signed in may like anyone's post, nobody anonymously,
// and a malformed id never reaches the likes topic.
func TestLikesAreByTheTokenSubject(t *testing.T) {
	h, _, pub := newServer()
	bob := mustToken(t, "bob")
	for _, c := range []struct {
		method, path, token string
		code                int
	}{
		{"POST", "/v1/posts/alice/p1/like", bob, 202},
		{"DELETE", "/v1/posts/alice/p1/like", bob, 202},
		{"POST", "/v1/posts/bob/p2/like", bob, 202}, // one's own post too
		{"POST", "/v1/posts/alice/p1/like", "", 401},
		{"POST", "/v1/posts/alice/p1/like", "not-a-token", 401},
		{"POST", "/v1/posts/alice/bad!id/like", bob, 400},
		{"POST", "/v1/posts/" + strings.Repeat("a", 65) + "/p1/like", bob, 400},
		{"GET", "/v1/posts/alice/p1/like", bob, 405}, // Allow: POST, DELETE
	} {
		w := call(h, c.method, c.path, c.token, "")
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.code)
		}
		if w.Code >= 400 {
			errorOf(t, w)
		}
	}
	want := []events.LikeEvent{
		{Type: events.Liked, UserID: "alice", PostID: "p1", LikerID: "bob"},
		{Type: events.Unliked, UserID: "alice", PostID: "p1", LikerID: "bob"},
		{Type: events.Liked, UserID: "bob", PostID: "p2", LikerID: "bob"},
	}
	if !slices.EqualFunc(pub.likes, want, func(a, b events.LikeEvent) bool {
		return a.Type == b.Type && a.UserID == b.UserID && a.PostID == b.PostID && a.LikerID == b.LikerID && !a.TS.IsZero()
	}) {
		t.Fatalf("published %+v, want %+v", pub.likes, want)
	}
	var body struct {
		UserID  string `json:"user_id"`
		LikerID string `json:"liker_id"`
		Liked   bool   `json:"liked"`
	}
	w := call(h, "DELETE", "/v1/posts/alice/p1/like", bob, "")
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.LikerID != "bob" || body.UserID != "alice" || body.Liked {
		t.Fatalf("unlike answered %s", w.Body)
	}
}

// Likes share the user's write budget: a script liking in a loop gets 429
// with Retry-After, and a broker that does not answer 503.
func TestLikesAreWritesOfTheirUser(t *testing.T) {
	h, _, pub := newServerWith(Config{WriteRate: 0.001, WriteBurst: 2})
	carol := mustToken(t, "carol")
	for i := range 2 {
		if w := call(h, "POST", "/v1/posts/alice/p1/like", carol, ""); w.Code != 202 {
			t.Fatalf("like %d: %d", i, w.Code)
		}
	}
	w := call(h, "POST", "/v1/posts/alice/p1/like", carol, "")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third like: %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if len(pub.likes) != 2 {
		t.Fatalf("%d likes published, want the 2 under the limit", len(pub.likes))
	}
	h, _, pub = newServer()
	pub.err = errors.New("broker down")
	if w := call(h, "POST", "/v1/posts/alice/p1/like", carol, ""); w.Code != 503 {
		t.Fatalf("broker down: %d", w.Code)
	}
}

// GET /v1/trending answers the merged list, cacheable like a page, with
// an ETag that revalidates to 304; a source error is a 503.
func TestTrending(t *testing.T) {
	h, pg, _ := newServer()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	pg.trending = page.Trending{ComputedAt: at, Hashtags: []events.Trending{{Hashtag: "Sunset", Key: "sunset", Posts: 9}, {Hashtag: "beach", Key: "beach", Posts: 3}}}
	w := call(h, "GET", "/v1/trending", "", "")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var got TrendingJSON
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Window != "1h0m0s" || !got.ComputedAt.Equal(at) || len(got.Hashtags) != 2 || got.Hashtags[0].Key != "sunset" || got.Hashtags[0].Posts != 9 {
		t.Fatalf("body %s", w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400" {
		t.Errorf("Cache-Control %q", cc)
	}
	if w2 := call(h, "GET", "/v1/trending", "", "", "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
		t.Errorf("revalidation: %d", w2.Code)
	}
	pg.trending = page.Trending{}
	if w := call(h, "GET", "/v1/trending", "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), `"hashtags":[]`) {
		t.Errorf("nothing trending: %d %s, want 200 with an empty list", w.Code, w.Body)
	}
	pg.err = errors.New("boom")
	if w := call(h, "GET", "/v1/trending", "", ""); w.Code != 503 {
		t.Fatalf("source error: %d", w.Code)
	}
}

// A page carries recent_posts beside top_posts, each with like_count and
// a signed image URL.
func TestPageCarriesRecentPostsAndLikeCounts(t *testing.T) {
	h, pg, _ := newServer()
	p := pg.byKey["sunset"]
	p.TopPosts[0].LikeCount = 12
	p.RecentPosts = []events.PostSummary{{PostID: "p9", UserID: "alice", ImageID: "img1", Caption: "new", LikeCount: 1}}
	pg.byKey["sunset"] = p
	var got PageJSON
	w := call(h, "GET", "/v1/hashtags/sunset", "", "")
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.TopPosts[0].LikeCount != 12 || len(got.RecentPosts) != 1 || got.RecentPosts[0].LikeCount != 1 ||
		!strings.Contains(got.RecentPosts[0].ImageURL, "/img/alice/img1?") {
		t.Fatalf("page %s", w.Body)
	}
	if w := call(h, "GET", "/v1/hashtags/strasse", "", ""); !strings.Contains(w.Body.String(), `"recent_posts":[]`) {
		t.Errorf("a page without recent posts: %s, want \"recent_posts\":[]", w.Body)
	}
}
