package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --demo seeds a new data dir and one whose seeding was cut short, and
// never one that holds an earlier run's posts, nor one already seeded.
func TestDemoSeedsOnlyANewDataDir(t *testing.T) {
	write := func(dir, name, body string) {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fresh := t.TempDir()
	used := t.TempDir()
	write(used, "kafka/log", "x")
	cut := t.TempDir()
	write(cut, "kafka/log", "x")
	write(cut, DemoMarker, "started\n")
	done := t.TempDir()
	write(done, "kafka/log", "x")
	write(done, DemoMarker, "2026-11-30T10:00:00Z\n")
	for _, c := range []struct {
		name, dir string
		seed      bool
		why       string
	}{{"new", fresh, true, ""}, {"an earlier run's", used, false, "holds an earlier run's data"}, {"cut short", cut, true, ""}, {"seeded", done, false, ""}} {
		seed, why := demoWanted(c.dir)
		if seed != c.seed || (c.why == "") != (why == "") || !strings.Contains(why, c.why) {
			t.Errorf("%s data dir: seed %v (%q), want %v (%q)", c.name, seed, why, c.seed, c.why)
		}
	}
}
