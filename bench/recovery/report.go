package recovery

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/tagstream/tagstream/bench/harness"
)

// Markdown is the result as a table, one row per measurement, and the
// rows' notes under it.
func (r *Result) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s on %d cores%s; load generator seed %d.\n\n", r.Measured.Format(time.RFC3339), r.Cores, commit(r.Commit), r.Seed)
	b.WriteString("| what | size | seconds | records/s | bare-read seconds | ratio | peak RSS MiB | CPU s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for i, row := range r.Rows {
		fmt.Fprintf(&b, "| %s [%d] | %s %s | %.2f | %s | %.2f | %.1f× | %.0f | %.1f |\n", row.What, i+1, group(int64(row.Size)), row.Unit,
			row.Seconds, group(int64(row.RecordsPerSecond)), row.BareSeconds, row.Ratio, row.PeakRSSMiB, row.CPUSeconds)
	}
	b.WriteString("\n")
	for i, row := range r.Rows {
		fmt.Fprintf(&b, "[%d] %s records read; %s. Producing the topic took %.1f s.\n", i+1, group(row.Records), row.Note, row.Preload)
	}
	return b.String()
}

func commit(c string) string {
	if c == "" {
		return ""
	}
	return ", commit " + c
}

// group writes n with thousands separators.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// Command is `bench recovery [flags]`: flags to Options, Run, the table
// on stdout and recovery-<time>.{json,md} and recovery-latest.{json,md}
// under --out. The Kafka principal and TLS come from the environment
// (harness.ClusterFromEnv), as tagstream's own commands read them.
func Command(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("recovery", flag.ContinueOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	partitions := fs.Int("partitions", 12, "partitions of every topic")
	tables := fs.String("tables", "1000000,10000000", "row counts of the counts tables the API recovers, comma-separated (empty: no API measurement)")
	posts := fs.Int("posts", 100_000, "posts the worker processes before its restarts, and the replay reads (0: neither)")
	seed := fs.Int64("seed", 1, "seed of the load generator")
	noReplay := fs.Bool("no-replay", false, "skip the replay")
	tagstream := fs.String("tagstream", "bin/tagstream", "the tagstream binary")
	out := fs.String("out", "bench/results", "directory of the results (JSON, Markdown)")
	work := fs.String("work", "", "directory of the process logs and state (empty: a temporary one, removed after)")
	commitID := fs.String("commit", "", "the checkout's commit, recorded with the results")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound on each wait (readiness, processing, a restart, the replay)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(*tables, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < 1 {
			return fmt.Errorf("--tables: %q is not a row count", f)
		}
		sizes = append(sizes, n)
	}
	dir := *work
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tagstream-recovery-"); err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	c, err := harness.ClusterFromEnv(strings.Split(*brokers, ","), *partitions)
	if err != nil {
		return err
	}
	res, err := Run(ctx, Options{Cluster: c, Tagstream: *tagstream, Tables: sizes, Posts: *posts, Seed: *seed,
		NoReplay: *noReplay, Dir: dir, Timeout: *timeout, Log: os.Stderr})
	if res != nil && len(res.Rows) > 0 {
		res.Cores, res.Commit = runtime.NumCPU(), *commitID
		if werr := Write(*out, res); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// Write stores res as recovery-<time>.{json,md} and
// recovery-latest.{json,md} under dir, and prints the Markdown.
func Write(dir string, res *Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("recovery: %w", err)
	}
	md := "# Recovery and replay (bench recovery)\n\n" + res.Markdown()
	stamp := res.Measured.Format("20060102T150405Z")
	for name, data := range map[string][]byte{
		"recovery-" + stamp + ".json": js, "recovery-latest.json": js,
		"recovery-" + stamp + ".md": []byte(md), "recovery-latest.md": []byte(md),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
	}
	fmt.Print("\n" + md)
	return nil
}
