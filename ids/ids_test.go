package ids

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, s := range []string{"a", "alice", "u-42_x", "0", strings.Repeat("z", MaxLen), "ABC"} {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
	}
	for _, s := range []string{"", ".", "..", "a/b", "a b", "a%2F", "a\x00", "é", "a.b", strings.Repeat("z", MaxLen+1), "\u0430lice"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}
