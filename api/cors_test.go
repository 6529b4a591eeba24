package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

const (
	appOrigin   = "https://app.example.com"
	devOrigin   = "http://localhost:3000"
	evilOrigin  = "https://evil.example"
	corsHeaders = "Authorization, Content-Type, If-None-Match"
)

// accessControl returns the Access-Control-* headers of an answer.
func accessControl(w *httptest.ResponseRecorder) http.Header {
	out := http.Header{}
	for k, v := range w.Header() {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// varies reports whether the answer says it varies on Origin.
func varies(w *httptest.ResponseRecorder) bool {
	for _, v := range w.Header().Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "Origin") {
				return true
			}
		}
	}
	return false
}

func preflight(h http.Handler, path, origin, method string, hdr ...string) *httptest.ResponseRecorder {
	all := []string{"Access-Control-Request-Method", method}
	if origin != "" {
		all = append(all, "Origin", origin)
	}
	return call(h, http.MethodOptions, path, "", "", append(all, hdr...)...)
}

// An allowed origin's preflight is answered 204 with the methods of the
// route it names, the fixed request headers and a max age, and never
// credentials: tokens are in Authorization, not cookies.
func TestCORSPreflightOfEachRoute(t *testing.T) {
	h, _, _ := newServerWith(Config{CORSOrigins: []string{appOrigin, devOrigin}})
	for _, c := range []struct {
		path, method, methods string
	}{
		{"/v1/hashtags/sunset", "GET", "GET"},
		{"/v1/hashtags/%23Sunset", "GET", "GET"},
		{"/v1/trending", "GET", "GET"},
		{"/v1/uploads", "POST", "POST"},
		{"/v1/posts", "POST", "POST"},
		{"/v1/posts/p1", "PATCH", "PATCH, DELETE"},
		{"/v1/posts/alice/p1", "DELETE", "PATCH, DELETE"},
		{"/v1/posts/alice/p1/like", "POST", "POST, DELETE"},
	} {
		for _, origin := range []string{appOrigin, devOrigin} {
			w := preflight(h, c.path, origin, c.method, "Access-Control-Request-Headers", "authorization,content-type")
			want := http.Header{
				"Access-Control-Allow-Origin":  {origin},
				"Access-Control-Allow-Methods": {c.methods},
				"Access-Control-Allow-Headers": {corsHeaders},
				"Access-Control-Max-Age":       {"3600"},
			}
			if got := accessControl(w); w.Code != http.StatusNoContent || !equalHeaders(got, want) || !varies(w) || w.Body.Len() != 0 {
				t.Errorf("preflight %s %s from %s: %d %v (Vary %q), want 204 %v, Vary: Origin", c.method, c.path, origin, w.Code, got, w.Header().Values("Vary"), want)
			}
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// What a browser must not be allowed, and what a hostile client may send
// at no cost: none of it gets an allow header.
func TestCORSPreflightRefusals(t *testing.T) {
	h, _, _ := newServerWith(Config{CORSOrigins: []string{appOrigin}})
	huge := appOrigin + strings.Repeat("a", 60<<10)
	for _, c := range []struct {
		name, path, origin string
		hdr                []string
		code               int
	}{
		{"an origin not in the list", "/v1/posts", evilOrigin, nil, http.StatusForbidden},
		{"an allowed origin's prefix", "/v1/posts", "https://app.example.co", nil, http.StatusForbidden},
		{"an allowed origin as a prefix", "/v1/posts", appOrigin + ".evil.example", nil, http.StatusForbidden},
		{"an allowed origin in other case", "/v1/posts", "https://APP.example.com", nil, http.StatusForbidden},
		{"with a trailing slash", "/v1/posts", appOrigin + "/", nil, http.StatusForbidden},
		{"null", "/v1/posts", "null", nil, http.StatusForbidden},
		{"a huge origin", "/v1/posts", huge, nil, http.StatusForbidden},
		{"a malformed origin", "/v1/posts", "\x00\xff<script>", nil, http.StatusForbidden},
		{"no origin", "/v1/posts", "", nil, http.StatusForbidden},
		{"an unknown route", "/v1/nope", appOrigin, nil, http.StatusNotFound},
		{"an unknown route under a known one", "/v1/posts/a/b/c/d", appOrigin, nil, http.StatusNotFound},
		// Routes that are not for other origins' scripts.
		// Their paths exist, for GET only: 405, and still no CORS header.
		{"the image origin", "/img/alice/img1?w=640", appOrigin, nil, http.StatusMethodNotAllowed},
		{"metrics", "/metrics", appOrigin, nil, http.StatusMethodNotAllowed},
		{"readiness", "/readyz", appOrigin, nil, http.StatusMethodNotAllowed},
	} {
		w := preflight(h, c.path, c.origin, "POST", c.hdr...)
		if got := accessControl(w); w.Code != c.code || len(got) != 0 {
			t.Errorf("%s: %d %v, want %d and no Access-Control-* header", c.name, w.Code, got, c.code)
			continue
		}
		msg := errorOf(t, w)
		if strings.Contains(msg, "evil") || strings.Contains(msg, "script") || len(msg) > 300 {
			t.Errorf("%s: the error echoes the origin: %q", c.name, msg)
		}
		if c.code == http.StatusForbidden && !strings.Contains(msg, "--cors-origins") {
			t.Errorf("%s: %q does not say what to change", c.name, msg)
		}
	}
	// Two Origin headers: a browser sends one.
	req := httptest.NewRequest(http.MethodOptions, "/v1/posts", nil)
	req.Header["Origin"] = []string{appOrigin, appOrigin}
	req.Header.Set("Access-Control-Request-Method", "POST")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if got := accessControl(w); w.Code != http.StatusForbidden || len(got) != 0 {
		t.Errorf("two Origin headers: %d %v", w.Code, got)
	}
}

// Whatever a preflight asks for, the answer is the same fixed lists: the
// request headers are neither parsed nor echoed, the browser compares.
func TestCORSPreflightIgnoresWhatItIsAsked(t *testing.T) {
	h, _, _ := newServerWith(Config{CORSOrigins: []string{appOrigin}})
	for name, hdr := range map[string][]string{
		"junk request headers":       {"Access-Control-Request-Headers", "x-evil, \x01\x02, " + strings.Repeat("a,", 20<<10)},
		"a header named like markup": {"Access-Control-Request-Headers", "<script>alert(1)</script>"},
		"cookie":                     {"Access-Control-Request-Headers", "cookie"},
	} {
		w := preflight(h, "/v1/posts", appOrigin, "POST", hdr...)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Headers") != corsHeaders {
			t.Errorf("%s: %d, allow headers %q", name, w.Code, w.Header().Get("Access-Control-Allow-Headers"))
		}
	}
	// A method the route does not take still gets the route's own: the
	// browser sees PUT is not among them and refuses.
	w := preflight(h, "/v1/posts", appOrigin, "PUT")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Methods") != "POST" {
		t.Errorf("preflight for PUT: %d %q", w.Code, w.Header().Get("Access-Control-Allow-Methods"))
	}
	w = preflight(h, "/v1/posts", appOrigin, strings.Repeat("X", 10<<10))
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Methods") != "POST" {
		t.Errorf("preflight for a junk method: %d %q", w.Code, w.Header().Get("Access-Control-Allow-Methods"))
	}
	// An OPTIONS that is no preflight learns the methods, nothing of CORS.
	w = call(h, http.MethodOptions, "/v1/posts/p1", "", "")
	if w.Code != http.StatusNoContent || w.Header().Get("Allow") != "PATCH, DELETE, OPTIONS" || len(accessControl(w)) != 0 {
		t.Errorf("plain OPTIONS: %d %v", w.Code, w.Header())
	}
}

