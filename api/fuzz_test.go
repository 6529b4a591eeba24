package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
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
	tok, err := token.Mint(secret, "alice", time.Hour, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		h, _, pub := newServer()
		req := httptest.NewRequest("POST", "/v1/posts", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		mustConform(t, req, []byte(body), w)
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

// Any tag in the page path gets 200, 400 or 404 with JSON, never a 5xx or
// a redirect, as api/openapi.yaml describes.
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
		// An untidy path (a tag of "..", "a//b") is refused with 400,
		// not redirected.
		switch w.Code {
		case 200, 400, 404:
		default:
			t.Fatalf("tag %q: status %d %s", tag, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("tag %q: answer is not JSON: %q", tag, w.Body)
		}
		mustConform(t, req, nil, w)
	})
}

// Whatever the body, decodeStrict either refuses it with a message in
// JSON terms or accepts an object whose keys are exactly the struct's,
// each once, and decodes it as encoding/json would.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"caption":"#a","post_id":"p1"}`, `{"caption":"#a","caption":"#b"}`, `{"Caption":"x"}`,
		`{"caption":1}`, `{}`, `[]`, `{"caption":"a"} x`, `{"image_id":"i","caption":null}`, `{"caption":"\u00e9"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var got createRequest
		err := decodeStrict([]byte(body), &got)
		if err != nil {
			var be *bodyError
			if !errors.As(err, &be) || strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "createRequest") {
				t.Fatalf("body %q: error %v is not a JSON-terms body error", body, err)
			}
			return
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &keys); err != nil {
			t.Fatalf("body %q accepted but not a JSON object: %v", body, err)
		}
		for k := range keys {
			if k != "caption" && k != "image_id" && k != "post_id" {
				t.Fatalf("body %q accepted with key %q", body, k)
			}
		}
		if n := strings.Count(body, `"caption"`); n > 1 && keys["caption"] != nil && strings.Count(body, `"caption":`) > 1 {
			t.Fatalf("body %q accepted with caption given %d times", body, n)
		}
		var want createRequest
		if err := json.Unmarshal([]byte(body), &want); err != nil {
			t.Fatalf("body %q accepted by decodeStrict, refused by encoding/json: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("body %q: decodeStrict %+v, encoding/json %+v", body, got, want)
		}
	})
}
