package api

import (
	"net/http"
	"testing"

	"github.com/tagstream/tagstream/site"
)

// Every cacheable response names what it shows in Surrogate-Key, so that
// one purge reaches it whatever its URL: a hashtag's page however the tag
// was spelled (found or not, since the first post of a new hashtag must
// purge its 404), every width of an image, the trending list, the page's
// document. Nothing else carries a key.
func TestSurrogateKeys(t *testing.T) {
	st, err := site.New(site.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := newServerWith(Config{Site: st})
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
