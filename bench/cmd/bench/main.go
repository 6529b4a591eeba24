// Command bench runs `make bench`'s pipeline comparison (bench pipeline)
// and its recovery and replay measurements (bench recovery), and is the
// stateless limit's process (bench limit). The Kafka principal and TLS
// come from TAGSTREAM_KAFKA_USER, _PASSWORD, _SASL_MECHANISM, _TLS, _CA,
// _CERT and _KEY, as tagstream's own commands read them.
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
	"github.com/tagstream/tagstream/bench/harness"
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

func cluster(brokers string, partitions int) (kafka.Cluster, error) {
	return harness.ClusterFromEnv(strings.Split(brokers, ","), partitions)
}

func limit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("limit", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	group := fs.String("group", "bench-limit", "consumer group")
	in := fs.String("in", "posts", "topic read")
	out := fs.String("out", "bench-out", "topic written")
	fs.Parse(args)
	cl, err := cluster(*brokers, 0)
	if err != nil {
		return err
	}
	return throughput.Limit(ctx, cl, *group, *in, *out)
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

// comparison holds the flags bench pipeline and bench embedded share.
type comparison struct {
	partitions, posts, rounds int
	seed                      int64
	tagstream, out, work      string
	commit                    string
	timeout                   time.Duration
}

func comparisonFlags(fs *flag.FlagSet) *comparison {
	c := &comparison{}
	fs.IntVar(&c.partitions, "partitions", 12, "partitions of posts and every topic the systems create")
	fs.IntVar(&c.posts, "posts", 200_000, "posts created in the log (plus 10 % edits, 5 % deletes, 0.1 % invalid records)")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the log")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; each runs every system once, the order reversed on even rounds")
	fs.StringVar(&c.tagstream, "tagstream", "bin/tagstream", "the tagstream binary")
	fs.StringVar(&c.out, "out", "bench/results", "directory of the results (JSON, Markdown, PNG)")
	fs.StringVar(&c.work, "work", "", "directory of each round's state and process logs (empty: a temporary one, removed after)")
	fs.StringVar(&c.commit, "commit", "", "the checkout's commit, recorded with the results")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Minute, "bound on one system's round")
	return c
}

// options returns the comparison's options and its work directory's
// cleanup (a temporary one is removed).
func (c *comparison) options() (throughput.Options, func(), error) {
	o := throughput.Options{Workload: throughput.Workload{Posts: c.posts, Seed: c.seed}, Rounds: c.rounds,
		Dir: c.work, Timeout: c.timeout, Log: os.Stdout}
	if o.Dir != "" {
		return o, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "tagstream-bench-")
	if err != nil {
		return o, nil, err
	}
	o.Dir = dir
	return o, func() { os.RemoveAll(dir) }, nil
}

// embedded is bench embedded: `tagstream run` against the in-process
// pass-through, each on its own embedded broker.
func embedded(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("embedded", flag.ExitOnError)
	c := comparisonFlags(fs)
	fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o, cleanup, err := c.options()
	if err != nil {
		return err
	}
	defer cleanup()
	systems := throughput.EmbeddedSystems(c.tagstream, []string{self}, c.partitions)
	l, runs, err := throughput.CompareEmbedded(ctx, o, systems)
	if err != nil {
		return err
	}
	var as []throughput.System
	for _, s := range systems {
		as = append(as, throughput.System{Name: s.Name, Label: s.Label})
	}
	res := throughput.Summarise(throughput.ThisMachine(c.commit), o.Workload, l, as, runs)
	return write(c.out, "embedded", "Embedded pipeline: tagstream run against an in-process pass-through", res)
}

func pipeline(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("pipeline", flag.ExitOnError)
	c := comparisonFlags(fs)
	brokers := fs.String("brokers", "127.0.0.1:9092", "Kafka bootstrap servers")
	systems := fs.String("systems", "", "comma-separated subset of the systems by name (empty: all)")
	workerArgs := fs.String("worker-args", "", "space-separated arguments added to tagstream worker's (e.g. --pprof 127.0.0.1:6061)")
	kstreams := fs.String("kstreams", "bench/kstreams/run.sh", "the Kafka Streams application's launcher")
	fs.Parse(args)

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cl, err := cluster(*brokers, c.partitions)
	if err != nil {
		return err
	}
	all := throughput.Standard(throughput.Binaries{Tagstream: c.tagstream, KStreams: *kstreams, Limit: []string{self},
		WorkerArgs: strings.Fields(*workerArgs)}, cl)
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
	o, cleanup, err := c.options()
	if err != nil {
		return err
	}
	defer cleanup()
	o.Cluster, o.Systems = cl, chosen
	l, runs, err := throughput.Compare(ctx, o)
	if err != nil {
		return err
	}
	res := throughput.Summarise(throughput.ThisMachine(c.commit), o.Workload, l, chosen, runs)
	return write(c.out, "pipeline", "Pipeline throughput", res)
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
