package throughput

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tagstream/tagstream/bench/harness"
	"github.com/tagstream/tagstream/kafka"
	"github.com/tagstream/tagstream/topology"
)

// System is one side of the comparison: a process that reads the posts
// topic of its round's namespace and writes its output topic.
type System struct {
	// Name is short and stable ("tagstream-eo"): results are keyed by it.
	Name string
	// Label says what it is, for the table.
	Label string
	// Output is how its output topic is read.
	Output Output
	// Topics lists the topics of namespace ns to create before the log
	// is loaded (posts among them); OutputTopic names the one read.
	Topics      func(ns topology.Namespace) []kafka.TopicSpec
	OutputTopic func(ns topology.Namespace) string
	// Command is the process of a round: ns its namespace, dir a fresh
	// directory of its own (state). Its environment gets the cluster's
	// principal as TAGSTREAM_KAFKA_* (harness.Env).
	Command func(ns topology.Namespace, dir string) *exec.Cmd
}

// Options configures a comparison.
type Options struct {
	// Cluster is the real Kafka every system runs on, as its admin.
	Cluster  kafka.Cluster
	Workload Workload
	// Rounds: each runs every system once, in Systems' order on odd
	// rounds and the reverse on even ones, so a drift of the machine
	// weighs on all alike. Default 3.
	Rounds  int
	Systems []System
	// Dir holds each round's state and process logs.
	Dir string
	// Timeout bounds one system's round. Default 20 minutes.
	Timeout time.Duration
	// Log receives progress lines.
	Log io.Writer
}

// Run is one system's round.
type Run struct {
	System string `json:"system"`
	Round  int    `json:"round"`
	// Seconds from the process start until the output was complete.
	Seconds float64 `json:"seconds"`
	// PostsPerSecond counts every record of the log (creates, edits,
	// deletes and the invalid ones); HashtagEventsPerSecond the log's
	// count changes (for the limit: the records it produced).
	PostsPerSecond         float64 `json:"posts_per_second"`
	HashtagEventsPerSecond float64 `json:"hashtag_events_per_second"`
	// CPUSeconds (user + system) and PeakRSSMiB (VmHWM) of the process,
	// read from /proc when the output was complete: the cost of the work,
	// without the shutdown.
	CPUSeconds float64 `json:"cpu_seconds"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	// Preload is how long loading the log onto the fresh posts topic took.
	Preload float64 `json:"preload_seconds"`
}

// Compare runs every system over the workload's log for o.Rounds rounds.
func Compare(ctx context.Context, o Options) (*Log, []Run, error) {
	return inRounds(ctx, o, o.Systems, func(s System) string { return s.Name }, runOne)
}

// inRounds generates the workload's log and runs each of systems over it
// once per round, in their order on odd rounds and the reverse on even
// ones, logging each run.
func inRounds[S any](ctx context.Context, o Options, systems []S, name func(S) string,
	run func(ctx context.Context, o Options, l *Log, s S, round int) (Run, error)) (*Log, []Run, error) {
	if o.Rounds <= 0 {
		o.Rounds = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	l := Generate(o.Workload)
	fmt.Fprintf(o.Log, "log: %d records (%d valid), %d hashtag events, %d hashtags\n", len(l.Records), l.Valid, l.HashtagEvents, len(l.Counts))
	var runs []Run
	for round := 1; round <= o.Rounds; round++ {
		order := slices.Clone(systems)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			r, err := run(ctx, o, l, s, round)
			if err != nil {
				return l, runs, fmt.Errorf("round %d, %s: %w", round, name(s), err)
			}
			fmt.Fprintf(o.Log, "round %d %-20s %8.0f posts/s %9.0f hashtag events/s %6.1f CPU s %5.0f MiB (%.1f s; loading the log took %.1f s)\n",
				round, name(s), r.PostsPerSecond, r.HashtagEventsPerSecond, r.CPUSeconds, r.PeakRSSMiB, r.Seconds, r.Preload)
			runs = append(runs, r)
		}
	}
	return l, runs, nil
}

// done completes r with what a run measured: its time, CPU and memory,
// and the rates over the log (for an output of Records, the records the
// limit writes).
func (r *Run) done(l *Log, out Output, elapsed time.Duration, cpu, rss float64) {
	r.Seconds, r.CPUSeconds, r.PeakRSSMiB = elapsed.Seconds(), cpu, rss
	r.PostsPerSecond = float64(len(l.Records)) / r.Seconds
	events := l.HashtagEvents
	if out == Records {
		events = l.LimitRecords
	}
	r.HashtagEventsPerSecond = float64(events) / r.Seconds
}

func runOne(ctx context.Context, o Options, l *Log, s System, round int) (Run, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ns := topology.Namespace(fmt.Sprintf("bench%x-%s-", rand.Uint32(), s.Name))
	defer func() {
		// A fresh namespace per round: nothing of one system's round is
		// left to weigh on the next.
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer dcancel()
		if err := o.Cluster.DeletePrefixed(dctx, string(ns)); err != nil {
			fmt.Fprintf(o.Log, "delete %s: %v\n", ns, err)
		}
	}()
	if err := o.Cluster.EnsureTopics(ctx, s.Topics(ns)); err != nil {
		return Run{}, err
	}
	start := time.Now()
	if err := preload(ctx, o.Cluster, ns.Posts(), l.Records); err != nil {
		return Run{}, err
	}
	run := Run{System: s.Name, Round: round, Preload: time.Since(start).Seconds()}

	dir := filepath.Join(o.Dir, fmt.Sprintf("round%d-%s", round, s.Name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return run, err
	}
	logPath := filepath.Join(dir, "process.log")

	w := newWatcher(s.Output, l)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watched := make(chan error, 1)
	go func() { watched <- w.run(watchCtx, o.Cluster, s.OutputTopic(ns)) }()

	p, err := harness.StartCmd(o.Cluster, logPath, s.Command(ns, filepath.Join(dir, "state")))
	if err != nil {
		return run, err
	}
	start = p.Start

	select {
	case err := <-watched:
		elapsed := time.Since(start)
		if err != nil {
			p.Stop()
			return run, err
		}
		cpu, rss, err := harness.Usage(p.Cmd.Process.Pid)
		p.Stop()
		if err != nil {
			return run, err
		}
		run.done(l, s.Output, elapsed, cpu, rss)
		return run, nil
	case <-p.Exited:
		stopWatch()
		<-watched
		return run, fmt.Errorf("%s exited before its output was complete (%v): see %s", s.Name, p.Err, logPath)
	case <-ctx.Done():
		p.Stop()
		stopWatch()
		return run, fmt.Errorf("%s: output incomplete after %s (%d records read, %d counts differ): %w; see %s",
			s.Name, o.Timeout, w.records.Load(), w.wrong, ctx.Err(), logPath)
	}
}

// preload produces the log onto topic with franz-go's default (murmur2)
// partitioner, as any Kafka client would, and waits for every ack.
func preload(ctx context.Context, c kafka.Cluster, topic string, recs []Record) error {
	cl, err := c.Client("bench-preload", kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := harness.Produce(ctx, cl, func(yield func(*kgo.Record, error) bool) {
		for _, r := range recs {
			if !yield(&kgo.Record{Key: r.Key, Value: r.Value}, nil) {
				return
			}
		}
	}); err != nil {
		return fmt.Errorf("throughput: preload %s: %w", topic, err)
	}
	return nil
}
