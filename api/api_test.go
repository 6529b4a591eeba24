package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/site"
	"github.com/tagstream/tagstream/token"
)

// store is the embedded image storage every test server uses (real code,
// files in a temporary directory), holding alice's image img1.
var (
	store   *media.Local
	keyring *media.Keyring
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "api-test-")
	if err != nil {
		panic(err)
	}
	code := setupImages(dir, m)
	os.RemoveAll(dir)
	if code == 0 && !reportConformance(os.Stderr) {
		code = 1
	}
	os.Exit(code)
}

func setupImages(dir string, m *testing.M) int {
	var err error
	// Presigning needs a URL, never a request: nothing listens there.
	if store, err = media.NewLocal(media.LocalConfig{Dir: dir, PublicURL: "http://uploads.invalid"}); err != nil {
		panic(err)
	}
	if keyring, err = media.ParseKeyring("k1:" + strings.Repeat("QUFB", 10) + "QUE="); err != nil {
		panic(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	for y := range 900 {
		for x := range 1200 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 99, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		panic(err)
	}
	if _, err := store.Put("alice/img1", &buf, 1<<20); err != nil {
		panic(err)
	}
	// An upload that is no image at all: the upload policy checks its
	// declared type, not its bytes.
	if _, err := store.Put("alice/notimg", strings.NewReader("<html><script>alert(1)</script></html>"), 1<<20); err != nil {
		panic(err)
	}
	return m.Run()
}

// pages is an in-memory page source: these tests are about the HTTP layer;
// the views themselves are tested on a broker in package pipeline.
type pages struct {
	recovered bool
	byKey     map[string]page.Page
	trending  page.Trending
	err       error
}

func (p *pages) Trending(context.Context) (page.Trending, error) {
	if p.err != nil {
		return page.Trending{}, p.err
	}
	return p.trending, nil
}

func (p *pages) Ready(context.Context) error {
	if !p.recovered {
		return errors.New("recovering")
	}
	return nil
}

func (p *pages) Page(_ context.Context, key string) (page.Page, error) {
	if p.err != nil {
		return page.Page{}, p.err
	}
	pg, ok := p.byKey[key]
	if !ok {
		return page.Page{}, page.ErrNotFound
	}
	return pg, nil
}

type publisher struct {
	mu    sync.Mutex
	sent  []events.PostEvent
	likes []events.LikeEvent
	err   error
}

func (p *publisher) EmitLike(_ context.Context, e events.LikeEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.likes = append(p.likes, e)
	return nil
}

func (p *publisher) Emit(_ context.Context, e events.PostEvent) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, e)
	return nil
}

var secret = []byte(strings.Repeat("k", token.MinSecretLen))

func newServer() (http.Handler, *pages, *publisher) {
	return newServerWith(Config{})
}

// newServerWith is newServer with cfg's fields, where set, instead of the
// defaults: the embedded image storage, the test keyring, and its origin.
func newServerWith(cfg Config) (http.Handler, *pages, *publisher) {
	cfg.Secret, cfg.CDNBase = secret, "https://cdn.example.com/"
	if cfg.Uploads == nil {
		cfg.Uploads = media.NewUploads(store, media.UploadConfig{})
	}
	if cfg.Signer == nil {
		cfg.Signer = keyring
	}
	if cfg.ImageWidths == nil {
		cfg.ImageWidths = media.DefaultWidths
	}
	if cfg.Origin == nil {
		cfg.Origin = media.NewOrigin(store, keyring, media.OriginConfig{})
	}
	pg := &pages{recovered: true, byKey: map[string]page.Page{
		"sunset": {Key: "sunset", Display: "Sunset", PostCount: 42, TopPosts: []events.PostSummary{
			{PostID: "p1", UserID: "alice", ImageID: "img1", Caption: "gold"}}},
		"日本":      {Key: "日本", Display: "日本", PostCount: 7},
		"strasse": {Key: "strasse", Display: "Straße", PostCount: 1},
	}}
	pub := &publisher{}
	return New(cfg, pg, pub), pg, pub
}

func call(h http.Handler, method, path, tok, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	checkConformance(req, []byte(body), w)
	return w
}

