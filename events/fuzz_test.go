package events

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tagstream/tagstream/ids"
)

// Whatever arrives on posts, the decoder returns a usable event or a
// *DecodeError; an accepted event honours every rule the extractor relies on.
func FuzzDecodePostEvent(f *testing.F) {
	f.Add("alice", []byte(`{"type":"created","post_id":"p1","user_id":"alice","caption":"#sunset"}`))
	f.Add("alice", []byte(`{"type":"deleted","post_id":"p1","user_id":"alice"}`))
	f.Add("bob", []byte(`{"type":"edited","post_id":"p/1","user_id":"bob","ts":"2026-01-01T00:00:00Z"}`))
	f.Add("", []byte(`{"type":"created","post_id":"","user_id":""}`))
	f.Add("x", []byte(`{"type":"created","post_id":"p","user_id":"x"} {}`))
	f.Add("x", []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		e, err := DecodePostEvent(key, data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if Reason(err) == "error" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(data) > MaxPostEventBytes || !utf8.Valid(data) {
			t.Fatalf("accepted %d bytes (valid UTF-8: %v)", len(data), utf8.Valid(data))
		}
		if e.UserID != key || !ids.Valid(e.UserID) || !ids.Valid(e.PostID) || (e.ImageID != "" && !ids.Valid(e.ImageID)) ||
			strings.ContainsAny(e.UserID+e.PostID+e.ImageID, "/.\x00") {
			t.Fatalf("accepted an event that breaks the id rules: %+v (key %q)", e, key)
		}
		switch e.Type {
		case PostCreated, PostEdited, PostDeleted:
		default:
			t.Fatalf("accepted type %q", e.Type)
		}
		// What tagstream re-encodes (the loopback) decodes to the same event.
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodePostEvent(key, b)
		sameTime := again.TS.Equal(e.TS)
		again.TS = e.TS // time.Time's location pointer differs after a round trip
		if err != nil || again != e || !sameTime {
			t.Fatalf("re-encoded event %s decodes to %+v, %v; want %+v", b, again, err, e)
		}
	})
}

func FuzzDecodeTopPosts(f *testing.F) {
	f.Add("sunset", []byte(`{"hashtag":"#Sunset","computed_at":"2026-11-27T12:00:00Z","posts":[{"post_id":"p","user_id":"u"}]}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","computed_at":"2026-11-27T12:00:00Z","posts":null}`))
	f.Add("x", []byte(`{"hashtag":"x"}`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		doc, err := DecodeTopPosts(key, data, strings.ToLower)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			return
		}
		if len(doc.Posts) > MaxTopPosts || doc.ComputedAt.IsZero() || strings.ToLower(doc.Hashtag) != key {
			t.Fatalf("accepted %+v under key %q", doc, key)
		}
		for _, p := range doc.Posts {
			if p.PostID == "" || p.UserID == "" {
				t.Fatalf("accepted a post without ids: %+v", p)
			}
		}
	})
}

func FuzzDecodeDelta(f *testing.F) {
	f.Add("sunset", []byte(`{"hashtag":"sunset","display":"Sunset","delta":1,"src":{"p":0,"o":1}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","delta":-3,"src":{"p":11,"o":1234567}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","delta":0,"src":{"p":0,"o":1}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","delta":2,"src":{"p":-1,"o":1}}`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		d, err := DecodeDelta(key, data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			return
		}
		if d.Delta == 0 || d.Hashtag != key || d.Source.Partition < 0 || d.Source.Offset < 0 {
			t.Fatalf("accepted %+v under key %q", d, key)
		}
	})
}
