package hashtag

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/tagstream/tagstream/datadriven"
)

// Data-driven tests (package datadriven). A file under testdata/ holds
// cases of the form
//
//	# comment (only before a command)
//	command
//	input line(s)
//	----
//	expected line(s)
//	<blank line>
//
// An input line that starts with '"' is a Go string literal, for captions
// with invisible or decomposed characters. Expected strings are printed with
// quote, which escapes marks and non-printing code points so that, for
// example, precomposed and decomposed "é" look different.
//
// Commands:
//
//	keys      the input (lines joined by "\n") is a caption; one key a line
//	extract   likewise, the hashtags as written
//	entities  likewise, `"tag" start end` a line
//	normalize each input line is a tag; its Normalize'd form a line
//	iskey     each input line is a candidate key; `"s" true|false` a line
//
// An empty result prints as "(none)". Run with -rewrite to regenerate the
// expected output after a deliberate change, then review the diff.

func unquoteLine(t *testing.T, pos, l string) string {
	if !strings.HasPrefix(l, `"`) {
		return l
	}
	s, err := strconv.Unquote(l)
	if err != nil {
		t.Fatalf("%s: bad quoted input %s: %v", pos, l, err)
	}
	return s
}

func runCase(t *testing.T, c datadriven.Case) []string {
	var in []string
	for _, l := range c.Input {
		in = append(in, unquoteLine(t, c.Pos, l))
	}
	caption := strings.Join(in, "\n")
	var out []string
	switch c.Cmd {
	case "keys":
		for _, k := range Keys(caption) {
			out = append(out, quote(k))
		}
	case "extract":
		for _, k := range Extract(caption) {
			out = append(out, quote(k))
		}
	case "entities":
		for _, e := range ExtractEntities(caption) {
			out = append(out, fmt.Sprintf("%s %d %d", quote(e.Tag), e.Start, e.End))
		}
	case "normalize":
		for _, s := range in {
			out = append(out, quote(Normalize(s)))
		}
	case "iskey":
		for _, s := range in {
			out = append(out, fmt.Sprintf("%s %t", quote(s), IsKey(s)))
		}
	default:
		t.Fatalf("%s: unknown command %q", c.Pos, c.Cmd)
	}
	if len(out) == 0 {
		out = []string{"(none)"}
	}
	return out
}

// quote is strconv.Quote that also escapes combining marks, so that
// decomposed text is visible in expected output.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case strconv.IsPrint(r) && !unicode.IsMark(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, filepath.Join("testdata", "*.txt"), runCase)
}
