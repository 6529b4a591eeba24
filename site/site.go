// Package site is the hashtag page people open in a browser: one small
// document, its style and script inline, served at "/" (search and the
// hashtags trending now) and at "/tags/{tag}" (a hashtag's count and its
// Top and Recent posts), which reads the API's JSON from the same origin.
//
// Why one document with everything inline: on a slow phone every request
// is a round trip, so the page costs one request for itself, one for its
// JSON, and one per image the browser picks from the srcset; no framework,
// no font, no icon file (the favicon is a data: URL).
//
// Invariant, checked by site_test.go: the Content-Security-Policy allows
// exactly the inline style and script of the document (by their SHA-256),
// same-origin fetches, and images from this origin and the CDN; the script
// writes reader-supplied text as text only, so a caption holding markup
// cannot run.
package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

var (
	//go:embed index.html
	indexHTML string
	//go:embed style.css
	styleCSS string
	//go:embed app.js
	appJS string
)

// MaxQueryBytes bounds the q of GET /tags?q=: the longest hashtag key
// and its sign, with room for percent-encoding. Longer is refused.
const MaxQueryBytes = 16 << 10

// Config configures the page.
type Config struct {
	// CDNBase is where image URLs point (api.Config.CDNBase); images from
	// its origin are allowed by the policy. Empty: this origin only.
	CDNBase string
	// MaxAge is the Cache-Control max-age of the document. Default 60 s:
	// short, so a new release reaches readers within a minute.
	MaxAge int
}

// Site serves the page.
type Site struct {
	body, gzipped []byte
	etag, csp     string
	cacheControl  string
}

// New builds the document once.
func New(cfg Config) (*Site, error) {
	if cfg.MaxAge == 0 {
		cfg.MaxAge = 60
	}
	img := "'self' data:"
	if cfg.CDNBase != "" {
		u, err := url.Parse(cfg.CDNBase)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("site: CDN base %q is not an absolute URL", cfg.CDNBase)
		}
		img += " " + u.Scheme + "://" + u.Host
	}
	doc := strings.Replace(strings.Replace(indexHTML, "{{style}}", styleCSS, 1), "{{script}}", appJS, 1)
	s := &Site{
		body: []byte(doc),
		// A day of stale-if-error: an edge keeps serving the page's shell
		// while the origin is down (docker/varnish/tagstream.vcl).
		cacheControl: fmt.Sprintf("public, max-age=%d, stale-if-error=86400", cfg.MaxAge),
		csp: "default-src 'none'; script-src " + hash(appJS) + "; style-src " + hash(styleCSS) +
			"; img-src " + img + "; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
	}
	sum := sha256.Sum256(s.body)
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(s.body)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("site: gzip: %w", err)
	}
	s.gzipped = gz.Bytes()
	return s, nil
}

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// Bytes returns the document's size as sent: plain and gzipped.
func (s *Site) Bytes() (plain, gzipped int) { return len(s.body), len(s.gzipped) }

// ServeHTTP answers GET and HEAD with the document, for "/" and
// "/tags/{tag}" alike (the script reads the path).
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", s.csp)
	h.Set("Cache-Control", s.cacheControl)
	h.Set("ETag", s.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("Referrer-Policy", "same-origin")
	body := s.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		body = s.gzipped
	}
	// As the image origin does: ServeContent answers If-None-Match with
	// 304, HEAD without a body, and sets the length.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// Search answers the form's GET /tags?q= when the script does not run:
// a redirect to the hashtag's page.
func (s *Site) Search(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > MaxQueryBytes {
		// The API's one error shape (api/openapi.yaml, Error).
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusRequestURITooLong)
		fmt.Fprintf(w, "{\"error\":\"the search is longer than %d bytes\"}\n", MaxQueryBytes)
		return
	}
	q := strings.TrimLeft(strings.TrimSpace(r.URL.Query().Get("q")), "#＃")
	if q == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/tags/"+url.PathEscape(q), http.StatusSeeOther)
}

// acceptsGzip reports whether an Accept-Encoding lists gzip with a
// non-zero quality.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
