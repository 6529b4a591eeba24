// Package api is tagstream's HTTP API: hashtag pages read from the views,
// posts written to the posts topic. It holds no state of its own, so any
// number of API processes can run behind a CDN.
package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tagstream/tagstream/events"
	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/metrics"
	"github.com/tagstream/tagstream/token"
	"github.com/tagstream/tagstream/views"
)

// MaxBodyBytes bounds every request body; a larger one gets 413.
const MaxBodyBytes = 64 << 10

// Pages reads hashtag pages; *views.Views implements it.
type Pages interface {
	Page(key string) (views.Page, error)
	Recovered() bool
}

// Publisher publishes post events; *emitters.Posts implements it.
type Publisher interface {
	Emit(events.PostEvent) error
}

// Config configures the API.
type Config struct {
	// Secret verifies bearer tokens (HS256).
	Secret []byte
	// CDNBase is the base URL of image URLs, e.g. https://cdn.example.com.
	// Default: relative URLs served by this API's own /img origin.
	CDNBase string
	// ImageWidth is the width put in image URLs of hashtag pages. Default 640.
	ImageWidth int
	// MaxAge is the Cache-Control max-age of hashtag pages. Default 5 s: a
	// count a few seconds old is fine, and a CDN absorbs all but one request
	// per hashtag and edge every 5 s.
	MaxAge time.Duration
	// StaleWhileRevalidate lets a CDN serve a stale page while it refetches,
	// so a hot hashtag never stampedes the origin. Default 30 s.
	StaleWhileRevalidate time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.ImageWidth == 0 {
		c.ImageWidth = 640
	}
	if c.MaxAge == 0 {
		c.MaxAge = 5 * time.Second
	}
	if c.StaleWhileRevalidate == 0 {
		c.StaleWhileRevalidate = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

var requests = metrics.Default.NewCounterVec("tagstream_http_requests_total",
	"HTTP requests by route and status code.", "route", "code")

type server struct {
	cfg   Config
	pages Pages
	posts Publisher
}

// New returns the API's handler.
func New(cfg Config, pages Pages, posts Publisher) http.Handler {
	cfg.defaults()
	s := &server{cfg: cfg, pages: pages, posts: posts}
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, instrument(pattern, h))
	}
	handle("GET /v1/hashtags/{tag}", s.getHashtag)
	handle("POST /v1/posts", s.createPost)
	// A post is identified by its owner and its id: /v1/posts/{id} is the
	// caller's own post, /v1/posts/{user}/{id} anyone's, and only its
	// owner may change it.
	handle("PATCH /v1/posts/{id}", s.editPost)
	handle("PATCH /v1/posts/{user}/{id}", s.editPost)
	handle("DELETE /v1/posts/{id}", s.deletePost)
	handle("DELETE /v1/posts/{user}/{id}", s.deletePost)
	handle("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	handle("GET /readyz", s.ready)
	mux.Handle("GET /metrics", metrics.Default)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		requests.Inc(route, strconv.Itoa(sw.code))
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

func (s *server) ready(w http.ResponseWriter, _ *http.Request) {
	if !s.pages.Recovered() {
		writeError(w, http.StatusServiceUnavailable, "views are still recovering their tables")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// PageJSON is the body of GET /v1/hashtags/{tag}.
type PageJSON struct {
	Hashtag   string     `json:"hashtag"`
	Key       string     `json:"key"`
	PostCount int64      `json:"post_count"`
	TopPosts  []PostJSON `json:"top_posts"`
	UpdatedAt time.Time  `json:"updated_at,omitzero"`
}

// PostJSON is one entry of a page's top posts.
type PostJSON struct {
	PostID    string    `json:"post_id"`
	UserID    string    `json:"user_id"`
	ImageID   string    `json:"image_id,omitempty"`
	ImageURL  string    `json:"image_url,omitempty"`
	Caption   string    `json:"caption,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func (s *server) getHashtag(w http.ResponseWriter, r *http.Request) {
	key := hashtag.Normalize(r.PathValue("tag"))
	if !hashtag.IsKey(key) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%q is not a hashtag", r.PathValue("tag")))
		return
	}
	page, err := s.pages.Page(key)
	if errors.Is(err, views.ErrNotFound) {
		// A short cache keeps a storm of requests for a missing tag off the
		// origin too, without hiding a new tag for long.
		w.Header().Set("Cache-Control", "public, max-age=5")
		writeError(w, http.StatusNotFound, fmt.Sprintf("no post has hashtag #%s", key))
		return
	}
	if err != nil {
		slog.Error("read page", "key", key, "err", err)
		writeError(w, http.StatusServiceUnavailable, "hashtag tables are unavailable")
		return
	}
	body, err := json.Marshal(s.pageJSON(page))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode page")
		return
	}
	body = append(body, '\n')
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d, stale-while-revalidate=%d",
		int(s.cfg.MaxAge.Seconds()), int(s.cfg.StaleWhileRevalidate.Seconds())))
	h.Set("ETag", etag)
	if matchETag(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
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

func (s *server) pageJSON(p views.Page) PageJSON {
	out := PageJSON{Hashtag: p.Display, Key: p.Key, PostCount: p.PostCount,
		TopPosts: make([]PostJSON, len(p.TopPosts)), UpdatedAt: p.UpdatedAt}
	for i, tp := range p.TopPosts {
		out.TopPosts[i] = PostJSON{PostID: tp.PostID, UserID: tp.UserID, ImageID: tp.ImageID,
			Caption: tp.Caption, CreatedAt: tp.CreatedAt, ImageURL: s.imageURL(tp.UserID, tp.ImageID)}
	}
	return out
}

// imageURL derives an image URL at read time: tables store only the image
// id, so the CDN can change without migrating data.
func (s *server) imageURL(user, image string) string {
	if image == "" {
		return ""
	}
	return fmt.Sprintf("%s/img/%s/%s?w=%d", strings.TrimRight(s.cfg.CDNBase, "/"),
		url.PathEscape(user), url.PathEscape(image), s.cfg.ImageWidth)
}

func (s *server) user(w http.ResponseWriter, r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tagstream"`)
		writeError(w, http.StatusUnauthorized, "missing bearer token")
		return "", false
	}
	user, err := token.Verify(s.cfg.Secret, strings.TrimSpace(tok))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tagstream", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid bearer token")
		return "", false
	}
	return user, true
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

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
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	// An unknown field is refused rather than ignored: a client sending
	// user_id must learn that the user comes from the token only.
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "malformed JSON: trailing data after the object")
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

