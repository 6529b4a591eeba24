package api

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/ids"
	"github.com/tagstream/tagstream/media"
)

// failingStorage is a storage that is down: every call fails.
type failingStorage struct{}

var errDown = errors.New("storage down")

func (failingStorage) PresignPost(context.Context, media.PostPolicy) (*media.PresignedPost, error) {
	return nil, errDown
}
func (failingStorage) Stat(context.Context, string) (media.ObjectInfo, error) {
	return media.ObjectInfo{}, errDown
}
func (failingStorage) Open(context.Context, string) (io.ReadCloser, error) { return nil, errDown }

func TestUploadReservation(t *testing.T) {
	h, _, _ := newServer()
	w := call(h, "POST", "/v1/uploads", mustToken(t, "alice"), `{"content_type":"image/jpeg","size":12345}`)
	if w.Code != http.StatusCreated {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var res media.Reservation
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.ImageID == "" || res.Key != "alice/"+res.ImageID || !strings.HasPrefix(res.URL, "http://uploads.invalid/") ||
		res.Fields["key"] != res.Key || res.Fields["policy"] == "" || time.Until(res.ExpiresAt) < time.Minute {
		t.Fatalf("reservation %s", w.Body)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q: a reservation must never be cached", cc)
	}
	// The reserved id passes the API's own id check, so it can be posted.
	if !ids.Valid(res.ImageID) {
		t.Errorf("image id %q fails the post's image_id check", res.ImageID)
	}
}

func TestUploadRejects(t *testing.T) {
	h, _, _ := newServer()
	alice := mustToken(t, "alice")
	for _, c := range []struct {
		name, tok, body string
		code            int
	}{
		{"no token", "", `{"content_type":"image/jpeg","size":10}`, 401},
		{"malformed JSON", alice, `{"content_type":`, 400},
		{"unknown field", alice, `{"content_type":"image/jpeg","size":10,"key":"bob/x"}`, 400},
		{"no content type", alice, `{"size":10}`, 400},
		{"no size", alice, `{"content_type":"image/jpeg"}`, 400},
		{"negative size", alice, `{"content_type":"image/jpeg","size":-1}`, 400},
		{"over 20 MiB", alice, `{"content_type":"image/jpeg","size":20971521}`, 413},
		{"not an image", alice, `{"content_type":"text/html","size":10}`, 415},
	} {
		w := call(h, "POST", "/v1/uploads", c.tok, c.body)
		if w.Code != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body, c.code)
			continue
		}
		t.Logf("%s: %d %s", c.name, c.code, errorOf(t, w))
	}
}

func TestUploadsWithoutStorageAre503(t *testing.T) {
	down, _, _ := newServerWith(Config{Uploads: media.NewUploads(failingStorage{}, media.UploadConfig{})})
	pub := &publisher{}
	off := New(Config{Secret: secret}, &pages{recovered: true}, pub)
	alice := mustToken(t, "alice")
	for name, h := range map[string]http.Handler{"storage down": down, "no storage": off} {
		if w := call(h, "POST", "/v1/uploads", alice, `{"content_type":"image/png","size":10}`); w.Code != 503 {
			t.Errorf("%s: upload %d %s", name, w.Code, w.Body)
		}
		if w := call(h, "POST", "/v1/posts", alice, `{"caption":"#a","image_id":"img1"}`); w.Code != 503 {
			t.Errorf("%s: post with image %d %s", name, w.Code, w.Body)
		}
		if w := call(h, "POST", "/v1/posts", alice, `{"caption":"#a"}`); w.Code != 202 {
			t.Errorf("%s: post without image %d %s", name, w.Code, w.Body)
		}
	}
	if w := call(off, "GET", "/img/alice/img1?w=640", "", ""); w.Code != 503 {
		t.Errorf("origin without storage: %d %s", w.Code, w.Body)
	}
}

func TestPostNamesAnImageOfItsOwnUser(t *testing.T) {
	h, _, pub := newServer()
	for _, c := range []struct {
		user, body string
		code       int
	}{
		{"alice", `{"caption":"#a","image_id":"NEVERUPLOADED"}`, 422},
		{"bob", `{"caption":"#a","image_id":"img1"}`, 422}, // alice's image
		// Uploaded, but HTML, not an image: refused from its header.
		{"alice", `{"caption":"#a","image_id":"notimg"}`, 422},
		{"alice", `{"caption":"#a","image_id":"img1"}`, 202},
	} {
		w := call(h, "POST", "/v1/posts", mustToken(t, c.user), c.body)
		if w.Code != c.code {
			t.Errorf("%s %s: %d %s, want %d", c.user, c.body, w.Code, w.Body, c.code)
		}
	}
	if len(pub.sent) != 1 || pub.sent[0].UserID != "alice" || pub.sent[0].ImageID != "img1" {
		t.Fatalf("published %+v", pub.sent)
	}
}

