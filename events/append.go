package events

// Encoding the list tables' values without reflection.
//
// Invariant, checked by append_test.go (data and fuzzing): for every
// value, appendJSON's bytes equal json.Marshal's, byte for byte, or it
// reports that it cannot (and the codec calls json.Marshal). The tables'
// format is JSON and stays exactly that; only the cost changes.
//
// Why: with decoded values kept (cache.go) and a 1 s commit interval,
// json.Marshal of the lists was the largest item left in a worker's CPU
// profile under the chaos load's steady phase (26 %, half of it in
// time.Time's MarshalJSON and the validation of its output), and 16 % of
// the ranking's.

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// jsonAppender is a value that can encode itself as json.Marshal would.
// ok is false when it cannot (a time json.Marshal refuses, say): the
// caller then uses json.Marshal, which says why.
type jsonAppender interface {
	appendJSON(b []byte) (out []byte, ok bool)
	// jsonSize is about the length of its JSON, so that one allocation
	// holds it (growing the buffer cost a third of appendJSON's time).
	jsonSize() int
}

func (r Recent) jsonSize() int { return 128 + summariesSize(r.Posts) + 40*len(r.W) }
func (t Top) jsonSize() int {
	n := 160 + summariesSize(t.TopPosts) + 40*len(t.W)
	for _, r := range t.Removed {
		n += 48 + len(r.Key)
	}
	return n
}
func (r Ranked) jsonSize() int { return 160 + len(r.Display) + summariesSize(r.Posts) + 40*len(r.W) }

func summariesSize(ss []PostSummary) int {
	n := 2
	for _, s := range ss {
		n += summarySize(s)
	}
	return n
}

func summarySize(s PostSummary) int {
	return 140 + len(s.PostID) + len(s.UserID) + len(s.ImageID) + len(s.Caption)
}

func (r Recent) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"posts":`...)
	b, ok := appendSummaries(b, r.Posts)
	b = append(b, `,"updated_at":`...)
	b, ok2 := appendTime(b, r.UpdatedAt)
	b, ok3 := appendWatermarks(b, r.W)
	return append(b, '}'), ok && ok2 && ok3
}

func (t Top) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"top_posts":`...)
	b, ok := appendSummaries(b, t.TopPosts)
	b = append(b, `,"computed_at":`...)
	b, ok2 := appendTime(b, t.ComputedAt)
	if len(t.Removed) > 0 {
		b = append(b, `,"removed":[`...)
		for i, r := range t.Removed {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"k":`...)
			b = appendString(b, r.Key)
			b = append(b, `,"at":`...)
			var okAt bool
			if b, okAt = appendTime(b, r.At); !okAt {
				ok2 = false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b, ok3 := appendWatermarks(b, t.W)
	if !t.UpdatedAt.IsZero() {
		b = append(b, `,"updated_at":`...)
		var okAt bool
		if b, okAt = appendTime(b, t.UpdatedAt); !okAt {
			ok3 = false
		}
	}
	return append(b, '}'), ok && ok2 && ok3
}

func (r Ranked) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"display":`...)
	b = appendString(b, r.Display)
	b = append(b, `,"posts":`...)
	b, ok := appendSummaries(b, r.Posts)
	b = append(b, `,"floor":`...)
	f, err := json.Marshal(r.Floor) // NaN and ±Inf: its error
	if err != nil {
		return b, false
	}
	b = append(b, f...)
	if r.Dirty {
		b = append(b, `,"dirty":true`...)
	}
	ok2 := true
	if !r.PublishedAt.IsZero() {
		b = append(b, `,"published_at":`...)
		b, ok2 = appendTime(b, r.PublishedAt)
	}
	b, ok3 := appendWatermarks(b, r.W)
	return append(b, '}'), ok && ok2 && ok3
}

// appendSummaries appends a list of summaries, or null for a nil one.
func appendSummaries(b []byte, ss []PostSummary) ([]byte, bool) {
	if ss == nil {
		return append(b, "null"...), true
	}
	ok := true
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		var okOne bool
		b, okOne = appendSummary(b, s)
		ok = ok && okOne
	}
	return append(b, ']'), ok
}

