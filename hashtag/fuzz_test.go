package hashtag

import (
	"slices"
	"testing"
)

// FuzzKeys checks that no input panics and that the invariants of
// checkInvariants hold: Extract and ExtractEntities agree, indices lie within
// the text, and every key k from Keys is a fixed point of Normalize with
// Keys("#"+k) == []string{k}. It is seeded with the conformance captions
// when the file is present, the literals below, and testdata/fuzz/FuzzKeys:
// f2544daacf746eb1 is the input the fuzzer found against plain NFKC + Fold
// (Cherokee, golang/go#46101); the named files pin the other normalisation
// and boundary decisions documented in normalize.go, hashtag.go and url.go.
func FuzzKeys(f *testing.F) {
	if cf, err := readConformance(); err == nil {
		for _, text := range conformanceTexts(cf) {
			f.Add(text)
		}
	}
	for _, s := range []string{
		"",
		"#Sunset #SUNSET ＃Ｓｕｎｓｅｔ",
		"#Straße #İstanbul #ΟΔΟΣ #café #cafe\u0301",
		"http://example.com/#anchor example.com/#x #real",
		"it&#39;s ##x #a#b #http://x",
		"#メ～テレ #ハ゛ #aͺ #ﷺ #ᏣᎳᎩ",
		"✌️#peace 👨‍👩‍👧#family #️⃣",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		checkInvariants(t, text)
		if keys, err := Validate(text); err == nil && !slices.Equal(keys, Keys(text)) {
			t.Errorf("Validate keys %+q differ from Keys %+q", keys, Keys(text))
		}
		// IsKey agrees with its definition on arbitrary strings, too.
		if got, want := IsKey(text), slices.Equal(Keys("#"+text), []string{text}); got != want {
			t.Errorf("IsKey(%+q) = %t, but Keys(\"#\"+s) == [s] is %t", text, got, want)
		}
	})
}
