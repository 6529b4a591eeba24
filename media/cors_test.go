package media

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The embedded store's CORS, beyond what the shared suite checks against
// S3 too: off by default, "*", and hostile preflights.
func TestLocalCORS(t *testing.T) {
	ask := func(l *Local, method string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, l.UploadPath(), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header[hdr[i]] = append(req.Header[hdr[i]], hdr[i+1])
		}
		w := httptest.NewRecorder()
		l.ServeHTTP(w, req)
		return w
	}
	allowOrigin := func(w *httptest.ResponseRecorder) string { return w.Header().Get("Access-Control-Allow-Origin") }

	// No origins: no CORS header at all, and OPTIONS is no upload.
	off := newLocal(t)
	for _, w := range []*httptest.ResponseRecorder{
		ask(off, http.MethodOptions, "Origin", appOrigin, "Access-Control-Request-Method", "POST"),
		ask(off, http.MethodPost, "Origin", appOrigin),
	} {
		if w.Code/100 == 2 || allowOrigin(w) != "" || w.Header().Get("Vary") != "" {
			t.Errorf("no origins configured: %d %v", w.Code, w.Header())
		}
	}

	l := newLocal(t, appOrigin)
	for name, hdr := range map[string][]string{
		"a huge origin":        {"Origin", appOrigin + strings.Repeat("a", 1<<20), "Access-Control-Request-Method", "POST"},
		"two origins":          {"Origin", appOrigin, "Origin", appOrigin, "Access-Control-Request-Method", "POST"},
		"a malformed origin":   {"Origin", "\x00<script>", "Access-Control-Request-Method", "POST"},
		"null":                 {"Origin", "null", "Access-Control-Request-Method", "POST"},
		"no origin":            {"Access-Control-Request-Method", "POST"},
		"a junk method":        {"Origin", appOrigin, "Access-Control-Request-Method", strings.Repeat("P", 10<<10)},
		"junk request headers": {"Origin", appOrigin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", strings.Repeat("x,", 10<<10)},
	} {
		w := ask(l, http.MethodOptions, hdr...)
		if w.Code != http.StatusForbidden || allowOrigin(w) != "" || w.Body.Len() > 1000 || strings.Contains(w.Body.String(), "script") {
			t.Errorf("preflight with %s: %d %v %.200s", name, w.Code, w.Header(), w.Body)
		}
	}
	// An OPTIONS that is no preflight is an ordinary request: refused as
	// any method but POST is.
	if w := ask(l, http.MethodOptions, "Origin", appOrigin); w.Code != http.StatusMethodNotAllowed || allowOrigin(w) != appOrigin {
		t.Errorf("OPTIONS without a request method: %d %v", w.Code, w.Header())
	}

	// "*": every origin, the same answer for all, so nothing to vary on.
	anyOrigin := newLocal(t, "*")
	for _, origin := range []string{appOrigin, "https://evil.example"} {
		w := ask(anyOrigin, http.MethodOptions, "Origin", origin, "Access-Control-Request-Method", "POST")
		if w.Code != http.StatusNoContent || allowOrigin(w) != "*" || w.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight from %s with *: %d %v", origin, w.Code, w.Header())
		}
		if w := ask(anyOrigin, http.MethodPost, "Origin", origin); allowOrigin(w) != "*" || strings.Contains(w.Header().Get("Vary"), "Origin") {
			t.Errorf("post from %s with *: %d %v", origin, w.Code, w.Header())
		}
	}
}

// An origin no browser sends is refused at start by both stores, not kept
// as a rule that allows nothing.
func TestStoresRefuseBadOrigins(t *testing.T) {
	for _, list := range [][]string{{"https://app.example.com/"}, {"*", appOrigin}, {"null"}} {
		if _, err := NewLocal(LocalConfig{Dir: t.TempDir(), PublicURL: "http://uploads.invalid", CORSOrigins: list}); err == nil {
			t.Errorf("NewLocal accepted %q", list)
		}
		// No request is made: the origins are checked first.
		if _, err := NewS3(context.Background(), S3Config{Endpoint: "http://s3.invalid", CreateBucket: true, CORSOrigins: list}); err == nil ||
			!strings.Contains(err.Error(), "origin") {
			t.Errorf("NewS3 with %q: %v", list, err)
		}
	}
}
