package hashtag

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkInvariants verifies the properties every caption must satisfy:
// extraction forms agree, indices are sane, and every key is a fixed point
// that round-trips through Keys("#"+key).
func checkInvariants(t *testing.T, text string) {
	t.Helper()
	tags := Extract(text)
	ents := ExtractEntities(text)
	keys := Keys(text)

	if len(tags) != len(ents) {
		t.Fatalf("%+q: Extract gave %d tags, ExtractEntities %d", text, len(tags), len(ents))
	}
	runes := []rune(text) // invalid bytes become U+FFFD, one code point each
	if len(runes) != utf8.RuneCountInString(text) {
		t.Fatalf("rune count mismatch")
	}
	prevEnd := 0
	for i, e := range ents {
		if e.Tag != tags[i] {
			t.Errorf("%+q: entity %d is %+q, Extract says %+q", text, i, e.Tag, tags[i])
		}
		if e.Start < prevEnd || e.End <= e.Start || e.End > len(runes) {
			t.Fatalf("%+q: entity %d indices [%d,%d) out of order or range (len %d)", text, i, e.Start, e.End, len(runes))
		}
		if h := runes[e.Start]; h != '#' && h != '＃' {
			t.Errorf("%+q: entity %d starts at %q, not a hash sign", text, i, h)
		}
		if got := string(runes[e.Start+1 : e.End]); got != e.Tag {
			t.Errorf("%+q: entity %d indices cover %+q, tag is %+q", text, i, got, e.Tag)
		}
		prevEnd = e.End
	}

	if len(keys) > len(tags) {
		t.Errorf("%+q: %d keys from %d tags", text, len(keys), len(tags))
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("%+q: key %+q repeated", text, k)
		}
		seen[k] = true
		if n := Normalize(k); n != k {
			t.Errorf("%+q: key %+q is not a fixed point: Normalize gives %+q", text, k, n)
		}
		if !IsKey(k) {
			t.Errorf("%+q: key %+q fails IsKey", text, k)
		}
		if rt := Keys("#" + k); !slices.Equal(rt, []string{k}) {
			t.Errorf("%+q: key %+q does not round-trip: Keys(\"#\"+key) = %+q", text, k, rt)
		}
	}
	// Every key comes from a tag, in order of first appearance.
	var want []string
	for _, tag := range tags {
		k := Normalize(tag)
		if IsKey(k) && !slices.Contains(want, k) {
			want = append(want, k)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("%+q: Keys = %+q, want %+q from the tags", text, keys, want)
	}
}

func TestConformanceInvariants(t *testing.T) {
	f := loadConformance(t)
	for _, text := range conformanceTexts(f) {
		checkInvariants(t, text)
	}
}

// TestEveryHashtagCodePoint checks, for every code point that can appear in
// a hashtag, that normalising a tag made of it reaches a fixed point, and
// pins the few whose NFKC form is not a hashtag (Keys drops such tags). A
// failure after a Go or x/text upgrade means the Unicode tables changed:
// review the new code points and update the list.
func TestEveryHashtagCodePoint(t *testing.T) {
	wantDropped := []rune{
		0x037A,                                         // GREEK YPOGEGRAMMENI: space + mark
		0xFC5E, 0xFC5F, 0xFC60, 0xFC61, 0xFC62, 0xFC63, // Arabic ligatures: space + marks
		0xFDFA, 0xFDFB, // Arabic ligatures: phrases with spaces
		0xFE70, 0xFE72, 0xFE74, 0xFE76, 0xFE78, 0xFE7A, 0xFE7C, 0xFE7E, // isolated harakat: space + mark
	}
	var dropped []rune
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || !isAlnum(r) {
			continue
		}
		for _, tag := range []string{"a" + string(r), string(r) + "a"} {
			k, stable := normalize(tag)
			if !stable {
				t.Errorf("%U: normalize(%+q) did not reach a fixed point", r, tag)
				continue
			}
			if k2, _ := normalize(k); k2 != k {
				t.Errorf("%U: normalize not idempotent: %+q -> %+q -> %+q", r, tag, k, k2)
			}
			// A tag may not start with U+FE0F or U+20E3; only the "a"+r
			// form says whether r itself survives normalisation.
			if !validKey(k) && tag[0] == 'a' {
				dropped = append(dropped, r)
			}
		}
	}
	if !slices.Equal(dropped, wantDropped) {
		t.Errorf("code points whose key is dropped:\n got  %U\n want %U", dropped, wantDropped)
	}
}

func TestExtractEdgeCases(t *testing.T) {
	for _, text := range []string{
		"", "#", "＃", "##", "#\xff", "\xff#a", "#a\xff", "#a\u0301", "\u0301#a",
		"#a\uFE0F#b", "\uFE0F#a", "#\uFE0Fa", "#\u20E3a", "a&#b", "＃＃a", "#a://", "#a＃",
		"http://", "http:///#a", "a.com/#", "a.com/(#b)", "a.com/((#b))", "x.com/(a(b)c)#d",
		"\xef", "\xef\xbc", "#\xef\xbc", "\xef\xbc\x83a",
	} {
		checkInvariants(t, text)
	}
	if got := Extract("#a\uFE0F#b"); got != nil {
		// twitter-text: "#a\uFE0F" is discarded (followed by '#') and
		// consumes the U+FE0F that "#b" would need as its boundary.
		t.Errorf("Extract(#a FE0F #b) = %+q, want none", got)
	}
	if got := Extract("\uFE0F#a"); !slices.Equal(got, []string{"a"}) {
		t.Errorf("Extract(FE0F #a) = %+q, want [a]", got)
	}
}

// KeysAndDisplay is Keys plus each key's first spelling.
func TestKeysAndDisplay(t *testing.T) {
	for _, c := range []struct{ text, keys, display string }{
		{"Golden #Sunset at the #beach #SUNSET #Beach", "sunset beach", "Sunset beach"},
		{"＃Ｔｏｋｙｏ #tokyo", "tokyo", "Ｔｏｋｙｏ"},
		{"no tags", "", ""},
	} {
		keys, display := KeysAndDisplay(c.text)
		if strings.Join(keys, " ") != c.keys || strings.Join(display, " ") != c.display {
			t.Errorf("%q: keys %q display %q, want %q %q", c.text, keys, display, c.keys, c.display)
		}
		if got := Keys(c.text); strings.Join(got, " ") != c.keys {
			t.Errorf("%q: Keys %q disagrees", c.text, got)
		}
	}
}
