package demo

import (
	"bytes"
	"image"
	"image/jpeg"
	"reflect"
	"strings"
	"testing"

	"github.com/tagstream/tagstream/hashtag"
	"github.com/tagstream/tagstream/ids"
)

// The plan is the same for a seed, every id and hashtag is one the API
// takes, and no user needs more writes than the API's default burst.
func TestPlan(t *testing.T) {
	p := Plan(300, 1)
	if !reflect.DeepEqual(p, Plan(300, 1)) {
		t.Fatal("two plans of one seed differ")
	}
	if reflect.DeepEqual(p.Likes, Plan(300, 2).Likes) {
		t.Error("two seeds planned the same likes")
	}
	writes := map[string]int{}
	seenID := map[string]bool{}
	for _, post := range p.Posts {
		if !ids.Valid(post.ID) || !ids.Valid(post.User) || seenID[post.ID] {
			t.Errorf("post %q by %q: not a valid, unique id", post.ID, post.User)
		}
		seenID[post.ID] = true
		keys := hashtag.Extract(post.Caption)
		if len(keys) < 1 || len(keys) > 3 {
			t.Errorf("%q: %d hashtags, want 1 to 3", post.Caption, len(keys))
		}
		writes[post.User] += 2 // the upload's reservation and the post
	}
	liked := map[Like]bool{}
	for _, l := range p.Likes {
		if p.Posts[l.Post].User == l.Liker || liked[l] {
			t.Errorf("like %+v: of one's own post, or twice", l)
		}
		liked[l] = true
		writes[l.Liker]++
	}
	for u, n := range writes {
		if n > 30 {
			t.Errorf("%s makes %d writes, over the API's default burst of 30", u, n)
		}
	}
	if len(p.Tags) < 24 || p.Tags[0] != "Sunset" || len(p.Likes) < 300 {
		t.Errorf("%d hashtags (first %q), %d likes: want a few dozen, Sunset first, hundreds of likes", len(p.Tags), p.Tags[0], len(p.Likes))
	}
	// Likes are skewed: Top must differ from Recent.
	per := map[int]int{}
	for _, l := range p.Likes {
		per[l.Post]++
	}
	most := 0
	for _, n := range per {
		most = max(most, n)
	}
	if most < 10 {
		t.Errorf("the most liked post has %d likes: no skew", most)
	}
}

// A photo is a JPEG of PhotoSize square, and two scenes differ.
func TestPhoto(t *testing.T) {
	a, err := Photo(Scene{Seed: 1, Hue: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Photo(Scene{Seed: 2, Hue: 0.1})
	cfg, format, err := image.DecodeConfig(bytes.NewReader(a))
	if err != nil || format != "jpeg" || cfg.Width != PhotoSize || cfg.Height != PhotoSize {
		t.Fatalf("%s %dx%d: %v", format, cfg.Width, cfg.Height, err)
	}
	if bytes.Equal(a, b) {
		t.Error("two scenes drew the same photo")
	}
	if _, err := jpeg.Decode(bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(Plan(3, 1).Posts[0].Caption, "#") {
		t.Error("a caption without a hashtag")
	}
}
