package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tagstream/tagstream/token"
)

// Any body to POST /v1/posts gets a JSON answer with a 2xx or a 4xx, never
// a 5xx, and a published event always belongs to the token's user.
func FuzzCreatePost(f *testing.F) {
	f.Add(`{"caption":"Golden #Sunset","image_id":"img1","post_id":"p1"}`)
	f.Add(`{"caption":"#a #b #c","user_id":"mallory"}`)
	f.Add(`{"caption":null}`)
	f.Add(`{"caption":"` + strings.Repeat("#x", 40) + `"}`)
	f.Add(`[1,2,3]`)
	f.Add(`{"caption":"\u0000#tag"}`)
	tok, err := token.Mint(secret, "alice", time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h, _, pub := newServer()
		w := call(h, "POST", "/v1/posts", tok, body)
		if w.Code >= 500 || (w.Code >= 300 && w.Code < 400) {
			t.Fatalf("body %q: status %d", body, w.Code)
		}
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("body %q: answer is not JSON: %q", body, w.Body)
		}
		if w.Code == http.StatusAccepted {
			if len(pub.sent) != 1 || pub.sent[0].UserID != "alice" || out["post_id"] != pub.sent[0].PostID {
				t.Fatalf("body %q: accepted but published %+v, answered %v", body, pub.sent, out)
			}
		} else if len(pub.sent) != 0 || out["error"] == nil {
			t.Fatalf("body %q: %d, published %d events, answer %v", body, w.Code, len(pub.sent), out)
		}
	})
}

// Any tag in the page path gets 200, 400 or 404 with JSON, never a 5xx.
func FuzzGetHashtag(f *testing.F) {
	for _, s := range []string{"sunset", "#Sunset", "％２３", "日本", "123", "", "a/b", "%", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tag string) {
		h, _, _ := newServer()
		req := httptest.NewRequest("GET", "/", nil)
		req.URL = &url.URL{Path: "/v1/hashtags/" + tag, RawPath: "/v1/hashtags/" + url.PathEscape(tag)}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 301, 307, 308:
		default:
			t.Fatalf("tag %q: status %d %s", tag, w.Code, w.Body)
		}
		if w.Code < 300 || w.Code >= 400 {
			if !json.Valid(w.Body.Bytes()) {
				t.Fatalf("tag %q: answer is not JSON: %q", tag, w.Body)
			}
		}
	})
}