func appendSummary(b []byte, s PostSummary) ([]byte, bool) {
	ok := true
	b = append(b, `{"post_id":`...)
	b = appendString(b, s.PostID)
	b = append(b, `,"user_id":`...)
	b = appendString(b, s.UserID)
	if s.ImageID != "" {
		b = append(b, `,"image_id":`...)
		b = appendString(b, s.ImageID)
	}
	if s.Caption != "" {
		b = append(b, `,"caption":`...)
		b = appendString(b, s.Caption)
	}
	if !s.CreatedAt.IsZero() {
		b = append(b, `,"created_at":`...)
		b, ok = appendTime(b, s.CreatedAt)
	}
	b = append(b, `,"like_count":`...)
	b = strconv.AppendInt(b, s.LikeCount, 10)
	if s.Rev != 0 {
		b = append(b, `,"v":`...)
		b = strconv.AppendInt(b, s.Rev, 10)
	}
	return append(b, '}'), ok
}

// appendWatermarks appends `,"w":{...}` unless w is empty (omitempty).
// A map of at most one entry per partition.
func appendWatermarks(b []byte, w ChangeWatermarks) ([]byte, bool) {
	if len(w) == 0 {
		return b, true
	}
	b = append(b, `,"w":{`...)
	var buf [16]int32
	for i, p := range sortedKeys(buf[:0], w) {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, '"'), int64(p), 10)
		b = strconv.AppendInt(append(b, `":{"o":`...), w[p].Posts, 10)
		b = strconv.AppendInt(append(b, `,"l":`...), w[p].Likes, 10)
		b = append(b, '}')
	}
	return append(b, '}'), true
}

// sortedKeys appends m's keys to ks in json.Marshal's order: by their
// decimal strings ("10" before "2").
func sortedKeys[V any](ks []int32, m map[int32]V) []int32 {
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, func(a, b int32) int {
		var x, y [12]byte
		return bytes.Compare(strconv.AppendInt(x[:0], int64(a), 10), strconv.AppendInt(y[:0], int64(b), 10))
	})
	return ks
}

// The counter's value: json.Marshal of it (its watermarks a map, sorted
// by reflection) was 10 % of a counts-only worker's CPU under make bench's
// load.

func (c Count) jsonSize() int { return 80 + 2*len(c.Display) + 24*len(c.Watermarks) }

func (c Count) appendJSON(b []byte) ([]byte, bool) {
	b = appendString(append(b, `{"display":`...), c.Display)
	b = strconv.AppendInt(append(b, `,"post_count":`...), c.PostCount, 10)
	b, ok := appendTime(append(b, `,"updated_at":`...), c.UpdatedAt)
	if len(c.Watermarks) > 0 {
		b = append(b, `,"w":{`...)
		var buf [16]int32
		for i, p := range sortedKeys(buf[:0], c.Watermarks) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(append(b, '"'), int64(p), 10)
			b = strconv.AppendInt(append(b, `":`...), c.Watermarks[p], 10)
		}
		b = append(b, '}')
	}
	return append(b, '}'), ok
}

// appendTime is AppendTime.
func appendTime(b []byte, t time.Time) ([]byte, bool) { return AppendTime(b, t) }

