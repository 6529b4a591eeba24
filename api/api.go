// Package api is tagstream's HTTP API: hashtag pages read from the views
// (or the Cassandra snapshot), posts written to the posts topic, photo
// upload reservations, and the signed-image origin. It holds no state of
// its own, so any number of API processes can run behind a CDN.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tagstream/tagstream/cors"
	"github.com/tagstream/tagstream/edge"
	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/ids"
	"github.com/tagstream/tagstream/media"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/page"
	"github.com/tagstream/tagstream/site"
	"github.com/tagstream/tagstream/token"
)

// MaxBodyBytes bounds every request body; a larger one gets 413.
const MaxBodyBytes = 64 << 10

// Pages reads hashtag pages: *views.Following (local goka views) or the
// Cassandra snapshot (`api --source cassandra`), which build the same
// page.Page, so both give the same JSON and headers.
type Pages = page.Source

// Uploads reserves photo uploads and checks that one exists;
// *media.Uploads implements it. Reserve returns a *media.RequestError for
// a request the caller must fix, Exists an error matching media.ErrNotFound
// for an image the user has not uploaded.
type Uploads interface {
	Reserve(ctx context.Context, userID, contentType string, size int64) (*media.Reservation, error)
	Exists(ctx context.Context, userID, imageID string) error
}

// Signer builds signed image URLs; *media.Keyring implements it. Pages
// carry URLs signed for every allowed width (topology.md, "Image URLs"),
// so a client builds its srcset from one URL per post.
type Signer interface {
	BuildAnyWidth(cdnBase, userID, imageID string, width int, exp time.Time) string
}

// Publisher publishes post and like events; *emitters.Posts implements
// it. Each returns once the event is durable, or with ctx's error.
type Publisher interface {
	Emit(ctx context.Context, e events.PostEvent) error
	EmitLike(ctx context.Context, e events.LikeEvent) error
}

// Config configures the API.
type Config struct {
	// Secret verifies bearer tokens (HS256).
	Secret []byte
	// TokenMaxTTL is the longest token lifetime accepted (exp - iat).
	// Default token.DefaultMaxTTL.
	TokenMaxTTL time.Duration
	// CDNBase is the base URL of image URLs, e.g. https://cdn.example.com.
	// Default: relative URLs served by this API's own /img origin.
	CDNBase string
	// ImageWidth is the width put in image URLs of hashtag pages. Default 640.
	ImageWidth int
	// ImageWidths are the widths the origin resizes to, which a page
	// lists (image_widths) so that a client may put any of them in an
	// image URL's w (a page's srcset). Default ImageWidth alone.
	ImageWidths []int
	// MaxAge is the Cache-Control max-age of hashtag pages. Default 5 s: a
	// count a few seconds old is fine, and a CDN absorbs all but one request
	// per hashtag and edge every 5 s.
	MaxAge time.Duration
	// StaleWhileRevalidate lets a CDN serve a stale page while it refetches,
	// so a hot hashtag never stampedes the origin. Default 30 s.
	StaleWhileRevalidate time.Duration
	// EdgeMaxAge is how long the edge in front, which this API purges on
	// every change (pipeline.EdgeOptions), may keep pages and the trending
	// list: sent as Surrogate-Control: max-age, which CDNs (Fastly) and
	// tagstream.vcl honour and strip, and browsers and other caches never
	// see. Default 0: none, the edge keeps them for MaxAge like anyone.
	// Image URLs' expiry covers it (ImageExpiry).
	EdgeMaxAge time.Duration
	// StaleIfError lets a CDN serve a stale page or trending list while
	// the origin fails: better a page some minutes old than an error.
	// Default 24 h.
	StaleIfError time.Duration
	// ImageExpiry sets the exp of image URLs in pages. Default
	// media.DefaultExpiry with MaxAge and StaleWhileRevalidate taken from
	// the fields above, so that a page a CDN may still serve never holds
	// an expired URL, and exp rounded to the hour so that the page, hence
	// its ETag, is the same for every request within the hour.
	ImageExpiry media.Expiry
	// Now is the clock (tests); default time.Now.
	Now func() time.Time

	// Uploads serves POST /v1/uploads and checks the image_id of new
	// posts. Nil when no image storage is configured: both answer 503,
	// since an image id that cannot be checked must not be accepted.
	Uploads Uploads
	// Signer signs the image URLs of pages. Nil: pages carry no image_url
	// (an unsigned URL would only earn a 403 from the origin).
	Signer Signer
	// Origin serves GET /img/{user_id}/{image_id} (a *media.Origin). Nil:
	// 503, no image storage configured.
	Origin http.Handler
	// Site is the hashtag page (package site), served at "/" and at
	// "/tags/{tag}". Nil: those answer 404 like any unknown route.
	Site *site.Site
	// Routes are extra routes mounted as given, pattern to handler: the
	// embedded storage's upload endpoint, which browsers post to. They get
	// no CORS headers from the API: the upload endpoint (media.Local)
	// answers for itself, as a bucket does.
	Routes map[string]http.Handler
	// CORSOrigins are the web origins whose scripts may call the /v1/
	// routes from a browser (package cors: exact origins as browsers send
	// them, or "*" alone for any). Empty: no CORS header at all, and
	// browsers keep the API to pages of its own origin. New panics on an
	// origin cors.Parse refuses: check them first.
	CORSOrigins []string
	// WriteRate and WriteBurst bound each user's writes (posts, edits,
	// deletes, upload reservations): WriteBurst at once, then WriteRate
	// per second, answering 429 with Retry-After beyond. Defaults 0.5/s
	// (30 a minute) and 30: more than a person posts, far less than a
	// script. A negative WriteRate turns the limit off.
	WriteRate  float64
	WriteBurst int
	// Status are components /readyz reports by name without failing on
	// them, e.g. the snapshotter inside `tagstream run`: pages are still
	// served while Cassandra is down, so the API must stay in rotation.
	Status map[string]func() error

	// PageCacheBytes and PageCacheEntries bound the encoded pages kept
	// between requests, served again while their hashtag's table values
	// and image-expiry bucket are the same (pagecache.go): at most
	// PageCacheEntries pages and PageCacheBytes of their bodies, the
	// decoded lists they were built from kept alive beside. Defaults
	// DefaultPageCacheBytes (64 MiB) and DefaultPageCacheEntries (4,096);
	// a negative PageCacheBytes keeps none. Only a page source that
	// implements page.SharedLists (the views) has its pages kept: the
	// identity of its values is what tells an unchanged page.
	PageCacheBytes   int
	PageCacheEntries int
}

