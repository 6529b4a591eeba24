package hashtag

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// Data-driven tests in the style of Pebble's (cockroachdb/datadriven), with
// a small parser instead of the dependency. A file under testdata/ holds
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

var rewrite = flag.Bool("rewrite", false, "rewrite expected output of testdata files")

type ddCase struct {
	pos      string // file:line of the command
	cmd      string
	input    []string
	expected []string
	// line indices in the file, for rewriting
	expStart, expEnd int
}

func parseDataDriven(t *testing.T, path string) ([]ddCase, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var cases []ddCase
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "# ") || l == "#" {
			i++
			continue
		}
		c := ddCase{pos: fmt.Sprintf("%s:%d", filepath.Base(path), i+1), cmd: strings.TrimSpace(l)}
		i++
		for i < len(lines) && lines[i] != "----" {
			c.input = append(c.input, lines[i])
			i++
		}
		if i == len(lines) {
			t.Fatalf("%s: missing ----", c.pos)
		}
		i++
		c.expStart = i
		for i < len(lines) && lines[i] != "" {
			c.expected = append(c.expected, lines[i])
			i++
		}
		c.expEnd = i
		cases = append(cases, c)
	}
	return cases, lines
}

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

func runCase(t *testing.T, c ddCase) []string {
	var in []string
	for _, l := range c.input {
		in = append(in, unquoteLine(t, c.pos, l))
	}
	caption := strings.Join(in, "\n")
	var out []string
	switch c.cmd {
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
		t.Fatalf("%s: unknown command %q", c.pos, c.cmd)
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
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt files")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cases, lines := parseDataDriven(t, path)
			var rewritten []string
			last := 0
			for _, c := range cases {
				got := runCase(t, c)
				if *rewrite {
					rewritten = append(rewritten, lines[last:c.expStart]...)
					rewritten = append(rewritten, got...)
					last = c.expEnd
					continue
				}
				if strings.Join(got, "\n") != strings.Join(c.expected, "\n") {
					t.Errorf("%s: %s %q\n got:\n  %s\n want:\n  %s", c.pos, c.cmd, strings.Join(c.input, "\n"),
						strings.Join(got, "\n  "), strings.Join(c.expected, "\n  "))
				}
			}
			if *rewrite {
				rewritten = append(rewritten, lines[last:]...)
				if err := os.WriteFile(path, []byte(strings.Join(rewritten, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