// mustSite is the page's document with its defaults.
func mustSite(t *testing.T) *site.Site {
	t.Helper()
	st, err := site.New(site.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func mustToken(t *testing.T, user string) string {
	t.Helper()
	tok, err := token.Mint(secret, user, time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("error body is not {\"error\": ...}: %q", w.Body.String())
	}
	return e.Error
}

func TestGetHashtagNormalisesThePath(t *testing.T) {
	h, _, _ := newServer()
	for _, path := range []string{"/v1/hashtags/sunset", "/v1/hashtags/%23SUNSET", "/v1/hashtags/%EF%BC%83Sunset",
		"/v1/hashtags/%EF%BD%93%EF%BD%95%EF%BD%8E%EF%BD%93%EF%BD%85%EF%BD%94"} {
		w := call(h, "GET", path, "", "")
		if w.Code != 200 {
			t.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
		var p PageJSON
		json.Unmarshal(w.Body.Bytes(), &p)
		if p.Key != "sunset" || p.Hashtag != "Sunset" || p.PostCount != 42 {
			t.Fatalf("%s: page %+v", path, p)
		}
		if len(p.TopPosts) != 1 || !strings.HasPrefix(p.TopPosts[0].ImageURL, "https://cdn.example.com/img/alice/img1?w=640&exp=") ||
			!strings.Contains(p.TopPosts[0].ImageURL, "&kid=k1&sig=") {
			t.Fatalf("%s: top posts %+v", path, p.TopPosts)
		}
	}
	if w := call(h, "GET", "/v1/hashtags/%E6%97%A5%E6%9C%AC", "", ""); w.Code != 200 {
		t.Fatalf("percent-encoded Unicode: %d", w.Code)
	}
	if w := call(h, "GET", "/v1/hashtags/STRASSE", "", ""); w.Code != 200 {
		t.Fatalf("case-folded ß: %d", w.Code)
	}
}

func TestGetHashtagCaching(t *testing.T) {
	h, _, _ := newServer()
	w := call(h, "GET", "/v1/hashtags/sunset", "", "")
	cc, etag := w.Header().Get("Cache-Control"), w.Header().Get("ETag")
	if cc != "public, max-age=5, stale-while-revalidate=30, stale-if-error=86400" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("Cache-Control %q, ETag %q", cc, etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		w2 := call(h, "GET", "/v1/hashtags/%23Sunset", "", "", "If-None-Match", inm)
		if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 || w2.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d, body %q", inm, w2.Code, w2.Body)
		}
	}
	if w3 := call(h, "GET", "/v1/hashtags/sunset", "", "", "If-None-Match", `"stale"`); w3.Code != 200 {
		t.Errorf("stale ETag: %d", w3.Code)
	}
}

func TestGetHashtagErrors(t *testing.T) {
	h, pg, _ := newServer()
	if w := call(h, "GET", "/v1/hashtags/neverseen", "", ""); w.Code != 404 {
		t.Fatalf("unknown: %d", w.Code)
	} else {
		errorOf(t, w)
	}
	if w := call(h, "GET", "/v1/hashtags/123", "", ""); w.Code != 400 {
		t.Fatalf("all digits: %d", w.Code)
	}
	if w := call(h, "GET", "/v1/hashtags/%20", "", ""); w.Code != 400 {
		t.Fatalf("blank: %d", w.Code)
	}
	pg.err = errors.New("boom")
	if w := call(h, "GET", "/v1/hashtags/sunset", "", ""); w.Code != 503 {
		t.Fatalf("view error: %d", w.Code)
	}
}

func TestCreatePost(t *testing.T) {
	h, _, pub := newServer()
	w := call(h, "POST", "/v1/posts", mustToken(t, "alice"), `{"caption":"Hi #Sunset #sunset #Beach","image_id":"img1"}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var resp struct {
		PostID   string   `json:"post_id"`
		Hashtags []string `json:"hashtags"`
	}
	json.Unmarshal(w.Body.Bytes(), &resp)
	if resp.PostID == "" || strings.Join(resp.Hashtags, ",") != "sunset,beach" {
		t.Fatalf("response %s", w.Body)
	}
	e := pub.sent[0]
	if e.UserID != "alice" || e.Type != events.PostCreated || e.PostID != resp.PostID || e.ImageID != "img1" || e.TS.IsZero() {
		t.Fatalf("event %+v", e)
	}
	w = call(h, "POST", "/v1/posts", mustToken(t, "alice"), `{"caption":""}`)
	if w.Code != 202 || !strings.Contains(w.Body.String(), `"hashtags":[]`) {
		t.Fatalf("empty caption: %d %s", w.Code, w.Body)
	}
}

func TestCreatePostRejects(t *testing.T) {
	h, _, pub := newServer()
	alice := mustToken(t, "alice")
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: token.Issuer, Subject: "alice",
		IssuedAt: jwt.NewNumericDate(time.Now().Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(time.Now().Add(-10 * time.Minute))}).SignedString(secret)
	century, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{Issuer: token.Issuer, Subject: "alice",
		IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(876000 * time.Hour))}).SignedString(secret)
	many := "x"
	for i := range 31 {
		many += " #t" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	cases := []struct {
		name, tok, body string
		code            int
		hdr             []string
	}{
		{"no token", "", `{"caption":"#a"}`, 401, nil},
		{"expired token", expired, `{"caption":"#a"}`, 401, nil},
		{"token for a century", century, `{"caption":"#a"}`, 401, nil},
		{"duplicate key", alice, `{"caption":"#a","caption":"#b"}`, 400, nil},
		{"case-variant key", alice, `{"caption":"#a","Caption":"#b"}`, 400, nil},
		{"only a case-variant key", alice, `{"Caption":"#a"}`, 400, nil},
		{"wrong type", alice, `{"caption":5}`, 400, nil},
		{"unknown field", alice, `{"caption":"#a","likes":3}`, 400, nil},
		{"bad token", "abc.def.ghi", `{"caption":"#a"}`, 401, nil},
		{"malformed JSON", alice, `{"caption":`, 400, nil},
		{"not an object", alice, `["caption"]`, 400, nil},
		{"user in body", alice, `{"caption":"#a","user_id":"bob"}`, 400, nil},
		{"missing caption", alice, `{}`, 400, nil},
		{"bad post id", alice, `{"caption":"#a","post_id":"../x"}`, 400, nil},
		{"trailing data", alice, `{"caption":"#a"} {}`, 400, nil},
		{"too large", alice, `{"caption":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, nil},
		{"caption too long", alice, `{"caption":"` + strings.Repeat("é", 2201) + `"}`, 422, nil},
		{"too many hashtags", alice, `{"caption":"` + many + `"}`, 422, nil},
		{"hashtag too long", alice, `{"caption":"#` + strings.Repeat("a", 101) + `"}`, 422, nil},
	}
	for _, c := range cases {
		w := call(h, "POST", "/v1/posts", c.tok, c.body, c.hdr...)
		if w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.code)
			continue
		}
		msg := errorOf(t, w)
		t.Logf("%s: %d %s", c.name, c.code, msg)
		// Error bodies speak JSON, not Go.
		for _, goism := range []string{"Go ", "struct", "api.", "createRequest", "*string", "json: "} {
			if strings.Contains(msg, goism) {
				t.Errorf("%s: error %q names Go internals (%q)", c.name, msg, goism)
			}
		}
	}
	if len(pub.sent) != 0 {
		t.Fatalf("rejected requests published %d events", len(pub.sent))
	}
	// curl -d sends form encoding; the JSON body is still what counts.
	if w := call(h, "POST", "/v1/posts", alice, `{"caption":"#a"}`, "Content-Type", "application/x-www-form-urlencoded"); w.Code != 202 {
		t.Fatalf("curl-style content type: %d %s", w.Code, w.Body)
	}
	// Exactly at the limits is fine.
	atLimit := `{"caption":"` + strings.Repeat("é", 2200-102) + ` #` + strings.Repeat("a", 100) + `"}`
	if w := call(h, "POST", "/v1/posts", alice, atLimit); w.Code != 202 {
		t.Fatalf("caption at the limits: %d %s", w.Code, w.Body)
	}
}

func TestPublishFailureIs503(t *testing.T) {
	h, _, pub := newServer()
	pub.err = errors.New("broker down")
	w := call(h, "POST", "/v1/posts", mustToken(t, "alice"), `{"caption":"#a"}`)
	if w.Code != 503 {
		t.Fatalf("%d", w.Code)
	}
	errorOf(t, w)
}

func TestEditAndDeleteAreScopedToTheTokenUser(t *testing.T) {
	h, _, pub := newServer()
	bob := mustToken(t, "bob")
	if w := call(h, "PATCH", "/v1/posts/p1", bob, `{"caption":"#new"}`); w.Code != 202 {
		t.Fatalf("patch: %d %s", w.Code, w.Body)
	}
	if w := call(h, "DELETE", "/v1/posts/p1", bob, ""); w.Code != 202 {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if w := call(h, "DELETE", "/v1/posts/p1", "", ""); w.Code != 401 {
		t.Fatalf("delete without token: %d", w.Code)
	}
	if len(pub.sent) != 2 || pub.sent[0].Type != events.PostEdited || pub.sent[1].Type != events.PostDeleted ||
		pub.sent[0].UserID != "bob" || pub.sent[1].UserID != "bob" {
		t.Fatalf("events %+v", pub.sent)
	}
}

func TestOnlyTheOwnerMayEditOrDelete(t *testing.T) {
	h, _, pub := newServer()
	bob := mustToken(t, "bob")
	for _, c := range []struct {
		method, path, token, body string
		code                      int
	}{
		{"PATCH", "/v1/posts/alice/p1", bob, `{"caption":"#mine"}`, 403},
		{"DELETE", "/v1/posts/alice/p1", bob, "", 403},
		{"DELETE", "/v1/posts/alice/p1", "", "", 401},
		{"PATCH", "/v1/posts/bob/p1", bob, `{"caption":"#mine"}`, 202},
		{"DELETE", "/v1/posts/bob/p1", bob, "", 202},
		{"DELETE", "/v1/posts/bob/bad!id", bob, "", 400},
	} {
		w := call(h, c.method, c.path, c.token, c.body)
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, w.Code, w.Body, c.code)
		}
		if w.Code >= 400 {
			errorOf(t, w)
		}
	}
	if len(pub.sent) != 2 || pub.sent[0].UserID != "bob" || pub.sent[1].UserID != "bob" {
		t.Fatalf("published %+v: only bob's own two changes may reach the posts topic", pub.sent)
	}
}

