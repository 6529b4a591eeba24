package events

// Decoding post-changes records without reflection.
//
// Invariant, checked by scan_test.go (data and fuzzing): when
// scanPostChanges reports ok, its value equals what encoding/json's
// Unmarshal gives for the same bytes, field for field; when it meets
// anything it does not handle exactly as encoding/json would (a key in
// another case, an unknown or repeated key, null, a number that is not a
// plain integer, an escape it does not decode, a time not in the form
// json.Marshal writes), it reports !ok and DecodePostChanges uses
// encoding/json, which decides. The topic's format is JSON and stays
// exactly that; only the cost changes.
//
// Why: under make bench's load, encoding/json's decoding of post-changes
// was 27 % of a worker's CPU (the recent and the top groups each decode
// every record), the largest item of its profile. The table values
// (Count, Recent, Top) are read the same way: decoding them was the next
// 6 %, and the counts view decodes a Count for every page it serves.

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner reads one JSON value of a known shape. Every method returns
// false at the first thing it does not take, and the scan is abandoned.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and takes c.
func (s *scanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string. The input is valid UTF-8 (checked before), so the
// bytes between escapes are copied as they are.
func (s *scanner) str() (string, bool) {
	if !s.next('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			v := string(s.b[start:s.i])
			s.i++
			return v, true
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			return "", false // encoding/json refuses it: let it say so
		default:
			s.i++
		}
	}
	return "", false
}

// key reads an object's key without copying it; a key with an escape is
// declined (none of ours has one).
func (s *scanner) key() ([]byte, bool) {
	if !s.next('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		default:
			s.i++
		}
	}
	return nil, false
}

// escaped finishes a string that has escapes, from start (after its
// opening quote). It decodes what json.Marshal writes (\" \\ \/ \b \f \n
// \r \t and \u of a code point outside the surrogates); a surrogate pair,
// which encoding/json also takes apart, is left to it.
func (s *scanner) escaped(start int) (string, bool) {
	out := make([]byte, 0, s.i-start+16)
	out = append(out, s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return "", false
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if s.i+4 > len(s.b) {
				return "", false
			}
			n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 16)
			if err != nil || utf16.IsSurrogate(rune(n)) {
				return "", false
			}
			out = utf8.AppendRune(out, rune(n))
			s.i += 4
		default:
			return "", false
		}
	}
	return "", false
}

// integer reads a JSON integer that fits an int64: -?(0|[1-9][0-9]*),
// not followed by a fraction or an exponent.
func (s *scanner) integer() (int64, bool) {
	s.ws()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	digits := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	n := s.i - digits
	if n == 0 || (n > 1 && s.b[digits] == '0') {
		return 0, false
	}
	if s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64)
	return v, err == nil
}

func (s *scanner) boolean() (bool, bool) {
	s.ws()
	switch {
	case len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "true":
		s.i += 4
		return true, true
	case len(s.b)-s.i >= 5 && string(s.b[s.i:s.i+5]) == "false":
		s.i += 5
		return false, true
	}
	return false, false
}

// time reads a time in the form json.Marshal writes (RFC 3339 with
// nanoseconds, trailing zeros cut): anything else, which encoding/json
// may read otherwise or refuse, is left to it.
func (s *scanner) time() (time.Time, bool) {
	start := s.i
	v, ok := s.str()
	// encoding/json parses a time's raw bytes without unescaping them, so
	// a time written with an escape (\u0030 for 0) is one it refuses.
	if !ok || bytes.IndexByte(s.b[start:s.i], '\\') >= 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false
	}
	var buf [40]byte
	if string(t.AppendFormat(buf[:0], time.RFC3339Nano)) != v {
		return time.Time{}, false
	}
	return t, true
}

// object reads an object whose keys are among names, each at most once,
// calling field with each key's index; field reads the value.
func (s *scanner) object(names []string, field func(k int) bool) bool {
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return true
	}
	var seen uint64
	for {
		key, ok := s.key()
		if !ok || !s.next(':') {
			return false
		}
		k := -1
		for i, n := range names {
			if n == string(key) { // no allocation: the compiler compares in place
				k = i
			}
		}
		if k < 0 || seen&(1<<k) != 0 || !field(k) {
			return false
		}
		seen |= 1 << k
		if s.next('}') {
			return true
		}
		if !s.next(',') {
			return false
		}
	}
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

