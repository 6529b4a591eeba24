// Package hashtag finds hashtags in captions and turns them into the keys the
// counting service aggregates on.
//
// Extraction follows twitter-text's hashtag rules, checked against its
// cross-platform conformance cases (see conformance_test.go). Normalisation is
// NFKC followed by Unicode case folding, so that visually or semantically equal
// spellings (#Sunset, #SUNSET, #Ｓｕｎｓｅｔ) are counted under one key.
//
// The package is written as a hand-rolled scanner rather than with regexp:
// it runs once per post at thousands of posts per second, and the rules need
// look-behind, which Go's regexp does not offer.
package hashtag

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Entity is a hashtag located in a caption. Indices count Unicode code points
// (not bytes, not UTF-16 units) because that is what twitter-text's
// conformance data and client-side highlighters use; an invalid UTF-8 byte
// counts as one code point, as utf8.RuneCountInString does.
type Entity struct {
	// Tag is the hashtag as written, without the hash sign.
	Tag string
	// Start is the code-point index of the hash sign; End is the index one
	// past the hashtag's last code point, so text[Start:End] (in code points)
	// is "#"+Tag or "＃"+Tag.
	Start, End int
}

// Extract returns the hashtags in text, as written and without the hash sign,
// in order of appearance with repeats kept, so callers can render or audit
// exactly what the author typed. Use Keys for counting.
//
// The returned strings share memory with text.
func Extract(text string) []string {
	spans := scan(text)
	if len(spans) == 0 {
		return nil
	}
	tags := make([]string, len(spans))
	for i, s := range spans {
		tags[i] = text[s.body:s.end]
	}
	return tags
}

// ExtractEntities is Extract with positions, for highlighting or linking
// hashtags in a caption. Start and End are code-point indices; see Entity.
func ExtractEntities(text string) []Entity {
	spans := scan(text)
	if len(spans) == 0 {
		return nil
	}
	ents := make([]Entity, len(spans))
	bytePos, runePos := 0, 0
	for i, s := range spans {
		runePos += utf8.RuneCountInString(text[bytePos:s.start])
		start := runePos
		runePos += utf8.RuneCountInString(text[s.start:s.end])
		bytePos = s.end
		ents[i] = Entity{Tag: text[s.body:s.end], Start: start, End: runePos}
	}
	return ents
}

// tagSpan is a hashtag by byte offsets: start is the hash sign, body the first
// byte after it, end one past the last byte of the tag.
type tagSpan struct{ start, body, end int }

const (
	hashSign     = '#'
	fullHashSign = '＃' // U+FF03 FULLWIDTH NUMBER SIGN
)

func isHashSign(r rune) bool { return r == hashSign || r == fullHashSign }

// scan finds the hashtags of text, applying every rule, in order.
func scan(text string) []tagSpan {
	cands := scanCandidates(text)
	if len(cands) == 0 {
		return nil
	}
	return dropURLOverlaps(text, cands)
}

// scanCandidates applies the hashtag grammar but not the URL rule. It mirrors
// how twitter-text's global regexp walks the text:
//
//	(boundary)(#|＃)(?!\uFE0F|\u20E3)(alnum* alpha alnum*)
//
// where boundary is start of text, U+FE0E, U+FE0F, or one code point that is
// not alnum and not '&'. Matches do not overlap and the boundary code point
// belongs to the match, so a variation selector that ended the previous
// match (even one discarded for being followed by a hash sign or "://")
// cannot be the next one's boundary: "#a\uFE0F#b" yields nothing.
//
// Stricter than twitter-text, the boundary may not be a hash sign either:
// "##tag" and "#＃tag" yield nothing, where twitter-text yields "tag".
func scanCandidates(text string) []tagSpan {
	var out []tagSpan
	lastEnd := 0 // end of the previous match, accepted or not
	// Positions of the next '#' and '＃' at or after i; len(text) if none.
	n := len(text)
	half, full := nextIndex(text, 0, "#"), n
	if strings.IndexByte(text, 0xEF) >= 0 { // lead byte of '＃'
		full = nextIndex(text, 0, "＃")
	}
	i := 0
	for {
		if half < i {
			half = nextIndex(text, i, "#")
		}
		if full < i {
			full = nextIndex(text, i, "＃")
		}
		size := 1
		if half < full {
			i = half
		} else {
			i, size = full, len("＃")
		}
		if i >= n {
			break
		}
		if !boundaryBefore(text, i, lastEnd) {
			i += size
			continue
		}
		body := i + size
		end, ok := scanBody(text, body)
		if !ok {
			i = body
			continue
		}
		lastEnd = end
		if !endsBadly(text[end:]) {
			if out == nil {
				// One allocation for the common case: at most one
				// hashtag per remaining hash sign.
				out = make([]tagSpan, 0, 1+strings.Count(text[end:], "#")+strings.Count(text[end:], "＃"))
			}
			out = append(out, tagSpan{start: i, body: body, end: end})
		}
		i = end
	}
	return out
}