func TestReadyAndHealth(t *testing.T) {
	h, pg, _ := newServer()
	if w := call(h, "GET", "/healthz", "", ""); w.Code != 200 {
		t.Fatal(w.Code)
	}
	pg.recovered = false
	if w := call(h, "GET", "/readyz", "", ""); w.Code != 503 {
		t.Fatalf("not recovered: %d", w.Code)
	}
	pg.recovered = true
	if w := call(h, "GET", "/readyz", "", ""); w.Code != 200 {
		t.Fatalf("recovered: %d", w.Code)
	}
	if w := call(h, "GET", "/metrics", "", ""); w.Code != 200 || !strings.Contains(w.Body.String(), "tagstream_http_requests_total") {
		t.Fatalf("metrics: %d %s", w.Code, w.Body)
	}
	if w := call(h, "GET", "/nope", "", ""); w.Code != 404 {
		t.Fatalf("unknown route: %d", w.Code)
	}
}

// RFC 9110 makes the auth scheme case-insensitive: "bearer" and "BEARER"
// are accepted, "Basic" and a bare token are not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	h, _, _ := newServer()
	tok := mustToken(t, "alice")
	for auth, want := range map[string]int{
		"bearer " + tok:    202,
		"BEARER " + tok:    202,
		"Bearer  " + tok:   202,
		"Basic " + tok:     401,
		tok:                401,
		"Bearer":           401,
		"Bearertok " + tok: 401,
	} {
		w := call(h, "POST", "/v1/posts", "", `{"caption":"#a"}`, "Authorization", auth)
		if w.Code != want {
			t.Errorf("Authorization %.20q…: %d %s, want %d", auth, w.Code, w.Body, want)
		}
	}
}

