// Package ids holds the one rule for the identifiers tagstream takes from
// outside: user ids (a token's subject, a posts record's user_id, the
// prefix of every object key), post ids and image ids.
//
// An id is 1 to MaxLen characters of A-Z a-z 0-9 '_' '-'. It is never
// "." or "..", never holds '/', '%', NUL or white space, so it is safe as a
// path segment, an object-key segment, a Kafka key part ("user/post"), a
// CQL value and a URL segment without escaping, and it cannot be two ids
// that look alike (no Unicode, no case folding games beyond ASCII case,
// which is significant).
package ids

import "fmt"

// MaxLen is the longest id.
const MaxLen = 64

// Valid reports whether s is an id.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Rule is the rule in words, for error messages.
const Rule = "1-64 characters of A-Z a-z 0-9 _ -"

// Check returns an error naming what if s is not an id.
func Check(what, s string) error {
	if Valid(s) {
		return nil
	}
	if s == "" {
		return fmt.Errorf("%s is missing", what)
	}
	return fmt.Errorf("%s must be %s", what, Rule)
}
