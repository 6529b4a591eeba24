// Command bench runs `make bench`'s pipeline comparison (bench pipeline)
// and its recovery and replay measurements (bench recovery), and is the
// stateless limit's process (bench limit). The Kafka principal
// comes from TAGSTREAM_KAFKA_USER, _PASSWORD and _SASL_MECHANISM, as
// tagstream's own commands read it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/tagstream/tagstream/bench/chart"
	"github.com/tagstream/tagstream/bench/recovery"
	"github.com/tagstream/tagstream/bench/throughput"
	"github.com/tagstream/tagstream/broker"
	"github.com/tagstream/tagstream/kafka"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench pipeline|embedded|recovery|limit|passthrough [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "pipeline":
		err = pipeline(ctx, os.Args[2:])
	case "limit":
		err = limit(ctx, os.Args[2:])
	case "embedded":
		err = embedded(ctx, os.Args[2:])
	case "passthrough":
		err = passthrough(ctx, os.Args[2:])
	case "recovery":
		err = recovery.Command(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q: pipeline, embedded, recovery, limit or passthrough", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func cluster(brokers string, partitions int) kafka.Cluster {
	return kafka.Cluster{Brokers: strings.Split(brokers, ","), Partitions: partitions, SASL: kafka.SASL{
		User: os.Getenv("TAGSTREAM_KAFKA_USER"), Password: os.Getenv("TAGSTREAM_KAFKA_PASSWORD"),
		Mechanism: os.Getenv("TAGSTREAM_KAFKA_SASL_MECHANISM"),
	}}
}

func limit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("limit", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	group := fs.String("group", "bench-limit", "consumer group")
	in := fs.String("in", "posts", "topic read")
	out := fs.String("out", "bench-out", "topic written")
	fs.Parse(args)
	return throughput.Limit(ctx, cluster(*brokers, 0), *group, *in, *out)
}

// passthrough is the in-process pass-through of bench embedded: an
// embedded broker (tagstream run's) and the limit's consumer in one
// process. It creates posts and bench-out, then runs until stopped.
func passthrough(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("passthrough", flag.ExitOnError)
	data := fs.String("data", "", "directory of the broker's data (required)")
	listen := fs.String("listen", "127.0.0.1:9092", "address the broker listens on")
	partitions := fs.Int("partitions", 12, "partitions of posts and bench-out")
	fs.Parse(args)
	if *data == "" {
		return fmt.Errorf("passthrough: --data is required")
	}
	b, err := broker.Start(*data, *listen)
	if err != nil {
		return err
	}
	defer b.Close()
	c := kafka.Cluster{Brokers: []string{b.Addr()}, Partitions: *partitions}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.EnsureTopics(tctx, []kafka.TopicSpec{{Name: "posts", Retention: -1}, {Name: "bench-out", Retention: -1}}); err != nil {
		return err
	}
	return throughput.Limit(ctx, c, "passthrough", "posts", "bench-out")
}

// embedded is bench embedded: `tagstream run` against the in-process
// pass-through, each on its own embedded broker.
func embedded(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("embedded", flag.ExitOnError)
	partitions := fs.Int("partitions", 12, "partitions of posts and every topic")
	posts := fs.Int("posts", 200_000, "posts created in the log (plus 10 % edits, 5 % deletes, 0.1 % invalid records)")
	seed := fs.Int64("seed", 1, "seed of the log")
	rounds := fs.Int("rounds", 3, "rounds; each runs every system once, the order reversed on even rounds")
	tagstream := fs.String("tagstream", "bin/tagstream", "the tagstream binary")
	out := fs.String("out", "bench/results", "directory of the results (JSON, Markdown, PNG)")
	work := fs.String("work", "", "directory of each round's data and process logs (empty: a temporary one, removed after)")
	commit := fs.String("commit", "", "the checkout's commit, recorded with the results")
	timeout := fs.Duration("timeout", 20*time.Minute, "bound on one system's round")
	fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tagstream-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	systems := throughput.EmbeddedSystems(*tagstream, []string{self}, *partitions)
	w := throughput.Workload{Posts: *posts, Seed: *seed}
	l, runs, err := throughput.CompareEmbedded(ctx, throughput.Options{Workload: w, Rounds: *rounds, Dir: dir, Timeout: *timeout, Log: os.Stdout}, systems)
	if err != nil {
		return err
	}
	var as []throughput.System
	for _, s := range systems {
		as = append(as, throughput.System{Name: s.Name, Label: s.Label})
	}
	res := throughput.Summarise(throughput.ThisMachine(*commit), w, l, as, runs)
	return write(*out, "embedded", "Embedded pipeline: tagstream run against an in-process pass-through", res)
}

func pipeline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	partitions := fs.Int("partitions", 12, "partitions of posts and every topic the systems create")
	posts := fs.Int("posts", 200_000, "posts created in the log (plus 10 % edits, 5 % deletes, 0.1 % invalid records)")
	seed := fs.Int64("seed", 1, "seed of the log")
	rounds := fs.Int("rounds", 3, "rounds; each runs every system once, the order reversed on even rounds")
	systems := fs.String("systems", "", "comma-separated subset of the systems by name (empty: all)")
	tagstream := fs.String("tagstream", "bin/tagstream", "the tagstream binary")
	workerArgs := fs.String("worker-args", "", "space-separated arguments added to tagstream worker's (e.g. --pprof 127.0.0.1:6061)")
	kstreams := fs.String("kstreams", "bench/kstreams/run.sh", "the Kafka Streams application's launcher")
	out := fs.String("out", "bench/results", "directory of the results (JSON, Markdown, PNG)")
	work := fs.String("work", "", "directory of each round's state and process logs (empty: a temporary one, removed after)")
	commit := fs.String("commit", "", "the checkout's commit, recorded with the results")
	timeout := fs.Duration("timeout", 20*time.Minute, "bound on one system's round")
	fs.Parse(args)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := cluster(*brokers, *partitions)
	all := throughput.Standard(throughput.Binaries{Tagstream: *tagstream, KStreams: *kstreams, Limit: []string{self},
		WorkerArgs: strings.Fields(*workerArgs)}, c)
	chosen := all
	if *systems != "" {
		chosen = nil
		for _, name := range strings.Split(*systems, ",") {
			found := false
			for _, s := range all {
				if s.Name == name {
					chosen, found = append(chosen, s), true
				}
			}
			if !found {
				return fmt.Errorf("no system %q", name)
			}
		}
	}
	dir := *work
	if dir == "" {
		if dir, err = os.MkdirTemp("", "tagstream-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	w := throughput.Workload{Posts: *posts, Seed: *seed}
	l, runs, err := throughput.Compare(ctx, throughput.Options{Cluster: c, Workload: w, Rounds: *rounds,
		Systems: chosen, Dir: dir, Timeout: *timeout, Log: os.Stdout})
	if err != nil {
		return err
	}
	res := throughput.Summarise(throughput.ThisMachine(*commit), w, l, chosen, runs)
	return write(*out, "pipeline", "Pipeline throughput", res)
}

// write stores res as <name>-<time>.{json,md} and <name>-latest.{json,md,png}
// under dir, and prints the Markdown.
func write(dir, name, title string, res *throughput.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	md := "# " + title + " (make bench)\n\n" + res.Markdown()
	stamp := time.Now().UTC().Format("20060102T150405Z")
	for _, f := range []struct {
		name string
		data []byte
	}{
		{name + "-" + stamp + ".json", js}, {name + "-latest.json", js},
		{name + "-" + stamp + ".md", []byte(md)}, {name + "-latest.md", []byte(md)},
	} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	fmt.Print("\n" + md)
	png, err := os.Create(filepath.Join(dir, name+"-latest.png"))
	if err != nil {
		return err
	}
	defer png.Close()
	var posts, cpu []chart.Bar
	for _, s := range res.Summaries {
		ours := strings.HasPrefix(s.System, "tagstream") || s.System == "run"
		posts = append(posts, chart.Bar{Label: s.System, Median: s.PostsPerSec.Median, Min: s.PostsPerSec.Min, Max: s.PostsPerSec.Max, Highlight: ours})
		cpu = append(cpu, chart.Bar{Label: s.System, Median: s.CPUSeconds.Median, Min: s.CPUSeconds.Min, Max: s.CPUSeconds.Max, Highlight: ours,
			ValueFormatter: func(v float64) string { return fmt.Sprintf("%.1f s", v) }})
	}
	note := fmt.Sprintf("%d posts, seed %d, %d rounds; %d cores, %s; %s", res.Workload.Posts, res.Workload.Seed,
		len(res.Runs)/max(1, len(res.Summaries)), res.Machine.Cores, res.Machine.Measured[:10], res.Machine.Commit)
	if err := chart.Draw(png, title+": posts/s (more is better) and CPU seconds (less is better)", note,
		[]chart.Panel{{Title: "posts/s, median and min-max", Bars: posts}, {Title: "CPU seconds", Bars: cpu}}); err != nil {
		return err
	}
	return png.Close()
}
