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
	"time"
	"unicode/utf8"
)

// pageJSONSize is about the length of p's JSON, so one allocation holds it.
func pageJSONSize(p *PageJSON) int {
	return 160 + 2*(len(p.Hashtag)+len(p.Key)) + postsJSONSize(p.TopPosts) + postsJSONSize(p.RecentPosts)
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
	b = appendJSONString(b, p.Hashtag)
	b = append(b, `,"key":`...)
	b = appendJSONString(b, p.Key)
	b = append(b, `,"post_count":`...)
	b = strconv.AppendInt(b, p.PostCount, 10)
	b = append(b, `,"top_posts":`...)
	b, ok = appendPostsJSON(b, p.TopPosts)
	b = append(b, `,"recent_posts":`...)
	b, ok2 := appendPostsJSON(b, p.RecentPosts)
	ok = ok && ok2
	if !p.UpdatedAt.IsZero() {
		b = append(b, `,"updated_at":`...)
		b, ok2 = appendJSONTime(b, p.UpdatedAt)
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
		b = appendJSONString(b, p.PostID)
		b = append(b, `,"user_id":`...)
		b = appendJSONString(b, p.UserID)
		if p.ImageID != "" {
			b = append(b, `,"image_id":`...)
			b = appendJSONString(b, p.ImageID)
		}
		if p.ImageURL != "" {
			b = append(b, `,"image_url":`...)
			b = appendJSONString(b, p.ImageURL)
		}
		if p.Caption != "" {
			b = append(b, `,"caption":`...)
			b = appendJSONString(b, p.Caption)
		}
		if !p.CreatedAt.IsZero() {
			b = append(b, `,"created_at":`...)
			var okT bool
			if b, okT = appendJSONTime(b, p.CreatedAt); !okT {
				ok = false
			}
		}
		b = append(b, `,"like_count":`...)
		b = strconv.AppendInt(b, p.LikeCount, 10)
		b = append(b, '}')
	}
	return append(b, ']'), ok
}

// appendJSONTime appends t as time.Time's MarshalJSON does; false for
// what it refuses (a year outside 0–9999, a zone offset of a day or more).
func appendJSONTime(b []byte, t time.Time) ([]byte, bool) {
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	if _, off := t.Zone(); off <= -24*3600 || off >= 24*3600 {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as an encoder with
// SetEscapeHTML(false) does: <, > and & kept, invalid UTF-8 replaced by
// U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