func (c *Config) defaults() {
	if c.ImageWidth == 0 {
		c.ImageWidth = 640
	}
	if len(c.ImageWidths) == 0 {
		c.ImageWidths = []int{c.ImageWidth}
	}
	if c.MaxAge == 0 {
		c.MaxAge = 5 * time.Second
	}
	if c.StaleWhileRevalidate == 0 {
		c.StaleWhileRevalidate = 30 * time.Second
	}
	if c.StaleIfError == 0 {
		c.StaleIfError = 24 * time.Hour
	}
	if c.ImageExpiry == (media.Expiry{}) {
		c.ImageExpiry = media.DefaultExpiry
		c.ImageExpiry.MaxAge, c.ImageExpiry.StaleWhileRevalidate = max(c.MaxAge, c.EdgeMaxAge), c.StaleWhileRevalidate
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.WriteRate == 0 {
		c.WriteRate = 0.5
	}
	if c.WriteBurst <= 0 {
		c.WriteBurst = 30
	}
	if c.PageCacheBytes == 0 {
		c.PageCacheBytes = DefaultPageCacheBytes
	}
	if c.PageCacheEntries <= 0 {
		c.PageCacheEntries = DefaultPageCacheEntries
	}
}

// maxLimitedUsers bounds the write limiter's state: 100,000 buckets of
// ~100 bytes.
const maxLimitedUsers = 100_000

var (
	requests = metrics.Default.NewCounterVec("tagstream_http_requests_total",
		"HTTP requests by route and status code.", "route", "code")
	requestSeconds = metrics.Default.NewHistogramVec("tagstream_http_request_duration_seconds",
		"Time from a request's headers read to its handler's return, by route and status code.", nil, "route", "code")
	reservations = metrics.Default.NewCounterVec("tagstream_upload_reservations_total",
		"Photo upload reservations (POST /v1/uploads) by result: ok, refused (the request's fault), unavailable (storage).", "result")
)

type server struct {
	cfg       Config
	pages     Pages
	posts     Publisher
	writes    *writeLimiter // nil: no limit
	pageCache *pageCache    // nil: pages are built for every request
	// cacheControl is the Cache-Control of pages and trending, made once;
	// surrogateControl their Surrogate-Control, nil without EdgeMaxAge.
	cacheControl, surrogateControl []string
}

// New returns the API's handler.
func New(cfg Config, pages Pages, posts Publisher) http.Handler {
	h, _ := newHandler(cfg, pages, posts)
	return h
}

// newHandler is New, and the patterns it routes (the tests compare them
// with openapi.yaml).
func newHandler(cfg Config, pages Pages, posts Publisher) (http.Handler, []string) {
	cfg.defaults()
	s := &server{cfg: cfg, pages: pages, posts: posts, cacheControl: []string{fmt.Sprintf("public, max-age=%d, stale-while-revalidate=%d, stale-if-error=%d",
		int(cfg.MaxAge.Seconds()), int(cfg.StaleWhileRevalidate.Seconds()), int(cfg.StaleIfError.Seconds()))}}
	if cfg.EdgeMaxAge > 0 {
		s.surrogateControl = []string{fmt.Sprintf("max-age=%d", int(cfg.EdgeMaxAge.Seconds()))}
	}
	if sl, ok := pages.(page.SharedLists); ok && sl.SharedLists() && cfg.PageCacheBytes > 0 {
		s.pageCache = newPageCache(cfg.PageCacheEntries, cfg.PageCacheBytes)
	}
	if cfg.WriteRate > 0 {
		s.writes = newWriteLimiter(cfg.WriteRate, cfg.WriteBurst, maxLimitedUsers)
	}
	origins, err := cors.Parse(cfg.CORSOrigins)
	if err != nil {
		panic(fmt.Sprintf("api: Config.CORSOrigins: %v", err))
	}
	mux := &routes{mux: http.NewServeMux()}
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, instrument(pattern, h))
	}
	// The /v1/ routes are what a web app on another origin calls. The
	// rest are not for its scripts: the image origin is read by <img>,
	// which needs no CORS, and Vary: Origin would only split a CDN's copies
	// of every image; health, metrics and the site are this origin's own.
	crossOrigin := &corsRoutes{origins: origins, methods: map[string][]string{}}
	handleCORS := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, instrument(pattern, crossOrigin.wrap(pattern, h)))
	}
	handleCORS("GET /v1/hashtags/{tag}", s.getHashtag)
	handleCORS("POST /v1/uploads", s.createUpload)
	handleCORS("POST /v1/posts", s.createPost)
	// A post is identified by its owner and its id: /v1/posts/{id} is the
	// caller's own post, /v1/posts/{user}/{id} anyone's, and only its
	// owner may change it.
	handleCORS("PATCH /v1/posts/{id}", s.editPost)
	handleCORS("PATCH /v1/posts/{user}/{id}", s.editPost)
	handleCORS("DELETE /v1/posts/{id}", s.deletePost)
	handleCORS("DELETE /v1/posts/{user}/{id}", s.deletePost)
	// Anyone signed in may like anyone's post: the liker is the token's
	// subject, the post is named by its owner and id.
	handleCORS("POST /v1/posts/{user}/{id}/like", s.likePost(events.Liked))
	handleCORS("DELETE /v1/posts/{user}/{id}/like", s.likePost(events.Unliked))
	handleCORS("GET /v1/trending", s.getTrending)
	crossOrigin.mount(mux)
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", s.ready)
	// The API's description, as JSON and rendered: the edge keeps them
	// with the page's document (siteKeys), which a release changes too.
	mux.Handle("GET /openapi.json", instrument("GET /openapi.json", withKeys(siteKeys, serveSpec("application/json; charset=utf-8", spec.json, spec.jsonETag, ""))))
	mux.Handle("GET /docs", instrument("GET /docs", withKeys(siteKeys, serveSpec("text/html; charset=utf-8", spec.html, spec.htmlETag, docsCSP))))
	// The CDN origin shares the API's server: the default CDN base is
	// this API itself. Its route is the pattern the origin checks again.
	if cfg.Origin != nil {
		mux.Handle("GET /img/{user}/{image}", instrument("GET /img/{user}/{image}", imageKeys(cfg.Origin)))
	} else {
		handle("GET /img/{user}/{image}", func(w http.ResponseWriter, _ *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "no image storage is configured")
		})
	}
	if cfg.Site != nil {
		doc := withKeys(siteKeys, cfg.Site)
		mux.Handle("GET /{$}", instrument("GET /", doc))
		mux.Handle("GET /tags/{tag}", instrument("GET /tags/{tag}", doc))
		mux.Handle("GET /tags", instrument("GET /tags", http.HandlerFunc(cfg.Site.Search)))
	}
	for pattern, h := range cfg.Routes {
		mux.Handle(pattern, instrument(pattern, h))
	}
	mux.Handle("GET /metrics", metrics.Default)
	patterns := mux.patterns
	mux.mux.HandleFunc("/", mux.unrouted)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No response may be sniffed into HTML: error bodies echo input.
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// ServeMux answers an untidy path (//, /./, /../) with a redirect
		// to the tidy one: an answer no client asked for, in HTML, and
		// for image URLs one CDN cache key per spelling, unbounded. Only
		// the tidy spelling is served; a trailing slash is no untidiness
		// (the route decides).
		if p := r.URL.Path; p != "" && p != path.Clean(p) {
			if strings.HasPrefix(p, "/img/") {
				writeError(w, http.StatusBadRequest, "not an image URL: the path must be exactly as signed")
				return
			}
			if p != path.Clean(p)+"/" {
				writeError(w, http.StatusBadRequest, "not a canonical path: no //, /./ or /../")
				return
			}
		}
		// No route serves ranges or takes conditional writes: net/http's
		// ServeContent (the page, the images, the description) would
		// answer them with 206, 412 and a plain-text 416, none of which
		// the API documents.
		for _, h := range unsupportedHeaders {
			delete(r.Header, h)
		}
		mux.mux.ServeHTTP(w, r)
	}), patterns
}

