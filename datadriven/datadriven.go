// Package datadriven runs data-driven tests in the style of Pebble's
// (cockroachdb/datadriven), with a small parser instead of the
// dependency. A file holds cases of the form
//
//	# comment (only before a command)
//	command
//	input line(s)
//	----
//	expected line(s)
//	<blank line>
//
// and a test gives Walk the function that runs one case. Run the test
// with -rewrite to regenerate the expected output after a deliberate
// change, then review the diff.
package datadriven

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite expected output of testdata files")

// Case is one command of a file, with its input and expected output.
type Case struct {
	Pos      string // file:line of the command
	Cmd      string
	Input    []string
	Expected []string
	// line indices of the expected output in the file, for rewriting
	expStart, expEnd int
}

// Parse reads the cases of the file at path, and its lines.
func Parse(t testing.TB, path string) ([]Case, []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var cases []Case
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "# ") || l == "#" {
			i++
			continue
		}
		c := Case{Pos: fmt.Sprintf("%s:%d", filepath.Base(path), i+1), Cmd: strings.TrimSpace(l)}
		for i++; i < len(lines) && lines[i] != "----"; i++ {
			c.Input = append(c.Input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s: missing ----", c.Pos)
		}
		i++
		c.expStart = i
		for i < len(lines) && lines[i] != "" {
			c.Expected = append(c.Expected, lines[i])
			i++
		}
		c.expEnd = i
		cases = append(cases, c)
	}
	return cases, lines
}

// Walk runs every case of every file glob matches (at least one) through
// run, in a subtest per file, and fails a case whose output differs from
// its expected lines; with -rewrite it writes the outputs in their place.
func Walk(t *testing.T, glob string, run func(t *testing.T, c Case) []string) {
	files, err := filepath.Glob(glob)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no files match %s", glob)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cases, lines := Parse(t, path)
			var rewritten []string
			last := 0
			for _, c := range cases {
				got := run(t, c)
				if *rewrite {
					rewritten = append(rewritten, lines[last:c.expStart]...)
					rewritten = append(rewritten, got...)
					last = c.expEnd
					continue
				}
				if strings.Join(got, "\n") != strings.Join(c.Expected, "\n") {
					t.Errorf("%s: %s %q\n got:\n  %s\n want:\n  %s", c.Pos, c.Cmd, strings.Join(c.Input, "\n"),
						strings.Join(got, "\n  "), strings.Join(c.Expected, "\n  "))
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