// AppendTime appends t as time.Time's MarshalJSON does; false for what it
// refuses (a year outside 0–9999, a zone offset of a day or more).
func AppendTime(b []byte, t time.Time) ([]byte, bool) {
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

// appendString appends s as json.Marshal does (AppendString, HTML
// characters escaped).
func appendString(b []byte, s string) []byte { return AppendString(b, s, true) }

// AppendString appends s as a JSON string exactly as encoding/json does:
// invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped, and <, >
// and & escaped as json.Marshal does with escapeHTML, kept as an Encoder
// with SetEscapeHTML(false) does without.
func AppendString(b []byte, s string, escapeHTML bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!escapeHTML || (c != '<' && c != '>' && c != '&')) {
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

// The extractor's records: post-hashtags deltas, post-changes and post
// states. json.Marshal of them was 7.5 % of a worker's CPU under make
// bench's load.

func (d Delta) jsonSize() int { return 80 + 2*len(d.Hashtag) + 2*len(d.Display) }

func (d Delta) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"hashtag":`...)
	b = appendString(b, d.Hashtag)
	b = append(b, `,"display":`...)
	b = appendString(b, d.Display)
	b = append(b, `,"delta":`...)
	b = strconv.AppendInt(b, d.Delta, 10)
	b = append(b, `,"src":{"p":`...)
	b = strconv.AppendInt(b, int64(d.Source.Partition), 10)
	b = append(b, `,"o":`...)
	b = strconv.AppendInt(b, d.Source.Offset, 10)
	return append(b, "}}"...), true
}

func (c PostChanges) jsonSize() int {
	n := 100 + 2*len(c.Hashtag) + 2*len(c.Display)
	for _, ch := range c.Changes {
		n += 30 + summarySize(ch.Post)
	}
	return n
}

func (c PostChanges) appendJSON(b []byte) ([]byte, bool) {
	b = append(b, `{"hashtag":`...)
	b = appendString(b, c.Hashtag)
	b = append(b, `,"display":`...)
	b = appendString(b, c.Display)
	b = append(b, `,"changes":`...)
	ok := true
	if c.Changes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, ch := range c.Changes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"post":`...)
			var okPost bool
			b, okPost = appendSummary(b, ch.Post)
			ok = ok && okPost
			b = append(b, `,"live":`...)
			b = strconv.AppendBool(b, ch.Live)
			if ch.N != 0 {
				b = append(b, `,"n":`...)
				b = strconv.AppendInt(b, ch.N, 10)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"src":{"p":`...)
	b = strconv.AppendInt(b, int64(c.Source.Partition), 10)
	b = append(b, `,"o":`...)
	b = strconv.AppendInt(b, c.Source.Posts, 10)
	b = append(b, `,"l":`...)
	b = strconv.AppendInt(b, c.Source.Likes, 10)
	return append(b, "}}"...), ok
}

func (s PostState) jsonSize() int {
	n := 120 + len(s.ImageID) + len(s.Caption)
	for i := range s.Keys {
		n += 6 + len(s.Keys[i])
	}
	for i := range s.Display {
		n += 6 + len(s.Display[i])
	}
	return n
}

func (s PostState) appendJSON(b []byte) ([]byte, bool) {
	ok := true
	start := len(b)
	b = append(b, '{')
	if len(s.Keys) > 0 {
		b = appendStrings(append(b, `"keys":`...), s.Keys)
	}
	if len(s.Display) > 0 {
		b = appendStrings(append(b, `,"display":`...), s.Display)
	}
	if s.ImageID != "" {
		b = appendString(append(b, `,"image_id":`...), s.ImageID)
	}
	if !s.Created.IsZero() {
		b, ok = appendTime(append(b, `,"created_at":`...), s.Created)
	}
	if s.Caption != "" {
		b = appendString(append(b, `,"caption":`...), s.Caption)
	}
	if s.Likes != 0 {
		b = strconv.AppendInt(append(b, `,"likes":`...), s.Likes, 10)
	}
	if s.Rev != 0 {
		b = strconv.AppendInt(append(b, `,"v":`...), s.Rev, 10)
	}
	if s.Deleted {
		b = append(b, `,"deleted":true`...)
	}
	if len(b) > start+1 && b[start+1] == ',' { // the first field written was not keys
		b = append(b[:start+1], b[start+2:]...)
	}
	return append(b, '}'), ok
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// Marshal encodes the extractor's records, Delta, PostChanges and
// PostState (and the tables' values), as json.Marshal does (the invariant above), without
// reflection; any other value with json.Marshal.
func Marshal(v any) ([]byte, error) {
	if a, ok := v.(jsonAppender); ok {
		if b, ok := a.appendJSON(make([]byte, 0, a.jsonSize())); ok {
			return b, nil
		}
	}
	return json.Marshal(v)
}