// A page path longer than any hashtag is refused before it is normalised
// (900 KB of U+FDFA cost 1.3 s of CPU and came back echoed in a cacheable
// 404), and its answer does not echo it. The handler is measured alone
// (the router's own copies of a long path are the same either way):
// normalising would allocate megabytes, refusing allocates next to nothing.
func TestLongTagIsRefusedUnread(t *testing.T) {
	cfg := Config{Secret: secret}
	cfg.defaults()
	s := &server{cfg: cfg, pages: &pages{recovered: true}}
	for _, tag := range []string{strings.Repeat("\uFDFA", 300_000), strings.Repeat("a", maxTagBytes+1)} {
		req := httptest.NewRequest("GET", "/v1/hashtags/x", nil)
		req.SetPathValue("tag", tag)
		w := httptest.NewRecorder()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s.getHashtag(w, req)
		runtime.ReadMemStats(&after)
		if w.Code != 400 || w.Body.Len() > 200 || w.Header().Get("Cache-Control") != "" {
			t.Fatalf("%d-byte tag: %d, %d-byte body, Cache-Control %q", len(tag), w.Code, w.Body.Len(), w.Header().Get("Cache-Control"))
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
			t.Errorf("%d-byte tag: answering allocated %d bytes: it was processed", len(tag), n)
		}
	}
	// A path of the longest key's length still reaches the tables.
	h, _, _ := newServer()
	if w := call(h, "GET", "/v1/hashtags/"+strings.Repeat("a", maxTagBytes), "", ""); w.Code != 404 {
		t.Errorf("a %d-byte key: %d, want 404", maxTagBytes, w.Code)
	}
}