// unsupportedHeaders are the request headers the API ignores (above).
var unsupportedHeaders = []string{"Range", "If-Range", "If-Match", "If-Unmodified-Since"}

// routes is the API's ServeMux and the patterns registered on it.
type routes struct {
	mux      *http.ServeMux
	patterns []string
}

func (m *routes) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.mux.Handle(pattern, h)
}

// methods are the methods a route may have: what unrouted tries.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// unrouted answers a request no route takes: 405 with Allow when its path
// has routes for other methods (a client that sends PUT for PATCH learns
// which), 404 otherwise. ServeMux would answer the 405 itself, in plain
// text, were it not for the catch-all route this is.
func (m *routes) unrouted(w http.ResponseWriter, r *http.Request) {
	var allow []string
	probe := r.Clone(r.Context())
	for _, method := range methods {
		probe.Method = method
		if _, pattern := m.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, method)
			if method == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%.20s is not allowed on %.200s: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %.20s %.200s", r.Method, r.URL.Path))
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// maxLoggedPath bounds the path a request log line carries: a path may
// be as long as the header limit allows.
const maxLoggedPath = 256

// routeMeters are one route's metrics for one status code, looked up
// once: every request counts in both.
type routeMeters struct {
	n       *atomic.Int64
	seconds prometheus.Observer
}

func instrument(route string, h http.Handler) http.Handler {
	var byCode sync.Map // status code -> *routeMeters
	meters := func(code int) *routeMeters {
		if m, ok := byCode.Load(code); ok {
			return m.(*routeMeters)
		}
		c := strconv.Itoa(code)
		m, _ := byCode.LoadOrStore(code, &routeMeters{n: requests.Cell(route, c), seconds: requestSeconds.WithLabelValues(route, c)})
		return m.(*routeMeters)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		took := time.Since(start)
		m := meters(sw.code)
		m.n.Add(1)
		m.seconds.Observe(took.Seconds())
		// One line per request, as an access log: the path without its
		// query (a signed image URL's signature, a search) and never a
		// header, so no token reaches the log.
		if slog.Default().Enabled(r.Context(), slog.LevelInfo) {
			p := r.URL.Path
			if len(p) > maxLoggedPath {
				p = p[:maxLoggedPath] + "..."
			}
			slog.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method), slog.String("route", route),
				slog.String("path", p), slog.Int("status", sw.code), slog.Duration("took", took), slog.Int64("bytes", sw.bytes))
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		slog.Debug("write response", "err", err)
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.pages.Ready(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "hashtag pages cannot be served yet: "+err.Error())
		return
	}
	out := map[string]string{"status": "ready"}
	for name, check := range s.cfg.Status {
		out[name] = "ok"
		if err := check(); err != nil {
			out[name] = err.Error()
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Surrogate keys that are the same for every response of their route,
// made once (see writeEncoded on sharing header slices).
var (
	siteKeys     = []string{edge.SiteKey}
	trendingKeys = []string{edge.TrendingKey}
)

// withKeys tags h's responses with the surrogate keys.
func withKeys(keys []string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()[edge.Header] = keys
		h.ServeHTTP(w, r)
	})
}

// imageKeys tags an image's responses with its surrogate key, the same for
// every width, so that one purge reaches them all. A path the origin will
// refuse gets none: its answer is not cached anyway.
func imageKeys(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, image := r.PathValue("user"), r.PathValue("image"); ids.Valid(user) && ids.Valid(image) {
			w.Header().Set(edge.Header, edge.ImageKey(user, image))
		}
		h.ServeHTTP(w, r)
	})
}