var (
	changesFields   = []string{"hashtag", "display", "changes", "src"}
	changeFields    = []string{"post", "live", "n"}
	summaryFields   = []string{"post_id", "user_id", "image_id", "caption", "created_at", "like_count", "v"}
	sourceFields    = []string{"p", "o", "l"}
	countFields     = []string{"display", "post_count", "updated_at", "w"}
	postEventFields = []string{"type", "post_id", "user_id", "image_id", "caption", "ts"}
	deltaFields     = []string{"hashtag", "display", "delta", "src"}
	recentFields    = []string{"posts", "updated_at", "w"}
	topFields       = []string{"top_posts", "computed_at", "removed", "w", "updated_at"}
	removalFields   = []string{"k", "at"}
)

// jsonScanner is a value that can decode itself as encoding/json would,
// or report !ok (see the invariant above) and leave itself as it was;
// decodeJSON, JSON[T] and Cached[T] try it before encoding/json.
type jsonScanner interface {
	scanJSON(b []byte) bool
}

// decodeScanned decodes data into a T: scanned if T can, else (or if it
// declines) with encoding/json.
func decodeScanned[T any](data []byte) (T, error) {
	var v T
	if sc, ok := any(&v).(jsonScanner); ok && utf8.Valid(data) && sc.scanJSON(data) {
		return v, nil
	}
	err := json.Unmarshal(data, &v)
	return v, err
}

// scanJSON reads a posts record as json.Marshal writes it (the API's and
// tagstream load's, and most clients'); v is only set on success. 3 % of
// a worker's CPU was encoding/json reading posts.
func (e *PostEvent) scanJSON(b []byte) bool {
	var v PostEvent
	s := &scanner{b: b}
	if !s.object(postEventFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			var t string
			t, ok = s.str()
			v.Type = PostEventType(t)
		case 1:
			v.PostID, ok = s.str()
		case 2:
			v.UserID, ok = s.str()
		case 3:
			v.ImageID, ok = s.str()
		case 4:
			v.Caption, ok = s.str()
		case 5:
			v.TS, ok = s.time()
		}
		return ok
	}) || !s.end() {
		return false
	}
	*e = v
	return true
}

// scanJSON reads a post-hashtags record; d is only set on success.
func (d *Delta) scanJSON(b []byte) bool {
	var v Delta
	s := &scanner{b: b}
	if !s.object(deltaFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			v.Hashtag, ok = s.str()
		case 1:
			v.Display, ok = s.str()
		case 2:
			v.Delta, ok = s.integer()
		case 3:
			ok = s.object(sourceFields[:2], func(k int) bool {
				n, ok := s.integer()
				if k == 0 {
					v.Source.Partition = int32(n)
					return ok && n >= -1<<31 && n < 1<<31
				}
				v.Source.Offset = n
				return ok
			})
		}
		return ok
	}) || !s.end() {
		return false
	}
	*d = v
	return true
}

func (c *Count) scanJSON(b []byte) bool {
	var v Count
	if !v.scanFields(b) {
		return false
	}
	*c = v
	return true
}

func (c *Count) scanFields(b []byte) bool {
	s := &scanner{b: b}
	return s.object(countFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			c.Display, ok = s.str()
		case 1:
			c.PostCount, ok = s.integer()
		case 2:
			c.UpdatedAt, ok = s.time()
		case 3:
			c.Watermarks, ok = scanMap(s, (*scanner).integer)
		}
		return ok
	}) && s.end()
}

func (r *Recent) scanJSON(b []byte) bool {
	var v Recent
	if !v.scanFields(b) {
		return false
	}
	*r = v
	return true
}

func (r *Recent) scanFields(b []byte) bool {
	s := &scanner{b: b}
	return s.object(recentFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			r.Posts, ok = s.summaries()
		case 1:
			r.UpdatedAt, ok = s.time()
		case 2:
			r.W, ok = scanMap(s, (*scanner).watermark)
		}
		return ok
	}) && s.end()
}

func (t *Top) scanJSON(b []byte) bool {
	var v Top
	if !v.scanFields(b) {
		return false
	}
	*t = v
	return true
}

func (t *Top) scanFields(b []byte) bool {
	s := &scanner{b: b}
	return s.object(topFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			t.TopPosts, ok = s.summaries()
		case 1:
			t.ComputedAt, ok = s.time()
		case 2:
			t.Removed, ok = scanArray(s, (*scanner).removal)
		case 3:
			t.W, ok = scanMap(s, (*scanner).watermark)
		case 4:
			t.UpdatedAt, ok = s.time()
		}
		return ok
	}) && s.end()
}

func (s *scanner) summaries() ([]PostSummary, bool) { return scanArray(s, (*scanner).summary) }