// clock is a settable Config.Now.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestSignedImageURLs(t *testing.T) {
	// 20 minutes into an hour: exp lands on the next hour but one for any
	// time in this bucket (now + 35 s + 10 min margin, rounded up).
	start := time.Now().Truncate(time.Hour).Add(20 * time.Minute)
	clk := &clock{start}
	h, _, _ := newServerWith(Config{Now: clk.now})
	page := func() (PageJSON, string) {
		t.Helper()
		w := call(h, "GET", "/v1/hashtags/sunset", "", "")
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var p PageJSON
		json.Unmarshal(w.Body.Bytes(), &p)
		return p, w.Header().Get("ETag")
	}
	p1, etag1 := page()
	clk.t = start.Add(25 * time.Minute)
	p2, etag2 := page()
	u1, u2 := p1.TopPosts[0].ImageURL, p2.TopPosts[0].ImageURL
	if u1 != u2 || etag1 != etag2 {
		t.Fatalf("same bucket, different pages: %s %s / %s %s", u1, etag1, u2, etag2)
	}
	parsed, err := url.Parse(u1)
	if err != nil {
		t.Fatal(err)
	}
	secs, err := strconv.ParseInt(parsed.Query().Get("exp"), 10, 64)
	if err != nil {
		t.Fatalf("exp of %s: %v", u1, err)
	}
	exp := time.Unix(secs, 0)
	if want := media.DefaultExpiry.At(start); !exp.Equal(want) || exp.Before(clk.t.Add(35*time.Second+10*time.Minute)) {
		t.Fatalf("exp %s, want %s and after the last cached copy plus the margin", exp, want)
	}
	// A revalidation within the bucket ends in 304.
	if w := call(h, "GET", "/v1/hashtags/sunset", "", "", "If-None-Match", etag1); w.Code != http.StatusNotModified {
		t.Errorf("revalidation in the same bucket: %d", w.Code)
	}

	// The URL verifies with the keyring: the origin in the same server
	// serves it at the requested width, aspect ratio kept.
	w := call(h, "GET", u1, "", "")
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("origin: %d %s %s", w.Code, w.Header(), w.Body)
	}
	cfg, _, err := image.DecodeConfig(w.Body)
	if err != nil || cfg.Width != 640 || cfg.Height != 480 {
		t.Fatalf("resized to %dx%d (%v), want 640x480", cfg.Width, cfg.Height, err)
	}
	// The page lists the origin's widths, and its URL is good at each:
	// a srcset needs one URL per post.
	if !slices.Equal(p1.ImageWidths, media.DefaultWidths) {
		t.Fatalf("image_widths %v, want %v", p1.ImageWidths, media.DefaultWidths)
	}
	for _, width := range p1.ImageWidths {
		w := call(h, "GET", strings.Replace(u1, "w=640", "w="+strconv.Itoa(width), 1), "", "")
		cfg, _, err := image.DecodeConfig(w.Body)
		if w.Code != 200 || err != nil || cfg.Width != width {
			t.Errorf("w=%d: %d, %dx%d (%v)", width, w.Code, cfg.Width, cfg.Height, err)
		}
	}
	if w := call(h, "GET", strings.Replace(u1, "w=640", "w=641", 1), "", ""); w.Code != http.StatusBadRequest {
		t.Errorf("a width the origin does not allow: %d, want 400", w.Code)
	}
	for _, bad := range []string{strings.Replace(u1, "img1", "img2", 1), strings.Replace(u1, "alice", "bob", 1), u1[:len(u1)-2]} {
		if w := call(h, "GET", bad, "", ""); w.Code != http.StatusForbidden {
			t.Errorf("tampered %s: %d", bad, w.Code)
		}
	}

	// The next bucket signs new URLs: a new body and a new ETag.
	clk.t = start.Add(time.Hour)
	p3, etag3 := page()
	if p3.TopPosts[0].ImageURL == u1 || etag3 == etag1 {
		t.Errorf("next bucket kept the URL or ETag: %s %s", p3.TopPosts[0].ImageURL, etag3)
	}
}

func TestPagesWithoutSignerHaveNoImageURL(t *testing.T) {
	pub := &publisher{}
	_, pg, _ := newServer()
	h := New(Config{Secret: secret}, pg, pub)
	w := call(h, "GET", "/v1/hashtags/sunset", "", "")
	if w.Code != 200 || strings.Contains(w.Body.String(), "image_url") || !strings.Contains(w.Body.String(), `"image_id":"img1"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

func TestReadyReportsStatusWithoutFailing(t *testing.T) {
	h, _, _ := newServerWith(Config{Status: map[string]func() error{"snapshot": func() error { return errors.New("cassandra down") }}})
	w := call(h, "GET", "/readyz", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"snapshot":"cassandra down"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// Untidy spellings of an image path get 400, not the router's redirect to
// the tidy one: every variant would be a CDN cache key of its own.
func TestUntidyImagePathsAreRefused(t *testing.T) {
	h, _, _ := newServer()
	for _, p := range []string{"/img//alice/img1", "/img/alice//img1", "/img/./alice/img1", "/img/alice/../alice/img1", "/img/alice/img1/"} {
		w := call(h, "GET", p+"?w=640&exp=99999999999&kid=k1&sig=x", "", "")
		if w.Code != 400 {
			t.Errorf("%s: %d (Location %q), want 400", p, w.Code, w.Header().Get("Location"))
		}
	}
}