// PageJSON is the body of GET /v1/hashtags/{tag}.
type PageJSON struct {
	Hashtag     string     `json:"hashtag"`
	Key         string     `json:"key"`
	PostCount   int64      `json:"post_count"`
	TopPosts    []PostJSON `json:"top_posts"`
	RecentPosts []PostJSON `json:"recent_posts"`
	// ImageWidths are the widths a post's image_url may be asked at: its
	// signature covers each, so a client replaces the value of w (the
	// first query parameter) to build a srcset. Absent when posts carry
	// no image URLs.
	ImageWidths []int     `json:"image_widths,omitempty"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// PostJSON is one entry of a page's lists.
type PostJSON struct {
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	ImageID   string    `json:"image_id,omitempty"`
	ImageURL  string    `json:"image_url,omitempty"`
	Caption   string    `json:"caption,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	LikeCount int64     `json:"like_count"`
}

// TrendingJSON is the body of GET /v1/trending.
type TrendingJSON struct {
	// Hashtags are the hashtags with the most new posts in the window,
	// most first (ties by key), at most 50.
	Hashtags []events.Trending `json:"hashtags"`
	// Window is the length of the window, ending at ComputedAt.
	Window     string    `json:"window"`
	ComputedAt time.Time `json:"computed_at,omitzero"`
}