// No answer may be sniffed into HTML: every route sends nosniff.
func TestEveryAnswerSaysNosniff(t *testing.T) {
	h, _, _ := newServer()
	for _, c := range []struct{ method, path, tok string }{
		{"GET", "/v1/hashtags/sunset", ""},
		{"GET", "/v1/hashtags/nope", ""},
		{"GET", "/v1/hashtags/%3Cscript%3E", ""},
		{"POST", "/v1/posts", ""},
		{"GET", "/img/alice/img1?w=1", ""},
		{"GET", "/metrics", ""},
		{"GET", "/readyz", ""},
		{"GET", "/<b>nowhere</b>", ""},
	} {
		w := call(h, c.method, c.path, c.tok, "")
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s (%d): X-Content-Type-Options %q", c.method, c.path, w.Code, got)
		}
	}
}

// With a site, "/" and "/tags/{tag}" answer the page's document and
// "/tags?q=" redirects; any other path is still the API's JSON 404.
func TestSiteRoutes(t *testing.T) {
	h, _, _ := newServerWith(Config{Site: mustSite(t)})
	for _, path := range []string{"/", "/tags/sunset", "/tags/%E6%9D%B1%E4%BA%AC"} {
		w := call(h, "GET", path, "", "")
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Header())
		}
	}
	if w := call(h, "GET", "/tags?q=%23Sunset", "", ""); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/tags/Sunset" {
		t.Errorf("search: %d %s", w.Code, w.Header().Get("Location"))
	}
	for _, path := range []string{"/index.html", "/tags/a/b", "/v2/"} {
		if w := call(h, "GET", path, "", ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Body)
		}
	}
	if w := call(h, "POST", "/", "", ""); w.Code != http.StatusMethodNotAllowed && w.Code != 404 {
		t.Errorf("POST /: %d", w.Code)
	}
}

// Every request logs one line: method, route, path without its query,
// status, duration and bytes; never the bearer token or a signature.
func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer slog.SetDefault(prev)
	h, _, _ := newServer()
	tok := mustToken(t, "alice")
	call(h, "POST", "/v1/posts?sig=SECRETSIG", tok, `{"caption":"#logged"}`)
	call(h, "GET", "/v1/hashtags/sunset", "", "")
	call(h, "GET", "/v1/hashtags/"+strings.Repeat("x", 5000), "", "")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var logged []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "request" {
			logged = append(logged, m)
		}
	}
	if len(logged) != 3 {
		t.Fatalf("%d request lines, want 3:\n%s", len(logged), buf.String())
	}
	post := logged[0]
	if post["method"] != "POST" || post["route"] != "POST /v1/posts" || post["path"] != "/v1/posts" || post["status"] != float64(202) ||
		post["bytes"].(float64) <= 0 || post["took"] == nil {
		t.Errorf("post logged as %v", post)
	}
	if logged[1]["status"] != float64(200) || logged[1]["route"] != "GET /v1/hashtags/{tag}" {
		t.Errorf("page logged as %v", logged[1])
	}
	if p := logged[2]["path"].(string); len(p) > maxLoggedPath+3 || logged[2]["status"] != float64(400) {
		t.Errorf("a 5,000-byte path logged as %d bytes, status %v", len(p), logged[2]["status"])
	}
	if strings.Contains(buf.String(), tok) || strings.Contains(buf.String(), "SECRETSIG") || strings.Contains(buf.String(), "Bearer") {
		t.Errorf("a token or signature reached the log:\n%s", buf.String())
	}
}
