package api

// Encoding a hashtag page without reflection.
//
// Invariant, checked by pagejson_test.go (data and fuzzing): for every
// page, appendPageJSON's bytes equal what writeCached's encoder
// (json.Encoder with SetEscapeHTML(false), a newline after the value)
// writes, byte for byte, or it reports that it cannot (and the encoder
// is used, which says why). Only the cost changes.
//
// Why: with the pages kept (pagecache.go) a page is encoded once per
// change of its hashtag's tables or expiry bucket, yet a hot hashtag
// changes every few seconds under load, and encoding by reflection was
// 23 % of the API's CPU under bench-read.sh (time.Time's MarshalJSON 8 %).

import (
	"strconv"

	"github.com/tagstream/tagstream/events"
)

// pageJSONSize is about the length of p's JSON, so one allocation holds it.
func pageJSONSize(p *PageJSON) int {
	return 160 + 6*len(p.ImageWidths) + 2*(len(p.Hashtag)+len(p.Key)) + postsJSONSize(p.TopPosts) + postsJSONSize(p.RecentPosts)
}

func postsJSONSize(ps []PostJSON) int {
	n := 2
	for i := range ps {
		p := &ps[i]
		n += 160 + len(p.PostID) + len(p.UserID) + len(p.ImageID) + len(p.ImageURL) + len(p.Caption) + len(p.Caption)/8
	}
	return n
}

// appendPageJSON appends p as writeCached's encoder writes it, newline
// included; ok is false when it cannot (a time the encoder refuses).
func appendPageJSON(b []byte, p *PageJSON) (out []byte, ok bool) {
	b = append(b, `{"hashtag":`...)
	b = events.AppendString(b, p.Hashtag, false)
	b = append(b, `,"key":`...)
	b = events.AppendString(b, p.Key, false)
	b = append(b, `,"post_count":`...)
	b = strconv.AppendInt(b, p.PostCount, 10)
	b = append(b, `,"top_posts":`...)
	b, ok = appendPostsJSON(b, p.TopPosts)
	b = append(b, `,"recent_posts":`...)
	b, ok2 := appendPostsJSON(b, p.RecentPosts)
	ok = ok && ok2
	if len(p.ImageWidths) > 0 {
		b = append(b, `,"image_widths":[`...)
		for i, w := range p.ImageWidths {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(w), 10)
		}
		b = append(b, ']')
	}
	if !p.UpdatedAt.IsZero() {
		b = append(b, `,"updated_at":`...)
		b, ok2 = events.AppendTime(b, p.UpdatedAt)
		ok = ok && ok2
	}
	return append(b, '}', '\n'), ok
}

// appendPostsJSON appends a list of posts, or null for a nil one.
func appendPostsJSON(b []byte, ps []PostJSON) ([]byte, bool) {
	if ps == nil {
		return append(b, "null"...), true
	}
	ok := true
	b = append(b, '[')
	for i := range ps {
		if i > 0 {
			b = append(b, ',')
		}
		p := &ps[i]
		b = append(b, `{"post_id":`...)
		b = events.AppendString(b, p.PostID, false)
		b = append(b, `,"user_id":`...)
		b = events.AppendString(b, p.UserID, false)
		if p.ImageID != "" {
			b = append(b, `,"image_id":`...)
			b = events.AppendString(b, p.ImageID, false)
		}
		if p.ImageURL != "" {
			b = append(b, `,"image_url":`...)
			b = events.AppendString(b, p.ImageURL, false)
		}
		if p.Caption != "" {
			b = append(b, `,"caption":`...)
			b = events.AppendString(b, p.Caption, false)
		}
		if !p.CreatedAt.IsZero() {
			b = append(b, `,"created_at":`...)
			var okT bool
			if b, okT = events.AppendTime(b, p.CreatedAt); !okT {
				ok = false
			}
		}
		b = append(b, `,"like_count":`...)
		b = strconv.AppendInt(b, p.LikeCount, 10)
		b = append(b, '}')
	}
	return append(b, ']'), ok
}