// maxTagBytes bounds the {tag} of a page: the longest key, or a tag as
// written with its sign. Anything longer is no hashtag, and is refused
// before it is normalised (NFKC of 900 KB of U+FDFA took 1.3 s of CPU).
const maxTagBytes = hashtag.MaxKeyBytes + len("＃")

func (s *server) getHashtag(w http.ResponseWriter, r *http.Request) {
	if raw := r.PathValue("tag"); len(raw) > maxTagBytes {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a hashtag is at most %d bytes, this one %d", maxTagBytes, len(raw)))
		return
	}
	key := hashtag.Normalize(r.PathValue("tag"))
	if !hashtag.IsKey(key) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a hashtag", r.PathValue("tag")))
		return
	}
	pg, err := s.pages.Page(r.Context(), key)
	if errors.Is(err, page.ErrNotFound) {
		// A short cache keeps a storm of requests for a missing tag off the
		// origin too, without hiding a new tag for long; the first post
		// with the hashtag purges it (its surrogate keys).
		w.Header().Set("Cache-Control", "public, max-age=5")
		w.Header()[edge.Header] = pageKeys(key)
		writeError(w, http.StatusNotFound, fmt.Sprintf("no post has hashtag #%s", key))
		return
	}
	if err != nil {
		slog.Error("read page", "key", key, "err", err)
		writeError(w, http.StatusServiceUnavailable, "hashtag tables are unavailable")
		return
	}
	in := pageInputs{pg: pg, exp: s.cfg.ImageExpiry.At(s.cfg.Now())}
	if s.pageCache != nil {
		if enc := s.pageCache.get(&in); enc != nil {
			s.writeEncoded(w, r, enc)
			return
		}
	}
	enc, err := s.encodePage(in)
	if err != nil {
		slog.Error("encode page", "key", key, "err", err)
		writeError(w, http.StatusInternalServerError, "encode the response")
		return
	}
	if s.pageCache != nil {
		s.pageCache.put(in, enc)
	}
	s.writeEncoded(w, r, enc)
}

// encodePage builds the body of a page, by hand where appendPageJSON can,
// with the encoder otherwise.
func (s *server) encodePage(in pageInputs) (*encoded, error) {
	pj := s.pageJSON(in.pg, in.exp)
	b, ok := appendPageJSON(make([]byte, 0, pageJSONSize(&pj)), &pj)
	if !ok {
		var err error
		if b, err = encodeJSON(pj); err != nil {
			return nil, err
		}
	}
	// The keys are made with the body and kept with it in the page cache,
	// not again for every request that serves it.
	enc := newEncoded(b)
	enc.keys = pageKeys(in.pg.Key)
	return enc, nil
}