// nextIndex returns the index of the first sub in text at or after from, or
// len(text).
func nextIndex(text string, from int, sub string) int {
	if j := strings.Index(text[from:], sub); j >= 0 {
		return from + j
	}
	return len(text)
}

// boundaryBefore reports whether a hash sign at byte h may start a hashtag,
// given that bytes before lastEnd were consumed by an earlier match.
func boundaryBefore(text string, h, lastEnd int) bool {
	if h == 0 {
		return true
	}
	r, n := utf8.DecodeLastRuneInString(text[:h])
	if h-n < lastEnd {
		return false
	}
	switch {
	case r == '\uFE0E' || r == '\uFE0F':
		// Variation selectors are marks, so they would count as alnum; but
		// an emoji followed by one ("✌️#tag") is a boundary.
		return true
	case r == '&':
		// "&#39;" and friends are HTML entities, not hashtags.
		return false
	case isHashSign(r):
		return false
	}
	return !isAlnum(r)
}

// scanBody returns the end of the maximal run of hashtag characters starting
// at byte b, and whether that run is a valid hashtag body: non-empty, not
// starting with U+FE0F or U+20E3 (keycap emoji like "#️⃣"), and containing at
// least one letter or mark, so "#2024" is not a hashtag.
func scanBody(text string, b int) (end int, ok bool) {
	hasAlpha := false
	j := b
	for j < len(text) {
		c := text[j]
		if c < utf8.RuneSelf {
			switch asciiClass[c] {
			case asciiAlpha:
				hasAlpha = true
			case asciiOther:
				return j, hasAlpha
			}
			j++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[j:])
		if j == b && (r == '\uFE0F' || r == '\u20E3') {
			return j, false
		}
		switch {
		case isAlpha(r):
			hasAlpha = true
		case isDigit(r) || isSpecial(r):
		default:
			return j, hasAlpha
		}
		j += n
	}
	return j, hasAlpha
}

// ASCII classes for scanBody's fast path.
const (
	asciiOther = iota
	asciiAlpha // letters
	asciiAlnum // digits and '_'
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = asciiAlpha, asciiAlpha
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = asciiAlnum
	}
	t['_'] = asciiAlnum
	return t
}()

// endsBadly reports whether what follows a match disqualifies it:
// twitter-text discards a hashtag immediately followed by another hash sign
// ("#foo#bar" is neither) or by "://" ("#http://…" is a URL, not a tag).
func endsBadly(after string) bool {
	if after == "" {
		return false
	}
	if after[0] == '#' {
		return true
	}
	if len(after) >= 3 && after[:3] == "://" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(after)
	return r == fullHashSign
}

// Character classes. twitter-text builds them from Unicode categories:
// "alpha" is any letter (L*) or mark (M*); "alnum" adds decimal digits (Nd)
// and a fixed list of joiners and script punctuation that occur inside words.

func isAlpha(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.IsMark(r)
}

func isDigit(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.Is(unicode.Nd, r)
}

// isSpecial is twitter-text's hashtag_special_chars: characters that are not
// letters, marks or digits but join words in some scripts.
func isSpecial(r rune) bool {
	switch r {
	case '_',
		'\u200C', // ZERO WIDTH NON-JOINER (Persian, Arabic)
		'\u200D', // ZERO WIDTH JOINER (Sinhala, Indic)
		'\uA67E', // CYRILLIC KAVYKA
		'\u05BE', // HEBREW PUNCTUATION MAQAF
		'\u05F3', // HEBREW PUNCTUATION GERESH
		'\u05F4', // HEBREW PUNCTUATION GERSHAYIM
		'\uFF5E', // FULLWIDTH TILDE
		'\u301C', // WAVE DASH
		'\u309B', // KATAKANA-HIRAGANA VOICED SOUND MARK
		'\u309C', // KATAKANA-HIRAGANA SEMI-VOICED SOUND MARK
		'\u30A0', // KATAKANA-HIRAGANA DOUBLE HYPHEN
		'\u30FB', // KATAKANA MIDDLE DOT
		'\u3003', // DITTO MARK
		'\u0F0B', // TIBETAN MARK INTERSYLLABIC TSHEG
		'\u0F0C', // TIBETAN MARK DELIMITER TSHEG BSTAR
		'\u00B7': // MIDDLE DOT (Catalan l·l)
		return true
	}
	return false
}

func isAlnum(r rune) bool { return isAlpha(r) || isDigit(r) || isSpecial(r) }
