package hashtag

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// folder is safe for concurrent use: cases.Fold returns a stateless Caser.
var folder = cases.Fold()

// Normalize maps a hashtag to the key it is counted under, so that every
// spelling a reader would consider the same tag (#Sunset, #SUNSET,
// #Ｓｕｎｓｅｔ, "café" precomposed or decomposed) meets in one key. It is NFKC
// followed by Unicode full case folding, language-neutral: "ß" folds to
// "ss", final "ς" to "σ", and "İ" to "i̇" (i and U+0307), not to Turkish "i".
//
// Three departures keep keys typeable as hashtags, consistent, and stable:
//
//   - U+FF5E FULLWIDTH TILDE becomes U+301C WAVE DASH instead of NFKC's "~",
//     which is not a hashtag character (twitter-text lets both join words;
//     Japanese text uses them interchangeably, so #メ～テレ and #メ〜テレ
//     share a key). U+309B and U+309C, the spacing voiced sound marks,
//     become the combining U+3099 and U+309A instead of NFKC's space plus
//     mark, as their half-width forms already do.
//   - Cherokee folds to upper case, as Unicode's CaseFolding.txt says;
//     x/text's Fold maps upper case to lower case instead (golang/go#46101),
//     which is not idempotent.
//   - NFKC and case folding do not always commute, so the pair is repeated
//     until the result no longer changes (in practice at most once more).
//
// One leading hash sign ('#' or '＃') is stripped, so the {tag} path segment
// of GET /v1/hashtags/{tag} can be passed as is, with or without it.
//
// Normalize does not validate: its result is a key only if IsKey says so.
// It is idempotent, so a key passed through it again is unchanged.
func Normalize(tag string) string {
	if strings.HasPrefix(tag, "#") {
		tag = tag[1:]
	} else if strings.HasPrefix(tag, "＃") {
		tag = tag[len("＃"):]
	}
	k, _ := normalize(tag)
	return k
}

// maxRounds bounds the fixed-point iteration of normalize.
const maxRounds = 4

// normalize returns the key for tag, and false if it did not reach a fixed
// point within maxRounds (never seen; such a key is not used).
func normalize(tag string) (string, bool) {
	if k, ok := asciiKey(tag); ok {
		return k, true
	}
	k := normalizeOnce(tag)
	if k == tag {
		return k, true
	}
	for range maxRounds {
		k2 := normalizeOnce(k)
		if k2 == k {
			return k, true
		}
		k = k2
	}
	return k, false
}

// compatFixes replaces the hashtag joiners whose NFKC form is not made of
// hashtag characters; see Normalize.
var compatFixes = strings.NewReplacer(
	"\uFF5E", "\u301C", // FULLWIDTH TILDE -> WAVE DASH
	"\u309B", "\u3099", // KATAKANA-HIRAGANA VOICED SOUND MARK -> combining
	"\u309C", "\u309A", // KATAKANA-HIRAGANA SEMI-VOICED SOUND MARK -> combining
)

func normalizeOnce(s string) string {
	if strings.ContainsAny(s, "\uFF5E\u309B\u309C") {
		s = compatFixes.Replace(s)
	}
	return foldCherokeeUp(folder.String(norm.NFKC.String(s)))
}

// foldCherokeeUp maps Cherokee small letters (U+AB70–U+ABBF, U+13F8–U+13FD)
// to their capitals (U+13A0–U+13EF, U+13F0–U+13F5), Unicode's case folding
// for Cherokee, undoing x/text's mapping the other way.
func foldCherokeeUp(s string) string {
	// UTF-8 lead bytes: U+13xx is E1 8E/8F, U+ABxx is EA AD/AE.
	if !strings.Contains(s, "\xe1\x8f") && !strings.Contains(s, "\xea\xad") && !strings.Contains(s, "\xea\xae") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xAB70 && r <= 0xABBF:
			return r - 0xAB70 + 0x13A0
		case r >= 0x13F8 && r <= 0x13FD:
			return r - 8
		}
		return r
	}, s)
}

// asciiKey is the fast path for ASCII input, where NFKC is the identity and
// case folding is lower-casing. It allocates only if s has an upper-case
// letter.
func asciiKey(s string) (string, bool) {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return "", false
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if !upper {
		return s, true
	}
	b := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return string(b), true
}

// Keys returns the distinct keys of text's hashtags in order of first
// appearance: what the counting service increments, once per post per key,
// so a tag repeated in a caption is not counted twice.
//
// A hashtag whose normalised form is not itself a hashtag is left out, since
// a key that cannot be typed back as "#"+key would be a count nobody can look
// up or link to. NFKC can do that: "#aͺ" (U+037A, a letter) becomes "a ι" with
// a space, Arabic presentation forms such as U+FC5E expand to a space and
// marks, and U+FDFA to a phrase. So every key k returned satisfies IsKey(k).
func Keys(text string) []string {
	spans := scan(text)
	if len(spans) == 0 {
		return nil
	}
	return keysOf(text, spans, nil)
}

// KeysAndDisplay returns Keys(text) and, for each key, the hashtag as it was
// first written in text (without the hash sign), in one pass: the extractor
// needs both for every post.
func KeysAndDisplay(text string) (keys, display []string) {
	spans := scan(text)
	if len(spans) == 0 {
		return nil, nil
	}
	display = make([]string, 0, len(spans))
	keys = keysOf(text, spans, &display)
	return keys, display
}

// keysOf returns the distinct keys of spans; if display is not nil, it also
// receives each key's first spelling.
func keysOf(text string, spans []tagSpan, display *[]string) []string {
	keys := make([]string, 0, len(spans))
	var seen map[string]struct{}
	for _, s := range spans {
		tag := text[s.body:s.end]
		k, ascii := asciiKey(tag)
		if !ascii {
			// An ASCII tag's key is valid: lower-casing keeps a letter
			// and adds no other character. Others need checking.
			var stable bool
			if k, stable = normalize(tag); !stable || !validKey(k) {
				continue
			}
		}
		// Few tags per caption: a linear scan beats hashing until the
		// list grows.
		if seen == nil && len(keys) >= 16 {
			seen = make(map[string]struct{}, 2*len(keys))
			for _, k := range keys {
				seen[k] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[k]; dup {
				continue
			}
			seen[k] = struct{}{}
		} else if contains(keys, k) {
			continue
		}
		keys = append(keys, k)
		if display != nil {
			*display = append(*display, tag)
		}
	}
	if len(keys) == 0 {
		if display != nil {
			*display = nil
		}
		return nil
	}
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// IsKey reports whether s is a key Keys could return, i.e. whether
// Keys("#"+s) is exactly []string{s}, so that keys arriving on input topics
// or in requests can be rejected before they pollute the counts.
func IsKey(s string) bool {
	if !validKey(s) {
		return false
	}
	k, _ := normalize(s)
	return k == s
}

// validKey reports whether "#"+s is a hashtag whose tag is all of s: s is
// non-empty, made only of hashtag characters, has a letter or mark, and
// does not begin with U+FE0F or U+20E3. Such a string holds no '.', '/', '?'
// or ':', so no URL can cover it.
func validKey(s string) bool {
	if s == "" {
		return false
	}
	end, ok := scanBody(s, 0)
	return ok && end == len(s)
}