// pageKeys are the surrogate keys of the page of key.
func pageKeys(key string) []string { return []string{edge.PagesKey + " " + edge.HashtagKey(key)} }

func (s *server) getTrending(w http.ResponseWriter, r *http.Request) {
	tr, err := s.pages.Trending(r.Context())
	if err != nil {
		slog.Error("read trending", "err", err)
		writeError(w, http.StatusServiceUnavailable, "trending is unavailable")
		return
	}
	if tr.Hashtags == nil {
		tr.Hashtags = []events.Trending{}
	}
	w.Header()[edge.Header] = trendingKeys
	s.writeCached(w, r, TrendingJSON{Hashtags: tr.Hashtags, Window: events.TrendingWindow.String(), ComputedAt: tr.ComputedAt})
}

// writeCached answers v as JSON that a CDN may cache for MaxAge and serve
// stale while it revalidates, with an ETag that is a hash of the body.
// Image URLs are in the body: their expiry is rounded to a bucket
// (ImageExpiry), so the body and its ETag stay the same within the bucket
// and revalidations end in 304.
func (s *server) writeCached(w http.ResponseWriter, r *http.Request, v any) {
	body, err := encodeJSON(v)
	if err != nil {
		slog.Error("encode response", "err", err)
		writeError(w, http.StatusInternalServerError, "encode the response")
		return
	}
	s.writeEncoded(w, r, newEncoded(body))
}

// encodeJSON is v as the cached responses carry it.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Image URLs keep their & readable: the body is served as JSON, never
	// as HTML, so escaping it as \u0026 protects nothing.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("api: encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// jsonContentType is the Content-Type header value of cached responses.
var jsonContentType = []string{"application/json; charset=utf-8"}

// writeEncoded answers with e as writeCached describes. The header values
// are put in the map as the shared slices they are, without Set's copy
// per request: net/http only reads them, and nothing here appends to them.
func (s *server) writeEncoded(w http.ResponseWriter, r *http.Request, e *encoded) {
	h := w.Header()
	h["Cache-Control"] = s.cacheControl
	if e.keys != nil {
		h[edge.Header] = e.keys
	}
	if s.surrogateControl != nil {
		h["Surrogate-Control"] = s.surrogateControl
	}
	h["Etag"] = e.etag
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && matchETag(inm[0], e.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = e.length
	w.WriteHeader(http.StatusOK)
	w.Write(e.body)
}

// matchETag implements If-None-Match's weak comparison (RFC 9110 13.1.2).
func matchETag(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

func (s *server) pageJSON(p page.Page, exp time.Time) PageJSON {
	pj := PageJSON{Hashtag: p.Display, Key: p.Key, PostCount: p.PostCount,
		TopPosts: s.postsJSON(p.TopPosts, exp), RecentPosts: s.postsJSON(p.RecentPosts, exp), UpdatedAt: p.UpdatedAt}
	if s.cfg.Signer != nil {
		pj.ImageWidths = s.cfg.ImageWidths
	}
	return pj
}

func (s *server) postsJSON(posts []events.PostSummary, exp time.Time) []PostJSON {
	out := make([]PostJSON, len(posts))
	for i, p := range posts {
		out[i] = PostJSON{PostID: p.PostID, UserID: p.UserID, ImageID: p.ImageID, Caption: p.Caption,
			CreatedAt: p.CreatedAt, LikeCount: p.LikeCount, ImageURL: s.imageURL(p.UserID, p.ImageID, exp)}
	}
	return out
}

// imageURL derives a signed image URL at read time: tables store only the
// image id, so the CDN, the width and the keys can change without
// migrating data.
func (s *server) imageURL(user, image string, exp time.Time) string {
	if image == "" || s.cfg.Signer == nil {
		return ""
	}
	return s.cfg.Signer.BuildAnyWidth(s.cfg.CDNBase, user, image, s.cfg.ImageWidth, exp)
}

func (s *server) user(w http.ResponseWriter, r *http.Request) (string, bool) {
	// The scheme is case-insensitive (RFC 9110 11.1): "bearer x" is a
	// bearer token too.
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tagstream"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return "", false
	}
	user, err := token.Verify(s.cfg.Secret, tok, s.cfg.TokenMaxTTL)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tagstream", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
		return "", false
	}
	return user, true
}