func (s *scanner) removal() (r Removal, ok bool) {
	ok = s.object(removalFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			r.Key, ok = s.str()
		case 1:
			r.At, ok = s.time()
		}
		return ok
	})
	return r, ok
}

func (s *scanner) watermark() (w ChangeWatermark, ok bool) {
	ok = s.object(sourceFields[1:], func(k int) bool {
		var ok bool
		switch k {
		case 0:
			w.Posts, ok = s.integer()
		case 1:
			w.Likes, ok = s.integer()
		}
		return ok
	})
	return w, ok
}

// null takes a JSON null, which encoding/json decodes into a slice or a
// map as nil.
func (s *scanner) null() bool {
	s.ws()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// scanArray reads an array of what elem reads, or null (nil); an empty
// array is an empty, non-nil slice, as encoding/json gives.
func scanArray[E any](s *scanner, elem func(*scanner) (E, bool)) ([]E, bool) {
	if s.null() {
		return nil, true
	}
	if !s.next('[') {
		return nil, false
	}
	out := []E{}
	if s.next(']') {
		return out, true
	}
	for {
		e, ok := elem(s)
		if !ok {
			return nil, false
		}
		out = append(out, e)
		if s.next(']') {
			return out, true
		}
		if !s.next(',') {
			return nil, false
		}
	}
}

// scanMap reads an object keyed by int32s written as json.Marshal writes
// them (decimal, no sign but '-', no leading zero), or null (nil). A key in
// any other form, which encoding/json may still read, or a repeated key,
// is declined.
func scanMap[V any](s *scanner, val func(*scanner) (V, bool)) (map[int32]V, bool) {
	if s.null() {
		return nil, true
	}
	if !s.next('{') {
		return nil, false
	}
	m := map[int32]V{}
	if s.next('}') {
		return m, true
	}
	for {
		key, ok := s.key()
		if !ok || !s.next(':') {
			return nil, false
		}
		n, err := strconv.ParseInt(string(key), 10, 32)
		if err != nil || strconv.FormatInt(n, 10) != string(key) {
			return nil, false
		}
		if _, dup := m[int32(n)]; dup {
			return nil, false
		}
		v, ok := val(s)
		if !ok {
			return nil, false
		}
		m[int32(n)] = v
		if s.next('}') {
			return m, true
		}
		if !s.next(',') {
			return nil, false
		}
	}
}

// scanPostChanges decodes a post-changes record; see the invariant above.
func scanPostChanges(b []byte) (c PostChanges, ok bool) {
	s := &scanner{b: b}
	ok = s.object(changesFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			c.Hashtag, ok = s.str()
		case 1:
			c.Display, ok = s.str()
		case 2:
			c.Changes, ok = s.changes()
		case 3:
			c.Source, ok = s.source()
		}
		return ok
	})
	return c, ok && s.end()
}

func (s *scanner) changes() ([]PostChange, bool) {
	if !s.next('[') {
		return nil, false
	}
	out := []PostChange{} // encoding/json gives an empty slice, not nil, for []
	if s.next(']') {
		return out, true
	}
	for {
		var ch PostChange
		ok := s.object(changeFields, func(k int) bool {
			var ok bool
			switch k {
			case 0:
				ch.Post, ok = s.summary()
			case 1:
				ch.Live, ok = s.boolean()
			case 2:
				ch.N, ok = s.integer()
			}
			return ok
		})
		if !ok {
			return nil, false
		}
		out = append(out, ch)
		if s.next(']') {
			return out, true
		}
		if !s.next(',') {
			return nil, false
		}
	}
}

func (s *scanner) summary() (p PostSummary, ok bool) {
	ok = s.object(summaryFields, func(k int) bool {
		var ok bool
		switch k {
		case 0:
			p.PostID, ok = s.str()
		case 1:
			p.UserID, ok = s.str()
		case 2:
			p.ImageID, ok = s.str()
		case 3:
			p.Caption, ok = s.str()
		case 4:
			p.CreatedAt, ok = s.time()
		case 5:
			p.LikeCount, ok = s.integer()
		case 6:
			p.Rev, ok = s.integer()
		}
		return ok
	})
	return p, ok
}

func (s *scanner) source() (src ChangeSource, ok bool) {
	ok = s.object(sourceFields, func(k int) bool {
		v, ok := s.integer()
		switch k {
		case 0:
			ok = ok && v >= -1<<31 && v < 1<<31
			src.Partition = int32(v)
		case 1:
			src.Posts = v
		case 2:
			src.Likes = v
		}
		return ok
	})
	return src, ok
}
