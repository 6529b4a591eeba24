package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Every cacheable response names what it shows in Surrogate-Key, so that
// one purge reaches it whatever its URL: a hashtag's page however the tag
// was spelled (found or not, since the first post of a new hashtag must
// purge its 404), every width of an image, the trending list, the page's
// document. Nothing else carries a key.
func TestSurrogateKeys(t *testing.T) {
	h, _, _ := newServerWith(Config{Site: mustSite(t)})
	for _, c := range []struct {
		method, path string
		code         int
		keys         string
	}{
		{"GET", "/v1/hashtags/sunset", 200, "pages tag:sunset"},
		{"GET", "/v1/hashtags/%23SUNSET", 200, "pages tag:sunset"},
		{"HEAD", "/v1/hashtags/sunset", 200, "pages tag:sunset"},
		{"GET", "/v1/hashtags/%E6%97%A5%E6%9C%AC", 200, "pages tag:%E6%97%A5%E6%9C%AC"},
		{"GET", "/v1/hashtags/nope", 404, "pages tag:nope"},
		{"GET", "/v1/hashtags/%3Cscript%3E", 400, ""},
		{"GET", "/v1/trending", 200, "trending"},
		{"GET", "/", 200, "site"},
		{"GET", "/tags/sunset", 200, "site"},
		{"GET", "/img/alice/img1?w=640&exp=1&kid=k&sig=x", 403, "img:alice/img1"},
		{"GET", "/img/al%20ice/img1?w=640", 400, ""},
		{"POST", "/v1/posts", 401, ""},
		{"GET", "/healthz", 200, ""},
	} {
		w := call(h, c.method, c.path, "", "")
		if w.Code != c.code || w.Header().Get("Surrogate-Key") != c.keys {
			t.Errorf("%s %s: %d, Surrogate-Key %q; want %d, %q", c.method, c.path, w.Code, w.Header().Get("Surrogate-Key"), c.code, c.keys)
		}
	}
	// A 304 carries the keys too: an edge that revalidates keeps them.
	etag := call(h, "GET", "/v1/hashtags/sunset", "", "").Header().Get("ETag")
	if w := call(h, "GET", "/v1/hashtags/sunset", "", "", "If-None-Match", etag); w.Code != http.StatusNotModified || w.Header().Get("Surrogate-Key") != "pages tag:sunset" {
		t.Errorf("revalidation: %d, Surrogate-Key %q", w.Code, w.Header().Get("Surrogate-Key"))
	}
}

// With an edge purged on every change, pages and trending may stay there
// for EdgeMaxAge (Surrogate-Control, which only the edge sees) while
// browsers keep the short Cache-Control; every image URL in a page then
// outlives a copy the edge may still serve. Without, no Surrogate-Control.
func TestEdgeMaxAge(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 59, 0, 0, time.UTC)
	h, _, _ := newServerWith(Config{EdgeMaxAge: 2 * time.Hour, Now: func() time.Time { return now }})
	for _, path := range []string{"/v1/hashtags/sunset", "/v1/trending"} {
		w := call(h, "GET", path, "", "")
		if w.Code != 200 || w.Header().Get("Surrogate-Control") != "max-age=7200" ||
			w.Header().Get("Cache-Control") != "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400" {
			t.Errorf("GET %s: %d, Surrogate-Control %q, Cache-Control %q", path, w.Code, w.Header().Get("Surrogate-Control"), w.Header().Get("Cache-Control"))
		}
	}
	var p PageJSON
	if err := json.Unmarshal(call(h, "GET", "/v1/hashtags/sunset", "", "").Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(p.TopPosts[0].ImageURL)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := strconv.ParseInt(u.Query().Get("exp"), 10, 64)
	if least := now.Add(2*time.Hour + 30*time.Second + 10*time.Minute); time.Unix(exp, 0).Before(least) {
		t.Errorf("image URLs expire at %s, before %s: the edge may serve the page that long", time.Unix(exp, 0).UTC(), least)
	}
	plain, _, _ := newServer()
	if w := call(plain, "GET", "/v1/hashtags/sunset", "", ""); w.Header().Get("Surrogate-Control") != "" {
		t.Errorf("without EdgeMaxAge: Surrogate-Control %q", w.Header().Get("Surrogate-Control"))
	}
}