type createRequest struct {
	Caption *string `json:"caption"`
	ImageID string  `json:"image_id"`
	PostID  string  `json:"post_id"`
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
	if req.PostID == "" {
		req.PostID = newID(s.cfg.Now())
	}
	if !idPattern.MatchString(req.PostID) {
		writeError(w, http.StatusBadRequest, "post_id must be 1-64 of A-Z a-z 0-9 _ -")
		return
	}
	if req.ImageID != "" && !idPattern.MatchString(req.ImageID) {
		writeError(w, http.StatusBadRequest, "image_id must be 1-64 of A-Z a-z 0-9 _ -")
		return
	}
	keys, ok := requireCaption(w, req.Caption)
	if !ok {
		return
	}
	s.publish(w, events.PostEvent{Type: events.PostCreated, PostID: req.PostID, UserID: user,
		ImageID: req.ImageID, Caption: *req.Caption}, keys)
}

// authorizedBody authenticates the request and decodes its body into v,
// answering the error itself.
func (s *server) authorizedBody(w http.ResponseWriter, r *http.Request, v any) (string, bool) {
	user, ok := s.user(w, r)
	return user, ok && decodeBody(w, r, v)
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
	s.publish(w, events.PostEvent{Type: events.PostEdited, PostID: id, UserID: user, Caption: *req.Caption}, keys)
}

func (s *server) deletePost(w http.ResponseWriter, r *http.Request) {
	user, id, ok := s.ownPost(w, r)
	if !ok {
		return
	}
	s.publish(w, events.PostEvent{Type: events.PostDeleted, PostID: id, UserID: user}, nil)
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
	id = r.PathValue("id")
	if !idPattern.MatchString(id) {
		writeError(w, http.StatusBadRequest, "post_id must be 1-64 of A-Z a-z 0-9 _ -")
		return "", "", false
	}
	return user, id, true
}

func (s *server) publish(w http.ResponseWriter, e events.PostEvent, keys []string) {
	e.TS = s.cfg.Now().UTC().Truncate(time.Millisecond)
	if err := s.posts.Emit(e); err != nil {
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