// An actual request from an allowed origin may be read by its script,
// with the headers it needs (the ETag to revalidate, Retry-After, why a
// token was refused), errors included. Every answer varies on Origin,
// even one to no origin or to a refused one: a CDN keeps a copy per
// origin, or it would serve one origin's answer to another.
func TestCORSActualRequests(t *testing.T) {
	h, _, _ := newServerWith(Config{CORSOrigins: []string{appOrigin, devOrigin}, WriteBurst: 1, WriteRate: 0.001})
	alice := mustToken(t, "alice")
	page := call(h, "GET", "/v1/hashtags/sunset", "", "")
	for _, c := range []struct {
		name, method, path, tok, body, origin string
		hdr                                   []string
		code                                  int
	}{
		{"a page", "GET", "/v1/hashtags/sunset", "", "", appOrigin, nil, 200},
		{"a page not modified", "GET", "/v1/hashtags/sunset", "", "", devOrigin, []string{"If-None-Match", page.Header().Get("ETag")}, 304},
		{"an unknown hashtag", "GET", "/v1/hashtags/neverseen", "", "", appOrigin, nil, 404},
		{"trending", "GET", "/v1/trending", "", "", appOrigin, nil, 200},
		{"a post", "POST", "/v1/posts", alice, `{"caption":"#a"}`, appOrigin, nil, 202},
		{"over the write limit", "POST", "/v1/posts", alice, `{"caption":"#a"}`, appOrigin, nil, 429},
		{"a bad token", "POST", "/v1/uploads", "x.y.z", `{}`, appOrigin, nil, 401},
		{"a like", "POST", "/v1/posts/bob/p1/like", mustToken(t, "carol"), "", devOrigin, nil, 202},
	} {
		w := call(h, c.method, c.path, c.tok, c.body, append([]string{"Origin", c.origin}, c.hdr...)...)
		if w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.code)
		}
		want := http.Header{"Access-Control-Allow-Origin": {c.origin}, "Access-Control-Expose-Headers": {"ETag, Retry-After, WWW-Authenticate"}}
		if got := accessControl(w); !equalHeaders(got, want) || !varies(w) {
			t.Errorf("%s: %v, Vary %q; want %v and Vary: Origin", c.name, got, w.Header().Values("Vary"), want)
		}
	}
	// A refused origin and no origin are still answered (the browser, not
	// the API, keeps the answer from a script), without an allow header,
	// and saying that the answer varies on Origin.
	for _, origin := range []string{evilOrigin, ""} {
		var hdr []string
		if origin != "" {
			hdr = []string{"Origin", origin}
		}
		w := call(h, "GET", "/v1/hashtags/sunset", "", "", hdr...)
		if w.Code != 200 || len(accessControl(w)) != 0 || !varies(w) {
			t.Errorf("origin %q: %d %v, Vary %q", origin, w.Code, accessControl(w), w.Header().Values("Vary"))
		}
	}
	// The routes that are not for other origins' scripts say nothing of
	// CORS, and do not vary: an image is one CDN copy for everyone.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/nope"} {
		w := call(h, "GET", path, "", "", "Origin", appOrigin)
		if len(accessControl(w)) != 0 || varies(w) {
			t.Errorf("GET %s: %v, Vary %q", path, accessControl(w), w.Header().Values("Vary"))
		}
	}
	img := call(h, "GET", strings.TrimPrefix(imageURLOf(t, page), "https://cdn.example.com"), "", "", "Origin", appOrigin)
	if img.Code != 200 || len(accessControl(img)) != 0 || varies(img) {
		t.Errorf("an image: %d %v, Vary %q", img.Code, accessControl(img), img.Header().Values("Vary"))
	}
}