// decodeBody reads a JSON object into v, answering the error itself.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	// The Content-Type is not checked: curl -d sends form encoding by
	// default, and a body that is not JSON gets a 400 anyway.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body is larger than %d bytes", MaxBodyBytes))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "the body could not be read")
		return false
	}
	// An unknown field is refused rather than ignored: a client sending
	// user_id must learn that the user comes from the token only.
	if err := decodeStrict(body, v); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// validCaption answers 422 for a caption over the limits.
func validCaption(w http.ResponseWriter, caption string) ([]string, bool) {
	keys, err := hashtag.Validate(caption)
	if err != nil {
		writeError(w, http.StatusUnprocessableEntity, err.Error())
		return nil, false
	}
	if keys == nil {
		keys = []string{}
	}
	return keys, true
}

// createRequest's optional fields are pointers: an id given empty is a
// malformed id (400), not an absent one.
type createRequest struct {
	Caption *string `json:"caption"`
	ImageID *string `json:"image_id"`
	PostID  *string `json:"post_id"`
}

type postResponse struct {
	PostID   string   `json:"post_id"`
	UserID   string   `json:"user_id"`
	Hashtags []string `json:"hashtags,omitzero"`
}

func (s *server) createPost(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	user, ok := s.authorizedBody(w, r, &req)
	if !ok {
		return
	}
	postID, imageID := newID(s.cfg.Now()), ""
	if req.PostID != nil {
		postID = *req.PostID
	}
	if err := ids.Check("post_id", postID); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.ImageID != nil {
		imageID = *req.ImageID
		if !ids.Valid(imageID) {
			writeError(w, http.StatusBadRequest, "image_id must be "+ids.Rule+" (leave it out for a post without an image)")
			return
		}
	}
	keys, ok := requireCaption(w, req.Caption)
	if !ok || !s.imageUploaded(w, r, user, imageID) {
		return
	}
	s.publish(w, r, events.PostEvent{Type: events.PostCreated, PostID: postID, UserID: user,
		ImageID: imageID, Caption: *req.Caption}, keys)
}

// imageUploaded answers 422 unless user has uploaded image (an empty image
// is no image, and fine): a post may only show its own author's photo, and
// one that exists, or its pages would link to a 404.
func (s *server) imageUploaded(w http.ResponseWriter, r *http.Request, user, image string) bool {
	if image == "" {
		return true
	}
	if s.cfg.Uploads == nil {
		writeError(w, http.StatusServiceUnavailable, "image_id cannot be checked: no image storage is configured")
		return false
	}
	err := s.cfg.Uploads.Exists(r.Context(), user, image)
	switch {
	case errors.Is(err, media.ErrNotFound):
		writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("image_id %q: you have uploaded no image with this id (reserve one with POST /v1/uploads, then upload it)", image))
		return false
	case errors.Is(err, media.ErrNotImage):
		// Checked from the header, without decoding: what was uploaded is
		// not an image of its declared type, or one too large to serve.
		writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("image_id %q: %v", image, err))
		return false
	case err != nil:
		slog.Error("check image", "user", user, "image", image, "err", err)
		writeError(w, http.StatusServiceUnavailable, "image storage is unavailable; retry")
		return false
	}
	return true
}

type uploadRequest struct {
	ContentType string      `json:"content_type"`
	Size        wholeNumber `json:"size"`
}

// createUpload reserves an image key under the caller's prefix and answers
// 201 with the presigned form the client posts the file with, straight to
// storage: the photo never passes through the API.
func (s *server) createUpload(w http.ResponseWriter, r *http.Request) {
	var req uploadRequest
	user, ok := s.authorizedBody(w, r, &req)
	if !ok {
		return
	}
	if s.cfg.Uploads == nil {
		writeError(w, http.StatusServiceUnavailable, "uploads are off: no image storage is configured")
		return
	}
	res, err := s.cfg.Uploads.Reserve(r.Context(), user, req.ContentType, int64(req.Size))
	var bad *media.RequestError
	switch {
	case errors.As(err, &bad):
		reservations.Inc("refused")
		writeError(w, bad.Status, bad.Msg)
		return
	case err != nil:
		reservations.Inc("unavailable")
		slog.Error("reserve upload", "user", user, "err", err)
		writeError(w, http.StatusServiceUnavailable, "image storage is unavailable; retry")
		return
	}
	reservations.Inc("ok")
	// A reservation is a one-off secret of its user: never cached.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, res)
}

// authorizedBody authenticates the request and decodes its body into v,
// answering the error itself.
func (s *server) authorizedBody(w http.ResponseWriter, r *http.Request, v any) (string, bool) {
	user, ok := s.user(w, r)
	return user, ok && s.allowWrite(w, user) && decodeBody(w, r, v)
}

