package hashtag

import (
	"testing"
	"unicode/utf8"
)

// Invariant behind MaxKeyBytes: no character of a tag becomes more than
// MaxKeyBytesPerRune bytes of its key. Checked over every code point, so a
// Unicode update of x/text that adds a longer expansion fails here.
func TestKeyExpansionBound(t *testing.T) {
	worst, which := 0, rune(0)
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) || !validKey("a"+string(r)) {
			continue
		}
		k, _ := normalize("a" + string(r))
		if n := len(k) - 1; n > worst {
			worst, which = n, r
		}
	}
	if worst != MaxKeyBytesPerRune {
		t.Fatalf("the longest expansion is %d bytes (U+%04X), MaxKeyBytesPerRune is %d", worst, which, MaxKeyBytesPerRune)
	}
}