// imageURLOf is the image_url of the first top post of a page answer.
func imageURLOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var p PageJSON
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || len(p.TopPosts) == 0 || p.TopPosts[0].ImageURL == "" {
		t.Fatalf("page %s: %v", w.Body, err)
	}
	return p.TopPosts[0].ImageURL
}

// With "*", every answer is the same for every origin: allowed to all,
// nothing to vary on, so any CDN may keep one copy; still no credentials.
func TestCORSAnyOrigin(t *testing.T) {
	h, _, _ := newServerWith(Config{CORSOrigins: []string{"*"}})
	for _, origin := range []string{appOrigin, evilOrigin, "null", ""} {
		var hdr []string
		if origin != "" {
			hdr = []string{"Origin", origin}
		}
		w := call(h, "GET", "/v1/hashtags/sunset", "", "", hdr...)
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "*" || varies(w) || w.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("GET from %q: %d %v, Vary %q", origin, w.Code, accessControl(w), w.Header().Values("Vary"))
		}
	}
	w := preflight(h, "/v1/posts", evilOrigin, "POST")
	if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
		w.Header().Get("Access-Control-Allow-Headers") != corsHeaders || w.Header().Get("Access-Control-Allow-Credentials") != "" || varies(w) {
		t.Errorf("preflight: %d %v", w.Code, w.Header())
	}
}

// By default the API sends no CORS header at all, as before the flag
// existed: browsers keep it to pages of its own origin.
func TestCORSOffByDefault(t *testing.T) {
	h, _, _ := newServer()
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/hashtags/sunset"}, {"POST", "/v1/posts"}, {"OPTIONS", "/v1/posts"}, {"OPTIONS", "/v1/hashtags/sunset"},
	} {
		w := call(h, c.method, c.path, "", "", "Origin", appOrigin, "Access-Control-Request-Method", "POST")
		if len(accessControl(w)) != 0 || varies(w) {
			t.Errorf("%s %s: %d %v, Vary %q", c.method, c.path, w.Code, accessControl(w), w.Header().Values("Vary"))
		}
	}
}

// An origin a browser never sends is a configuration error, not a list
// entry that silently allows nothing.
func TestCORSBadOriginPanics(t *testing.T) {
	for _, list := range [][]string{{"https://app.example.com/"}, {"*", appOrigin}, {"null"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New with CORSOrigins %q did not panic", list)
				}
			}()
			newServerWith(Config{CORSOrigins: list})
		}()
	}
}
