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

// Whatever arrives on likes, the decoder returns a usable like or a
// *DecodeError; an accepted like names a post by its owner's key and a
// liker, all valid ids, so the extractor's liker key is unambiguous.
func FuzzDecodeLikeEvent(f *testing.F) {
	f.Add("alice", []byte(`{"type":"liked","user_id":"alice","post_id":"p1","liker_id":"bob","ts":"2026-11-29T12:00:00Z"}`))
	f.Add("alice", []byte(`{"type":"unliked","user_id":"alice","post_id":"p1","liker_id":"bob"}`))
	f.Add("bob", []byte(`{"type":"liked","user_id":"alice","post_id":"p1","liker_id":"bob"}`))
	f.Add("alice", []byte(`{"type":"liked","user_id":"alice","post_id":"p/1","liker_id":"b"}`))
	f.Add("x", []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		e, err := DecodeLikeEvent(key, data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if Reason(err) == "error" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(data) > MaxLikeEventBytes || !utf8.Valid(data) || (e.Type != Liked && e.Type != Unliked) || e.UserID != key {
			t.Fatalf("accepted %+v from %d bytes under key %q", e, len(data), key)
		}
		post := e.UserID + "/" + e.PostID
		if p, liker, ok := SplitLikerKey(LikerKey(post, e.LikerID)); !ok || p != post || liker != e.LikerID {
			t.Fatalf("liker key of %+v splits to %q %q %v", e, p, liker, ok)
		}
	})
}

// Whatever arrives on post-changes (written by extractors, but a topic
// anyone with the grant can write), the decoder returns a record the lists
// can apply without a check of their own, or a *DecodeError.
func FuzzDecodePostChanges(f *testing.F) {
	f.Add("sunset", []byte(`{"hashtag":"sunset","display":"Sunset","changes":[{"post":{"post_id":"p","user_id":"u","like_count":2},"live":true,"n":1}],"src":{"p":0,"o":5,"l":-1}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","changes":[{"post":{"post_id":"p","user_id":"u"},"live":false,"n":-1}],"src":{"p":3,"o":-1,"l":9}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","changes":[],"src":{"p":0,"o":1,"l":1}}`))
	f.Add("sunset", []byte(`{"hashtag":"sunset","changes":[{"post":{"post_id":"p","user_id":"u"},"n":2}],"src":{"p":0,"o":1,"l":1}}`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		c, err := DecodePostChanges(key, data)
		if err != nil {
			if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			return
		}
		s := c.Source
		if c.Hashtag != key || len(c.Changes) == 0 || s.Partition < 0 || max(s.Posts, s.Likes) < 0 || len(data) > MaxPostChangesBytes {
			t.Fatalf("accepted %+v under key %q", c, key)
		}
		for _, ch := range c.Changes {
			if !ids.Valid(ch.Post.PostID) || !ids.Valid(ch.Post.UserID) || ch.N < -1 || ch.N > 1 || ch.Post.LikeCount < 0 {
				t.Fatalf("accepted change %+v", ch)
			}
		}
		// A watermark advanced past the record recognises it.
		if !(ChangeWatermarks{}).Advance(s).Applied(s) {
			t.Fatalf("a watermark advanced by %+v does not hold it", s)
		}
	})
}
