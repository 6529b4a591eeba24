package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tagstream/tagstream/demo"
)

// DemoMarker is the file in a data dir that records the demo's seeding:
// "started" while it runs, then the time it finished. `run --demo` seeds
// a data dir that is new (no broker log before this start), or whose
// seeding was cut short; never one that holds a user's own posts.
const DemoMarker = "demo-seeded"

// demoWanted decides, before the broker starts on data, whether to seed
// the demo, and if not, why (empty when there is nothing to say).
func demoWanted(data string) (bool, string) {
	b, err := os.ReadFile(filepath.Join(data, DemoMarker))
	switch {
	case err == nil && strings.HasPrefix(string(b), "started"):
		return true, "" // cut short: seeded again, which counts nothing twice
	case err == nil:
		return false, "" // seeded on an earlier start
	}
	if _, err := os.Stat(filepath.Join(data, "kafka")); err == nil {
		return false, fmt.Sprintf("not seeding %s: it holds an earlier run's data (give --data a new directory for the demo)", data)
	}
	return true, ""
}

// seedDemo seeds the demo through the API at base and records it in
// data. A seeding cut short (the process stopped) is done again on the
// next start: post ids are fixed and a repeated create or like counts
// nothing (package demo).
func seedDemo(ctx context.Context, out io.Writer, data, base string, secret []byte) error {
	marker := filepath.Join(data, DemoMarker)
	if err := os.WriteFile(marker, []byte("started\n"), 0o600); err != nil {
		return fmt.Errorf("pipeline: demo: %w", err)
	}
	fmt.Fprintf(out, "demo: seeding posts with photos and likes through %s ...\n", base)
	start := time.Now()
	res, err := demo.Seed(ctx, demo.Options{BaseURL: base, Secret: secret})
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		// The server goes on: a demo cut short is no reason to stop it.
		fmt.Fprintf(out, "demo: stopped after %d posts and %d likes: %v\n", res.Posts, res.Likes, err)
		return nil
	}
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600); err != nil {
		return fmt.Errorf("pipeline: demo: %w", err)
	}
	fmt.Fprintf(out, "demo: %d posts and %d likes in %.1f s across %d hashtags; open %s/tags/%s\n",
		res.Posts, res.Likes, time.Since(start).Seconds(), len(res.Tags), base, res.Tags[0])
	return nil
}