// requireCaption answers 400 for a missing caption and 422 for one over the
// limits, and returns its keys.
func requireCaption(w http.ResponseWriter, caption *string) ([]string, bool) {
	if caption == nil {
		writeError(w, http.StatusBadRequest, "caption is required (it may be empty)")
		return nil, false
	}
	return validCaption(w, *caption)
}

type editRequest struct {
	Caption *string `json:"caption"`
}

func (s *server) editPost(w http.ResponseWriter, r *http.Request) {
	user, id, ok := s.ownPost(w, r)
	if !ok {
		return
	}
	var req editRequest
	if !decodeBody(w, r, &req) {
		return
	}
	keys, ok := requireCaption(w, req.Caption)
	if !ok {
		return
	}
	s.publish(w, r, events.PostEvent{Type: events.PostEdited, PostID: id, UserID: user, Caption: *req.Caption}, keys)
}

func (s *server) deletePost(w http.ResponseWriter, r *http.Request) {
	user, id, ok := s.ownPost(w, r)
	if !ok {
		return
	}
	s.publish(w, r, events.PostEvent{Type: events.PostDeleted, PostID: id, UserID: user}, nil)
}

// ownPost authenticates the caller and checks that the post in the path is
// theirs: 401 without a valid token, 403 for another user's post, 400 for
// a malformed id.
func (s *server) ownPost(w http.ResponseWriter, r *http.Request) (user, id string, ok bool) {
	user, ok = s.user(w, r)
	if !ok {
		return "", "", false
	}
	if owner := r.PathValue("user"); owner != "" && owner != user {
		writeError(w, http.StatusForbidden, "post belongs to another user: only its owner may edit or delete it")
		return "", "", false
	}
	if !s.allowWrite(w, user) {
		return "", "", false
	}
	id = r.PathValue("id")
	if !ids.Valid(id) {
		writeError(w, http.StatusBadRequest, "post_id must be "+ids.Rule)
		return "", "", false
	}
	return user, id, true
}

type likeResponse struct {
	PostID  string `json:"post_id"`
	UserID  string `json:"user_id"`
	LikerID string `json:"liker_id"`
	Liked   bool   `json:"liked"`
}

// likePost answers 202 once the like (or unlike) is in the likes log. It
// does not look the post up: the extractor, which owns the post's state,
// counts a like of an unknown or deleted post as nothing, and a repeated
// like once.
func (s *server) likePost(typ events.LikeEventType) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		liker, ok := s.user(w, r)
		if !ok || !s.allowWrite(w, liker) {
			return
		}
		owner, id := r.PathValue("user"), r.PathValue("id")
		if !ids.Valid(owner) || !ids.Valid(id) {
			writeError(w, http.StatusBadRequest, "user_id and post_id must be "+ids.Rule)
			return
		}
		e := events.LikeEvent{Type: typ, UserID: owner, PostID: id, LikerID: liker, TS: s.cfg.Now().UTC().Truncate(time.Millisecond)}
		ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
		defer cancel()
		if err := s.posts.EmitLike(ctx, e); err != nil {
			slog.Error("publish like event", "err", err)
			writeError(w, http.StatusServiceUnavailable, "could not publish the like; retry")
			return
		}
		writeJSON(w, http.StatusAccepted, likeResponse{PostID: id, UserID: owner, LikerID: liker, Liked: typ == events.Liked})
	}
}

// publishTimeout bounds the wait for Kafka to acknowledge a post event.
const publishTimeout = 10 * time.Second

func (s *server) publish(w http.ResponseWriter, r *http.Request, e events.PostEvent, keys []string) {
	e.TS = s.cfg.Now().UTC().Truncate(time.Millisecond)
	// A broker that does not answer must not hold the request (and its
	// connection) longer than a client would wait.
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	defer cancel()
	if err := s.posts.Emit(ctx, e); err != nil {
		slog.Error("publish post event", "err", err)
		writeError(w, http.StatusServiceUnavailable, "could not publish the post event; retry")
		return
	}
	writeJSON(w, http.StatusAccepted, postResponse{PostID: e.PostID, UserID: e.UserID, Hashtags: keys})
}

// newID returns a time-ordered random id: 12 hex digits of milliseconds
// then 8 random bytes.
func newID(now time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%012x%s", now.UnixMilli(), hex.EncodeToString(b[:]))
}
