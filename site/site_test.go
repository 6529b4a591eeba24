package site

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func serve(t *testing.T, s *Site, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	if strings.HasPrefix(target, "/tags?") {
		s.Search(w, r)
	} else {
		s.ServeHTTP(w, r)
	}
	return w
}

// The policy names the SHA-256 of exactly the inline style and script
// the document carries, so a browser runs them and nothing else.
func TestPolicyAllowsExactlyTheInlineCode(t *testing.T) {
	s, err := New(Config{CDNBase: "https://cdn.example.com/base"})
	if err != nil {
		t.Fatal(err)
	}
	w := serve(t, s, "GET", "/")
	csp := w.Header().Get("Content-Security-Policy")
	body := w.Body.String()
	for _, c := range []struct{ tag, directive string }{{"script", "script-src"}, {"style", "style-src"}} {
		m := regexp.MustCompile(`(?s)<`+c.tag+`>(.*?)</`+c.tag+`>`).FindAllStringSubmatch(body, -1)
		if len(m) != 1 {
			t.Fatalf("%d inline %s elements, want 1", len(m), c.tag)
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		want := c.directive + " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	for _, want := range []string{"default-src 'none'", "img-src 'self' data: https://cdn.example.com;", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(body, "{{") {
		t.Error("a placeholder is left in the document")
	}
	if _, err := New(Config{CDNBase: "cdn.example.com"}); err == nil {
		t.Error("a CDN base without a scheme was taken")
	}
}

// The document is small, sent gzipped to a browser that takes it, and
// revalidated with its ETag.
func TestDocumentIsSmallAndCacheable(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	plain, gz := s.Bytes()
	t.Logf("document: %d bytes, %d gzipped", plain, gz)
	if gz > 6<<10 {
		t.Errorf("the document is %d bytes gzipped: a slow phone pays for every one", gz)
	}
	w := serve(t, s, "GET", "/tags/sunset", "Accept-Encoding", "br, gzip;q=0.8")
	if w.Header().Get("Content-Encoding") != "gzip" || w.Body.Len() != gz {
		t.Fatalf("gzip asked: %s, %d bytes", w.Header().Get("Content-Encoding"), w.Body.Len())
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	unz, _ := io.ReadAll(zr)
	if plainBody := serve(t, s, "GET", "/").Body.Bytes(); !bytes.Equal(unz, plainBody) || len(plainBody) != plain {
		t.Error("the gzipped document differs from the plain one")
	}
	if w := serve(t, s, "GET", "/", "Accept-Encoding", "gzip;q=0"); w.Header().Get("Content-Encoding") != "" {
		t.Error("gzip sent to a client that refused it")
	}
	etag := w.Header().Get("ETag")
	if w := serve(t, s, "GET", "/", "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Errorf("revalidation: %d with %d bytes", w.Code, w.Body.Len())
	}
	if w := serve(t, s, "HEAD", "/"); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d bytes", w.Code, w.Body.Len())
	}
}

// The search form without the script: a redirect to the hashtag's page,
// its sign dropped and the rest escaped; an empty search goes home, a
// huge one is refused.
func TestSearchRedirects(t *testing.T) {
	s, _ := New(Config{})
	for q, want := range map[string]string{
		"q=sunset":             "/tags/sunset",
		"q=%23Sunset":          "/tags/Sunset",
		"q=%EF%BC%83caf%C3%A9": "/tags/caf%C3%A9",
		"q=a%2Fb%3Fc":          "/tags/a%2Fb%3Fc",
		"q=++":                 "/",
		"":                     "/",
	} {
		w := serve(t, s, "GET", "/tags?"+q)
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != want {
			t.Errorf("?%s: %d to %q, want 303 to %q", q, w.Code, w.Header().Get("Location"), want)
		}
	}
	if w := serve(t, s, "GET", "/tags?q="+strings.Repeat("x", MaxQueryBytes)); w.Code != http.StatusRequestURITooLong {
		t.Errorf("a huge search: %d, want 414", w.Code)
	}
}
